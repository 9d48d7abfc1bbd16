package header

import (
	"bytes"
	"strings"
	"testing"
)

func TestRewrite(t *testing.T) {
	received := Field{Name: "Received", Value: "from a ([1.2.3.4]) by mx with ESMTP id X; date"}
	status := Field{Name: "X-Spam-Status", Value: "no"}
	for _, tc := range []struct {
		name string
		in   string
		edit Edit
		want string
	}{
		{
			name: "prepend and append",
			in:   "From: a@b\r\nSubject: hi\r\n\r\nbody\r\n",
			edit: Edit{Prepend: []Field{received}, Append: []Field{status}},
			want: "Received: from a ([1.2.3.4]) by mx with ESMTP id X; date\r\nFrom: a@b\r\nSubject: hi\r\nX-Spam-Status: no\r\n\r\nbody\r\n",
		},
		{
			name: "remove inbound spam headers and Return-Path, folded ones too, any case",
			in:   "X-Spam-Status: Yes,\r\n\tscore=99\r\nreturn-path: <forged@x>\r\nFrom: a@b\r\nx-spam-folder: Junk\r\nX-MXGATE-Verdict: forged\r\nX-Spammy: kept\r\nReturn-Paths: kept\r\nReceived: kept\r\n\r\nX-Spam-Status: in body\r\n",
			edit: Edit{Remove: IsRemovable, Append: []Field{status}},
			want: "From: a@b\r\nX-Spammy: kept\r\nReturn-Paths: kept\r\nReceived: kept\r\nX-Spam-Status: no\r\n\r\nX-Spam-Status: in body\r\n",
		},
		{
			name: "subject prefix",
			in:   "Subject: hello\r\n\r\nb",
			edit: Edit{SubjectPrefix: "*****SPAM***** "},
			want: "Subject: *****SPAM***** hello\r\n\r\nb",
		},
		{
			name: "subject prefix without trailing space",
			in:   "Subject: hello\r\n\r\nb",
			edit: Edit{SubjectPrefix: "[SPAM]"},
			want: "Subject: [SPAM] hello\r\n\r\nb",
		},
		{
			name: "encoded-word subject is prefixed, not decoded",
			in:   "Subject: =?UTF-8?B?w6nDqQ==?=\r\n =?UTF-8?B?w6A=?=\r\n\r\nb",
			edit: Edit{SubjectPrefix: "*****SPAM***** "},
			want: "Subject: *****SPAM***** =?UTF-8?B?w6nDqQ==?=\r\n =?UTF-8?B?w6A=?=\r\n\r\nb",
		},
		{
			name: "folded subject starting on the next line",
			in:   "Subject:\r\n hello\r\n\r\nb",
			edit: Edit{SubjectPrefix: "[S] "},
			want: "Subject: [S] hello\r\n\r\nb",
		},
		{
			name: "empty subject",
			in:   "Subject:\r\nFrom: a\r\n\r\nb",
			edit: Edit{SubjectPrefix: "[S] "},
			want: "Subject: [S]\r\nFrom: a\r\n\r\nb",
		},
		{
			name: "missing subject is added",
			in:   "From: a\r\n\r\nb",
			edit: Edit{SubjectPrefix: "*****SPAM***** "},
			want: "From: a\r\nSubject: *****SPAM*****\r\n\r\nb",
		},
		{
			name: "already tagged subject kept",
			in:   "Subject: *****SPAM***** hi\r\n\r\nb",
			edit: Edit{SubjectPrefix: "*****SPAM***** "},
			want: "Subject: *****SPAM***** hi\r\n\r\nb",
		},
		{
			name: "non-ASCII prefix is an encoded word",
			in:   "Subject: hello\r\n\r\nb",
			edit: Edit{SubjectPrefix: "[Спам] "},
			want: "Subject: =?utf-8?q?[=D0=A1=D0=BF=D0=B0=D0=BC]?= hello\r\n\r\nb",
		},
		{
			name: "non-ASCII prefix on a missing subject",
			in:   "From: a\r\n\r\nb",
			edit: Edit{SubjectPrefix: "[Спам] "},
			want: "From: a\r\nSubject: =?utf-8?q?[=D0=A1=D0=BF=D0=B0=D0=BC]?=\r\n\r\nb",
		},
		{
			name: "only the first subject",
			in:   "Subject: one\r\nSubject: two\r\n\r\nb",
			edit: Edit{SubjectPrefix: "[S] "},
			want: "Subject: [S] one\r\nSubject: two\r\n\r\nb",
		},
		{
			name: "bare LF message keeps LF",
			in:   "From: a\nSubject: s\n\nbody\n",
			edit: Edit{Prepend: []Field{{Name: "Received", Value: "r"}}, SubjectPrefix: "[S] "},
			want: "Received: r\nFrom: a\nSubject: [S] s\n\nbody\n",
		},
		{
			name: "no body",
			in:   "From: a\r\nSubject: s",
			edit: Edit{Append: []Field{status}},
			want: "From: a\r\nSubject: s\r\nX-Spam-Status: no\r\n\r\n",
		},
		{
			name: "no header",
			in:   "\r\nbody only\r\n",
			edit: Edit{Prepend: []Field{received}},
			want: "Received: from a ([1.2.3.4]) by mx with ESMTP id X; date\r\n\r\nbody only\r\n",
		},
		{
			name: "empty message",
			in:   "",
			edit: Edit{Append: []Field{status}},
			want: "X-Spam-Status: no\r\n\r\n",
		},
		{
			name: "header injection in added values is neutralised",
			in:   "From: a\r\n\r\nb",
			edit: Edit{Append: []Field{{Name: "X-Mxgate-Rule", Value: "x\r\nBcc: victim@example.com"}}},
			want: "From: a\r\nX-Mxgate-Rule: x Bcc: victim@example.com\r\n\r\nb",
		},
		{
			name: "8-bit kept byte for byte; a line that is not a field starts the body",
			in:   "From: \xe9t\xe9\r\nthis is not a field\r\nX-Spam-Flag: YES\r\n\r\n\xff\xfe",
			edit: Edit{Remove: IsRemovable, Append: []Field{status}},
			want: "From: \xe9t\xe9\r\nX-Spam-Status: no\r\n\r\nthis is not a field\r\nX-Spam-Flag: YES\r\n\r\n\xff\xfe",
		},
		{
			name: "no separator: added fields stay in the header, the body text after it",
			in:   "From: a\r\nSubject: s\r\nHello Bob,\r\nsee you: tomorrow\r\n",
			edit: Edit{Prepend: []Field{received}, Append: []Field{status}},
			want: "Received: from a ([1.2.3.4]) by mx with ESMTP id X; date\r\nFrom: a\r\nSubject: s\r\nX-Spam-Status: no\r\n\r\nHello Bob,\r\nsee you: tomorrow\r\n",
		},
		{
			name: "leading indented line is not folded into Received",
			in:   " indented\r\nFrom: a\r\n\r\nb",
			edit: Edit{Prepend: []Field{received}, Append: []Field{status}},
			want: "Received: from a ([1.2.3.4]) by mx with ESMTP id X; date\r\nX-Spam-Status: no\r\n\r\n indented\r\nFrom: a\r\n\r\nb",
		},
		{
			name: "leading mbox From_ line stays in the header block",
			in:   "From sender@remote.example  Thu Aug 22 14:44:26 2002\nX-Spam-Status: Yes\nSubject: s\n\nbody\n",
			edit: Edit{Remove: IsRemovable, Prepend: []Field{{Name: "Received", Value: "r"}}, Append: []Field{status}},
			want: "Received: r\nFrom sender@remote.example  Thu Aug 22 14:44:26 2002\nSubject: s\nX-Spam-Status: no\n\nbody\n",
		},
		{
			name: "bare LF message without separator",
			in:   "Subject: s\nbody line\n",
			edit: Edit{Append: []Field{status}, SubjectPrefix: "[S] "},
			want: "Subject: [S] s\nX-Spam-Status: no\n\nbody line\n",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in := []byte(tc.in)
			got := string(Rewrite(in, tc.edit))
			if got != tc.want {
				t.Errorf("Rewrite:\n got %q\nwant %q", got, tc.want)
			}
			if string(in) != tc.in {
				t.Errorf("input modified")
			}
		})
	}
}

func TestSplit(t *testing.T) {
	for _, tc := range []struct{ in, head, body string }{
		{"A: b\r\n\r\nbody", "A: b\r\n\r\n", "body"},
		{"A: b\n\nbody", "A: b\n\n", "body"},
		{"A: b\r\n", "A: b\r\n", ""},
		{"\r\nbody", "\r\n", "body"},
		{"", "", ""},
		{"A: b\r\nbody text\r\n\r\nmore", "A: b\r\n", "body text\r\n\r\nmore"},
		{"A: b\r\n folded\r\nB: c\r\n\r\nx", "A: b\r\n folded\r\nB: c\r\n\r\n", "x"},
		{" lead\r\nA: b\r\n\r\nx", "", " lead\r\nA: b\r\n\r\nx"},
	} {
		head, body := Split([]byte(tc.in))
		if string(head) != tc.head || string(body) != tc.body {
			t.Errorf("Split(%q) = %q, %q; want %q, %q", tc.in, head, body, tc.head, tc.body)
		}
	}
}

// FuzzRewrite checks that any input keeps its body bytes, gets the added
// fields, loses the removable ones from its header, and never panics.
func FuzzRewrite(f *testing.F) {
	f.Add([]byte("From: a\r\nSubject: hi\r\nX-Spam-Status: yes\r\n\r\nbody\r\n"), "*****SPAM***** ")
	f.Add([]byte("Subject: =?utf-8?q?x?=\r\n\t=?utf-8?q?y?=\r\n\r\n"), "[S]")
	f.Add([]byte("\r\n\r\n"), "")
	f.Add([]byte("no colon line\nSubject:\n\n"), "p ")
	f.Fuzz(func(t *testing.T, msg []byte, prefix string) {
		prefix = clean(prefix)
		e := Edit{
			Remove:        IsRemovable,
			SubjectPrefix: prefix,
			Prepend:       []Field{{Name: "Received", Value: "from x by y"}},
			Append:        []Field{{Name: "X-Spam-Status", Value: "no"}},
		}
		out := Rewrite(msg, e)
		_, body := Split(msg)
		if !bytes.HasSuffix(out, body) {
			t.Fatalf("body not kept: in %q out %q", msg, out)
		}
		if !bytes.HasPrefix(out, []byte("Received: from x by y")) {
			t.Fatalf("Received not first: %q", out)
		}
		head, _ := Split(out)
		fields, _ := parseFields(head)
		statuses := 0
		for _, fl := range fields {
			if strings.EqualFold(fl.name, "X-Spam-Status") {
				statuses++
			}
		}
		if statuses != 1 {
			t.Fatalf("%d X-Spam-Status fields in %q", statuses, head)
		}
		// A second pass removes every removable field, the added ones too.
		again, _ := Split(Rewrite(out, Edit{Remove: IsRemovable}))
		left, _ := parseFields(again)
		for _, fl := range left {
			if fl.name != "" && IsRemovable(fl.name) {
				t.Fatalf("removable field %q survived in %q", fl.name, again)
			}
		}
	})
}
