package main

import (
	"strings"
	"testing"
)

func TestWithMessageID(t *testing.T) {
	msg := "From someone Mon Jan  1 00:00:00 2001\nMessage-ID: <old@x>\nSubject: s\n\n.hidden\nbody\n"
	got := string(withMessageID([]byte(msg), 7))
	if strings.Contains(got, "old@x") || strings.Contains(got, "From someone") {
		t.Fatalf("old Message-ID or mbox line kept:\n%s", got)
	}
	if !strings.HasPrefix(got, "Message-ID: <load-") || !strings.Contains(got, "-7@sender.example.net>\r\n") {
		t.Fatalf("no fresh Message-ID:\n%s", got)
	}
	if !strings.Contains(got, "\r\n..hidden\r\n") {
		t.Fatalf("leading dot not stuffed:\n%s", got)
	}
	if !strings.HasSuffix(got, "body\r\n.\r\n") {
		t.Fatalf("not terminated with CRLF.CRLF:\n%q", got)
	}
}
