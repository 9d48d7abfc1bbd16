// Package textextract decodes a raw RFC 5322 message into the text a classifier works on.
//
// Parse walks the MIME tree by hand (no allocation-heavy readers): it undoes
// base64 and quoted-printable, converts every text part to UTF-8, turns HTML
// into plain text, collects URLs and lists the non-text leaf parts. It never
// fails: broken MIME is parsed as well as it can be, and the work done is
// bounded (input size, part count, nesting depth and text length are capped).
package textextract

import (
	"bytes"
	"crypto/sha256"
	"strings"
)

// Header is one header field of the top-level message.
type Header struct {
	Name  string
	Value string // unfolded and RFC 2047-decoded to UTF-8
}

// Attachment is a non-text leaf part, with its transfer encoding undone.
type Attachment struct {
	Name        string
	ContentType string
	Size        int
	SHA256      [32]byte
}

// Message is the decoded view of a message.
type Message struct {
	// Headers of the top-level entity, in order, without the headers that
	// other filters add (see IsFilterHeader).
	Headers       []Header
	Subject, From string
	// Text is every text/plain and text/html part, transfer encoding undone,
	// converted to UTF-8, HTML turned into text; parts separated by a newline.
	Text string
	// URLs found in the text and in HTML href/src attributes, deduplicated, in order.
	URLs        []string
	Attachments []Attachment
	// HTMLOnly is true when the message has an HTML part and no text/plain part.
	HTMLOnly bool
	// HTMLTags lists the markup of the HTML parts: each distinct start-tag
	// name ("font") and tag/attribute pair ("font.color"), in order of first
	// use, at most MaxHTMLTags.
	HTMLTags []string
	// Truncated is true when a limit cut the work short.
	Truncated bool
}

// Limits bounding the work done on one message.
const (
	MaxInput    = 16 << 20 // bytes of raw message looked at
	MaxText     = 256 << 10
	MaxParts    = 128
	MaxDepth    = 8
	MaxURLs     = 256
	MaxHTMLTags = 256
	MaxHeaders  = 512
	maxURLBytes = 2048
)

// Header returns the first value of the named header (case-insensitive), or "".
func (m *Message) Header(name string) string {
	for _, h := range m.Headers {
		if strings.EqualFold(h.Name, name) {
			return h.Value
		}
	}
	return ""
}

// HasHeader reports whether the named header is present.
func (m *Message) HasHeader(name string) bool {
	for _, h := range m.Headers {
		if strings.EqualFold(h.Name, name) {
			return true
		}
	}
	return false
}

type parser struct {
	msg      *Message
	text     []byte
	parts    int
	hasPlain bool
	hasHTML  bool
	urlSeen  map[string]struct{}
	tagSeen  map[string]struct{}
}

func (p *parser) addTag(name, attrs string) {
	if len(p.msg.HTMLTags) >= MaxHTMLTags {
		return
	}
	if p.tagSeen == nil {
		p.tagSeen = make(map[string]struct{})
	}
	add := func(t string) {
		if _, ok := p.tagSeen[t]; !ok && len(p.msg.HTMLTags) < MaxHTMLTags {
			p.tagSeen[t] = struct{}{}
			p.msg.HTMLTags = append(p.msg.HTMLTags, t)
		}
	}
	add(name)
	forEachAttrName(attrs, func(a string) { add(name + "." + a) })
}

// Parse decodes raw. It never panics and always returns a non-nil Message.
func Parse(raw []byte) *Message {
	p := &parser{msg: &Message{}}
	if len(raw) > MaxInput {
		raw = raw[:MaxInput]
		p.msg.Truncated = true
	}
	raw = skipMboxFrom(raw)
	hdrs, body := splitHeader(raw)
	all := parseHeaders(hdrs, MaxHeaders)
	p.msg.Headers = make([]Header, 0, len(all))
	for _, h := range all {
		if IsFilterHeader(h.Name) {
			continue
		}
		p.msg.Headers = append(p.msg.Headers, h)
	}
	p.msg.Subject = p.msg.Header("Subject")
	p.msg.From = p.msg.Header("From")
	p.entity(all, body, 0)
	p.msg.HTMLOnly = p.hasHTML && !p.hasPlain
	p.msg.Text = string(p.text)
	return p.msg
}

// skipMboxFrom drops a leading mbox "From " separator line.
func skipMboxFrom(raw []byte) []byte {
	if bytes.HasPrefix(raw, []byte("From ")) {
		if i := bytes.IndexByte(raw, '\n'); i >= 0 {
			return raw[i+1:]
		}
		return nil
	}
	return raw
}

func headerValue(hs []Header, name string) string {
	for _, h := range hs {
		if strings.EqualFold(h.Name, name) {
			return h.Value
		}
	}
	return ""
}

func (p *parser) entity(hs []Header, body []byte, depth int) {
	p.parts++
	if p.parts > MaxParts || depth > MaxDepth {
		p.msg.Truncated = true
		return
	}
	ct := parseContentType(headerValue(hs, "Content-Type"))
	switch {
	case strings.HasPrefix(ct.mediaType, "multipart/"):
		if ct.boundary == "" {
			// No boundary: treat the body as plain text, which is what most readers show.
			p.leaf(hs, contentType{mediaType: "text/plain", charset: ct.charset}, body)
			return
		}
		for _, part := range splitMultipart(body, ct.boundary) {
			if p.parts >= MaxParts {
				p.msg.Truncated = true
				return
			}
			ph, pb := splitHeader(part)
			p.entity(parseHeaders(ph, MaxHeaders), pb, depth+1)
		}
	case ct.mediaType == "message/rfc822" || ct.mediaType == "message/global":
		data := decodeTransfer(headerValue(hs, "Content-Transfer-Encoding"), body)
		ih, ib := splitHeader(data)
		inner := parseHeaders(ih, MaxHeaders)
		if s := headerValue(inner, "Subject"); s != "" {
			p.appendText(s)
		}
		p.entity(inner, ib, depth+1)
	default:
		p.leaf(hs, ct, body)
	}
}

func (p *parser) leaf(hs []Header, ct contentType, body []byte) {
	data := decodeTransfer(headerValue(hs, "Content-Transfer-Encoding"), body)
	disp, fname := parseDisposition(headerValue(hs, "Content-Disposition"))
	if fname == "" {
		fname = ct.name
	}
	isText := ct.mediaType == "text/plain" || ct.mediaType == "text/html" || ct.mediaType == ""
	if isText && !(disp == "attachment" && fname != "") {
		s := toUTF8(data, ct.charset)
		if ct.mediaType == "text/html" || (ct.mediaType == "" && looksHTML(s)) {
			p.hasHTML = true
			txt := htmlToText(s, p.addURL, p.addTag)
			p.appendText(txt)
			p.scanURLs(txt)
		} else {
			p.hasPlain = true
			p.appendText(s)
			p.scanURLs(s)
		}
		return
	}
	if ct.mediaType == "" {
		ct.mediaType = "application/octet-stream"
	}
	p.msg.Attachments = append(p.msg.Attachments, Attachment{
		Name:        fname,
		ContentType: ct.mediaType,
		Size:        len(data),
		SHA256:      sha256.Sum256(data),
	})
}

func looksHTML(s string) bool {
	n := min(len(s), 1024)
	head := strings.ToLower(s[:n])
	return strings.Contains(head, "<html") || strings.Contains(head, "<body") || strings.Contains(head, "<!doctype html")
}

func (p *parser) appendText(s string) {
	if len(p.text) >= MaxText {
		p.msg.Truncated = true
		return
	}
	if len(p.text) > 0 {
		p.text = append(p.text, '\n')
	}
	room := MaxText - len(p.text)
	if len(s) > room {
		s = s[:room]
		p.msg.Truncated = true
	}
	p.text = appendCollapsed(p.text, s)
}

// appendCollapsed appends s with runs of white space collapsed: a run
// containing a newline becomes "\n", any other run a single space.
func appendCollapsed(dst []byte, s string) []byte {
	i := 0
	for i < len(s) {
		c := s[i]
		if c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\f' || c == '\v' {
			nl := false
			for i < len(s) {
				c = s[i]
				if c == '\n' {
					nl = true
				} else if c != ' ' && c != '\t' && c != '\r' && c != '\f' && c != '\v' {
					break
				}
				i++
			}
			if len(dst) == 0 || i == len(s) {
				continue
			}
			if nl {
				dst = append(dst, '\n')
			} else {
				dst = append(dst, ' ')
			}
			continue
		}
		j := i
		for j < len(s) {
			c = s[j]
			if c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\f' || c == '\v' {
				break
			}
			j++
		}
		dst = append(dst, s[i:j]...)
		i = j
	}
	return dst
}

func (p *parser) addURL(u string) {
	u = strings.TrimSpace(u)
	if u == "" || len(p.msg.URLs) >= MaxURLs {
		return
	}
	if len(u) > maxURLBytes {
		u = u[:maxURLBytes]
	}
	if p.urlSeen == nil {
		p.urlSeen = make(map[string]struct{})
	}
	if _, ok := p.urlSeen[u]; ok {
		return
	}
	p.urlSeen[u] = struct{}{}
	p.msg.URLs = append(p.msg.URLs, u)
}

// scanURLs finds http(s):// and www. URLs in plain text, in one pass.
func (p *parser) scanURLs(s string) {
	for i := 0; i < len(s) && len(p.msg.URLs) < MaxURLs; i++ {
		c := s[i] | 0x20
		if c != 'h' && c != 'w' {
			continue
		}
		rest := s[i:]
		if !hasPrefixFold(rest, "http://") && !hasPrefixFold(rest, "https://") && !hasPrefixFold(rest, "www.") {
			continue
		}
		j := i
		for j < len(s) && isURLChar(s[j]) {
			j++
		}
		u := strings.TrimRight(s[i:j], ".,;:!?)]}'\"")
		if len(u) > 8 {
			p.addURL(u)
		}
		i = j
	}
}

// hasPrefixFold is an ASCII case-insensitive strings.HasPrefix for lower-case pat.
func hasPrefixFold(s, pat string) bool {
	if len(s) < len(pat) {
		return false
	}
	for k := 0; k < len(pat); k++ {
		d := s[k]
		if d >= 'A' && d <= 'Z' {
			d += 'a' - 'A'
		}
		if d != pat[k] {
			return false
		}
	}
	return true
}

func isURLChar(c byte) bool {
	if c >= 0x80 {
		return false
	}
	if c <= ' ' {
		return false
	}
	switch c {
	case '"', '<', '>', '\\', '^', '`', '{', '|', '}':
		return false
	}
	return true
}
