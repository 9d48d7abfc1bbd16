package feedback

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	classifierv1 "github.com/mxgate/mxgate/proto/mxgate/classifier/v1"
	"github.com/mxgate/mxgate/services/classifier/internal/fingerprint"
)

// FeedLine is one line of a fingerprint feed (JSON lines; blank lines and
// lines starting with # are skipped):
//
//	{"kind":"url-domain","value":"bad.example","class":"spam","weight":5,"ttl":"720h"}
//	{"kind":"attachment","digest":"<64 hex>","class":"spam"}
//	{"kind":"url","value":"http://bad.example/x","class":"spam","op":"remove"}
//
// kind is exact, fuzzy, url-domain, url or attachment; value is the plain
// value (text, domain, URL, hex SHA-256), digest the hex digest instead
// (32 bytes, or the fingerprint.SigLen-byte MinHash signature for fuzzy); class is spam
// (default) or ham; weight 0 uses the kind's default; ttl (a Go duration)
// is capped by the database's maximum age; op is add (default) or remove.
type FeedLine struct {
	Kind   string  `json:"kind"`
	Value  string  `json:"value,omitempty"`
	Digest string  `json:"digest,omitempty"`
	Class  string  `json:"class,omitempty"`
	Weight float64 `json:"weight,omitempty"`
	TTL    string  `json:"ttl,omitempty"`
	Op     string  `json:"op,omitempty"`
}

// maxFeedBytes bounds a feed download.
const maxFeedBytes = 256 << 20

// ErrTooMany is returned by ParseFeedMax for a feed with more entries than
// allowed.
var ErrTooMany = errors.New("feedback: too many feed entries")

// ParseFeed reads a feed into fingerprints to add and to remove. A bad line
// is an error naming its number.
func ParseFeed(r io.Reader, now time.Time) (add, remove []*classifierv1.Fingerprint, err error) {
	return ParseFeedMax(r, now, 0)
}

// ParseFeedMax is ParseFeed that stops with ErrTooMany at the first entry
// beyond max (0 = no limit), so an oversized feed costs no more than max
// entries.
func ParseFeedMax(r io.Reader, now time.Time, max int) (add, remove []*classifierv1.Fingerprint, err error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	n := 0
	for sc.Scan() {
		n++
		line := bytes.TrimSpace(sc.Bytes())
		if len(line) == 0 || line[0] == '#' {
			continue
		}
		var l FeedLine
		dec := json.NewDecoder(bytes.NewReader(line))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&l); err != nil {
			return nil, nil, fmt.Errorf("%w: feed line %d: %w", ErrInvalid, n, err)
		}
		fp, rm, err := l.Fingerprint(now)
		if err != nil {
			return nil, nil, fmt.Errorf("%w: feed line %d: %w", ErrInvalid, n, err)
		}
		if max > 0 && len(add)+len(remove) >= max {
			return nil, nil, fmt.Errorf("%w: more than %d (line %d)", ErrTooMany, max, n)
		}
		if rm {
			remove = append(remove, fp)
		} else {
			add = append(add, fp)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, nil, fmt.Errorf("feedback: read feed: %w", err)
	}
	return add, remove, nil
}

// Fingerprint converts the line; remove reports op "remove".
func (l *FeedLine) Fingerprint(now time.Time) (fp *classifierv1.Fingerprint, remove bool, err error) {
	k, err := fingerprint.ParseKind(l.Kind)
	if err != nil {
		return nil, false, err
	}
	fp = &classifierv1.Fingerprint{Kind: classifierv1.FingerprintKind(k), Value: l.Value, Weight: l.Weight}
	switch strings.ToLower(l.Class) {
	case "", "spam":
		fp.Class = classifierv1.FingerprintClass_FINGERPRINT_CLASS_SPAM
	case "ham":
		fp.Class = classifierv1.FingerprintClass_FINGERPRINT_CLASS_HAM
	default:
		return nil, false, fmt.Errorf("class %q: want spam or ham", l.Class)
	}
	if l.Digest != "" {
		if fp.Digest, err = hex.DecodeString(l.Digest); err != nil {
			return nil, false, fmt.Errorf("digest: %w", err)
		}
	} else if l.Value == "" {
		return nil, false, fmt.Errorf("value or digest required")
	}
	if l.Weight < 0 {
		return nil, false, fmt.Errorf("negative weight")
	}
	if l.TTL != "" {
		d, err := time.ParseDuration(l.TTL)
		if err != nil || d <= 0 {
			return nil, false, fmt.Errorf("ttl %q: want a positive duration", l.TTL)
		}
		fp.ExpiresAt = now.Add(d).Unix()
	}
	switch strings.ToLower(l.Op) {
	case "", "add":
	case "remove":
		remove = true
	default:
		return nil, false, fmt.Errorf("op %q: want add or remove", l.Op)
	}
	return fp, remove, nil
}

// Feed is one polled feed.
type Feed struct {
	Name     string
	URL      string
	Interval time.Duration
}

// refreshEvery re-imports an unchanged feed so its entries' expiry moves on.
const refreshEvery = 24 * time.Hour

// Poll imports the feed now and then every Interval until ctx is done. A
// feed is imported again only when its content changed, or once a day to
// refresh expiry. Errors are logged and retried at the next interval.
func (s *Service) Poll(ctx context.Context, f Feed, log *slog.Logger) {
	if f.Name == "" {
		f.Name = f.URL
	}
	log = log.With("component", "feed", "feed", f.Name)
	var last [32]byte
	var lastAt time.Time
	client := &http.Client{Timeout: time.Minute}
	for {
		data, err := fetch(ctx, client, f.URL)
		switch {
		case err != nil:
			log.WarnContext(ctx, "feed fetch failed", "err", err)
		case sha256.Sum256(data) == last && time.Since(lastAt) < refreshEvery:
			log.DebugContext(ctx, "feed unchanged")
		default:
			now := time.Now()
			add, rm, err := ParseFeed(bytes.NewReader(data), now)
			if err != nil {
				log.WarnContext(ctx, "feed rejected", "err", err)
				break
			}
			a, r, err := s.Import(ctx, f.Name, add, false)
			if err == nil {
				var a2, r2 int
				a2, r2, err = s.Import(ctx, f.Name, rm, true)
				a, r = a+a2, r+r2
			}
			if err != nil {
				log.WarnContext(ctx, "feed import failed", "err", err)
				break
			}
			last, lastAt = sha256.Sum256(data), now
			log.InfoContext(ctx, "feed imported", "accepted", a, "rejected", r)
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(f.Interval):
		}
	}
}

// Fetch reads a feed from an http(s) URL, a file:// URL or a local path.
func Fetch(ctx context.Context, src string) ([]byte, error) {
	return fetch(ctx, &http.Client{Timeout: time.Minute}, src)
}

func fetch(ctx context.Context, client *http.Client, src string) ([]byte, error) {
	if strings.HasPrefix(src, "http://") || strings.HasPrefix(src, "https://") {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, src, nil)
		if err != nil {
			return nil, fmt.Errorf("feedback: feed %s: %w", src, err)
		}
		resp, err := client.Do(req)
		if err != nil {
			return nil, fmt.Errorf("feedback: feed %s: %w", src, err)
		}
		defer resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return nil, fmt.Errorf("feedback: feed %s: HTTP %s", src, resp.Status)
		}
		data, err := io.ReadAll(io.LimitReader(resp.Body, maxFeedBytes+1))
		if err == nil && len(data) > maxFeedBytes {
			err = fmt.Errorf("larger than %d bytes", maxFeedBytes)
		}
		if err != nil {
			return nil, fmt.Errorf("feedback: feed %s: %w", src, err)
		}
		return data, nil
	}
	path := src
	if strings.HasPrefix(src, "file://") {
		u, err := url.Parse(src)
		if err != nil {
			return nil, fmt.Errorf("feedback: feed %s: %w", src, err)
		}
		path = u.Path
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("feedback: feed: %w", err)
	}
	return data, nil
}
