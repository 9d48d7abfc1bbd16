package mime

import (
	"errors"
	"strings"
	"testing"
)

// FuzzWalk checks that no input makes the walker panic, loop or fail with
// anything but a limit error, and that every visited part is named.
func FuzzWalk(f *testing.F) {
	seeds := []string{
		"Subject: x\n\nplain\n",
		"Content-Type: multipart/mixed; boundary=b\n\n--b\nContent-Transfer-Encoding: base64\n\naGVsbG8=\n--b--\n",
		"Content-Type: multipart/mixed; boundary=b\n\n--b\nContent-Type: multipart/alternative; boundary=c\n\n--c\n\nx\n--c--\n--b--\n",
		"Content-Type: multipart/mixed; boundary=b\n\n--b\nContent-Type: message/rfc822\n\nContent-Type: multipart/mixed; boundary=b\n\n--b\n\nloop\n--b--\n--b--\n",
		"Content-Type: multipart/mixed; boundary=b\n\n--b\n\nunterminated",
		"Content-Type: multipart/mixed; boundary=\"\"\n\n--\n\n",
		"Content-Type: message/rfc822\nContent-Transfer-Encoding: base64\n\nU3ViamVjdDogeA0KDQpoaQ==\n",
		"Content-Transfer-Encoding: quoted-printable\n\n=4=\n=ZZ=\r\n=",
		"Content-Transfer-Encoding: x-uuencode\n\nbegin 644 a\n#86)C\n`\nend\n",
		"Subject: uu\n\nbegin-base64 644 b\naGk=\n====\n",
		"Content-Type: text/plain; name==?utf-8?b?w6k=?=\nContent-Disposition: attachment; filename*=utf-8''%C3%A9.exe\n\nx",
		"Content-Type: multipart/digest; boundary=d\n\n--d\n\nSubject: one\n\nbody\n--d--\n",
		"\n\n",
		"X: " + strings.Repeat("y", 3000) + "\n\nbody",
		"Content-Type: multipart/mixed; boundary=b\n\n" + strings.Repeat("--b\n\n", 50) + "--b--",
	}
	for _, s := range seeds {
		f.Add(crlf(s))
	}
	f.Fuzz(func(t *testing.T, msg []byte) {
		w := New(Limits{MaxBytes: 1 << 20, MaxDepth: 8, MaxParts: 100, MaxHeaderBytes: 2048})
		err := w.Walk(msg, func(p *Part) error {
			if p.Path == "" {
				t.Fatalf("part without path: %+v", p)
			}
			if p.Raw && p.Note == "" {
				t.Fatalf("raw part without note: %+v", p)
			}
			return nil
		})
		if err != nil && !errors.Is(err, ErrLimitExceeded) {
			t.Fatalf("Walk: %v", err)
		}
	})
}
