package mime

import "encoding/base64"

// b64 maps a byte to its base64 value, or 0xFF when it is not in the
// standard alphabet.
var b64 = func() (t [256]byte) {
	for i := range t {
		t[i] = 0xFF
	}
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
	for i := 0; i < len(alphabet); i++ {
		t[alphabet[i]] = byte(i)
	}
	return t
}()

// DecodeBase64 decodes src the way mail clients do: characters outside the
// base64 alphabet (line breaks, indentation, junk) are skipped, padding ends
// a group and decoding resumes after it (concatenated encoded blocks), and a
// trailing partial group yields the bytes it completes. It never fails.
func DecodeBase64(src []byte) []byte {
	// Well-formed bodies (CRLF-separated lines, final padding) take the
	// standard decoder, which skips line breaks itself and is several times
	// faster than the lenient loop below.
	out := make([]byte, base64.StdEncoding.DecodedLen(len(src)))
	if n, err := base64.StdEncoding.Decode(out, src); err == nil {
		return out[:n]
	}
	return decodeBase64Lenient(src, out[:0])
}

func decodeBase64Lenient(src, out []byte) []byte {
	var q [4]byte
	n := 0
	flush := func() {
		switch n {
		case 2:
			out = append(out, q[0]<<2|q[1]>>4)
		case 3:
			out = append(out, q[0]<<2|q[1]>>4, q[1]<<4|q[2]>>2)
		}
		n = 0
	}
	for _, c := range src {
		v := b64[c]
		if v == 0xFF {
			if c == '=' {
				flush()
			}
			continue
		}
		q[n] = v
		n++
		if n == 4 {
			out = append(out, q[0]<<2|q[1]>>4, q[1]<<4|q[2]>>2, q[2]<<6|q[3])
			n = 0
		}
	}
	flush()
	return out
}

func unhex(c byte) (byte, bool) {
	switch {
	case c >= '0' && c <= '9':
		return c - '0', true
	case c >= 'A' && c <= 'F':
		return c - 'A' + 10, true
	case c >= 'a' && c <= 'f':
		return c - 'a' + 10, true
	}
	return 0, false
}

// DecodeQuotedPrintable decodes src leniently: "=XX" escapes (either case)
// become bytes, "=" before a line end (with optional trailing blanks) is a
// soft line break, and any other "=" is kept literally. It never fails.
func DecodeQuotedPrintable(src []byte) []byte {
	out := make([]byte, 0, len(src))
	for i := 0; i < len(src); i++ {
		c := src[i]
		if c != '=' {
			out = append(out, c)
			continue
		}
		if i+2 < len(src) {
			if hi, ok := unhex(src[i+1]); ok {
				if lo, ok := unhex(src[i+2]); ok {
					out = append(out, hi<<4|lo)
					i += 2
					continue
				}
			}
		}
		j := i + 1
		for j < len(src) && (src[j] == ' ' || src[j] == '\t') {
			j++
		}
		if j < len(src) && src[j] == '\r' {
			j++
		}
		if j == len(src) || src[j] == '\n' {
			i = j // soft line break: drop "=", blanks and the line end
			continue
		}
		out = append(out, c) // not an escape: keep literally
	}
	return out
}
