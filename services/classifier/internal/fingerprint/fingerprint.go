// Package fingerprint computes the digests the fingerprint database stores
// and matches: an exact digest of the normalized text, a MinHash signature
// of its word shingles for near duplicates, digests of URLs and of their
// registered domains, and the SHA-256 of attachments.
//
// Every function is deterministic across processes and versions of Go: the
// MinHash functions are keyed with fixed constants, so replicas and feeds
// computing a fingerprint of the same text agree on it.
package fingerprint

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strings"
	"unicode"

	"golang.org/x/net/publicsuffix"

	"github.com/mxgate/mxgate/services/classifier/internal/textextract"
)

// ErrInvalid is returned for a value that cannot be turned into a fingerprint.
var ErrInvalid = errors.New("fingerprint: invalid value")

// Kind is what a fingerprint digests. The values equal the proto
// FingerprintKind numbers.
type Kind uint8

// Fingerprint kinds.
const (
	KindExact      Kind = 1
	KindFuzzy      Kind = 2
	KindURLDomain  Kind = 3
	KindURL        Kind = 4
	KindAttachment Kind = 5
)

var kindNames = map[Kind]string{
	KindExact: "exact", KindFuzzy: "fuzzy", KindURLDomain: "url-domain", KindURL: "url", KindAttachment: "attachment",
}

// String returns the feed name of the kind ("exact", "fuzzy", "url-domain", "url", "attachment").
func (k Kind) String() string {
	if s, ok := kindNames[k]; ok {
		return s
	}
	return fmt.Sprintf("kind(%d)", uint8(k))
}

// ParseKind parses a kind's feed name.
func ParseKind(s string) (Kind, error) {
	for k, n := range kindNames {
		if strings.EqualFold(s, n) {
			return k, nil
		}
	}
	return 0, fmt.Errorf("%w: unknown kind %q", ErrInvalid, s)
}

// MinHash parameters: SigLen keyed hash functions, each kept as one byte
// (b-bit MinHash), grouped into Bands bands of Rows rows for LSH lookup.
const (
	SigLen = 64
	Rows   = 4
	Bands  = SigLen / Rows
	// ShingleWords is the number of words per shingle.
	ShingleWords = 3
	// MinWords is the fewest words a text needs for a fuzzy fingerprint;
	// shorter texts match too easily.
	MinWords = 12
	// maxShingles bounds the work on long texts.
	maxShingles = 4096
	// maxURLs bounds the URLs fingerprinted per message.
	maxURLs = 32
)

// Signature is a b-bit MinHash signature.
type Signature [SigLen]byte

// Digest is a SHA-256 digest.
type Digest [32]byte

// FP is one fingerprint of a message.
type FP struct {
	Kind Kind
	// Digest is set for every kind but KindFuzzy.
	Digest Digest
	// Sig is set for KindFuzzy.
	Sig Signature
	// Label is a short human-readable description for evidence and logs
	// (the domain, the URL, the attachment name); never the text itself.
	Label string
}

// Of returns the fingerprints of a decoded message: the exact and fuzzy
// fingerprints of its text (when it has any), one per distinct URL and
// registered domain (up to a bound) and one per attachment.
func Of(m *textextract.Message) []FP {
	var out []FP
	norm := Normalize(m.Text)
	if norm != "" {
		out = append(out, FP{Kind: KindExact, Digest: sha256.Sum256([]byte(norm)), Label: fmt.Sprintf("%d chars", len(norm))})
		if sig, ok := SignatureOf(norm); ok {
			out = append(out, FP{Kind: KindFuzzy, Sig: sig})
		}
	}
	seenDom := map[string]bool{}
	seenURL := map[string]bool{}
	for _, raw := range m.URLs {
		if len(seenURL) >= maxURLs {
			break
		}
		u, host, err := NormalizeURL(raw)
		if err != nil || seenURL[u] {
			continue
		}
		seenURL[u] = true
		out = append(out, FP{Kind: KindURL, Digest: sha256.Sum256([]byte(u)), Label: truncate(u, 120)})
		d := RegisteredDomain(host)
		if d != "" && !seenDom[d] {
			seenDom[d] = true
			out = append(out, FP{Kind: KindURLDomain, Digest: sha256.Sum256([]byte(d)), Label: d})
		}
	}
	for _, a := range m.Attachments {
		if a.Size == 0 {
			continue
		}
		out = append(out, FP{Kind: KindAttachment, Digest: a.SHA256, Label: truncate(a.Name, 80)})
	}
	return out
}

// FromValue turns a feed value into a fingerprint: a domain (reduced to its
// registered domain) or URL for the URL kinds, the text for KindExact and
// KindFuzzy, the hex SHA-256 for KindAttachment.
func FromValue(k Kind, value string) (FP, error) {
	value = strings.TrimSpace(value)
	if value == "" {
		return FP{}, fmt.Errorf("%w: empty value", ErrInvalid)
	}
	switch k {
	case KindExact:
		norm := Normalize(value)
		return FP{Kind: k, Digest: sha256.Sum256([]byte(norm))}, nil
	case KindFuzzy:
		sig, ok := SignatureOf(Normalize(value))
		if !ok {
			return FP{}, fmt.Errorf("%w: fuzzy text needs at least %d words", ErrInvalid, MinWords)
		}
		return FP{Kind: k, Sig: sig}, nil
	case KindURLDomain:
		host := value
		if strings.Contains(value, "/") {
			_, h, err := NormalizeURL(value)
			if err != nil {
				return FP{}, err
			}
			host = h
		}
		d := RegisteredDomain(host)
		if d == "" {
			return FP{}, fmt.Errorf("%w: no registered domain in %q", ErrInvalid, value)
		}
		return FP{Kind: k, Digest: sha256.Sum256([]byte(d)), Label: d}, nil
	case KindURL:
		u, _, err := NormalizeURL(value)
		if err != nil {
			return FP{}, err
		}
		return FP{Kind: k, Digest: sha256.Sum256([]byte(u)), Label: truncate(u, 120)}, nil
	case KindAttachment:
		b, err := hex.DecodeString(value)
		if err != nil || len(b) != 32 {
			return FP{}, fmt.Errorf("%w: attachment value must be a hex SHA-256", ErrInvalid)
		}
		var d Digest
		copy(d[:], b)
		return FP{Kind: k, Digest: d}, nil
	}
	return FP{}, fmt.Errorf("%w: unknown kind %d", ErrInvalid, k)
}

// Normalize folds case, collapses every run of white space into one space
// and trims the text. Decoding (charsets, transfer encodings, HTML) is done
// by textextract before.
func Normalize(text string) string {
	var b strings.Builder
	b.Grow(len(text))
	space := false
	for _, r := range text {
		if unicode.IsSpace(r) || r == '\u00a0' || r == '\u200b' {
			space = b.Len() > 0
			continue
		}
		if space {
			b.WriteByte(' ')
			space = false
		}
		b.WriteRune(unicode.ToLower(r))
	}
	return b.String()
}

// minhashMul and minhashAdd are the fixed keys of the SigLen hash
// functions h_j(x) = x*mul_j + add_j (mod 2^64, mul_j odd: a permutation of
// the 64-bit shingle hashes; the minimum is taken over the permuted values).
var minhashMul, minhashAdd = func() (m, a [SigLen]uint64) {
	s := uint64(0x6d78676174650001) // "mxgate" + 1
	for i := range m {
		s += 0x9e3779b97f4a7c15
		m[i] = mix64(s) | 1
		s += 0x9e3779b97f4a7c15
		a[i] = mix64(s)
	}
	return m, a
}()

// mix64 is the splitmix64 finalizer.
func mix64(x uint64) uint64 {
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	x ^= x >> 31
	return x
}

// SignatureOf computes the MinHash signature of the word shingles of a
// normalized text. ok is false when the text has fewer than MinWords words.
// Words are runs of letters and digits; punctuation is ignored so that
// small punctuation edits do not change the shingles.
func SignatureOf(norm string) (sig Signature, ok bool) {
	words := strings.FieldsFunc(norm, func(r rune) bool { return !unicode.IsLetter(r) && !unicode.IsNumber(r) })
	if len(words) < MinWords {
		return sig, false
	}
	var mins [SigLen]uint64
	for i := range mins {
		mins[i] = ^uint64(0)
	}
	wh := make([]uint64, len(words))
	for i, w := range words {
		wh[i] = fnv64(w)
	}
	n := len(words) - ShingleWords + 1
	if n > maxShingles {
		n = maxShingles
	}
	for i := 0; i < n; i++ {
		h := wh[i]
		for j := 1; j < ShingleWords; j++ {
			h = mix64(h*31 + wh[i+j])
		}
		for j := range mins {
			if v := h*minhashMul[j] + minhashAdd[j]; v < mins[j] {
				mins[j] = v
			}
		}
	}
	for i, m := range mins {
		// The byte kept is a hash of the whole minimum, so equal minima give
		// equal bytes and different ones agree with chance 1/256.
		sig[i] = byte(mix64(m))
	}
	return sig, true
}

func fnv64(s string) uint64 {
	h := uint64(14695981039346656037)
	for i := 0; i < len(s); i++ {
		h ^= uint64(s[i])
		h *= 1099511628211
	}
	return h
}

// Similarity estimates the Jaccard similarity of the shingle sets behind
// two signatures, correcting for the 1/256 chance that one-byte minima agree
// by accident.
func Similarity(a, b *Signature) float64 {
	same := 0
	for i := range a {
		if a[i] == b[i] {
			same++
		}
	}
	const chance = 1.0 / 256
	j := (float64(same)/SigLen - chance) / (1 - chance)
	if j < 0 {
		return 0
	}
	return j
}

// BandKeys returns the LSH bucket keys of a signature: one per band of Rows
// bytes, mixed with the band number. Two signatures with Jaccard similarity
// J share at least one key with probability 1-(1-J^Rows)^Bands (0.99 at
// J=0.7, 0.64 at J=0.5); candidates are then checked with Similarity.
func BandKeys(sig *Signature) (keys [Bands]uint32) {
	for b := 0; b < Bands; b++ {
		v := uint64(binary.LittleEndian.Uint32(sig[b*Rows:])) | uint64(b)<<32
		keys[b] = uint32(mix64(v))
	}
	return keys
}

// NormalizeURL returns the normalized form of a URL (lower-case scheme and
// host, no user info, default port, fragment or trailing dot) and its host.
// A URL without a scheme is read as http.
func NormalizeURL(raw string) (norm, host string, err error) {
	raw = strings.TrimSpace(raw)
	if !strings.Contains(raw, "://") {
		raw = "http://" + raw
	}
	u, err := url.Parse(raw)
	if err != nil {
		return "", "", fmt.Errorf("%w: url: %w", ErrInvalid, err)
	}
	host = strings.TrimSuffix(strings.ToLower(u.Hostname()), ".")
	if host == "" {
		return "", "", fmt.Errorf("%w: url %q has no host", ErrInvalid, raw)
	}
	scheme := strings.ToLower(u.Scheme)
	port := u.Port()
	if (scheme == "http" && port == "80") || (scheme == "https" && port == "443") {
		port = ""
	}
	hp := host
	if port != "" {
		hp = net.JoinHostPort(host, port)
	} else if strings.Contains(host, ":") {
		hp = "[" + host + "]"
	}
	path := u.EscapedPath()
	if path == "/" {
		path = ""
	}
	norm = scheme + "://" + hp + path
	if u.RawQuery != "" {
		norm += "?" + u.RawQuery
	}
	return norm, host, nil
}

// RegisteredDomain returns the public suffix plus one label of host
// ("mail.bad.example.co.uk" → "example.co.uk"), the host itself for IP
// addresses, or "" when host is itself a public suffix.
func RegisteredDomain(host string) string {
	host = strings.TrimSuffix(strings.ToLower(strings.TrimSpace(host)), ".")
	if host == "" {
		return ""
	}
	if net.ParseIP(strings.Trim(host, "[]")) != nil {
		return host
	}
	d, err := publicsuffix.EffectiveTLDPlusOne(host)
	if err != nil {
		return ""
	}
	return d
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n]
}
