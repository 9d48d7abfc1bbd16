package feedback

import (
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
