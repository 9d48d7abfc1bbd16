package textextract

import (
	"html"
	"math/bits"
	"strings"

	"github.com/mxgate/mxgate/services/classifier/internal/swar"
)

// htmlToText turns HTML into text: tags dropped (block-level tags become line
// breaks), comments, script and style content skipped, entities decoded.
// The href/src/action/background attribute values are passed to url, and
// each start tag's name and attribute text to tag (if not nil).
// It is a single linear scan that tolerates any malformed markup. The text
// is appended to b.
func htmlToText(b []byte, s string, url func(string), tag func(name, attrs string)) []byte {
	i := 0
	textStart := 0
	flushText := func(end int) {
		if end > textStart {
			t := s[textStart:end]
			if strings.IndexByte(t, '&') >= 0 {
				t = html.UnescapeString(t)
			}
			b = append(b, t...)
		}
	}
	for i < len(s) {
		// Text runs to the next '<'.
		k := strings.IndexByte(s[i:], '<')
		if k < 0 {
			break
		}
		i += k
		// A '<' not followed by a tag-ish character is text.
		if i+1 >= len(s) || !(isAlpha(s[i+1]) || s[i+1] == '/' || s[i+1] == '!' || s[i+1] == '?') {
			i++
			continue
		}
		flushText(i)
		if strings.HasPrefix(s[i:], "<!--") {
			end := strings.Index(s[i+4:], "-->")
			if end < 0 {
				i = len(s)
			} else {
				i = i + 4 + end + 3
			}
			textStart = i
			continue
		}
		end := strings.IndexByte(s[i:], '>')
		if end < 0 {
			i = len(s)
			textStart = i
			break
		}
		tagText := s[i+1 : i+end]
		i += end + 1
		textStart = i
		name, attrs := splitTag(tagText)
		if tag != nil && name != "" && name[0] != '/' {
			tag(name, attrs)
		}
		switch name {
		case "script", "style":
			closeTag := "</" + name
			k := indexFold(s[i:], closeTag)
			if k < 0 {
				i = len(s)
			} else {
				i += k
			}
			textStart = i
			continue
		case "br", "p", "/p", "div", "/div", "tr", "/tr", "li", "h1", "h2", "h3", "h4", "h5", "h6",
			"/h1", "/h2", "/h3", "/h4", "/h5", "/h6", "table", "/table", "blockquote", "/blockquote",
			"hr", "ul", "/ul", "ol", "/ol", "pre", "/pre", "center", "/center", "/title":
			b = append(b, '\n')
		case "td", "th", "/td", "/th":
			b = append(b, ' ')
		case "img":
			if alt := attrValue(attrs, "alt"); alt != "" {
				b = append(b, ' ')
				b = append(b, html.UnescapeString(alt)...)
				b = append(b, ' ')
			}
		}
		// Every attribute value ends at a quote or '=' follows its name.
		if url != nil && strings.IndexByte(attrs, '=') >= 0 {
			for _, a := range [...]string{"href", "src", "action", "background"} {
				if v := attrValue(attrs, a); v != "" {
					v = html.UnescapeString(v)
					// ASCII case folding is exact here: no other rune
					// lower-cases to a letter of these prefixes.
					if hasPrefixFold(v, "http:") || hasPrefixFold(v, "https:") || hasPrefixFold(v, "www.") {
						url(v)
					}
				}
			}
		}
	}
	flushText(len(s))
	return b
}

func isAlpha(c byte) bool { return c|0x20 >= 'a' && c|0x20 <= 'z' }

// splitTag returns the lower-case tag name (with a leading '/' for end tags)
// and the raw attribute text.
func splitTag(tag string) (name, attrs string) {
	j := 0
	if j < len(tag) && tag[j] == '/' {
		j++
	}
	upper := false
	for j < len(tag) && (isAlpha(tag[j]) || (tag[j] >= '0' && tag[j] <= '9')) {
		upper = upper || tag[j] <= 'Z' && tag[j] >= 'A'
		j++
	}
	name, attrs = tag[:j], tag[j:]
	if upper {
		// Old mail writes tags in upper case: the common names are
		// lower-cased on the stack and interned instead of allocated.
		var buf [16]byte
		if len(name) <= len(buf) {
			l := buf[:len(name)]
			for k := 0; k < len(name); k++ {
				l[k] = name[k] | 0x20 // letters, digits and '/' only
			}
			if t, ok := tagNames[string(l)]; ok {
				return t, attrs
			}
		}
		name = strings.ToLower(name)
	}
	return name, attrs
}

// tagNames interns the lower-case names of common start and end tags.
var tagNames = func() map[string]string {
	m := map[string]string{}
	for _, t := range strings.Fields(`a abbr address area b base basefont big blink blockquote body br button
		caption center cite code col colgroup dd del dfn dir div dl dt em embed fieldset font form frame frameset
		h1 h2 h3 h4 h5 h6 head hr html i iframe img input ins kbd label layer legend li link map marquee menu meta
		nobr noscript object ol optgroup option p param pre q s samp script select small span strike strong style
		sub sup table tbody td textarea tfoot th thead title tr tt u ul var wbr xml`) {
		m[t], m["/"+t] = t, "/"+t
	}
	return m
}()

// attrValue returns the value of attribute name (lower case) in attrs, or "".
func attrValue(attrs, name string) string {
	for k := 0; k < len(attrs); {
		idx := indexFold(attrs[k:], name)
		if idx < 0 {
			return ""
		}
		p := k + idx
		k = p + len(name)
		if p > 0 {
			c := attrs[p-1]
			if c != ' ' && c != '\t' && c != '\n' && c != '\r' && c != '"' && c != '\'' && c != '/' {
				continue
			}
		}
		q := k
		for q < len(attrs) && (attrs[q] == ' ' || attrs[q] == '\t' || attrs[q] == '\n' || attrs[q] == '\r') {
			q++
		}
		if q >= len(attrs) || attrs[q] != '=' {
			continue
		}
		q++
		for q < len(attrs) && (attrs[q] == ' ' || attrs[q] == '\t' || attrs[q] == '\n' || attrs[q] == '\r') {
			q++
		}
		if q >= len(attrs) {
			return ""
		}
		if attrs[q] == '"' || attrs[q] == '\'' {
			e := strings.IndexByte(attrs[q+1:], attrs[q])
			if e < 0 {
				return strings.TrimSpace(attrs[q+1:])
			}
			return attrs[q+1 : q+1+e]
		}
		e := q
		for e < len(attrs) && attrs[e] != ' ' && attrs[e] != '\t' && attrs[e] != '\n' && attrs[e] != '\r' && attrs[e] != '>' {
			e++
		}
		return attrs[q:e]
	}
	return ""
}

// indexFold is an ASCII case-insensitive strings.Index for a lower-case pat.
// Candidates for the first byte are found eight bytes at a time.
func indexFold[T string | []byte](s T, pat string) int {
	if pat == "" {
		return 0
	}
	// With 0x20 set in every byte, an ASCII letter matches its lower case;
	// other bytes may match too and are rejected by hasPrefixFold.
	first := pat[0] | 0x20
	i := 0
	for ; i+8 <= len(s)-len(pat)+1; i += 8 {
		m := swar.EqBytes(swar.Load64(s, i)|swar.Ones*0x20, first)
		for ; m != 0; m &= m - 1 {
			if k := i + bits.TrailingZeros64(m)/8; hasPrefixFold(s[k:], pat) {
				return k
			}
		}
	}
	for ; i+len(pat) <= len(s); i++ {
		if s[i]|0x20 == first && hasPrefixFold(s[i:], pat) {
			return i
		}
	}
	return -1
}

// forEachAttrName calls f with each attribute name in attrs, as written.
func forEachAttrName(attrs string, f func(string)) {
	i := 0
	for i < len(attrs) {
		for i < len(attrs) && !isAlpha(attrs[i]) {
			if attrs[i] == '"' || attrs[i] == '\'' {
				// skip a quoted value
				q := attrs[i]
				e := strings.IndexByte(attrs[i+1:], q)
				if e < 0 {
					return
				}
				i += e + 2
				continue
			}
			i++
		}
		j := i
		for j < len(attrs) && (isAlpha(attrs[j]) || attrs[j] == '-' || (attrs[j] >= '0' && attrs[j] <= '9')) {
			j++
		}
		if j > i {
			f(attrs[i:j])
		}
		// skip the value, if any
		k := j
		for k < len(attrs) && (attrs[k] == ' ' || attrs[k] == '\t' || attrs[k] == '\n' || attrs[k] == '\r') {
			k++
		}
		if k < len(attrs) && attrs[k] == '=' {
			k++
			for k < len(attrs) && (attrs[k] == ' ' || attrs[k] == '\t' || attrs[k] == '\n' || attrs[k] == '\r') {
				k++
			}
			if k < len(attrs) && (attrs[k] == '"' || attrs[k] == '\'') {
				e := strings.IndexByte(attrs[k+1:], attrs[k])
				if e < 0 {
					return
				}
				k += e + 2
			} else {
				for k < len(attrs) && attrs[k] != ' ' && attrs[k] != '\t' && attrs[k] != '\n' && attrs[k] != '\r' {
					k++
				}
			}
		}
		if k <= i {
			k = i + 1
		}
		i = k
	}
}
