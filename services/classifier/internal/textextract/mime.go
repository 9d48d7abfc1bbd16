package textextract

import (
	"bytes"
	"encoding/base64"
	"mime"
	"strings"
	"unicode/utf8"
)

// filterHeaderPrefixes are (lower-case) name prefixes of headers that other
// filters add; a classifier must not learn from another filter's verdict.
var filterHeaderPrefixes = []string{
	"x-spam", // X-Spam-Status, X-Spam-Flag, X-Spam-Level, X-Spam-Checker-Version, X-SpamBouncer, ...
	"x-virus",
	"x-mxgate",
	"x-razor",
	"x-pyzor",
	"x-dcc-",
	"x-bogosity",
	"x-rspamd",
	"x-amavis",
	"x-barracuda",
	"x-proofpoint",
	"x-ironport",
	"x-forefront-antispam",
	"x-microsoft-antispam",
	"x-ms-exchange-organization-scl",
	"x-mailscanner",
	"x-ucsc-cats-mailscanner",
	"x-scanned-by",
	"x-filtered-by",
	"x-policyd",
	"x-greylist",
}

var filterHeaderNames = map[string]bool{
	"authentication-results":     true,
	"arc-authentication-results": true,
	"received-spf":               true,
	"x-spam":                     true,
	"x-quarantine-id":            true,
}

// IsFilterHeader reports whether a header with this name is one that a
// spam or virus filter adds (and so must be ignored by a classifier).
func IsFilterHeader(name string) bool {
	// Names are ASCII; lower-casing into a buffer on the stack saves the
	// allocation of strings.ToLower. Longer or non-ASCII names take the
	// general path.
	var buf [64]byte
	if len(name) > len(buf) || !isASCII(name) {
		return isFilterHeaderLower([]byte(strings.ToLower(name)))
	}
	l := buf[:len(name)]
	for i := 0; i < len(name); i++ {
		c := name[i]
		if c >= 'A' && c <= 'Z' {
			c += 'a' - 'A'
		}
		l[i] = c
	}
	return isFilterHeaderLower(l)
}

var mailScanner = []byte("mailscanner")

// isFilterHeaderLower is IsFilterHeader of a lower-case name. It does not
// allocate: the map lookup and the comparisons with string(l) copy nothing.
func isFilterHeaderLower(l []byte) bool {
	if filterHeaderNames[string(l)] {
		return true
	}
	if len(l) > 2 && l[0] == 'x' && l[1] == '-' { // every prefix starts so
		for _, p := range filterHeaderPrefixes {
			if len(l) >= len(p) && string(l[:len(p)]) == p {
				return true
			}
		}
	}
	// "*-MailScanner*" variants are site-specific names of the same filter.
	return bytes.Contains(l, mailScanner)
}

// splitHeader splits an entity at the first empty line. A line that is
// neither a header field nor a continuation also ends the header block.
func splitHeader(raw []byte) (hdr, body []byte) {
	i := 0
	for i < len(raw) {
		end := bytes.IndexByte(raw[i:], '\n')
		var line []byte
		next := len(raw)
		if end >= 0 {
			line = raw[i : i+end]
			next = i + end + 1
		} else {
			line = raw[i:]
		}
		line = bytes.TrimSuffix(line, []byte("\r"))
		if len(line) == 0 {
			return raw[:i], raw[next:]
		}
		if line[0] != ' ' && line[0] != '\t' && !isHeaderLine(line) {
			return raw[:i], raw[i:]
		}
		i = next
	}
	return raw, nil
}

func isHeaderLine(line []byte) bool {
	c := bytes.IndexByte(line, ':')
	if c <= 0 {
		return false
	}
	for _, b := range line[:c] {
		if b <= ' ' || b >= 0x7f {
			// Tolerate "Name :" (space before the colon) but not words with spaces.
			if b == ' ' || b == '\t' {
				name := bytes.TrimRight(line[:c], " \t")
				return len(name) > 0 && !bytes.ContainsAny(name, " \t")
			}
			return false
		}
	}
	return true
}

var wordDecoder = &mime.WordDecoder{CharsetReader: charsetReader}

// parseHeaders parses an unfolded header block, at most max fields.
func parseHeaders(hdr []byte, max int) []Header {
	out := make([]Header, 0, min(bytes.Count(hdr, []byte{'\n'})+1, max))
	// cur is the current field: the input line itself, or unfolded into buf
	// when continuation lines follow (hdr is never written to).
	var cur, buf []byte
	have, folded := false, false
	flush := func() {
		if !have {
			return
		}
		have = false
		c := bytes.IndexByte(cur, ':')
		if c > 0 && len(out) < max {
			// One string holds both name and (when it needs no decoding) value.
			f := string(cur)
			out = append(out, Header{Name: strings.TrimSpace(f[:c]), Value: decodeHeaderValue(f[c+1:])})
		}
	}
	for len(hdr) > 0 {
		end := bytes.IndexByte(hdr, '\n')
		var line []byte
		if end >= 0 {
			line, hdr = hdr[:end], hdr[end+1:]
		} else {
			line, hdr = hdr, nil
		}
		line = bytes.TrimSuffix(line, []byte("\r"))
		if len(line) > 0 && (line[0] == ' ' || line[0] == '\t') {
			if have {
				if !folded {
					buf = append(buf[:0], cur...)
					folded = true
				}
				buf = append(buf, ' ')
				buf = append(buf, bytes.TrimLeft(line, " \t")...)
				cur = buf
			}
			continue
		}
		flush()
		// An empty line starts no field, and its continuations are dropped.
		cur, have, folded = line, len(line) > 0, false
	}
	flush()
	return out
}

func decodeHeaderValue(v string) string {
	s := strings.TrimSpace(v)
	if !utf8.ValidString(s) {
		// Raw 8-bit header: most such mail is windows-1252 / latin-1.
		s = latin1ToUTF8([]byte(s))
	}
	if strings.Contains(s, "=?") {
		if d, err := wordDecoder.DecodeHeader(s); err == nil {
			s = d
		} else {
			s = decodeWordsLenient(s)
		}
		if !utf8.ValidString(s) {
			s = strings.ToValidUTF8(s, "\uFFFD")
		}
	}
	return s
}

// decodeWordsLenient decodes each encoded word on its own, leaving the ones
// that fail to decode as they are.
func decodeWordsLenient(s string) string {
	var b strings.Builder
	for {
		i := strings.Index(s, "=?")
		if i < 0 {
			b.WriteString(s)
			return b.String()
		}
		// An encoded word is =?charset?enc?text?=
		j := i + 2
		q := 0
		end := -1
		for k := j; k < len(s)-1; k++ {
			if s[k] == '?' {
				q++
				if q >= 3 && s[k+1] == '=' {
					end = k + 2
					break
				}
			}
			if s[k] == ' ' && q < 3 {
				break
			}
		}
		if end < 0 {
			b.WriteString(s[:i+2])
			s = s[i+2:]
			continue
		}
		b.WriteString(s[:i])
		w := s[i:end]
		if d, err := wordDecoder.Decode(w); err == nil {
			b.WriteString(d)
		} else {
			b.WriteString(w)
		}
		s = s[end:]
		// Skip white space between two adjacent encoded words (RFC 2047 §6.2).
		t := strings.TrimLeft(s, " \t")
		if strings.HasPrefix(t, "=?") {
			s = t
		}
	}
}

type contentType struct {
	mediaType, charset, boundary, name string
}

func parseContentType(v string) contentType {
	if v == "" {
		return contentType{}
	}
	mt, params, err := mime.ParseMediaType(v)
	if err != nil {
		return parseContentTypeLenient(v)
	}
	ct := contentType{mediaType: mt, charset: params["charset"], boundary: params["boundary"], name: params["name"]}
	return ct
}

// parseContentTypeLenient handles values mime.ParseMediaType rejects
// (duplicate parameters, stray characters, missing quotes).
func parseContentTypeLenient(v string) contentType {
	parts := strings.Split(v, ";")
	ct := contentType{mediaType: strings.ToLower(strings.TrimSpace(parts[0]))}
	if i := strings.IndexAny(ct.mediaType, " \t"); i >= 0 {
		ct.mediaType = ct.mediaType[:i]
	}
	for _, p := range parts[1:] {
		k, val, ok := strings.Cut(p, "=")
		if !ok {
			continue
		}
		k = strings.ToLower(strings.TrimSpace(k))
		val = strings.TrimSpace(val)
		if len(val) >= 2 && val[0] == '"' {
			if e := strings.IndexByte(val[1:], '"'); e >= 0 {
				val = val[1 : e+1]
			} else {
				val = val[1:]
			}
		}
		switch k {
		case "charset":
			if ct.charset == "" {
				ct.charset = val
			}
		case "boundary":
			if ct.boundary == "" {
				ct.boundary = val
			}
		case "name":
			if ct.name == "" {
				ct.name = val
			}
		}
	}
	return ct
}

func parseDisposition(v string) (disp, filename string) {
	if v == "" {
		return "", ""
	}
	d, params, err := mime.ParseMediaType(v)
	if err != nil {
		d = strings.ToLower(strings.TrimSpace(strings.Split(v, ";")[0]))
		if i := strings.Index(strings.ToLower(v), "filename="); i >= 0 {
			filename = strings.Trim(strings.TrimSpace(strings.Split(v[i+9:], ";")[0]), `"`)
		}
		return d, filename
	}
	return d, params["filename"]
}

// splitMultipart returns the body parts delimited by boundary. The preamble
// and epilogue are dropped; a missing close delimiter ends the last part at
// the end of the body.
func splitMultipart(body []byte, boundary string) [][]byte {
	delim := []byte("--" + boundary)
	var parts [][]byte
	start := -1 // start of the current part's content
	i := 0
	for i <= len(body) {
		// Find the next delimiter at the start of a line.
		k := bytes.Index(body[i:], delim)
		if k < 0 {
			break
		}
		pos := i + k
		if pos > 0 && body[pos-1] != '\n' {
			i = pos + len(delim)
			continue
		}
		after := pos + len(delim)
		closing := bytes.HasPrefix(body[after:], []byte("--"))
		if start >= 0 {
			end := pos
			// The line break before the delimiter belongs to the delimiter.
			if end > start && body[end-1] == '\n' {
				end--
				if end > start && body[end-1] == '\r' {
					end--
				}
			}
			parts = append(parts, body[start:end])
			if len(parts) >= MaxParts {
				return parts
			}
		}
		if closing {
			return parts
		}
		nl := bytes.IndexByte(body[after:], '\n')
		if nl < 0 {
			return parts
		}
		start = after + nl + 1
		i = start
	}
	if start >= 0 && start <= len(body) {
		parts = append(parts, body[start:])
	}
	return parts
}

func decodeTransfer(enc string, body []byte) []byte {
	enc = strings.TrimSpace(enc)
	switch {
	case isLower(enc, "base64"):
		return decodeBase64(body)
	case isLower(enc, "quoted-printable"):
		return decodeQP(body)
	default:
		return body
	}
}

// isLower reports whether strings.ToLower(s) == lower, without allocating
// for ASCII s.
func isLower(s, lower string) bool {
	if !isASCII(s) {
		return strings.ToLower(s) == lower
	}
	return len(s) == len(lower) && hasPrefixFold(s, lower)
}

// isBase64 marks the characters of the base64 alphabet.
var isBase64 = func() (t [256]bool) {
	for _, c := range []byte("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/") {
		t[c] = true
	}
	return t
}()

// decodeBase64 decodes leniently: characters outside the alphabet are skipped,
// decoding stops at the first padding character.
func decodeBase64(in []byte) []byte {
	buf := make([]byte, 0, len(in))
	for len(in) > 0 {
		// Copy the run of alphabet characters (a whole line, usually) at once.
		k := 0
		for k < len(in) && isBase64[in[k]] {
			k++
		}
		buf = append(buf, in[:k]...)
		if k == len(in) || in[k] == '=' {
			break
		}
		in = in[k+1:]
	}
	if len(buf)%4 == 1 {
		buf = buf[:len(buf)-1]
	}
	out := make([]byte, base64.RawStdEncoding.DecodedLen(len(buf)))
	n, _ := base64.RawStdEncoding.Decode(out, buf)
	return out[:n]
}

func unhex(c byte) (byte, bool) {
	switch {
	case c >= '0' && c <= '9':
		return c - '0', true
	case c >= 'a' && c <= 'f':
		return c - 'a' + 10, true
	case c >= 'A' && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}

// decodeQP decodes quoted-printable leniently: invalid escapes are kept literally.
func decodeQP(in []byte) []byte {
	out := make([]byte, 0, len(in))
	for i := 0; i < len(in); i++ {
		// Copy up to the next '=' at once.
		k := bytes.IndexByte(in[i:], '=')
		if k < 0 {
			return append(out, in[i:]...)
		}
		out = append(out, in[i:i+k]...)
		i += k
		c := in[i]
		// soft line break: "=" then optional white space then (CR)LF
		j := i + 1
		for j < len(in) && (in[j] == ' ' || in[j] == '\t') {
			j++
		}
		if j < len(in) && in[j] == '\r' {
			j++
		}
		if j < len(in) && in[j] == '\n' {
			i = j
			continue
		}
		if j >= len(in) {
			return out
		}
		if i+2 < len(in) {
			h, ok1 := unhex(in[i+1])
			l, ok2 := unhex(in[i+2])
			if ok1 && ok2 {
				out = append(out, h<<4|l)
				i += 2
				continue
			}
		}
		out = append(out, c)
	}
	return out
}
