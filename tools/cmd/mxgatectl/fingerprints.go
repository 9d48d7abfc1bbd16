package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/mxgate/mxgate/proto/grpcsrv"
	classifierv1 "github.com/mxgate/mxgate/proto/mxgate/classifier/v1"
)

func init() {
	register(command{
		name:    "fingerprints",
		summary: "import a fingerprint feed into the classifier (fingerprints import FILE|URL)",
		run:     runFingerprints,
	})
}

// fpImportChunk is the number of fingerprints sent per ImportFingerprints call.
const fpImportChunk = 10000

// fpFeedLine is one line of a fingerprint feed; see the classifier README.
type fpFeedLine struct {
	Kind   string  `json:"kind"`
	Value  string  `json:"value,omitempty"`
	Digest string  `json:"digest,omitempty"`
	Class  string  `json:"class,omitempty"`
	Weight float64 `json:"weight,omitempty"`
	TTL    string  `json:"ttl,omitempty"`
	Op     string  `json:"op,omitempty"`
}

var fpKinds = map[string]classifierv1.FingerprintKind{
	"exact":      classifierv1.FingerprintKind_FINGERPRINT_KIND_EXACT,
	"fuzzy":      classifierv1.FingerprintKind_FINGERPRINT_KIND_FUZZY,
	"url-domain": classifierv1.FingerprintKind_FINGERPRINT_KIND_URL_DOMAIN,
	"url":        classifierv1.FingerprintKind_FINGERPRINT_KIND_URL,
	"attachment": classifierv1.FingerprintKind_FINGERPRINT_KIND_ATTACHMENT,
}

func runFingerprints(ctx context.Context, stdout io.Writer, args []string) error {
	if len(args) == 0 || args[0] != "import" {
		fmt.Fprintln(os.Stderr, "usage: mxgatectl fingerprints import [--classifier ADDR] [--source NAME] FILE|URL...")
		return errUsage
	}
	fs := flag.NewFlagSet("fingerprints import", flag.ContinueOnError)
	addr := fs.String("classifier", envOr("MXGATE_CLASSIFIER_ADDR", "127.0.0.1:7104"), "classifier gRPC address")
	source := fs.String("source", "", "feed name recorded with the entries (default: the file or URL)")
	timeout := fs.Duration("timeout", time.Minute, "timeout per call")
	srcs, err := parseInterspersed(fs, args[1:])
	if err != nil {
		return err
	}
	if len(srcs) == 0 {
		fmt.Fprintln(os.Stderr, "usage: mxgatectl fingerprints import [--classifier ADDR] [--source NAME] FILE|URL...")
		return errUsage
	}
	conn, err := grpcsrv.Dial(*addr)
	if err != nil {
		return fmt.Errorf("dial %s: %w", *addr, err)
	}
	defer conn.Close()
	client := classifierv1.NewClassifierServiceClient(conn)
	for _, src := range srcs {
		data, err := fpReadSource(ctx, src)
		if err != nil {
			return err
		}
		add, remove, err := fpParseFeed(data, time.Now())
		if err != nil {
			return fmt.Errorf("%s: %w", src, err)
		}
		name := *source
		if name == "" {
			name = src
		}
		var accepted, rejected uint32
		for _, part := range []struct {
			fps    []*classifierv1.Fingerprint
			remove bool
		}{{add, false}, {remove, true}} {
			for i := 0; i < len(part.fps); i += fpImportChunk {
				chunk := part.fps[i:min(i+fpImportChunk, len(part.fps))]
				cctx, cancel := context.WithTimeout(ctx, *timeout)
				resp, err := client.ImportFingerprints(cctx, &classifierv1.ImportFingerprintsRequest{Source: name, Fingerprints: chunk, Remove: part.remove})
				cancel()
				if err != nil {
					return fmt.Errorf("%s: import: %w", src, err)
				}
				accepted += resp.GetAccepted()
				rejected += resp.GetRejected()
			}
		}
		fmt.Fprintf(stdout, "%s: %d accepted, %d rejected (%d adds, %d removals)\n", src, accepted, rejected, len(add), len(remove))
	}
	return nil
}

// parseInterspersed parses flags that may come before or after the
// positional arguments and returns the positional ones.
func parseInterspersed(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		args = fs.Args()
		if len(args) == 0 {
			return pos, nil
		}
		pos = append(pos, args[0])
		args = args[1:]
	}
}

func fpReadSource(ctx context.Context, src string) ([]byte, error) {
	if !strings.HasPrefix(src, "http://") && !strings.HasPrefix(src, "https://") {
		return os.ReadFile(strings.TrimPrefix(src, "file://"))
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, src, nil)
	if err != nil {
		return nil, err
	}
	resp, err := (&http.Client{Timeout: 5 * time.Minute}).Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("%s: HTTP %s", src, resp.Status)
	}
	return io.ReadAll(io.LimitReader(resp.Body, 256<<20))
}

// fpParseFeed parses a JSON-lines feed into fingerprints to add and remove.
func fpParseFeed(data []byte, now time.Time) (add, remove []*classifierv1.Fingerprint, err error) {
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for n := 1; sc.Scan(); n++ {
		line := bytes.TrimSpace(sc.Bytes())
		if len(line) == 0 || line[0] == '#' {
			continue
		}
		fp, rm, err := fpParseLine(line, now)
		if err != nil {
			return nil, nil, fmt.Errorf("line %d: %w", n, err)
		}
		if rm {
			remove = append(remove, fp)
		} else {
			add = append(add, fp)
		}
	}
	return add, remove, sc.Err()
}

func fpParseLine(line []byte, now time.Time) (*classifierv1.Fingerprint, bool, error) {
	var l fpFeedLine
	dec := json.NewDecoder(bytes.NewReader(line))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&l); err != nil {
		return nil, false, err
	}
	kind, ok := fpKinds[strings.ToLower(l.Kind)]
	if !ok {
		return nil, false, fmt.Errorf("kind %q: want exact, fuzzy, url-domain, url or attachment", l.Kind)
	}
	fp := &classifierv1.Fingerprint{Kind: kind, Value: l.Value, Weight: l.Weight}
	switch strings.ToLower(l.Class) {
	case "", "spam":
		fp.Class = classifierv1.FingerprintClass_FINGERPRINT_CLASS_SPAM
	case "ham":
		fp.Class = classifierv1.FingerprintClass_FINGERPRINT_CLASS_HAM
	default:
		return nil, false, fmt.Errorf("class %q: want spam or ham", l.Class)
	}
	if l.Digest != "" {
		d, err := hex.DecodeString(l.Digest)
		if err != nil {
			return nil, false, fmt.Errorf("digest: %w", err)
		}
		fp.Digest = d
	} else if strings.TrimSpace(l.Value) == "" {
		return nil, false, errors.New("value or digest required")
	}
	if l.Weight < 0 {
		return nil, false, errors.New("negative weight")
	}
	if l.TTL != "" {
		d, err := time.ParseDuration(l.TTL)
		if err != nil || d <= 0 {
			return nil, false, fmt.Errorf("ttl %q: want a positive duration such as 720h", l.TTL)
		}
		fp.ExpiresAt = now.Add(d).Unix()
	}
	switch strings.ToLower(l.Op) {
	case "", "add":
		return fp, false, nil
	case "remove":
		return fp, true, nil
	}
	return nil, false, fmt.Errorf("op %q: want add or remove", l.Op)
}
