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
	"math/bits"
	"strings"
	"sync"

	"github.com/mxgate/mxgate/services/classifier/internal/swar"
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

// parser is the state of one Parse. Parsers are pooled: the text buffer and
// the sets keep their storage from one message to the next.
type parser struct {
	msg      *Message
	text     []byte
	parts    int
	hasPlain bool
	hasHTML  bool
	urlSeen  map[string]struct{}
	tags     tagSet
	key      []byte // scratch for tag keys
	html     []byte // scratch for the text of an HTML part
}

var parserPool = sync.Pool{New: func() any { return new(parser) }}

// maxPooledHTML bounds the HTML text buffer a pooled parser keeps.
const maxPooledHTML = 1 << 20

// release resets p and returns it to the pool.
func (p *parser) release() {
	p.msg = nil
	p.text = p.text[:0]
	p.parts = 0
	p.hasPlain, p.hasHTML = false, false
	clear(p.urlSeen)
	p.tags.reset()
	if cap(p.html) > maxPooledHTML {
		p.html = nil
	}
	parserPool.Put(p)
}

// addTag records the start tag name (lower case) and its tag/attribute
// pairs, attribute names lower-cased, each the first time it is seen.
func (p *parser) addTag(name, attrs string) {
	if len(p.msg.HTMLTags) >= MaxHTMLTags {
		return
	}
	p.key = append(p.key[:0], name...)
	p.msg.HTMLTags = p.tags.add(p.msg.HTMLTags, p.key)
	forEachAttrName(attrs, func(a string) {
		// The key is built in a scratch buffer; a string is made only for
		// a new one.
		p.key = append(append(p.key[:len(name)], '.'), a...)
		for i := len(name) + 1; i < len(p.key); i++ {
			if c := p.key[i]; c >= 'A' && c <= 'Z' {
				p.key[i] = c + 'a' - 'A'
			}
		}
		p.msg.HTMLTags = p.tags.add(p.msg.HTMLTags, p.key)
	})
}

// tagSet is the set of the strings in HTMLTags: an open-addressing table
// of indices into the slice (at most MaxHTMLTags strings, so the table is
// never more than half full).
type tagSet struct {
	slots [2 * MaxHTMLTags]uint16 // 1 + index into the slice; 0 is empty
	used  bool                    // slots need clearing
}

func (t *tagSet) reset() {
	if t.used {
		clear(t.slots[:])
		t.used = false
	}
}

// add appends key to list, of which t is the set, unless list holds it
// already or has MaxHTMLTags strings.
func (t *tagSet) add(list []string, key []byte) []string {
	h := uint64(14695981039346656037) // FNV-1a
	for _, c := range key {
		h ^= uint64(c)
		h *= 1099511628211
	}
	const mask = len(t.slots) - 1
	for i := int(h^h>>32) & mask; ; i = (i + 1) & mask {
		s := t.slots[i]
		if s == 0 {
			if len(list) < MaxHTMLTags {
				list = append(list, string(key))
				t.slots[i] = uint16(len(list))
				t.used = true
			}
			return list
		}
		if list[s-1] == string(key) {
			return list
		}
	}
}

// Options adjust what Parse reads.
type Options struct {
	// SpamTag is the gateway's subject tag (the policy service's
	// spam_tag), removed from the start of the Subject; "" removes
	// nothing.
	SpamTag string
}

// Parse decodes raw, with the default SpamTag removed from the Subject. It
// never panics and always returns a non-nil Message.
func Parse(raw []byte) *Message { return ParseWith(raw, Options{SpamTag: SpamTag}) }

// ParseWith is Parse with options.
func ParseWith(raw []byte, o Options) *Message {
	p := parserPool.Get().(*parser)
	defer p.release()
	p.msg = &Message{}
	if len(raw) > MaxInput {
		raw = raw[:MaxInput]
		p.msg.Truncated = true
	}
	raw = skipMboxFrom(raw)
	hdrs, body := splitHeader(raw)
	// The filter headers are dropped in place: the entity is read from the
	// rest, which is the same for the fields it reads (Content-*).
	all := parseHeaders(hdrs, MaxHeaders)
	kept := all[:0]
	for _, h := range all {
		if !IsFilterHeader(h.Name) {
			kept = append(kept, h)
		}
	}
	clear(all[len(kept):])
	if o.SpamTag != "" {
		for i := range kept {
			if strings.EqualFold(kept[i].Name, "Subject") {
				kept[i].Value = stripTag(kept[i].Value, o.SpamTag)
			}
		}
	}
	p.msg.Headers = kept
	p.msg.Subject = p.msg.Header("Subject")
	p.msg.From = p.msg.Header("From")
	p.entity(kept, body, 0)
	p.msg.HTMLOnly = p.hasHTML && !p.hasPlain
	p.msg.Text = string(p.text)
	return p.msg
}

// SpamTag is the default Subject prefix of the gateway's tag action (the
// policy service's default spam_tag). Parse reads a Subject without it, so
// that a tagged copy (a user's report, a message taken from a mailbox and
// classified again) reads as the message did when it arrived: the tag is
// the gateway's own verdict, as the filter headers Parse drops are other
// filters'.
const SpamTag = "*****SPAM*****"

// stripTag removes tag, and the space after it, from the start of the
// Subject value v, as often as it is there (a message tagged twice).
func stripTag(v, tag string) string {
	for {
		rest, ok := strings.CutPrefix(strings.TrimLeft(v, " \t"), tag)
		if !ok {
			return v
		}
		v = strings.TrimLeft(rest, " \t")
	}
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
			appendText(p, s)
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
		// Text that needs no conversion is read in place, not copied.
		if s, conv := utf8Text(data, ct.charset); conv {
			addText(p, s, ct.mediaType)
		} else {
			addText(p, data, ct.mediaType)
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

// addText adds the text of a text part, in UTF-8: HTML (by its media type,
// or when untyped and it looks like HTML) turned into text, and the URLs
// in it.
func addText[T string | []byte](p *parser, s T, mediaType string) {
	if mediaType == "text/html" || (mediaType == "" && looksHTML(s)) {
		p.hasHTML = true
		p.html = htmlToText(p.html[:0], string(s), p.addURL, p.addTag)
		appendText(p, p.html)
		scanURLs(p, p.html)
		return
	}
	p.hasPlain = true
	appendText(p, s)
	scanURLs(p, s)
}

// looksHTML reports whether the first KB of s has an html, body or doctype
// tag (ASCII case folded: no other rune lower-cases to a letter of these).
func looksHTML[T string | []byte](s T) bool {
	head := s[:min(len(s), 1024)]
	return indexFold(head, "<html") >= 0 || indexFold(head, "<body") >= 0 || indexFold(head, "<!doctype html") >= 0
}

// appendText appends a part's text to the message text (a newline between
// parts), white space collapsed, up to MaxText.
func appendText[T string | []byte](p *parser, s T) {
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

// isSpace marks the white space appendCollapsed collapses.
var isSpace = [256]bool{' ': true, '\t': true, '\r': true, '\n': true, '\f': true, '\v': true}

// appendCollapsed appends s with runs of white space collapsed: a run
// containing a newline becomes "\n", any other run a single space. A run
// at the end of s, or at its start while dst is empty, is dropped.
//
// Most runs are a single space or newline that stay as they are, so the
// text up to the next run that changes (see nextCollapse) is copied in one
// piece.
func appendCollapsed[T string | []byte](dst []byte, s T) []byte {
	i := 0
	if len(dst) == 0 {
		for i < len(s) && isSpace[s[i]] {
			i++
		}
	}
	for i < len(s) {
		j := nextCollapse(s, i)
		dst = append(dst, s[i:j]...)
		if j == len(s) {
			break
		}
		nl := false
		for j < len(s) && isSpace[s[j]] {
			nl = nl || s[j] == '\n'
			j++
		}
		if j == len(s) {
			break
		}
		if nl {
			dst = append(dst, '\n')
		} else {
			dst = append(dst, ' ')
		}
		i = j
	}
	return dst
}

// spaceBytes returns the high bit of each byte of x that is white space
// (isSpace) and of each that is a space or a newline.
func spaceBytes(x uint64) (ws, sp uint64) {
	sp = swar.EqBytes(x, ' ') | swar.EqBytes(x, '\n')
	// '\t' through '\r': with the high bits cleared, adding 0x80-0x09
	// sets a byte's high bit from 0x09 up, adding 0x80-0x0e from 0x0e up;
	// bytes of 0x80 and above are never white space.
	low := x &^ swar.Highs
	ctl := (low + swar.Ones*(0x80-0x09)) &^ (low + swar.Ones*(0x80-0x0e)) &^ x & swar.Highs
	return sp | ctl, sp
}

// nextCollapse returns the index of the first white space byte in s at or
// after i that appendCollapsed rewrites or drops: one other than a space
// or newline followed by a byte that is not white space; len(s) if none.
// It tests eight bytes at a time.
func nextCollapse[T string | []byte](s T, i int) int {
	for ; i+8 < len(s); i += 8 {
		ws, sp := spaceBytes(swar.Load64(s, i))
		// The flag of the byte after each byte; s[i+8] exists.
		next := ws>>8 | uint64(b2u(isSpace[s[i+8]]))<<63
		if m := ws&^sp | sp&next; m != 0 {
			return i + bits.TrailingZeros64(m)/8
		}
	}
	for ; i < len(s); i++ {
		c := s[i]
		if isSpace[c] && (c != ' ' && c != '\n' || i+1 == len(s) || isSpace[s[i+1]]) {
			return i
		}
	}
	return len(s)
}

func b2u(b bool) uint8 {
	if b {
		return 1
	}
	return 0
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
func scanURLs[T string | []byte](p *parser, s T) {
	for i := 0; i < len(s) && len(p.msg.URLs) < MaxURLs; i++ {
		if i = indexURLStart(s, i); i == len(s) {
			break
		}
		rest := s[i:]
		if !hasPrefixFold(rest, "http://") && !hasPrefixFold(rest, "https://") && !hasPrefixFold(rest, "www.") {
			continue
		}
		j := i
		for j < len(s) && isURLChar(s[j]) {
			j++
		}
		// Trailing punctuation is not part of the URL (strings.TrimRight
		// with these ASCII characters).
		k := j
		for k > i && strings.IndexByte(".,;:!?)]}'\"", s[k-1]) >= 0 {
			k--
		}
		if k-i > 8 {
			p.addURL(string(s[i:k]))
		}
		i = j
	}
}

// indexURLStart returns the index of the first "ht" or "ww" (ASCII case
// folded) in s at or after i, where a URL can start, or len(s). It tests
// eight positions at a time.
func indexURLStart[T string | []byte](s T, i int) int {
	for ; i+8 < len(s); i += 8 {
		// With 0x20 set in every byte an ASCII letter matches its lower
		// case, and no other byte matches a letter.
		x := swar.Load64(s, i) | swar.Ones*0x20
		next := x>>8 | uint64(s[i+8]|0x20)<<56 // the byte after each
		if m := swar.EqBytes(x, 'h')&swar.EqBytes(next, 't') | swar.EqBytes(x, 'w')&swar.EqBytes(next, 'w'); m != 0 {
			return i + bits.TrailingZeros64(m)/8
		}
	}
	for ; i+1 < len(s); i++ {
		if c, d := s[i]|0x20, s[i+1]|0x20; c == 'h' && d == 't' || c == 'w' && d == 'w' {
			return i
		}
	}
	return len(s)
}

// hasPrefixFold is an ASCII case-insensitive strings.HasPrefix for lower-case pat.
func hasPrefixFold[T string | []byte](s T, pat string) bool {
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
