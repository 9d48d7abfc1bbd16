package textextract

import (
	"bytes"
	"io"
	"strings"
	"sync"
	"unicode/utf8"

	"github.com/emersion/go-message/charset"
	"golang.org/x/text/encoding/charmap"

	"github.com/mxgate/mxgate/services/classifier/internal/swar"
)

func charsetReader(cs string, r io.Reader) (io.Reader, error) {
	return charset.Reader(cs, r)
}

// knownCharsets caches, per lower-case charset name, whether charset.Reader supports it.
var knownCharsets sync.Map

func knownCharset(cs string) bool {
	if v, ok := knownCharsets.Load(cs); ok {
		return v.(bool)
	}
	_, err := charset.Reader(cs, bytes.NewReader(nil))
	knownCharsets.Store(cs, err == nil)
	return err == nil
}

// utf8Text converts data in charset cs to UTF-8: conv is false when data
// is the text as it is (and s is empty), true when s holds the converted
// text. Unknown or missing charsets: valid UTF-8 is kept, anything else is
// read as windows-1252 (the usual mislabelled charset of 8-bit mail).
func utf8Text(data []byte, cs string) (s string, conv bool) {
	cs = strings.ToLower(strings.Trim(strings.TrimSpace(cs), `"'`))
	switch cs {
	case "", "us-ascii", "ascii", "utf-8", "utf8", "unknown-8bit", "x-unknown", "default", "x-user-defined":
		if utf8.Valid(data) {
			return "", false
		}
		return windows1252ToUTF8(data), true
	case "iso-8859-1", "latin1", "iso8859-1", "iso_8859-1", "windows-1252", "cp1252":
		if isASCII(data) {
			return "", false
		}
		return windows1252ToUTF8(data), true
	}
	if isASCII(data) && !strings.HasPrefix(cs, "utf-16") && !strings.HasPrefix(cs, "utf-32") &&
		!strings.Contains(cs, "2022") && cs != "utf-7" && cs != "hz-gb-2312" {
		return "", false
	}
	if !knownCharset(cs) {
		if utf8.Valid(data) {
			return "", false
		}
		return windows1252ToUTF8(data), true
	}
	r, err := charset.Reader(cs, bytes.NewReader(data))
	if err != nil {
		return windows1252ToUTF8(data), true
	}
	out, err := io.ReadAll(io.LimitReader(r, 4*int64(len(data))+16))
	if err != nil && len(out) == 0 {
		return windows1252ToUTF8(data), true
	}
	return strings.ToValidUTF8(string(out), "\uFFFD"), true
}

// isASCII reports whether s has no byte above 0x7f; it tests eight bytes
// at a time.
func isASCII[T string | []byte](s T) bool {
	i := 0
	for ; i+8 <= len(s); i += 8 {
		if swar.Load64(s, i)&swar.Highs != 0 {
			return false
		}
	}
	for ; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}

var cp1252 = func() (t [256]rune) {
	d := charmap.Windows1252
	for i := 0; i < 256; i++ {
		t[i] = d.DecodeByte(byte(i))
	}
	// Bytes windows-1252 leaves undefined map to their Latin-1 code points.
	for i := 0x80; i < 0xa0; i++ {
		if t[i] == utf8.RuneError {
			t[i] = rune(i)
		}
	}
	return t
}()

func windows1252ToUTF8(b []byte) string {
	var sb strings.Builder
	sb.Grow(len(b) + len(b)/8)
	start := 0
	for i, c := range b {
		if c < 0x80 {
			continue
		}
		sb.Write(b[start:i])
		sb.WriteRune(cp1252[c])
		start = i + 1
	}
	sb.Write(b[start:])
	return sb.String()
}

func latin1ToUTF8(b []byte) string { return windows1252ToUTF8(b) }
