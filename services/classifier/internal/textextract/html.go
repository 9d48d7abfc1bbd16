package textextract

import (
	"html"
	"strings"
)

// htmlToText turns HTML into text: tags dropped (block-level tags become line
// breaks), comments, script and style content skipped, entities decoded.
// The href/src/action/background attribute values are passed to url, and
// each start tag's name and attribute names to tag (if not nil).
// It is a single linear scan that tolerates any malformed markup.
func htmlToText(s string, url func(string), tag func(name, attrs string)) string {
	var b strings.Builder
	b.Grow(len(s) / 2)
	i := 0
	textStart := 0
	flushText := func(end int) {
		if end > textStart {
			t := s[textStart:end]
			if strings.IndexByte(t, '&') >= 0 {
				t = html.UnescapeString(t)
			}
			b.WriteString(t)
		}
	}
	for i < len(s) {
		if s[i] != '<' {
			i++
			continue
		}
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
			b.WriteByte('\n')
		case "td", "th", "/td", "/th":
			b.WriteByte(' ')
		case "img":
			if alt := attrValue(attrs, "alt"); alt != "" {
				b.WriteByte(' ')
				b.WriteString(html.UnescapeString(alt))
				b.WriteByte(' ')
			}
		}
		if url != nil && attrs != "" {
			for _, a := range [...]string{"href", "src", "action", "background"} {
				if v := attrValue(attrs, a); v != "" {
					v = html.UnescapeString(v)
					lv := strings.ToLower(v)
					if strings.HasPrefix(lv, "http:") || strings.HasPrefix(lv, "https:") || strings.HasPrefix(lv, "www.") {
						url(v)
					}
				}
			}
		}
	}
	flushText(len(s))
	return b.String()
}

func isAlpha(c byte) bool { return c|0x20 >= 'a' && c|0x20 <= 'z' }

// splitTag returns the lower-case tag name (with a leading '/' for end tags)
// and the raw attribute text.
func splitTag(tag string) (name, attrs string) {
	j := 0
	if j < len(tag) && tag[j] == '/' {
		j++
	}
	for j < len(tag) && (isAlpha(tag[j]) || (tag[j] >= '0' && tag[j] <= '9')) {
		j++
	}
	name = strings.ToLower(tag[:j])
	return name, tag[j:]
}

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
func indexFold(s, pat string) int {
	if pat == "" {
		return 0
	}
	first := pat[0]
	upper := first
	if first >= 'a' && first <= 'z' {
		upper = first - 'a' + 'A'
	}
	for i := 0; i+len(pat) <= len(s); i++ {
		if c := s[i]; (c == first || c == upper) && hasPrefixFold(s[i:], pat) {
			return i
		}
	}
	return -1
}

// forEachAttrName calls f with each lower-cased attribute name in attrs.
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
			f(strings.ToLower(attrs[i:j]))
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
