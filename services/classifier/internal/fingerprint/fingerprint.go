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
	"math/bits"
	"net"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

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

// MinHash parameters. A signature keeps NumHashes minima of keyed hash
// functions over the shingles (pairs of consecutive words), each reduced to
// a few bits (b-bit minwise hashing): the first WideHashes to 16 bits,
// grouped into Bands LSH bands of Rows (a band is a 32-bit bucket key read
// straight from the signature; the index stores nothing else for it), the
// other NarrowHashes to 2 bits, which only sharpen the similarity estimate:
// near the threshold a 2-bit minimum carries about 2/3 of the information
// of a full one in 1/8 of the space.
//
// With Rows = 2 two texts of Jaccard similarity J share a band with
// probability J², so at least one of the 6 bands with 1-(1-J²)^6; the
// estimate's standard deviation (12 exact minima, 96 2-bit ones corrected
// for their 1/4 chance agreement) is sd:
//
//	J        0.1    0.3    0.5    0.6    0.7    0.75   0.8    0.85    0.9
//	P(cand)  0.059  0.43   0.82   0.93   0.982  0.993  0.998  0.9995  0.99995
//	sd       0.057  0.062  0.061  0.058  0.053  0.049  0.045  0.040   0.033
//
// Two-word shingles: an edited word changes at most two shingles, so a
// text of 200 words with 5 words edited keeps J ≈ 0.9 (three-word
// shingles: 0.86), while unrelated corpus texts stay below J ≈ 0.15–0.3.
const (
	Bands        = 6
	Rows         = 2
	WideHashes   = Bands * Rows
	NarrowHashes = 96
	NumHashes    = WideHashes + NarrowHashes
	// SigLen is the size of a signature in bytes: 16 bits per wide hash,
	// 2 bits per narrow one.
	SigLen = WideHashes*2 + NarrowHashes/4
	// ShingleWords is the number of words per shingle.
	ShingleWords = 2
	// MinWords is the fewest words a text needs for a fuzzy fingerprint;
	// shorter texts match too easily.
	MinWords = 12
	// maxShingles bounds the work on long texts.
	maxShingles = 4096
	// maxURLs bounds the URLs fingerprinted per message.
	maxURLs = 32
)

// Signature is a b-bit MinHash signature: WideHashes little-endian 16-bit
// values, then NarrowHashes 2-bit values, four per byte (lowest bits first).
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
	nURL := min(len(m.URLs), maxURLs)
	out := make([]FP, 0, 2+2*nURL+len(m.Attachments))
	s := getScratch()
	defer putScratch(s)
	// One pass normalizes the text and hashes its words (the words of the
	// normalized text, as SignatureOf would find them).
	s.norm, s.words = appendNormalized(s.norm[:0], s.words[:0], m.Text)
	if len(s.norm) > 0 {
		out = append(out, FP{Kind: KindExact, Digest: sha256.Sum256(s.norm), Label: strconv.Itoa(len(s.norm)) + " chars"})
		if sig, ok := s.signature(s.words); ok {
			out = append(out, FP{Kind: KindFuzzy, Sig: sig})
		}
	}
	// At most maxURLs distinct URLs and as many domains: a linear search
	// is cheaper than maps.
	seenURL := make([]string, 0, nURL)
	seenDom := make([]string, 0, nURL)
	for _, raw := range m.URLs {
		if len(seenURL) >= maxURLs {
			break
		}
		u, host, err := NormalizeURL(raw)
		if err != nil || slices.Contains(seenURL, u) {
			continue
		}
		seenURL = append(seenURL, u)
		out = append(out, FP{Kind: KindURL, Digest: sha256.Sum256([]byte(u)), Label: truncate(u, 120)})
		d := RegisteredDomain(host)
		if d != "" && !slices.Contains(seenDom, d) {
			seenDom = append(seenDom, d)
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
	s := getScratch()
	defer putScratch(s)
	s.norm, s.words = appendNormalized(s.norm[:0], s.words[:0], text)
	return string(s.norm)
}

// isSpaceASCII marks the ASCII white space of unicode.IsSpace.
var isSpaceASCII = [256]bool{'\t': true, '\n': true, '\v': true, '\f': true, '\r': true, ' ': true}

// isWordASCII marks the ASCII letters and digits; lowerASCII maps every
// byte to itself but upper-case ASCII letters to lower case.
var isWordASCII, lowerASCII = func() (w [256]bool, l [256]byte) {
	for c := range w {
		w[c] = c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
		l[c] = byte(c)
		if c >= 'A' && c <= 'Z' {
			l[c] += 'a' - 'A'
		}
	}
	return w, l
}()

// FNV-1a, the hash of a word.
const (
	fnvOffset = 14695981039346656037
	fnvPrime  = 1099511628211
)

// appendNormalized appends Normalize(text) to dst and the hashes of its
// words, wordHashes(Normalize(text)), to words, in one pass. Runs of ASCII
// letters and digits take a tight loop; other runes are decoded (invalid
// bytes as U+FFFD, as a range loop reads them) and classified after case
// folding, as wordHashes sees them in the normalized text.
func appendNormalized(dst []byte, words []uint64, text string) ([]byte, []uint64) {
	dst = slices.Grow(dst, len(text)) // enough unless case folding grows a rune
	start := len(dst)
	space := false  // white space is pending (never before the first rune)
	inWord := false // a word is open; h is its hash so far
	var h uint64
	for i := 0; i < len(text); {
		c := text[i]
		if c < utf8.RuneSelf {
			if isSpaceASCII[c] {
				i++
				space = len(dst) > start
				if inWord {
					words = append(words, h)
					inWord = false
				}
				continue
			}
			if space {
				dst = append(dst, ' ')
				space = false
			}
			if !isWordASCII[c] {
				i++
				dst = append(dst, c)
				if inWord {
					words = append(words, h)
					inWord = false
				}
				continue
			}
			if !inWord {
				h, inWord = fnvOffset, true
			}
			for ; i < len(text) && isWordASCII[text[i]]; i++ {
				c := lowerASCII[text[i]]
				dst = append(dst, c)
				h = (h ^ uint64(c)) * fnvPrime
			}
			continue
		}
		r, size := utf8.DecodeRuneInString(text[i:])
		i += size
		if unicode.IsSpace(r) || r == '\u00a0' || r == '\u200b' {
			space = len(dst) > start
			if inWord {
				words = append(words, h)
				inWord = false
			}
			continue
		}
		if space {
			dst = append(dst, ' ')
			space = false
		}
		r = unicode.ToLower(r)
		k := len(dst)
		dst = utf8.AppendRune(dst, r)
		switch wordClass(r) {
		case wordRune:
			if !inWord {
				h, inWord = fnvOffset, true
			}
			for _, b := range dst[k:] {
				h = (h ^ uint64(b)) * fnvPrime
			}
		case wordSingle:
			if inWord {
				words = append(words, h)
				inWord = false
			}
			words = append(words, fnv64(dst[k:]))
		default:
			if inWord {
				words = append(words, h)
				inWord = false
			}
		}
	}
	if inWord {
		words = append(words, h)
	}
	return dst, words
}

// Classes of runes for word splitting (see wordHashes).
const (
	wordSep    = iota // separates words
	wordRune          // part of a word
	wordSingle        // a word of its own (Han, Hiragana, Katakana)
)

// wordClass classifies a rune of a normalized text.
func wordClass(r rune) int {
	switch {
	case r < utf8.RuneSelf:
		if isWordASCII[byte(r)] {
			return wordRune
		}
	case r >= 0x2e80 && unicode.In(r, unicode.Han, unicode.Hiragana, unicode.Katakana):
		return wordSingle
	case unicode.IsLetter(r) || unicode.IsNumber(r):
		return wordRune
	}
	return wordSep
}

// SignatureOf computes the MinHash signature of the word shingles of a
// normalized text. ok is false when the text has fewer than MinWords words.
// Words are runs of letters and digits (see wordHashes); punctuation is
// ignored so that small punctuation edits do not change the shingles.
func SignatureOf(norm string) (sig Signature, ok bool) {
	s := getScratch()
	defer putScratch(s)
	s.words = wordHashes(norm, s.words[:0])
	return s.signature(s.words)
}

// wordHashes appends the hashes of the words of a normalized text: runs of
// letters and digits, except that every Han, Hiragana and Katakana
// character is a word of its own (those scripts do not separate words with
// spaces, so a run would be a whole sentence and one changed character
// would change it).
func wordHashes(norm string, out []uint64) []uint64 {
	start := -1
	for i := 0; i < len(norm); {
		if c := norm[i]; c < utf8.RuneSelf {
			if !isWordASCII[c] {
				if start >= 0 {
					out = append(out, fnv64(norm[start:i]))
					start = -1
				}
			} else if start < 0 {
				start = i
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(norm[i:])
		switch wordClass(r) {
		case wordRune:
			if start < 0 {
				start = i
			}
		case wordSingle:
			if start >= 0 {
				out = append(out, fnv64(norm[start:i]))
				start = -1
			}
			out = append(out, fnv64(norm[i:i+size]))
		default:
			if start >= 0 {
				out = append(out, fnv64(norm[start:i]))
				start = -1
			}
		}
		i += size
	}
	if start >= 0 {
		out = append(out, fnv64(norm[start:]))
	}
	return out
}

// fnv64 is the FNV-1a hash of a word.
func fnv64[T string | []byte](s T) uint64 {
	h := uint64(fnvOffset)
	for i := 0; i < len(s); i++ {
		h ^= uint64(s[i])
		h *= fnvPrime
	}
	return h
}

// Similarity estimates the Jaccard similarity of the shingle sets behind
// two signatures from the share of equal minima, correcting the 2-bit ones
// for the 1/4 chance that different minima agree (the 2^-16 chance of the
// 16-bit ones is negligible). The result is clamped to [0, 1].
func Similarity(a, b *Signature) float64 {
	wide := 0
	for i := 0; i < 2*WideHashes; i += 2 {
		if a[i] == b[i] && a[i+1] == b[i+1] {
			wide++
		}
	}
	differ := 0
	for i := 2 * WideHashes; i < SigLen; i += 8 {
		x := binary.LittleEndian.Uint64(a[i:]) ^ binary.LittleEndian.Uint64(b[i:])
		differ += bits.OnesCount64((x | x>>1) & 0x5555555555555555)
	}
	const chance = 1.0 / 4
	narrow := float64(NarrowHashes - differ)
	j := (float64(wide) + (narrow-NarrowHashes*chance)/(1-chance)) / NumHashes
	return min(max(j, 0), 1)
}

// BandValue returns band b (0 ≤ b < Bands) of a signature: its Rows 16-bit
// minima as one 32-bit value. Signatures sharing a band value are LSH
// candidates; the values are already uniformly distributed hashes.
func BandValue(sig *Signature, b int) uint32 {
	return binary.LittleEndian.Uint32(sig[4*b:])
}

// BandKeys returns the LSH bucket keys of a signature: each band value
// mixed with the band number, so that equal values in different bands give
// different keys.
func BandKeys(sig *Signature) (keys [Bands]uint32) {
	for b := 0; b < Bands; b++ {
		keys[b] = uint32(mix64(uint64(BandValue(sig, b)) | uint64(b)<<32))
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
	if ip := strings.Trim(host, "[]"); couldBeIP(ip) && net.ParseIP(ip) != nil {
		return host
	}
	d, err := publicsuffix.EffectiveTLDPlusOne(host)
	if err != nil {
		return ""
	}
	return d
}

// couldBeIP reports whether s has only the characters of an IPv4 or IPv6
// address (hex digits, '.' and ':'), which net.ParseIP requires: it saves
// parsing, and the error that a failed parse allocates, for host names.
func couldBeIP(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F' || c == '.' || c == ':') {
			return false
		}
	}
	return true
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n]
}
