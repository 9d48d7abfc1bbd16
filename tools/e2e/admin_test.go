package e2e

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// mxgatectl runs the admin CLI against the cluster's classifier.
func (c *cluster) mxgatectl(t *testing.T, args ...string) string {
	t.Helper()
	cmd := exec.Command(filepath.Join(binDir, "mxgatectl"), args...)
	cmd.Env = append(os.Environ(), "MXGATE_CLASSIFIER_ADDR="+c.children["classifier"].addr(t, "grpc"))
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("mxgatectl %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// verdictClass is the class in the X-Mxgate-Verdict header of a delivered
// message.
func verdictClass(msg string) string {
	for _, f := range strings.Fields(header(msg, "X-Mxgate-Verdict")) {
		if v, ok := strings.CutPrefix(f, "class="); ok {
			return v
		}
	}
	return ""
}

// TestAdmin changes the fingerprint database with mxgatectl and checks
// what the next message gets, without restarting anything.
func TestAdmin(t *testing.T) {
	t.Parallel()
	if _, err := os.Stat(filepath.Join(binDir, "mxgatectl")); err != nil {
		t.Fatalf("mxgatectl binary: %v", err)
	}
	c := startCluster(t, clusterOptions{})
	root := c.mail.root
	sendAndRead := func(t *testing.T, token, body string) string {
		t.Helper()
		msg := message(token, "meeting notes", body)
		if r := send(t, c.smtpAddr, "sender@sender.e2e.test", []string{"heidi@example.com"}, msg); !r.is(250, "2.0.0") {
			t.Fatalf("reply %v, want 250 2.0.0", r)
		}
		return deliveredOnce(t, root, token, "example.com/heidi")
	}
	body := "Hi Heidi,\r\n\r\nthe notes of today's meeting are at https://notes.feedtest-" + randomID(6) +
		".example/today and the agenda for next week follows on Monday.\r\n\r\nRegards,\r\nSam\r\n"
	domain := body[strings.Index(body, "notes.feedtest-")+len("notes.") : strings.Index(body, ".example/")+len(".example")]

	before := sendAndRead(t, "admin-before-"+randomID(8), body)
	if cl := verdictClass(before); cl == "spam" {
		t.Fatalf("before any feed: class %q, want not spam", cl)
	}

	feed := filepath.Join(t.TempDir(), "feed.jsonl")
	line := `{"kind":"url-domain","value":"` + domain + `","class":"spam","weight":50,"ttl":"1h"}` + "\n"
	if err := os.WriteFile(feed, []byte("# e2e feed\n"+line), 0o600); err != nil {
		t.Fatal(err)
	}
	if out := c.mxgatectl(t, "fingerprints", "import", feed); !strings.Contains(out, "1 accepted") {
		t.Fatalf("import output %q, want 1 accepted", out)
	}
	after := sendAndRead(t, "admin-after-"+randomID(8), body)
	if cl := verdictClass(after); cl != "spam" {
		t.Fatalf("after importing %s as spam: class %q (verdict %q), want spam", domain, cl, header(after, "X-Mxgate-Verdict"))
	}
	if v := header(after, "X-Spam-Status"); !strings.HasPrefix(v, "yes") {
		t.Errorf("X-Spam-Status %q, want yes", v)
	}

	// mxgatectl classify shows why: the fingerprint match and the model's
	// score broken down.
	file := filepath.Join(t.TempDir(), "msg.eml")
	if err := os.WriteFile(file, message("admin-classify", "meeting notes", body), 0o600); err != nil {
		t.Fatal(err)
	}
	var got struct {
		Class    string `json:"class"`
		Score    float64
		Evidence []struct {
			Kind   string  `json:"kind"`
			Detail string  `json:"detail"`
			Weight float64 `json:"weight"`
		} `json:"evidence"`
	}
	out := c.mxgatectl(t, "classify", "--explain", "4", file)
	if err := json.Unmarshal([]byte(out), &got); err != nil {
		t.Fatalf("classify output %q: %v", out, err)
	}
	kinds := map[string]int{}
	for _, e := range got.Evidence {
		kinds[e.Kind]++
	}
	if got.Class != "spam" || kinds["fingerprint.url-domain"] != 1 || kinds["model"] != 1 || kinds["model.view"] != 4 || kinds["model.feature"] != 4 {
		t.Fatalf("mxgatectl classify: %s", out)
	}

	remove := filepath.Join(t.TempDir(), "remove.jsonl")
	if err := os.WriteFile(remove, []byte(strings.Replace(line, `"ttl":"1h"`, `"op":"remove"`, 1)), 0o600); err != nil {
		t.Fatal(err)
	}
	c.mxgatectl(t, "fingerprints", "import", remove)
	again := sendAndRead(t, "admin-removed-"+randomID(8), body)
	if cl := verdictClass(again); cl == "spam" {
		t.Fatalf("after removing %s: class %q, want not spam", domain, cl)
	}
}
