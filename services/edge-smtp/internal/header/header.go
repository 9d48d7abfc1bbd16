// Package header edits the raw header block of an RFC 5322 message without
// touching the body: fields are removed, prepended and appended as bytes, and
// the Subject is prefixed in place, so the body and every field the edge
// does not edit keep their exact bytes (encodings, folding, 8-bit data).
package header

import (
	"bytes"
	"mime"
	"strings"
)

// Field is a header field to add. Value is written as given after "Name: ";
// it must not contain CR or LF (Rewrite replaces them with spaces).
type Field struct {
	Name  string
	Value string
}

// Edit is the set of changes Rewrite applies, in this order: remove fields,
// prefix the Subject, prepend fields (Prepend[0] ends up first), append fields.
type Edit struct {
	// Remove reports whether a field with this name (as written, any case)
	// is dropped.
	Remove func(name string) bool
	// SubjectPrefix is put in front of the Subject value; a Subject field is
	// added when the message has none. Empty leaves the Subject alone.
	SubjectPrefix string
	Prepend       []Field
	Append        []Field
}

// Removable names the header fields an inbound message must not bring:
// those only the edge may add (inbound copies are removed before the edge
// adds its own) and Return-Path, which only final delivery writes (RFC
// 5321 §4.4; Postfix's cleanup drops it too). Entries ending in "-" are
// prefixes.
var Removable = []string{"X-Spam-", "X-Mxgate-", "Return-Path"}

// IsRemovable reports whether name matches Removable (case-insensitive).
func IsRemovable(name string) bool {
	for _, r := range Removable {
		if strings.HasSuffix(r, "-") {
			if len(name) >= len(r) && strings.EqualFold(name[:len(r)], r) {
				return true
			}
		} else if strings.EqualFold(name, r) {
			return true
		}
	}
	return false
}

// field is one raw header field: its lines, with their line endings.
type field struct {
	raw  []byte
	name string // empty for a line that is not a field (kept as is)
}

// Split returns the header block (including its terminating empty line, when
// present) and the body. The header block ends at the first empty line or,
// as in Postfix's cleanup, at the first line that is neither a header field
// nor the continuation of one: that line is the first line of the body (the
// head then has no terminating empty line and Rewrite inserts one). A first
// line "From ..." (an mbox separator) is kept in the header block as it is.
// A message that is all fields is all header.
func Split(msg []byte) (head, body []byte) {
	for i := 0; i < len(msg); {
		j := bytes.IndexByte(msg[i:], '\n')
		line := msg[i:]
		if j >= 0 {
			line = msg[i : i+j+1]
		}
		switch {
		case len(bytes.TrimRight(line, "\r\n")) == 0 && j >= 0:
			return msg[:i+len(line)], msg[i+len(line):]
		case i == 0 && bytes.HasPrefix(line, []byte("From ")):
			// An mbox separator some senders leave in: kept as it is.
		case line[0] == ' ' || line[0] == '\t':
			if i == 0 {
				return nil, msg // a header cannot start with a continuation
			}
		case !isFieldLine(line):
			return msg[:i], msg[i:]
		}
		i += len(line)
	}
	return msg, nil
}

// isFieldLine reports whether line starts a header field: a name of
// printable ASCII, optional white space, a colon.
func isFieldLine(line []byte) bool {
	k := bytes.IndexByte(line, ':')
	return k > 0 && validName(bytes.TrimRight(line[:k], " \t"))
}

func parseFields(head []byte) (fields []field, terminator []byte) {
	rest := head
	for len(rest) > 0 {
		j := bytes.IndexByte(rest, '\n')
		line := rest
		if j >= 0 {
			line = rest[:j+1]
		}
		rest = rest[len(line):]
		if len(bytes.TrimRight(line, "\r\n")) == 0 {
			terminator = line
			break
		}
		if (line[0] == ' ' || line[0] == '\t') && len(fields) > 0 {
			fields[len(fields)-1].raw = append(fields[len(fields)-1].raw, line...)
			continue
		}
		f := field{raw: append([]byte(nil), line...)}
		if k := bytes.IndexByte(line, ':'); k > 0 {
			name := bytes.TrimRight(line[:k], " \t")
			if validName(name) {
				f.name = string(name)
			}
		}
		fields = append(fields, f)
	}
	return fields, terminator
}

func validName(b []byte) bool {
	if len(b) == 0 {
		return false
	}
	for _, c := range b {
		if c <= 32 || c >= 127 || c == ':' {
			return false
		}
	}
	return true
}

// Rewrite applies e to msg and returns the new message. msg is not
// modified; the body bytes are copied unchanged.
func Rewrite(msg []byte, e Edit) []byte {
	head, body := Split(msg)
	fields, term := parseFields(head)
	eol := "\r\n"
	if j := bytes.IndexByte(msg, '\n'); j >= 0 && (j == 0 || msg[j-1] != '\r') {
		eol = "\n"
	}
	if term == nil {
		// No empty line: the message was all header (or empty). Make sure
		// the last field ends its line, then end the header block.
		if n := len(fields); n > 0 && !bytes.HasSuffix(fields[n-1].raw, []byte("\n")) {
			fields[n-1].raw = append(fields[n-1].raw, eol...)
		}
		term = []byte(eol)
	}

	out := make([]byte, 0, len(msg)+256)
	for _, f := range e.Prepend {
		out = appendField(out, f, eol)
	}
	e.SubjectPrefix = encodePrefix(e.SubjectPrefix)
	subjectDone := e.SubjectPrefix == ""
	for _, f := range fields {
		if f.name != "" && e.Remove != nil && e.Remove(f.name) {
			continue
		}
		if !subjectDone && strings.EqualFold(f.name, "Subject") {
			out = append(out, prefixSubject(f.raw, e.SubjectPrefix)...)
			subjectDone = true
			continue
		}
		out = append(out, f.raw...)
	}
	if !subjectDone {
		out = appendField(out, Field{Name: "Subject", Value: strings.TrimSpace(e.SubjectPrefix)}, eol)
	}
	for _, f := range e.Append {
		out = appendField(out, f, eol)
	}
	out = append(out, term...)
	return append(out, body...)
}

func appendField(out []byte, f Field, eol string) []byte {
	out = append(out, clean(f.Name)...)
	out = append(out, ": "...)
	out = append(out, clean(f.Value)...)
	return append(out, eol...)
}

func clean(s string) string {
	if !strings.ContainsAny(s, "\r\n") {
		return s
	}
	return strings.NewReplacer("\r\n", " ", "\r", " ", "\n", " ").Replace(s)
}

// encodePrefix returns a subject prefix fit for a header: non-ASCII text
// becomes an RFC 2047 encoded word (raw 8-bit bytes are not allowed in a
// header without SMTPUTF8), keeping a trailing space.
func encodePrefix(p string) string {
	for i := 0; i < len(p); i++ {
		if p[i] >= 0x80 {
			enc := mime.QEncoding.Encode("utf-8", strings.TrimSpace(p))
			if strings.HasSuffix(p, " ") {
				enc += " "
			}
			return enc
		}
	}
	return p
}

// prefixSubject puts prefix at the start of the Subject value in raw, which
// is the whole field ("Subject:" up to and including its last line end). An
// encoded word (RFC 2047) stays intact: the prefix is plain text separated
// from it by a space. A value that already starts with the prefix is kept.
func prefixSubject(raw []byte, prefix string) []byte {
	colon := bytes.IndexByte(raw, ':')
	name, value := raw[:colon+1], raw[colon+1:]
	// Skip the folding whitespace between the colon and the value.
	i := 0
	for i < len(value) {
		switch {
		case value[i] == ' ' || value[i] == '\t':
			i++
			continue
		case value[i] == '\n' && i+1 < len(value) && (value[i+1] == ' ' || value[i+1] == '\t'):
			i++
			continue
		case value[i] == '\r' && i+2 < len(value) && value[i+1] == '\n' && (value[i+2] == ' ' || value[i+2] == '\t'):
			i += 2
			continue
		}
		break
	}
	v := value[i:]
	trimmed := strings.TrimSpace(prefix)
	if bytes.HasPrefix(v, []byte(trimmed)) {
		return raw
	}
	p := prefix
	if !strings.HasSuffix(p, " ") && len(bytes.TrimRight(v, "\r\n")) > 0 {
		p += " "
	}
	out := make([]byte, 0, len(raw)+len(p)+1)
	out = append(out, name...)
	out = append(out, ' ')
	out = append(out, clean(p)...)
	if len(bytes.TrimRight(v, "\r\n")) == 0 {
		// Empty subject: the prefix alone, without the trailing space.
		out = bytes.TrimRight(out, " ")
	}
	return append(out, v...)
}
