package textextract

import (
	"bytes"
	"crypto/sha256"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
)

func crlf(s string) string { return strings.ReplaceAll(s, "\n", "\r\n") }

func TestParse(t *testing.T) {
	tests := []struct {
		name     string
		raw      string
		subject  string
		text     []string // substrings of Text
		notText  []string // must not be in Text
		urls     []string
		htmlOnly bool
	}{
		{
			name:    "plain ascii",
			raw:     "From: a@example.com\nSubject: hello\n\nHello   world\n\n\nbye\n",
			subject: "hello",
			text:    []string{"Hello world\nbye"},
		},
		{
			name:    "mbox From line skipped",
			raw:     "From a@example.com Mon Jun 24 17:47:00 2002\nSubject: s\n\nbody\n",
			subject: "s",
			text:    []string{"body"},
		},
		{
			name:    "base64 utf-8",
			raw:     "Subject: b\nContent-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: base64\n\nSGVsbG8gd8O2cmxkIQ==\n",
			subject: "b",
			text:    []string{"Hello wörld!"},
		},
		{
			name: "base64 with junk and missing padding",
			raw:  "Content-Transfer-Encoding: base64\n\nSGVs\nbG8*gd29y\nbGQ\n",
			text: []string{"Hello world"},
		},
		{
			name: "quoted-printable iso-8859-1 with soft breaks",
			raw:  "Content-Type: text/plain; charset=iso-8859-1\nContent-Transfer-Encoding: quoted-printable\n\nCaf=E9 au l=\nait =3D bon, =ZZ stays\n",
			text: []string{"Café au lait = bon, =ZZ stays"},
		},
		{
			name: "windows-1252 smart quotes",
			raw:  "Content-Type: text/plain; charset=windows-1252\n\n\x93quoted\x94 \x80 5\n",
			text: []string{"“quoted” € 5"},
		},
		{
			name: "koi8-r",
			raw:  "Content-Type: text/plain; charset=koi8-r\nContent-Transfer-Encoding: 8bit\n\n\xf0\xd2\xc9\xd7\xc5\xd4\n",
			text: []string{"Привет"},
		},
		{
			name: "unlabelled 8-bit read as windows-1252",
			raw:  "Subject: x\n\ncaf\xe9\n",
			text: []string{"café"},
		},
		{
			name:     "html stripped",
			raw:      "Content-Type: text/html\n\n<html><head><style>p {color:red}</style><script>var x=1;</script></head><body><p>Buy&nbsp;now &amp; save</p><a href=\"http://spam.example/buy?a=1&amp;b=2\">here</a><img src='https://img.example/x.gif' alt=\"Logo\"><!-- hidden comment --></body></html>\n",
			text:     []string{"Buy\u00a0now & save", "here", "Logo"},
			notText:  []string{"color", "var x", "hidden comment", "<p>", "href"},
			urls:     []string{"http://spam.example/buy?a=1&b=2", "https://img.example/x.gif"},
			htmlOnly: true,
		},
		{
			name:    "encoded-word subjects",
			raw:     "Subject: =?UTF-8?B?SGVsbG8gV29ybGQ=?= =?iso-8859-1?Q?Caf=E9?=\n\nx\n",
			subject: "Hello WorldCafé",
		},
		{
			name:    "folded encoded subject",
			raw:     "Subject: =?iso-8859-1?q?Gr=FC=DFe?=\n and more\n\nx\n",
			subject: "Grüße and more",
		},
		{
			name:    "broken encoded word kept",
			raw:     "Subject: =?bogus-charset?Q?abc?= ok\n\nx\n",
			subject: "=?bogus-charset?Q?abc?= ok",
		},
		{
			name:    "multipart alternative",
			raw:     crlf("MIME-Version: 1.0\nContent-Type: multipart/alternative; boundary=\"XX\"\n\npreamble\n--XX\nContent-Type: text/plain\n\nplain part\n--XX\nContent-Type: text/html\n\n<b>html part</b> www.example.org/page.\n--XX--\nepilogue\n"),
			text:    []string{"plain part", "html part"},
			notText: []string{"preamble", "epilogue", "--XX"},
			urls:    []string{"www.example.org/page"},
		},
		{
			name: "multipart without close delimiter",
			raw:  "Content-Type: multipart/mixed; boundary=b1\n\n--b1\nContent-Type: text/plain\n\nfirst\n--b1\nContent-Type: text/plain\n\nsecond, cut off",
			text: []string{"first", "second, cut off"},
		},
		{
			name: "multipart without boundary parameter",
			raw:  "Content-Type: multipart/mixed\n\njust text\n",
			text: []string{"just text"},
		},
		{
			name: "nested message/rfc822",
			raw:  "Content-Type: multipart/mixed; boundary=o\n\n--o\nContent-Type: message/rfc822\n\nSubject: inner subject\nContent-Type: text/plain\n\ninner body\n--o--\n",
			text: []string{"inner subject", "inner body"},
		},
		{
			name: "url in plain text",
			raw:  "\nvisit http://www.example.com/a?b=c, or (https://x.example.net).\n",
			urls: []string{"http://www.example.com/a?b=c", "https://x.example.net"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := Parse([]byte(tt.raw))
			if tt.subject != "" && m.Subject != tt.subject {
				t.Errorf("Subject = %q, want %q", m.Subject, tt.subject)
			}
			for _, s := range tt.text {
				if !strings.Contains(m.Text, s) {
					t.Errorf("Text %q does not contain %q", m.Text, s)
				}
			}
			for _, s := range tt.notText {
				if strings.Contains(m.Text, s) {
					t.Errorf("Text %q contains %q", m.Text, s)
				}
			}
			for _, u := range tt.urls {
				if !slices.Contains(m.URLs, u) {
					t.Errorf("URLs %q do not contain %q", m.URLs, u)
				}
			}
			if tt.htmlOnly {
				for _, tag := range []string{"p", "a", "a.href", "img", "img.src", "img.alt"} {
					if !slices.Contains(m.HTMLTags, tag) {
						t.Errorf("HTMLTags %q do not contain %q", m.HTMLTags, tag)
					}
				}
			}
			if m.HTMLOnly != tt.htmlOnly {
				t.Errorf("HTMLOnly = %v, want %v", m.HTMLOnly, tt.htmlOnly)
			}
		})
	}
}

func TestFilterHeadersRemoved(t *testing.T) {
	raw := "Received: from x by y\nX-Spam-Status: Yes, score=20\nX-Spam-Flag: YES\nX-Virus-Scanned: clean\n" +
		"Authentication-Results: mx; spf=pass\nX-Mxgate-Verdict: spam\nX-MailScanner: clean\nX-Razor-Id: 1\n" +
		"From: =?utf-8?q?J=C3=B6rg?= <j@example.com>\nSubject: hi\nX-Mailer: mutt\n\nbody\n"
	m := Parse([]byte(raw))
	var names []string
	for _, h := range m.Headers {
		names = append(names, h.Name)
	}
	want := []string{"Received", "From", "Subject", "X-Mailer"}
	if !slices.Equal(names, want) {
		t.Fatalf("headers = %q, want %q", names, want)
	}
	if m.From != "Jörg <j@example.com>" {
		t.Errorf("From = %q", m.From)
	}
}

// The gateway's own spam tag is not part of what the classifier reads: a
// tagged copy parses as the message did before it was tagged.
func TestSpamTagRemoved(t *testing.T) {
	for subject, want := range map[string]string{
		"*****SPAM***** lunch":                 "lunch",
		"*****SPAM*****  *****SPAM***** lunch": "lunch",
		"*****SPAM*****":                       "",
		"=?utf-8?q?*****SPAM*****_J=C3=B6rg?=": "Jörg",
		"Re: *****SPAM***** lunch":             "Re: *****SPAM***** lunch",
		"*****SPAM*****lunch":                  "lunch",
		"****SPAM***** lunch":                  "****SPAM***** lunch",
		"lunch":                                "lunch",
	} {
		m := Parse([]byte("From: a@example.com\nSubject: " + subject + "\n\nbody\n"))
		if m.Subject != want || m.Header("Subject") != want {
			t.Errorf("Subject %q: parsed as %q (header %q), want %q", subject, m.Subject, m.Header("Subject"), want)
		}
	}
	// A site's own tag, and none.
	for _, tc := range []struct{ tag, subject, want string }{
		{"[SPAM]", "[SPAM] lunch", "lunch"},
		{"[SPAM]", "*****SPAM***** lunch", "*****SPAM***** lunch"},
		{"", "*****SPAM***** lunch", "*****SPAM***** lunch"},
	} {
		m := ParseWith([]byte("Subject: "+tc.subject+"\n\nbody\n"), Options{SpamTag: tc.tag})
		if m.Subject != tc.want {
			t.Errorf("tag %q, Subject %q: parsed as %q, want %q", tc.tag, tc.subject, m.Subject, tc.want)
		}
	}
}

func TestAttachments(t *testing.T) {
	pdf := "%PDF-1.4 fake"
	raw := "Content-Type: multipart/mixed; boundary=\"b\"\n\n--b\nContent-Type: text/plain\n\nsee attached\n--b\n" +
		"Content-Type: application/pdf; name=\"doc.pdf\"\nContent-Disposition: attachment; filename=\"report.pdf\"\n" +
		"Content-Transfer-Encoding: base64\n\nJVBERi0xLjQgZmFrZQ==\n--b--\n"
	m := Parse([]byte(raw))
	if len(m.Attachments) != 1 {
		t.Fatalf("attachments = %+v", m.Attachments)
	}
	a := m.Attachments[0]
	if a.Name != "report.pdf" || a.ContentType != "application/pdf" || a.Size != len(pdf) || a.SHA256 != sha256.Sum256([]byte(pdf)) {
		t.Errorf("attachment = %+v", a)
	}
	if strings.Contains(m.Text, "PDF") || !strings.Contains(m.Text, "see attached") {
		t.Errorf("Text = %q", m.Text)
	}
}

func TestBrokenInputNoPanic(t *testing.T) {
	inputs := []string{
		"",
		"\n",
		"no colon header line\n\nbody",
		"Content-Type: multipart/mixed; boundary=\n\n--\n--\n",
		"Content-Type: multipart/mixed; boundary=a\n\n--a",
		"Content-Type: multipart/mixed; boundary=a\n\n--a\n",
		"Content-Type: multipart/mixed; boundary=a\n\n--a\nContent-Type: multipart/mixed; boundary=a\n\n--a\n",
		"Content-Type: text/html\n\n<a href=\"",
		"Content-Type: text/html\n\n<script>never closed",
		"Content-Type: text/html\n\n<!-- never closed",
		"Content-Transfer-Encoding: quoted-printable\n\nabc=",
		"Content-Transfer-Encoding: base64\n\n=",
		"Content-Type: text/plain; charset=\"utf-16\"\n\n\xff\xfe\x41",
		"Subject: =?utf-8?B?####?=\n\n",
		"Content-Type: ;;;===\n\nx",
		strings.Repeat("Content-Type: multipart/mixed; boundary=z\n\n--z\n", 50),
	}
	for _, in := range inputs {
		m := Parse([]byte(in))
		if m == nil {
			t.Fatalf("Parse(%q) = nil", in)
		}
	}
}

func TestDeepNestingBounded(t *testing.T) {
	var b strings.Builder
	for i := 0; i < 1000; i++ {
		b.WriteString("Content-Type: multipart/mixed; boundary=\"n\"\n\n--n\n")
	}
	b.WriteString("Content-Type: text/plain\n\ndeep\n")
	m := Parse([]byte(b.String()))
	if !m.Truncated {
		t.Errorf("expected Truncated for 1000 nested parts")
	}
}

func TestLargeTextBounded(t *testing.T) {
	raw := "Subject: big\n\n" + strings.Repeat("word ", 200000)
	m := Parse([]byte(raw))
	if len(m.Text) > MaxText || !m.Truncated {
		t.Errorf("len(Text) = %d, Truncated = %v", len(m.Text), m.Truncated)
	}
}

func FuzzParse(f *testing.F) {
	f.Add([]byte("Subject: hi\n\nbody"))
	f.Add([]byte("Content-Type: multipart/alternative; boundary=b\n\n--b\nContent-Type: text/html; charset=koi8-r\nContent-Transfer-Encoding: quoted-printable\n\n<p>=F0=D2</p><a href=http://x.example>x</a>\n--b--\n"))
	f.Add([]byte("Subject: =?utf-8?q?a=C3=A9?=\nContent-Transfer-Encoding: base64\n\nYWJj\n"))
	f.Fuzz(func(t *testing.T, raw []byte) {
		m := Parse(raw)
		if m == nil {
			t.Fatal("nil message")
		}
		if len(m.Text) > MaxText || len(m.URLs) > MaxURLs {
			t.Fatalf("limits exceeded: text %d urls %d", len(m.Text), len(m.URLs))
		}
	})
}

// The reference definitions below are the plain forms of the helpers that
// Parse runs in optimised (word-at-a-time, allocation-free) form; the
// tests check that both agree, since the decoded text feeds stored
// fingerprints and the model.

func refAppendCollapsed(dst []byte, s string) []byte {
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
		for j < len(s) && !(s[j] == ' ' || s[j] == '\t' || s[j] == '\r' || s[j] == '\n' || s[j] == '\f' || s[j] == '\v') {
			j++
		}
		dst = append(dst, s[i:j]...)
		i = j
	}
	return dst
}

func refIndexFold(s, pat string) int {
	for i := 0; i+len(pat) <= len(s); i++ {
		if strings.EqualFold(s[i:i+len(pat)], pat) && isASCII(s[i:i+len(pat)]) {
			return i
		}
	}
	return -1
}

func refIsFilterHeader(name string) bool {
	l := strings.ToLower(name)
	if filterHeaderNames[l] {
		return true
	}
	for _, p := range filterHeaderPrefixes {
		if strings.HasPrefix(l, p) {
			return true
		}
	}
	return strings.Contains(l, "mailscanner")
}

func refScanURLs(s string) []string {
	var out []string
	for i := 0; i < len(s); i++ {
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
		if u := strings.TrimRight(s[i:j], ".,;:!?)]}'\""); len(u) > 8 {
			out = append(out, u)
		}
		i = j
	}
	return out
}

func refDecodeQP(in []byte) []byte {
	out := make([]byte, 0, len(in))
	for i := 0; i < len(in); i++ {
		c := in[i]
		if c != '=' {
			out = append(out, c)
			continue
		}
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

// checkFastPaths compares the helpers with their reference forms on s.
func checkFastPaths(t *testing.T, s string) {
	t.Helper()
	for _, dst := range []string{"", "x", "x\n"} {
		want := string(refAppendCollapsed([]byte(dst), s))
		if got := string(appendCollapsed([]byte(dst), s)); got != want {
			t.Fatalf("appendCollapsed(%q, %q) = %q, want %q", dst, s, got, want)
		}
		if got := string(appendCollapsed([]byte(dst), []byte(s))); got != want {
			t.Fatalf("appendCollapsed(%q, []byte(%q)) = %q, want %q", dst, s, got, want)
		}
	}
	for _, pat := range []string{"href", "<html", "</script", "alt", "<!doctype html", "a", "src"} {
		if got, want := indexFold(s, pat), refIndexFold(s, pat); got != want {
			t.Fatalf("indexFold(%q, %q) = %d, want %d", s, pat, got, want)
		}
	}
	if got, want := isASCII(s), !strings.ContainsFunc(s, func(r rune) bool { return r >= 0x80 }); got != want {
		t.Fatalf("isASCII(%q) = %v", s, got)
	}
	if got, want := IsFilterHeader(s), refIsFilterHeader(s); got != want {
		t.Fatalf("IsFilterHeader(%q) = %v, want %v", s, got, want)
	}
	var urls []string // what addURL keeps of the reference's URLs
	seen := map[string]bool{}
	for _, u := range refScanURLs(s) {
		if !seen[u] && len(urls) < MaxURLs {
			seen[u] = true
			urls = append(urls, u)
		}
	}
	ps, pb := &parser{msg: &Message{}}, &parser{msg: &Message{}}
	scanURLs(ps, s)
	scanURLs(pb, []byte(s))
	if !slices.Equal(ps.msg.URLs, urls) || !slices.Equal(pb.msg.URLs, urls) {
		t.Fatalf("scanURLs(%q) = %q and %q, want %q", s, ps.msg.URLs, pb.msg.URLs, urls)
	}
	if got, want := decodeQP([]byte(s)), refDecodeQP([]byte(s)); !bytes.Equal(got, want) {
		t.Fatalf("decodeQP(%q) = %q, want %q", s, got, want)
	}
}

// TestFastPathsMatchReference runs checkFastPaths on random strings of
// white space, URL starts, markup, escapes and non-ASCII bytes, with
// lengths around the 8-byte words the fast paths read.
func TestFastPathsMatchReference(t *testing.T) {
	pieces := []string{" ", "  ", "\t", "\n", "\r\n", "\v", "\f", " \n", "a", "B", "word", "h", "H", "w", "W", "ht", "HT", "ww",
		"http://", "HTTPS://", "www.", "WWW.x", "http://a.example/p?q=1", "www.b.example.", "),", "\"", "<", ">", "<HTML>",
		"<body", "</SCRIPT>", "<!DOCTYPE html>", "href=", "HREF", "alt", "src", "=", "=3D", "=\r\n", "= \n", "=4", "=ZZ",
		"\xe9", "é", "\xff", "世", "\u0130", "\u212a", "X-Spam", "x-", "MailScanner", "authentication-results", "Received-SPF",
		"\x1c", "\x00", "\x7f", "\x80"}
	rng := rand.New(rand.NewPCG(11, 12))
	for range 50000 {
		var b strings.Builder
		for range rng.IntN(30) {
			b.WriteString(pieces[rng.IntN(len(pieces))])
		}
		checkFastPaths(t, b.String())
	}
}

func FuzzFastPaths(f *testing.F) {
	f.Add("  Hello\t\tWORLD \n visit HTTP://x.example/a, now\r\n")
	f.Add("<HTML><A HREF=\"http://a.example\">x</a>=3D=\r\n")
	f.Fuzz(func(t *testing.T, s string) { checkFastPaths(t, s) })
}

func TestFilterHeaderPrefixes(t *testing.T) {
	// isFilterHeaderLower only tries the prefixes for names that start so.
	for _, p := range filterHeaderPrefixes {
		if !strings.HasPrefix(p, "x-") || p != strings.ToLower(p) {
			t.Errorf("filter header prefix %q does not start with x- or is not lower case", p)
		}
	}
}
