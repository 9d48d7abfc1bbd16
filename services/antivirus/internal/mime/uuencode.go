package mime

import (
	"bytes"
	"strings"
)

// UUExpander extracts uuencoded files ("begin 644 name" ... "end", and the
// "begin-base64" form of uuencode -m) embedded in text parts or in parts
// whose transfer encoding is x-uuencode. Each file becomes a member labelled
// "uuencode:<name>".
type UUExpander struct{}

var _ Expander = UUExpander{}

// Expand implements Expander.
func (UUExpander) Expand(p *Part, b *Budget, emit func(*Part) error) error {
	switch {
	case strings.HasPrefix(p.ContentType, "text/"),
		p.Encoding == "x-uuencode", p.Encoding == "x-uue", p.Encoding == "uuencode":
	default:
		return nil
	}
	data := p.Data
	for len(data) > 0 {
		i := indexLineStart(data, []byte("begin"))
		if i < 0 {
			return nil
		}
		data = data[i:]
		line, rest := cutLine(data)
		name, b64, ok := parseBegin(line)
		if !ok {
			data = rest
			continue
		}
		var file []byte
		var err error
		if b64 {
			file, rest, err = uuBase64Body(rest, b)
		} else {
			file, rest, err = uuBody(rest, b)
		}
		if err != nil {
			return err
		}
		data = rest
		m := &Part{Path: "uuencode:" + name, ContentType: "application/octet-stream", Filename: name, Encoding: "uuencode", Data: file}
		if err := emit(m); err != nil {
			return err
		}
	}
	return nil
}

// indexLineStart returns the offset of the first occurrence of prefix at
// the start of a line, or -1.
func indexLineStart(data, prefix []byte) int {
	off := 0
	for {
		i := bytes.Index(data[off:], prefix)
		if i < 0 {
			return -1
		}
		at := off + i
		if at == 0 || data[at-1] == '\n' {
			return at
		}
		off = at + 1
	}
}

// cutLine returns the first line of data without its line end, and the rest.
func cutLine(data []byte) (line, rest []byte) {
	if i := bytes.IndexByte(data, '\n'); i >= 0 {
		line, rest = data[:i], data[i+1:]
	} else {
		line, rest = data, nil
	}
	return bytes.TrimRight(line, "\r"), rest
}

// parseBegin parses "begin 644 name" or "begin-base64 644 name".
func parseBegin(line []byte) (name string, b64 bool, ok bool) {
	f := strings.Fields(string(line))
	if len(f) < 3 || (f[0] != "begin" && f[0] != "begin-base64") {
		return "", false, false
	}
	if len(f[1]) < 3 || len(f[1]) > 4 || strings.Trim(f[1], "01234567") != "" {
		return "", false, false
	}
	return strings.Join(f[2:], " "), f[0] == "begin-base64", true
}

// uuBody decodes classic uuencoded lines until "end" or the end of data.
func uuBody(data []byte, b *Budget) (file, rest []byte, err error) {
	for len(data) > 0 {
		var line []byte
		line, data = cutLine(data)
		if bytes.Equal(bytes.TrimSpace(line), []byte("end")) {
			break
		}
		if len(line) == 0 {
			continue
		}
		n := int((line[0] - ' ') & 63)
		if n == 0 {
			continue // the "`" line before "end"
		}
		if err := b.Reserve(int64(n)); err != nil {
			return nil, nil, err
		}
		enc := line[1:]
		out := make([]byte, 0, n+2)
		for i := 0; len(out) < n; i += 4 {
			var q [4]byte
			for k := 0; k < 4; k++ {
				if i+k < len(enc) {
					q[k] = (enc[i+k] - ' ') & 63
				}
			}
			out = append(out, q[0]<<2|q[1]>>4, q[1]<<4|q[2]>>2, q[2]<<6|q[3])
			if i+4 >= len(enc) && len(out) < n {
				break // short line: keep what it holds
			}
		}
		if len(out) > n {
			out = out[:n]
		}
		file = append(file, out...)
	}
	return file, data, nil
}

// uuBase64Body decodes "begin-base64" lines until "====".
func uuBase64Body(data []byte, b *Budget) (file, rest []byte, err error) {
	end := len(data)
	rest = nil
	if i := indexLineStart(data, []byte("====")); i >= 0 {
		end = i
		_, rest = cutLine(data[i:])
	}
	if err := b.Reserve(int64(end) * 3 / 4); err != nil {
		return nil, nil, err
	}
	return DecodeBase64(data[:end]), rest, nil
}
