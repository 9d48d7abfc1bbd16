package main

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"io"
	"iter"
	"net/http"
	"os"
	"strings"
	"time"

	classifierv1 "github.com/mxgate/mxgate/proto/mxgate/classifier/v1"
)

func init() {
	register(command{
		name:    "fingerprints",
		summary: "import a fingerprint feed into the classifier (fingerprints import FILE|URL)",
		run:     runFingerprints,
	})
}

// feedChunkBytes bounds the feed text sent per ImportFingerprints call;
// chunks end at line boundaries.
const feedChunkBytes = 4 << 20

func runFingerprints(ctx context.Context, stdout io.Writer, args []string) error {
	const use = "usage: mxgatectl fingerprints import [--classifier ADDR] [--source NAME] FILE|URL..."
	if len(args) == 0 || args[0] != "import" {
		fmt.Fprintln(os.Stderr, use)
		return errUsage
	}
	fs := flag.NewFlagSet("fingerprints import", flag.ContinueOnError)
	addr := classifierFlag(fs)
	source := fs.String("source", "", "feed name recorded with the entries (default: the file or URL)")
	timeout := fs.Duration("timeout", time.Minute, "timeout per call")
	srcs, err := operands(fs, args[1:], use)
	if err != nil {
		return err
	}
	client, conn, err := dialClassifier(*addr)
	if err != nil {
		return err
	}
	defer conn.Close()
	for _, src := range srcs {
		data, err := fpReadSource(ctx, src)
		if err != nil {
			return err
		}
		name := *source
		if name == "" {
			name = src
		}
		var accepted, rejected uint32
		for first, chunk := range feedChunks(data, feedChunkBytes) {
			cctx, cancel := context.WithTimeout(ctx, *timeout)
			resp, err := client.ImportFingerprints(cctx, &classifierv1.ImportFingerprintsRequest{Source: name, Feed: chunk})
			cancel()
			if err != nil {
				return fmt.Errorf("%s (chunk from line %d): import: %w", src, first, err)
			}
			accepted += resp.GetAccepted()
			rejected += resp.GetRejected()
		}
		fmt.Fprintf(stdout, "%s: %d accepted, %d rejected\n", src, accepted, rejected)
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

// feedChunks splits a feed into pieces of at most max bytes that end at
// line boundaries (a single longer line is a piece of its own), keyed by
// the number of their first line. The service parses the lines.
func feedChunks(data []byte, max int) iter.Seq2[int, []byte] {
	return func(yield func(int, []byte) bool) {
		line := 1
		for len(data) > 0 {
			n := len(data)
			if n > max {
				n = max
				if i := bytes.LastIndexByte(data[:max], '\n'); i >= 0 {
					n = i + 1
				} else if i := bytes.IndexByte(data, '\n'); i >= 0 {
					n = i + 1
				} else {
					n = len(data)
				}
			}
			if !yield(line, data[:n]) {
				return
			}
			line += bytes.Count(data[:n], []byte{'\n'})
			data = data[n:]
		}
	}
}
