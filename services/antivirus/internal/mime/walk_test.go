package mime

import (
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"testing"
)

// crlf turns a readable literal with \n line ends into wire form.
func crlf(s string) []byte { return []byte(strings.ReplaceAll(s, "\n", "\r\n")) }

func b64lines(data []byte) string {
	enc := base64.StdEncoding.EncodeToString(data)
	var b strings.Builder
	for len(enc) > 76 {
		b.WriteString(enc[:76] + "\n")
		enc = enc[76:]
	}
	b.WriteString(enc + "\n")
	return b.String()
}

type got struct {
	path, ctype, filename, note string
	data                        string
	raw                         bool
}

func collect(t testing.TB, w *Walker, msg []byte) ([]got, error) {
	t.Helper()
	var out []got
	err := w.Walk(msg, func(p *Part) error {
		if p.Path == "" {
			t.Errorf("part with empty path: %+v", p)
		}
		out = append(out, got{p.Path, p.ContentType, p.Filename, p.Note, string(p.Data), p.Raw})
		return nil
	})
	return out, err
}

var payload = []byte("binary\x00payload\xff\xfe with bytes that need encoding\r\n")

func TestWalk(t *testing.T) {
	attach := b64lines(payload)
	inner := "From: a@example.org\nSubject: fwd\nMIME-Version: 1.0\nContent-Type: multipart/mixed; boundary=in\n\n" +
		"--in\nContent-Type: text/plain\n\ninner text\n--in\nContent-Type: application/octet-stream\nContent-Transfer-Encoding: base64\nContent-Disposition: attachment; filename=\"x.bin\"\n\n" +
		attach + "--in--\n"
	tests := []struct {
		name string
		msg  string
		want []got // data "" means: do not compare
	}{
		{
			name: "plain text",
			msg:  "Subject: hi\n\nhello\n",
			want: []got{{path: "1", ctype: "text/plain", data: "hello\r\n"}},
		},
		{
			name: "multipart mixed with base64 attachment",
			msg: "Content-Type: multipart/mixed; boundary=\"b1\"\n\npreamble\n--b1\nContent-Type: text/plain; charset=utf-8\n\nbody\n--b1\n" +
				"Content-Type: application/octet-stream; name=\"ignored.bin\"\nContent-Transfer-Encoding: base64\nContent-Disposition: attachment; filename=\"=?utf-8?q?r=C3=A9sum=C3=A9.exe?=\"\n\n" +
				attach + "--b1--\nepilogue\n",
			want: []got{
				{path: "1", ctype: "text/plain", data: "body"},
				{path: "2", ctype: "application/octet-stream", filename: "résumé.exe", data: string(payload)},
			},
		},
		{
			name: "nested alternative",
			msg: "Content-Type: multipart/mixed; boundary=outer\n\n--outer\nContent-Type: multipart/alternative; boundary=alt\n\n" +
				"--alt\nContent-Type: text/plain\n\nplain\n--alt\nContent-Type: text/html\nContent-Transfer-Encoding: quoted-printable\n\n<p>caf=C3=A9 soft=\n break</p>\n--alt--\n" +
				"--outer\nContent-Type: application/pdf; name=doc.pdf\nContent-Transfer-Encoding: base64\n\n" + attach + "--outer--\n",
			want: []got{
				{path: "1.1", ctype: "text/plain", data: "plain"},
				{path: "1.2", ctype: "text/html", data: "<p>café soft break</p>"},
				{path: "2", ctype: "application/pdf", filename: "doc.pdf", data: string(payload)},
			},
		},
		{
			name: "message/rfc822 attachment",
			msg: "Content-Type: multipart/mixed; boundary=o\n\n--o\nContent-Type: text/plain\n\nsee attached\n--o\nContent-Type: message/rfc822\n\n" +
				inner + "--o--\n",
			want: []got{
				{path: "1", ctype: "text/plain", data: "see attached"},
				{path: "2.1", ctype: "text/plain", data: "inner text"},
				{path: "2.2", ctype: "application/octet-stream", filename: "x.bin", data: string(payload)},
			},
		},
		{
			name: "base64 encoded message/rfc822 with single body",
			msg: "Content-Type: multipart/mixed; boundary=o\n\n--o\nContent-Type: message/rfc822\nContent-Transfer-Encoding: base64\n\n" +
				b64lines([]byte("Subject: x\r\nContent-Transfer-Encoding: base64\r\n\r\n"+b64lines(payload))) + "--o--\n",
			want: []got{{path: "1.1", ctype: "text/plain", data: string(payload)}},
		},
		{
			name: "missing closing boundary",
			msg:  "Content-Type: multipart/mixed; boundary=b\n\n--b\nContent-Type: text/plain\n\nfirst\n--b\nContent-Type: text/plain\n\nsecond never closed\n",
			want: []got{
				{path: "1", ctype: "text/plain", data: "first"},
				{path: "2", ctype: "text/plain", data: "second never closed\r\n"},
				{path: "0", ctype: "multipart/mixed", raw: true},
			},
		},
		{
			name: "boundary never appears",
			msg:  "Content-Type: multipart/mixed; boundary=nothere\n\njust some text\n",
			want: []got{{path: "0", ctype: "multipart/mixed", raw: true, data: "just some text\r\n"}},
		},
		{
			name: "multipart without boundary parameter",
			msg:  "Content-Type: multipart/mixed\n\n--x\n\nbody\n",
			want: []got{{path: "1", ctype: "multipart/mixed", raw: true, data: "--x\r\n\r\nbody\r\n"}},
		},
		{
			name: "unknown transfer encoding is scanned raw",
			msg:  "Content-Type: application/octet-stream\nContent-Transfer-Encoding: x-gzip64\n\nH4sIAAAA\n",
			want: []got{{path: "1", ctype: "application/octet-stream", raw: true, data: "H4sIAAAA\r\n"}},
		},
		{
			name: "broken content type keeps boundary",
			msg:  "Content-Type: multipart/mixed; boundary=b; boundary=c\n\n--b\n\nx\n--b--\n",
			want: []got{{path: "1", ctype: "text/plain", data: "x"}},
		},
		{
			name: "header without body separator",
			msg:  "Subject: only a header\n",
			want: []got{{path: "1", ctype: "text/plain"}},
		},
		{
			name: "multipart/digest defaults to message/rfc822",
			msg:  "Content-Type: multipart/digest; boundary=d\n\n--d\n\nSubject: one\n\nfirst digest body\n--d--\n",
			want: []got{{path: "1.1", ctype: "text/plain", data: "first digest body"}},
		},
		{
			name: "uuencoded file in text body",
			msg:  "Subject: uu\n\nhere it is\nbegin 644 hello.bin\n" + uuLines(payload) + "`\nend\nbye\n",
			want: []got{
				{path: "1", ctype: "text/plain"},
				{path: "1/uuencode:hello.bin", ctype: "application/octet-stream", filename: "hello.bin", data: string(payload)},
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			parts, err := collect(t, New(Limits{}), crlf(tc.msg))
			if err != nil {
				t.Fatalf("Walk: %v", err)
			}
			if len(parts) != len(tc.want) {
				t.Fatalf("got %d parts %+v, want %d", len(parts), parts, len(tc.want))
			}
			for i, w := range tc.want {
				g := parts[i]
				if g.path != w.path || g.ctype != w.ctype || g.filename != w.filename || g.raw != w.raw {
					t.Errorf("part %d = %+v, want %+v", i, g, w)
				}
				if w.data != "" && strings.TrimRight(g.data, "\r\n") != strings.TrimRight(w.data, "\r\n") {
					t.Errorf("part %d data = %q, want %q", i, g.data, w.data)
				}
				if g.raw && g.note == "" {
					t.Errorf("raw part %d has no note", i)
				}
			}
		})
	}
}

func uuLines(data []byte) string {
	var b strings.Builder
	for len(data) > 0 {
		n := min(45, len(data))
		chunk := data[:n]
		data = data[n:]
		b.WriteByte(byte(' ' + n))
		for i := 0; i < n; i += 3 {
			var c [3]byte
			copy(c[:], chunk[i:min(i+3, n)])
			for _, v := range []byte{c[0] >> 2, (c[0]<<4 | c[1]>>4) & 63, (c[1]<<2 | c[2]>>6) & 63, c[2] & 63} {
				if v == 0 {
					b.WriteByte('`')
				} else {
					b.WriteByte(' ' + v)
				}
			}
		}
		b.WriteByte('\n')
	}
	return b.String()
}

func TestWalkLimits(t *testing.T) {
	big := bytes.Repeat([]byte("A"), 4096)
	msg := crlf("Content-Type: multipart/mixed; boundary=b\n\n--b\nContent-Transfer-Encoding: base64\n\n" + b64lines(big) + "--b--\n")

	t.Run("decoded bytes", func(t *testing.T) {
		_, err := collect(t, New(Limits{MaxBytes: 4000}), msg)
		if !errors.Is(err, ErrLimitExceeded) {
			t.Fatalf("err = %v, want ErrLimitExceeded", err)
		}
	})
	t.Run("parts", func(t *testing.T) {
		var m strings.Builder
		m.WriteString("Content-Type: multipart/mixed; boundary=b\n\n")
		for i := 0; i < 20; i++ {
			fmt.Fprintf(&m, "--b\n\npart %d\n", i)
		}
		m.WriteString("--b--\n")
		_, err := collect(t, New(Limits{MaxParts: 10}), crlf(m.String()))
		if !errors.Is(err, ErrLimitExceeded) {
			t.Fatalf("err = %v, want ErrLimitExceeded", err)
		}
	})
	t.Run("depth scans the rest raw", func(t *testing.T) {
		m := "Subject: leaf\n\nDEEPEST\n"
		for i := 0; i < 10; i++ {
			m = "Content-Type: message/rfc822\n\n" + m
		}
		parts, err := collect(t, New(Limits{MaxDepth: 3}), crlf(m))
		if err != nil {
			t.Fatal(err)
		}
		if len(parts) != 1 || !parts[0].raw || !strings.Contains(parts[0].data, "DEEPEST") {
			t.Fatalf("parts = %+v", parts)
		}
	})
	t.Run("huge header", func(t *testing.T) {
		m := "X-Big: " + strings.Repeat("x", 5000) + "\n\nbody\n"
		parts, err := collect(t, New(Limits{MaxHeaderBytes: 1024}), crlf(m))
		if err != nil {
			t.Fatal(err)
		}
		if len(parts) != 1 || !parts[0].raw || len(parts[0].data) != len(crlf(m)) {
			t.Fatalf("want the whole message as one raw part, got %d parts", len(parts))
		}
	})
}

func TestDecodeBase64(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"aGVsbG8=", "hello"},
		{"aGVs\r\n bG8=\r\n", "hello"},
		{"aGVsbG8", "hello"},
		{"aGVs*bG8h", "hello!"},
		{"aGk=aGk=", "hihi"},
		{"", ""},
		{"QQ", "A"},
		{"Q", ""},
	} {
		if got := string(DecodeBase64([]byte(tc.in))); got != tc.want {
			t.Errorf("DecodeBase64(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestDecodeQuotedPrintable(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"caf=C3=A9", "café"},
		{"caf=c3=a9", "café"},
		{"soft=\r\nbreak", "softbreak"},
		{"soft= \t\nbreak", "softbreak"},
		{"a=ZZb", "a=ZZb"},
		{"end=", "end"},
		{"end=4", "end=4"},
		{"line\r\nnext", "line\r\nnext"},
	} {
		if got := string(DecodeQuotedPrintable([]byte(tc.in))); got != tc.want {
			t.Errorf("DecodeQuotedPrintable(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}
