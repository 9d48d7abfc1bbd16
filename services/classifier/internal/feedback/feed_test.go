package feedback

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	classifierv1 "github.com/mxgate/mxgate/proto/mxgate/classifier/v1"
)

func TestParseFeed(t *testing.T) {
	now := time.Unix(1000, 0)
	feed := `# comment

{"kind":"url-domain","value":"bad.example","class":"spam","weight":5,"ttl":"720h"}
{"kind":"attachment","digest":"` + strings.Repeat("ab", 32) + `","class":"ham"}
{"kind":"url","value":"http://x.example/","op":"remove"}
`
	add, rm, err := ParseFeed(strings.NewReader(feed), now)
	if err != nil {
		t.Fatal(err)
	}
	if len(add) != 2 || len(rm) != 1 {
		t.Fatalf("add %d remove %d", len(add), len(rm))
	}
	if a := add[0]; a.GetKind() != classifierv1.FingerprintKind_FINGERPRINT_KIND_URL_DOMAIN || a.GetWeight() != 5 ||
		a.GetExpiresAt() != now.Add(720*time.Hour).Unix() || a.GetClass() != classifierv1.FingerprintClass_FINGERPRINT_CLASS_SPAM {
		t.Fatalf("line 3: %v", a)
	}
	if a := add[1]; len(a.GetDigest()) != 32 || a.GetClass() != classifierv1.FingerprintClass_FINGERPRINT_CLASS_HAM {
		t.Fatalf("line 4: %v", a)
	}
	for _, bad := range []string{
		`{"kind":"nope","value":"x"}`,
		`{"kind":"url","value":"x","class":"maybe"}`,
		`{"kind":"url"}`,
		`{"kind":"url","value":"x","ttl":"-1h"}`,
		`{"kind":"url","value":"x","op":"flip"}`,
		`{"kind":"url","value":"x","extra":1}`,
		`{"kind":"url","value":"x","weight":-1}`,
		`not json`,
	} {
		if _, _, err := ParseFeed(strings.NewReader("\n"+bad), now); err == nil || !strings.Contains(err.Error(), "line 2") {
			t.Errorf("%s: error %v", bad, err)
		}
	}
}

// FuzzParseFeed: feeds are downloaded; any input parses or fails cleanly.
func FuzzParseFeed(f *testing.F) {
	f.Add([]byte(`{"kind":"url-domain","value":"bad.example","class":"spam","weight":5,"ttl":"720h"}`))
	f.Add([]byte("# c\n\n{\"kind\":\"fuzzy\",\"digest\":\"00\"}"))
	f.Fuzz(func(t *testing.T, data []byte) {
		_, _, _ = ParseFeed(strings.NewReader(string(data)), time.Unix(0, 0))
	})
}

// endlessFeed yields valid feed lines for ever.
type endlessFeed struct {
	n    int
	line []byte
	off  int
}

func (f *endlessFeed) Read(p []byte) (int, error) {
	w := 0
	for w < len(p) {
		if f.off == len(f.line) {
			f.n++
			f.line, f.off = []byte(fmt.Sprintf(`{"kind":"url-domain","value":"d%d.example"}`+"\n", f.n)), 0
		}
		c := copy(p[w:], f.line[f.off:])
		w += c
		f.off += c
	}
	return w, nil
}

func TestParseFeedMaxStopsAtLimit(t *testing.T) {
	f := &endlessFeed{}
	_, _, err := ParseFeedMax(f, time.Now(), 1000)
	if !errors.Is(err, ErrTooMany) {
		t.Fatalf("err = %v, want ErrTooMany", err)
	}
	if f.n > 5000 { // the limit plus what the scanner reads ahead
		t.Fatalf("read %d lines for a limit of 1000", f.n)
	}
	add, _, err := ParseFeedMax(strings.NewReader(`{"kind":"url-domain","value":"a.example"}`+"\n"), time.Now(), 1)
	if err != nil || len(add) != 1 {
		t.Fatalf("a feed at the limit: %d, %v", len(add), err)
	}
}
