// Package features turns a decoded message into a set of hashed binary
// features for a linear classifier.
//
// Feature families (each hashed with its own namespace so they never collide
// by construction, only by bucket):
//   - character n-grams (CharGram bytes) of the first CharBytes bytes of a
//     canonical view of the message (the header fields used, then the
//     decoded text), ASCII letters folded;
//   - words and orthogonal sparse bigrams (OSB: word pairs within a window of
//     OSBWindow words, the gap part of the feature) of the subject and the
//     body, the subject ones prefixed with the field name;
//   - selected header fields: sender and reply-to domains, mailer, message-id
//     shape, list headers, content type, priority; with Alignment, whether
//     the envelope, reply and link domains agree with the sender's (and,
//     with RelayAlignment, whether a relay on the path does);
//   - URL host names, registered domains, top-level domains, numeric hosts
//     and the words of URL paths and queries;
//   - HTML markup: the tag names and tag/attribute pairs used;
//   - attachment types and extensions, and a few structural properties.
//
// Headers that describe the delivery path or the mailbox that stored the
// message (Received, Delivered-To, Date, X-Keywords, ...) are not used: they
// describe where and when a message was collected, not what it is, so a model
// that learned them would not transfer to other sites. The one exception is
// RelayAlignment: whether a relay named in the Received headers belongs to
// the sender's domain, which says nothing of the collecting site.
//
// Features are binary (present or not) and deduplicated; an Extractor is not
// safe for concurrent use, use one per goroutine.
package features

import (
	"cmp"
	"encoding/binary"
	"iter"
	"slices"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/net/publicsuffix"

	"github.com/mxgate/mxgate/services/classifier/internal/swar"
	"github.com/mxgate/mxgate/services/classifier/internal/textextract"
)

// Config selects the feature families and sizes. It is stored with a model,
// so a model is always scored with the features it was trained on.
type Config struct {
	Bits      uint8 // hash space of each view is 2^Bits buckets
	CharBytes int   // bytes of the canonical view that character n-grams cover
	// CharGram is the length of the character n-grams, MinCharGram to
	// MaxCharGram bytes; 0 is 4 (models made before it could be set).
	CharGram  int
	MaxWords  int // words of the body used for words and OSB bigrams
	OSBWindow int // OSB window (tokens), 1 = unigrams only
	// LateWords, when not 0, makes the text's words from the LateWords-th
	// on (and their pairs) features of their own, apart from the same
	// words earlier in a text: what a long newsletter says in its later
	// paragraphs (offers, footers) is weighed apart from what spam says
	// at its start. 0: every word is the same feature wherever it is.
	LateWords int `json:",omitzero"`
	// URLPathWords adds the words of each URL's path and query (as URL
	// features, so both views see them).
	URLPathWords bool
	// Alignment adds features telling whether the sender's registered
	// domain agrees with the Return-Path, Reply-To and Message-Id
	// domains and with the domains the links point to.
	Alignment bool
	// RelayAlignment (with Alignment) adds a feature telling that a relay
	// named in the Received headers is in the sender's registered domain.
	RelayAlignment bool `json:",omitempty"`
	// MetaView adds a third view (indices 2^(Bits+1) and up): the features
	// both other views have (header, URL, attachment, structure and
	// alignment features) alone.
	MetaView bool
	// HashSeed is mixed into every feature's hash before it becomes an
	// index: 0 in the default model. Another value puts the same
	// features into other buckets, with other collisions; comparing the
	// two measures how much of a figure is owed to one hashing's luck.
	HashSeed uint64 `json:",omitempty"`
}

// DefaultConfig is the configuration of the default model.
func DefaultConfig() Config {
	return Config{Bits: 21, CharBytes: 6000, CharGram: 5, MaxWords: 1200, LateWords: 800, OSBWindow: 2, URLPathWords: true, Alignment: true, RelayAlignment: true, MetaView: true}
}

// Limits of Config.CharGram.
const (
	MinCharGram = 3
	MaxCharGram = 5
)

// Valid reports whether New takes cfg as it is (New replaces a bad Bits
// or CharGram with the default).
func (c Config) Valid() bool {
	return c.Bits >= 1 && c.Bits <= 24 && (c.CharGram == 0 || c.CharGram >= MinCharGram && c.CharGram <= MaxCharGram) && c.LateWords >= 0
}

// Namespaces of the feature families.
const (
	nsChar uint64 = iota + 1
	nsWord
	nsOSB
	nsSubjWord
	nsSubjOSB
	nsHeader
	nsURL
	nsAttach
	nsStruct
	nsHeaderName
	nsHTML
)

// Extractor computes feature vectors. The zero value is not usable; use New.
type Extractor struct {
	cfg    Config
	mask   uint32
	seen   []uint64 // bitmap over the index space: the indices in out
	out    []uint32
	shared []uint64 // hashes of the features both views have
	group  int      // view being extracted; -1 while collecting shared features
	buf    []byte
	word   []byte            // word buffer of the header features
	names  map[string]string // header name → lower case (see lowerName)
	regs   map[string]string // host → registered domain (see registered)
	win    []uint64
	words  []uint64 // hashes of the words of a text (see tokens)
	// The canonical view of chars; with folded, canon[textAt:] is the
	// folded text of the message being extracted: all of it when canon
	// stopped short of CharBytes, else a prefix.
	canon  []byte
	textAt int
	folded bool
	hashes []uint64 // feature hashes for addAll

	// Tracing (ExplainViews only): the name of each feature in out, and of
	// each hash in shared; the words in the OSB window.
	trace       bool
	labels      []string
	sharedNames []string
	wring       []string
}

// New returns an Extractor for cfg. Bits must be at most 24 (another value
// gets the default): an Extractor keeps a bitmap of its feature indices,
// 2^Bits bits per view (768 KiB for the three views at the default 21
// bits).
func New(cfg Config) *Extractor {
	if cfg.Bits == 0 || cfg.Bits > 24 {
		cfg.Bits = DefaultConfig().Bits
	}
	if cfg.OSBWindow < 1 {
		cfg.OSBWindow = 1
	}
	if cfg.CharGram == 0 {
		cfg.CharGram = 4
	} else if cfg.CharGram < MinCharGram || cfg.CharGram > MaxCharGram {
		cfg.CharGram = DefaultConfig().CharGram
	}
	e := &Extractor{cfg: cfg, mask: 1<<cfg.Bits - 1, names: map[string]string{}, regs: map[string]string{}}
	views := 2
	if cfg.MetaView {
		views = 3
	}
	e.seen = make([]uint64, (views<<cfg.Bits+63)/64)
	return e
}

// Config returns the extractor's configuration.
func (e *Extractor) Config() Config { return e.cfg }

// Extract returns the deduplicated feature indices (each < 3×2^Bits) of m,
// in a deterministic order: see ExtractViews. The slice is reused by the
// next call.
func (e *Extractor) Extract(m *textextract.Message) []uint32 {
	fs, _ := e.ExtractViews(m)
	return fs
}

// ExtractViews returns the features of the views of m a model scores
// separately: fs[:split] is the character view (indices below 2^Bits: header,
// URL, attachment and structure features, and character n-grams), fs[split:]
// the word view (indices 2^Bits and up: the same header, URL, attachment and
// structure features, and words and OSB pairs of the subject and text) and,
// with Config.MetaView, then the meta view (indices 2^(Bits+1) and up: the
// header, URL, attachment and structure features alone), which starts at
// MetaStart(fs, split, Bits). The slice is reused by the next call.
func (e *Extractor) ExtractViews(m *textextract.Message) (fs []uint32, split int) {
	for _, idx := range e.out {
		e.seen[idx>>6] = 0
	}
	e.out = e.out[:0]
	e.shared = e.shared[:0]
	e.labels = e.labels[:0]
	e.sharedNames = e.sharedNames[:0]
	e.folded = false
	e.group = -1
	e.headers(m)
	e.urls(m)
	e.attachments(m)
	e.structure(m)
	if e.cfg.Alignment {
		e.alignment(m)
	}
	e.group = 0
	e.addShared()
	e.chars(m)
	split = len(e.out)
	e.group = 1
	e.addShared()
	e.tokens(m.Subject, nsSubjWord, nsSubjOSB, 64, 0)
	e.tokens(m.Text, nsWord, nsOSB, e.cfg.MaxWords, e.cfg.LateWords)
	if e.cfg.MetaView {
		e.group = 2
		e.addShared()
	}
	return e.out, split
}

// MetaStart returns where the meta view starts in features fs of
// ExtractViews with the given split and hash bits: len(fs) when there is
// none.
func MetaStart(fs []uint32, split int, bits uint8) int {
	// The views follow each other, so the view number never decreases.
	i, _ := slices.BinarySearchFunc(fs[split:], uint32(2), func(f, v uint32) int { return cmp.Compare(f>>bits, v) })
	return split + i
}

func (e *Extractor) add(h uint64) {
	if e.group < 0 {
		e.shared = append(e.shared, h)
		return
	}
	idx := uint32(mix(h^e.cfg.HashSeed))&e.mask | uint32(e.group)<<e.cfg.Bits
	w := &e.seen[idx>>6]
	old := *w
	*w = old | 1<<(idx&63)
	// Appended always and dropped again when it was there: no branch to
	// mispredict on the hot path.
	e.out = append(e.out, idx)
	e.out = e.out[:len(e.out)-int(old>>(idx&63)&1)]
}

// addAll adds the features hashed as hs to the current view, as add does
// one by one, with the view, seed and output grown once: the character
// n-grams and the words are most of a message's features. Not for the
// shared features (group -1).
func (e *Extractor) addAll(hs []uint64) {
	seed, imask, view := e.cfg.HashSeed, e.mask, uint32(e.group)<<e.cfg.Bits
	seen := e.seen
	out := slices.Grow(e.out, len(hs))
	k := len(out)
	out = out[:cap(out)]
	for _, h := range hs {
		idx := uint32(mix(h^seed))&imask | view
		w := &seen[idx>>6]
		old := *w
		*w = old | 1<<(idx&63)
		out[k] = idx
		k += 1 - int(old>>(idx&63)&1)
	}
	e.out = out[:k]
}

// addShared adds the features both views have to the current view.
func (e *Extractor) addShared() {
	for i, h := range e.shared {
		if e.trace {
			e.named(h, e.sharedNames[i])
		} else {
			e.add(h)
		}
	}
}

// addStr adds the feature s of namespace ns.
func (e *Extractor) addStr(ns uint64, s string) {
	h := hashString(ns*0x9E3779B97F4A7C15, s)
	if e.trace {
		e.named(h, nsNames[ns]+s)
		return
	}
	e.add(h)
}

// addNamed adds the feature hashed as h, whose name (when tracing) is the
// concatenation of parts.
func (e *Extractor) addNamed(h uint64, parts ...string) {
	if !e.trace {
		e.add(h)
		return
	}
	// Cloned: a name never shares memory with a part (which may be a
	// caller's temporary).
	e.named(h, strings.Clone(strings.Join(parts, "")))
}

// addWord adds the feature hashed as h, named (when tracing) a+b+c+w.
func (e *Extractor) addWord(h uint64, a, b, c string, w []byte) {
	if e.trace {
		e.named(h, a+b+c+string(w))
		return
	}
	e.add(h)
}

// named is add while tracing: it records the name of a feature added.
func (e *Extractor) named(h uint64, name string) {
	if e.group < 0 {
		e.shared = append(e.shared, h)
		e.sharedNames = append(e.sharedNames, name)
		return
	}
	n := len(e.out)
	e.add(h)
	if len(e.out) > n {
		e.labels = append(e.labels, name)
	}
}

// nsNames are the name prefixes of the feature families in ExplainViews.
var nsNames = [...]string{
	nsChar:       "chars:",
	nsWord:       "word:",
	nsOSB:        "pair:",
	nsSubjWord:   "subject:",
	nsSubjOSB:    "subject-pair:",
	nsHeader:     "header:",
	nsURL:        "url:",
	nsAttach:     "attachment:",
	nsStruct:     "structure:",
	nsHeaderName: "header-name:",
	nsHTML:       "html:",
}

// ExplainViews is ExtractViews (the same features in the same order) that
// also returns the name of each feature: its family and what it was made
// of, such as "word:free", "pair:click here" ("pair:click _ here" with
// one word between, when the OSB window is above 2),
// "url:reg:example.com" or `chars:"fre"`. It is slower than ExtractViews and
// meant for explaining a score; the slices are reused by the next call.
func (e *Extractor) ExplainViews(m *textextract.Message) (fs []uint32, split int, names []string) {
	e.trace = true
	defer func() { e.trace = false }()
	fs, split = e.ExtractViews(m)
	return fs, split, e.labels
}

// hashString is FNV-1a 64 seeded with seed.
func hashString(seed uint64, s string) uint64 {
	h := seed ^ 14695981039346656037
	for i := 0; i < len(s); i++ {
		h ^= uint64(s[i])
		h *= 1099511628211
	}
	return h
}

// Mix is the finaliser that spreads the feature hashes (murmur3's 64-bit
// mix); other hashed tables of the model use it too.
func Mix(h uint64) uint64 { return mix(h) }

// mix is the murmur3 64-bit finaliser.
func mix(h uint64) uint64 {
	h ^= h >> 33
	h *= 0xff51afd7ed558ccd
	h ^= h >> 33
	h *= 0xc4ceb9fe1a85ec53
	h ^= h >> 33
	return h
}

// headers adds the header-field features (see skipHeader for the fields never used).
func (e *Extractor) headers(m *textextract.Message) {
	var nTo int
	for _, h := range m.Headers {
		name := e.lowerName(h.Name)
		if skipHeader(name) {
			continue
		}
		e.addStr(nsHeaderName, name)
		v := h.Value
		switch name {
		case "from", "reply-to", "sender", "return-path", "errors-to":
			name2, addr := splitAddress(v)
			addr = strings.ToLower(addr)
			local, dom, _ := strings.Cut(addr, "@")
			e.addNamed(newHash(nsHeader).str(name).str(":dom:").str(dom).sum(), "header:", name, ":dom:", dom)
			reg := e.registered(dom)
			e.addNamed(newHash(nsHeader).str(name).str(":reg:").str(reg).sum(), "header:", name, ":reg:", reg)
			if name == "from" {
				e.addStr(nsHeader, "from:local:"+shape(local))
				e.addNamed(newHash(nsHeader).str("from:addr:").str(addr).sum(), "header:from:addr:", addr)
				e.addWords(nsHeader, "from:name:", name2, 8)
				if name2 == "" {
					e.addStr(nsHeader, "from:noname")
				}
			}
		case "to", "cc":
			nTo += strings.Count(v, "@")
			for a := range strings.SplitSeq(v, ",") {
				_, addr := splitAddress(a)
				_, dom, ok := strings.Cut(strings.ToLower(addr), "@")
				if ok {
					reg := e.registered(dom)
					e.addNamed(newHash(nsHeader).str(name).str(":reg:").str(reg).sum(), "header:", name, ":reg:", reg)
				}
			}
			if !strings.Contains(v, "@") {
				e.addNamed(newHash(nsHeader).str(name).str(":noaddr").sum(), "header:", name, ":noaddr")
			}
		case "message-id":
			reg := e.messageIDReg(v)
			e.addNamed(newHash(nsHeader).str("mid:reg:").str(reg).sum(), "header:mid:reg:", reg)
			e.addStr(nsHeader, "mid:shape:"+shape(v))
		case "x-mailer", "user-agent", "x-mimeole", "content-type", "precedence", "x-priority",
			"x-msmail-priority", "importance", "organization", "list-id", "mime-version",
			"content-transfer-encoding", "x-mailing-list", "mailing-list", "list-unsubscribe",
			"list-post", "x-accept-language", "content-class":
			p := newHash(nsHeader).str(name).str(":")
			forEachWord(v, 12, &e.word, func(w []byte) { e.addWord(p.bytes(w).sum(), "header:", name, ":", w) })
			h := p.str("v:").lower(clip(v, 64)).sum()
			if e.trace {
				e.named(h, "header:"+name+":v:"+strings.ToLower(clip(v, 64)))
			} else {
				e.add(h)
			}
		case "subject":
			if v == "" {
				e.addStr(nsHeader, "subject:empty")
			}
			e.addStr(nsStruct, "subj:upper:"+bucket(upperRatio(v)))
		}
	}
	e.addStr(nsHeader, "rcpts:"+strconv.Itoa(min(nTo, 6)))
	if m.Subject == "" && m.Header("Subject") == "" {
		e.addStr(nsHeader, "subject:missing")
	}
}

// addWords adds the feature prefix+w of namespace ns for each of the first
// max words w of s.
func (e *Extractor) addWords(ns uint64, prefix, s string, max int) {
	p := newHash(ns).str(prefix)
	forEachWord(s, max, &e.word, func(w []byte) { e.addWord(p.bytes(w).sum(), nsNames[ns], prefix, "", w) })
}

// featureHash is the FNV-1a state of a feature name being built from parts:
// newHash(ns).str(a).str(b).sum() == hashString(ns*0x9E3779B97F4A7C15, a+b),
// without building the string.
type featureHash uint64

func newHash(ns uint64) featureHash {
	return featureHash(ns*0x9E3779B97F4A7C15 ^ 14695981039346656037)
}

func (h featureHash) str(s string) featureHash {
	for i := 0; i < len(s); i++ {
		h ^= featureHash(s[i])
		h *= 1099511628211
	}
	return h
}

func (h featureHash) bytes(b []byte) featureHash {
	for _, c := range b {
		h ^= featureHash(c)
		h *= 1099511628211
	}
	return h
}

// lower adds strings.ToLower(s).
func (h featureHash) lower(s string) featureHash {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= utf8.RuneSelf {
			return h.str(strings.ToLower(s[i:]))
		}
		if c >= 'A' && c <= 'Z' {
			c += 'a' - 'A'
		}
		h ^= featureHash(c)
		h *= 1099511628211
	}
	return h
}

func (h featureHash) sum() uint64 { return uint64(h) }

// lowerName returns strings.ToLower(name), from a cache of the header
// names seen (a few dozen distinct ones in practice), so that lower-casing
// them allocates nothing.
func (e *Extractor) lowerName(name string) string {
	if l, ok := e.names[name]; ok {
		return l
	}
	if len(e.names) >= maxNames {
		clear(e.names)
	}
	l := strings.ToLower(name)
	e.names[strings.Clone(name)] = l
	return l
}

// registered returns registered(host), from a cache of the hosts seen:
// the public suffix list look-up costs far more than a map access, and
// the same few domains recur in the addresses and links of a message and
// across messages.
func (e *Extractor) registered(host string) string {
	if r, ok := e.regs[host]; ok {
		return r
	}
	if len(e.regs) >= maxCached {
		clear(e.regs)
	}
	r := registered(host)
	e.regs[strings.Clone(host)] = r
	return r
}

// maxNames and maxCached bound the header-name and domain caches (a
// message can carry any names).
const (
	maxNames  = 512
	maxCached = 4096
)

// skipHeader reports whether a header is ignored: delivery-path and mailbox
// storage headers (see the package comment), and headers of other filters
// (textextract already drops those).
func skipHeader(name string) bool {
	switch name {
	case "received", "delivered-to", "x-original-to", "envelope-to", "date", "delivery-date",
		"x-original-date", "x-keywords", "x-status", "status", "x-uid", "x-uidl", "content-length",
		"lines", "x-mime-autoconverted", "x-authentication-warning", "x-loop", "x-beenthere",
		"x-originalarrivaltime", "x-apparently-to", "x-egroups-return", "x-yahoo-profile",
		"x-delivery-agent", "x-pair-authenticated", "x-rcpt-to", "x-received", "x-original-sender",
		"x-evolution", "x-uid-validity", "x-imap", "x-mozilla-status", "x-mozilla-status2", "x-gmail-labels":
		return true
	}
	return textextract.IsFilterHeader(name)
}

func (e *Extractor) structure(m *textextract.Message) {
	e.addStr(nsStruct, "len:"+strconv.Itoa(log2(len(m.Text))))
	if m.HTMLOnly {
		e.addStr(nsStruct, "htmlonly")
	}
	for _, t := range m.HTMLTags {
		e.addStr(nsHTML, t)
	}
	if m.Truncated {
		e.addStr(nsStruct, "truncated")
	}
	e.addStr(nsStruct, "upper:"+bucket(upperRatio(clip(m.Text, 4000))))
}

// lateMark is mixed into the hash of a word (and of its pairs) from
// Config.LateWords on.
const lateMark = 0x9d2c5680a5b3c2e1

// lateMarkOf is the mark of the i-th word of a text whose words from late
// on are late (late 0: none are).
func lateMarkOf(i, late int) uint64 {
	if late > 0 && i >= late {
		return lateMark
	}
	return 0
}

// tokens adds words and OSB pairs of s (at most max words); those from the
// late-th on are marked late (see Config.LateWords; 0: none).
func (e *Extractor) tokens(s string, nsW, nsPair uint64, max, late int) {
	win := e.cfg.OSBWindow
	n := 0
	if e.trace {
		if cap(e.win) < win {
			e.win = make([]uint64, win)
		}
		ring := e.win[:win]
		forEachWord(s, max, &e.buf, func(w []byte) {
			h := hashBytes(nsW, w)
			e.traceWord(h, w, n, nsW, nsPair, ring, lateMarkOf(n, late))
			ring[n%win] = h
			n++
		})
	} else {
		// The words' hashes, then each word's feature and its pairs
		// with the words before it.
		words := appendWordHashes(e.words[:0], s, max, nsW)
		e.words = words
		n = len(words)
		hs := e.hashes[:0]
		for i, h := range words {
			m := lateMarkOf(i, late)
			hs = append(hs, h^m)
			for d := 1; d < win && d <= i; d++ {
				hs = append(hs, (words[i-d]*31+h^uint64(d)<<56^nsPair<<48)^m)
			}
		}
		e.hashes = hs
		e.addAll(hs)
	}
	e.addStr(nsStruct, "words:"+strconv.Itoa(log2(n))+":"+strconv.FormatUint(nsW, 10))
}

// traceWord is the body of tokens while tracing: word w (hash h, the n-th)
// and its OSB pairs with the words before it in ring, their hashes mixed
// with mark (lateMark: named "late-word:", "late-pair:").
func (e *Extractor) traceWord(h uint64, w []byte, n int, nsW, nsPair uint64, ring []uint64, mark uint64) {
	win := len(ring)
	if cap(e.wring) < win {
		e.wring = make([]string, win)
	}
	words := e.wring[:win]
	word := string(w)
	prefix := ""
	if mark != 0 {
		prefix = "late-"
	}
	e.named(h^mark, prefix+nsNames[nsW]+word)
	for d := 1; d < win && d <= n; d++ {
		prev := ring[(n-d)%win]
		e.named((prev*31+h^uint64(d)<<56^nsPair<<48)^mark, prefix+nsNames[nsPair]+words[(n-d)%win]+strings.Repeat(" _", d-1)+" "+word)
	}
	words[n%win] = word
}

func hashBytes(seed uint64, b []byte) uint64 {
	h := seed*0x9E3779B97F4A7C15 ^ 14695981039346656037
	for _, c := range b {
		h ^= uint64(c)
		h *= 1099511628211
	}
	return h
}

// maxWordBytes is the longest word kept whole; a longer one is cut there
// and marked with a '*'.
const maxWordBytes = 40

// forEachWord calls f with each word of s, lower-cased: a word is a run of
// letters, digits and the characters ' $ % ! - . (not at the ends), at
// most maxWordBytes bytes long. The slice passed to f is reused.
func forEachWord(s string, max int, buf *[]byte, f func([]byte)) {
	for n, i := 0, wordStart(s, 0); i < len(s) && n < max; n, i = n+1, wordStart(s, i) {
		b := (*buf)[:0]
		for i < len(s) {
			c := s[i]
			if c < utf8.RuneSelf {
				if l := wordFold[c]; l != 0 {
					b = append(b, l)
					i++
					continue
				}
				if wordJoiner[c] && i+1 < len(s) && isWordByte(s[i+1]) {
					b = append(b, c)
					i++
					continue
				}
				break
			}
			r, sz := utf8.DecodeRuneInString(s[i:])
			if !unicode.IsLetter(r) && !unicode.IsDigit(r) {
				break
			}
			b = utf8.AppendRune(b, unicode.ToLower(r))
			i += sz
		}
		*buf = b
		if len(b) > maxWordBytes {
			b = append(b[:maxWordBytes], '*')
		}
		f(b)
	}
}

// wordStart returns the index of the first byte at or after i that starts
// a word (a letter or digit; an ASCII one or '$'), or len(s).
func wordStart(s string, i int) int {
	for i < len(s) {
		if c := s[i]; c < utf8.RuneSelf {
			if isWordByte(c) {
				return i
			}
			i++
			continue
		}
		r, sz := utf8.DecodeRuneInString(s[i:])
		if unicode.IsLetter(r) || unicode.IsDigit(r) {
			return i
		}
		i += sz
	}
	return i
}

// appendWordHashes appends to hs hashBytes(seed, w) of each word w that
// forEachWord(s, max, ...) yields, hashing as it scans instead of building
// the words.
func appendWordHashes(hs []uint64, s string, max int, seed uint64) []uint64 {
	h0 := seed*0x9E3779B97F4A7C15 ^ 14695981039346656037
	for n, i := 0, wordStart(s, 0); i < len(s) && n < max; n, i = n+1, wordStart(s, i) {
		h := h0
		size := 0 // bytes of the word so far; the first maxWordBytes are hashed
		for i < len(s) {
			c := s[i]
			if c < utf8.RuneSelf {
				l := wordFold[c]
				if l == 0 {
					if !wordJoiner[c] || i+1 >= len(s) || !isWordByte(s[i+1]) {
						break
					}
					l = c
				}
				if size < maxWordBytes {
					h = (h ^ uint64(l)) * 1099511628211
				}
				size++
				i++
				continue
			}
			r, sz := utf8.DecodeRuneInString(s[i:])
			if !unicode.IsLetter(r) && !unicode.IsDigit(r) {
				break
			}
			var tmp [utf8.UTFMax]byte
			for _, l := range utf8.AppendRune(tmp[:0], unicode.ToLower(r)) {
				if size < maxWordBytes {
					h = (h ^ uint64(l)) * 1099511628211
				}
				size++
			}
			i += sz
		}
		if size > maxWordBytes {
			h = (h ^ '*') * 1099511628211
		}
		hs = append(hs, h)
	}
	return hs
}

// wordFold maps each ASCII word byte (see isWordByte) to its lower case,
// and every other ASCII byte to 0.
var wordFold = func() (t [utf8.RuneSelf]byte) {
	for c := range t {
		if isWordByte(byte(c)) {
			t[c] = foldTable[c]
		}
	}
	return t
}()

// wordJoiner marks the ASCII bytes that stay inside a word when a word
// byte follows them.
var wordJoiner = [utf8.RuneSelf]bool{'\'': true, '-': true, '.': true, '$': true, '%': true, '!': true}

func isWordByte(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '$'
}

// maxLinks is how many of a message's URLs the features look at.
const maxLinks = 64

// linkHosts yields each of the first maxLinks URLs that has a host, with
// the host.
func linkHosts(urls []string) iter.Seq2[string, string] {
	return func(yield func(string, string) bool) {
		for i, u := range urls {
			if i >= maxLinks {
				return
			}
			if host := urlHost(u); host != "" && !yield(u, host) {
				return
			}
		}
	}
}

func (e *Extractor) urls(m *textextract.Message) {
	nIP := 0
	for u, host := range linkHosts(m.URLs) {
		if isNumericHost(host) {
			nIP++
			e.addStr(nsURL, "iphost")
			continue
		}
		e.addStr(nsURL, "host:"+host)
		reg := e.registered(host)
		e.addStr(nsURL, "reg:"+reg)
		if k := strings.LastIndexByte(host, '.'); k >= 0 {
			e.addStr(nsURL, "tld:"+host[k+1:])
		}
		if strings.Contains(u, "%") {
			e.addStr(nsURL, "escaped")
		}
		if e.cfg.URLPathWords {
			forEachWord(urlPath(u), 16, &e.buf, e.addURLPathWord)
		}
		if strings.Contains(u, "@") {
			e.addStr(nsURL, "userinfo")
		}
	}
	e.addStr(nsURL, "count:"+strconv.Itoa(log2(len(m.URLs))))
}

func (e *Extractor) attachments(m *textextract.Message) {
	for i, a := range m.Attachments {
		if i >= 16 {
			break
		}
		e.addStr(nsAttach, "type:"+strings.ToLower(a.ContentType))
		if k := strings.LastIndexByte(a.Name, '.'); k >= 0 {
			e.addStr(nsAttach, "ext:"+strings.ToLower(clip(a.Name[k+1:], 8)))
		}
		e.addStr(nsAttach, "size:"+strconv.Itoa(log2(a.Size)))
	}
	e.addStr(nsAttach, "count:"+strconv.Itoa(min(len(m.Attachments), 4)))
}

// chars adds the character n-grams of the canonical view: the header fields
// used (see skipHeader), as "name: value" lines, up to a third of CharBytes,
// then the text; ASCII letters lower-cased, white space runs as one space.
func (e *Extractor) chars(m *textextract.Message) {
	limit := e.cfg.CharBytes
	if limit <= 0 {
		return
	}
	b := e.canon[:0]
	hdrLimit := limit / 3
	for _, h := range m.Headers {
		if len(b) >= hdrLimit {
			break
		}
		name := e.lowerName(h.Name)
		if skipHeader(name) {
			continue
		}
		b = appendFolded(b, name, hdrLimit)
		b = append(b, ':', ' ')
		b = appendFolded(b, h.Value, hdrLimit)
		b = append(b, '\n')
	}
	if len(b) > hdrLimit {
		b = b[:hdrLimit]
	}
	b = append(b, '\n')
	start := len(b)
	b = appendFolded(b, m.Text, limit)
	e.canon = b
	// Kept for ExtractViewsSequence, whose sequence reads the same folded
	// text.
	e.folded, e.textAt = true, start
	// The n-gram's bytes are the feature's hash before mixing (at most 5
	// bytes, below the namespace bit).
	n := e.cfg.CharGram
	if len(b) < n {
		return
	}
	mask := uint64(1)<<(8*n) - 1
	var w uint64
	for i := 0; i < n-1; i++ {
		w = w<<8 | uint64(b[i])
	}
	if e.trace {
		for i := n - 1; i < len(b); i++ {
			w = w<<8 | uint64(b[i])
			e.named(w&mask|nsChar<<40, nsNames[nsChar]+strconv.Quote(string(b[i+1-n:i+1])))
		}
		return
	}
	hs := slices.Grow(e.hashes[:0], len(b)-n+1)
	for _, c := range b[n-1:] {
		w = w<<8 | uint64(c)
		hs = append(hs, w&mask|nsChar<<40)
	}
	e.hashes = hs
	e.addAll(hs)
}

// foldTable maps ASCII upper-case letters to lower case and line breaks and
// tabs to spaces; every other byte to itself.
var foldTable = func() (t [256]byte) {
	for c := range t {
		t[c] = byte(c)
	}
	for c := 'A'; c <= 'Z'; c++ {
		t[c] = byte(c) + 'a' - 'A'
	}
	t['\n'], t['\r'], t['\t'] = ' ', ' ', ' '
	return t
}()

// appendFolded appends s to dst (up to limit bytes in all), ASCII letters
// lower-cased and runs of white space as one space.
func appendFolded(dst []byte, s string, limit int) []byte {
	n := len(dst)
	room := min(limit-n, len(s))
	if room <= 0 {
		return dst
	}
	// Written by index into room bytes grown once: appending byte by byte
	// costs a capacity check per byte.
	dst = slices.Grow(dst, room)[:n+room]
	out := dst[n:]
	i, j := 0, 0
	space := 0 // 1 after a space
	for i < len(s) && j < len(out) {
		// Eight bytes at a time while they need nothing but upper-case
		// ASCII letters lowered: no control byte (line breaks and tabs
		// fold to spaces) and no space after a space.
		for i+8 <= len(s) && j+8 <= len(out) {
			x := swar.Load64(s, i)
			if (x-swar.Ones*' ')&^x&swar.Highs != 0 {
				break // a byte below ' '
			}
			sp := swar.EqBytes(x, ' ')
			if sp&(sp<<8) != 0 || space == 1 && sp&0x80 != 0 {
				break
			}
			binary.LittleEndian.PutUint64(out[j:], lowerASCII8(x))
			i, j = i+8, j+8
			space = int(sp >> 63)
		}
		// Then byte by byte, eight bytes or to the end.
		for end := min(i+8, len(s)); i < end && j < len(out); i++ {
			c := foldTable[s[i]]
			// Without a branch: a space after a space is written and
			// then overwritten.
			sp := 0
			if c == ' ' {
				sp = 1
			}
			out[j] = c
			j += 1 - sp&space
			space = sp
		}
	}
	return dst[:n+j]
}

// lowerASCII8 lowers the upper-case ASCII letters of the eight bytes of x
// and leaves every other byte alone (foldTable on bytes that are not
// control characters).
func lowerASCII8(x uint64) uint64 {
	h := x &^ swar.Highs
	geA := h + (0x80-'A')*swar.Ones   // high bit set where h >= 'A'
	gtZ := h + (0x80-'Z'-1)*swar.Ones // high bit set where h > 'Z'
	upper := geA &^ gtZ &^ x & swar.Highs
	return x | upper>>2 // 0x80>>2 is the case bit 0x20
}

// splitAddress splits `"Name" <addr>` into its display name and address.
func splitAddress(v string) (name, addr string) {
	v = strings.TrimSpace(v)
	if i := strings.LastIndexByte(v, '<'); i >= 0 {
		j := strings.IndexByte(v[i:], '>')
		if j < 0 {
			j = len(v) - i
		}
		addr = v[i+1 : i+j]
		name = strings.Trim(strings.TrimSpace(v[:i]), `"' `)
		return name, strings.TrimSpace(addr)
	}
	if i := strings.IndexByte(v, '('); i >= 0 {
		return strings.Trim(v[i:], "() "), strings.TrimSpace(v[:i])
	}
	return "", v
}

func registered(host string) string {
	host = strings.TrimSuffix(strings.ToLower(host), ".")
	if host == "" {
		return ""
	}
	d, err := publicsuffix.EffectiveTLDPlusOne(host)
	if err != nil {
		return host
	}
	return d
}

func urlHost(u string) string {
	s := u
	if i := strings.Index(s, "://"); i >= 0 {
		s = s[i+3:]
	}
	if i := strings.IndexAny(s, "/?#"); i >= 0 {
		s = s[:i]
	}
	if i := strings.LastIndexByte(s, '@'); i >= 0 {
		s = s[i+1:]
	}
	if i := strings.LastIndexByte(s, ':'); i >= 0 && !strings.Contains(s, "]") {
		s = s[:i]
	}
	return strings.ToLower(strings.TrimSuffix(s, "."))
}

// urlPathSeed is the hash state after the prefix of the URL path-word
// features, so that addURLPathWord(w) adds what addStr(nsURL, "path:"+w)
// would, without building the string.
var urlPathSeed = func() uint64 {
	ns := nsURL
	return hashString(ns*0x9E3779B97F4A7C15, "path:")
}()

// addURLPathWord adds the URL feature "path:<w>".
func (e *Extractor) addURLPathWord(w []byte) {
	h := urlPathSeed
	for _, c := range w {
		h ^= uint64(c)
		h *= 1099511628211
	}
	e.addWord(h, "url:path:", "", "", w)
}

// urlPath returns what follows the host (and port) of u: path, query and
// fragment.
func urlPath(u string) string {
	s := u
	if i := strings.Index(s, "://"); i >= 0 {
		s = s[i+3:]
	}
	if i := strings.IndexAny(s, "/?#"); i >= 0 {
		return s[i:]
	}
	return ""
}

func isNumericHost(h string) bool {
	if h == "" {
		return false
	}
	if h[0] == '[' {
		return true
	}
	for i := 0; i < len(h); i++ {
		if (h[i] < '0' || h[i] > '9') && h[i] != '.' {
			return false
		}
	}
	return true
}

// shape maps letters to a/A, digits to 9, keeping punctuation, and squeezes
// repeats: "<3D2F1A.abc@x>" → "<9A9A.a@a>".
func shape(s string) string {
	var b strings.Builder
	var last byte
	for i := 0; i < len(s) && b.Len() < 40; i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z':
			c = 'a'
		case c >= 'A' && c <= 'Z':
			c = 'A'
		case c >= '0' && c <= '9':
			c = '9'
		case c >= 0x80:
			c = 'u'
		}
		if c == last {
			continue
		}
		last = c
		b.WriteByte(c)
	}
	return b.String()
}

func clip(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}

// letterKind is 3 for the ASCII upper-case letters, 1 for the lower-case
// ones and 0 for every other byte: bit 0 counts a letter, bit 1 an
// upper-case one.
var letterKind = func() (t [256]uint8) {
	for c := 'a'; c <= 'z'; c++ {
		t[c] = 1
		t[c-'a'+'A'] = 3
	}
	return t
}()

// upperRatio is the share of upper-case letters among the ASCII letters of
// s, or -1 when s has fewer than 8.
func upperRatio(s string) float64 {
	// Counted through a table, without a branch per byte to mispredict.
	var up, letters int
	for i := 0; i < len(s); i++ {
		k := letterKind[s[i]]
		up += int(k >> 1)
		letters += int(k & 1)
	}
	if letters < 8 {
		return -1
	}
	return float64(up) / float64(letters)
}

func bucket(r float64) string {
	if r < 0 {
		return "na"
	}
	return strconv.Itoa(int(r * 5))
}

func log2(n int) int {
	k := 0
	for n > 0 {
		n >>= 1
		k++
	}
	return k
}

// AppendSequence appends to dst (up to limit bytes in all) the byte sequence
// a sequence model reads: "subject: " and the subject, "from: " and the From
// header, then the decoded text, ASCII letters lower-cased and runs of white
// space as one space (line breaks included).
func AppendSequence(dst []byte, m *textextract.Message, limit int) []byte {
	return appendFolded(appendSequenceHead(dst, m, limit), m.Text, limit)
}

// appendSequenceHead appends what AppendSequence puts before the text.
func appendSequenceHead(dst []byte, m *textextract.Message, limit int) []byte {
	dst = appendFolded(dst, "subject: ", limit)
	dst = appendFolded(dst, m.Subject, limit)
	dst = appendFolded(dst, " from: ", limit)
	dst = appendFolded(dst, m.From, limit)
	return appendFolded(dst, " ", limit)
}

// ExtractViewsSequence is ExtractViews and AppendSequence(seq, m, limit)
// in one: the sequence copies the text as the character view folded it,
// where that covers what it needs, instead of folding it again.
func (e *Extractor) ExtractViewsSequence(m *textextract.Message, seq []byte, limit int) (fs []uint32, split int, seqOut []byte) {
	fs, split = e.ExtractViews(m)
	seq = appendSequenceHead(seq, m, limit)
	if room := limit - len(seq); e.folded && room > 0 {
		// The whole text was folded when the fold stopped short of the
		// limit.
		if text := e.canon[e.textAt:]; room <= len(text) || len(e.canon) < e.cfg.CharBytes {
			return fs, split, append(seq, text[:min(room, len(text))]...)
		}
	}
	return fs, split, appendFolded(seq, m.Text, limit)
}

// alignment adds the Alignment features. A legitimate sender's mail
// usually names one organisation throughout: the Return-Path, Reply-To and
// Message-Id domains and the links' domains are the From address's own
// (or its mail provider's), while spam often mixes a forged or free-mail
// sender with a bulk mailer's envelope and links to somewhere else. These
// features carry that over to senders the model has never seen.
//
// For each of Return-Path, Reply-To and Message-Id: whether its registered
// domain is the From address's ("same"), another ("other") or missing
// ("none"). For the links (the first maxLinks): whether all, some or none point
// into the From address's registered domain (a numeric host counts as
// another domain), or there are no links; and how many registered domains
// they name (up to 6). With RelayAlignment, see relayAlignment.
func (e *Extractor) alignment(m *textextract.Message) {
	from := e.addrReg(m.From)
	if from == "" {
		e.addStr(nsHeader, "align:nofrom")
		return
	}
	if e.cfg.RelayAlignment {
		e.relayAlignment(m, from)
	}
	for _, f := range [...]struct{ label, reg string }{
		{"align:return-path:", e.addrReg(m.Header("Return-Path"))},
		{"align:reply-to:", e.addrReg(m.Header("Reply-To"))},
		{"align:message-id:", e.messageIDReg(m.Header("Message-Id"))},
	} {
		switch {
		case f.reg == "":
			e.addStr(nsHeader, f.label+"none")
		case f.reg == from:
			e.addStr(nsHeader, f.label+"same")
		default:
			e.addStr(nsHeader, f.label+"other")
		}
	}
	var same, other int
	var regs [6]string
	nregs := 0
	for _, host := range linkHosts(m.URLs) {
		if isNumericHost(host) {
			other++
			continue
		}
		reg := e.registered(host)
		if reg == from {
			same++
		} else {
			other++
		}
		if nregs < len(regs) && !slices.Contains(regs[:nregs], reg) {
			regs[nregs] = reg
			nregs++
		}
	}
	switch {
	case same+other == 0:
		e.addStr(nsURL, "align:nolinks")
	case other == 0:
		e.addStr(nsURL, "align:all")
	case same == 0:
		e.addStr(nsURL, "align:none")
	default:
		e.addStr(nsURL, "align:some")
	}
	e.addStr(nsURL, "align:regs:"+strconv.Itoa(nregs))
}

// maxRelays is how many Received headers relayAlignment reads, from the
// top.
const maxRelays = 10

// relayAlignment adds "align:relay:same" when one of the relays named in
// the first maxRelays Received headers is in the registered domain from
// (the From address's). A relay is named by the host names of a header's
// "from" clause: the name the client gave and the one its address
// resolved to. Mail that a legitimate organisation sends passes through
// its own servers on the way out, and each of them records the one before
// it; spam sent from hijacked machines, or under a sender it has no right
// to, does not. Only a match counts, never the names themselves (those
// describe the path to the collecting site), and no match adds nothing: a
// message without Received headers, or whose sender's relays did not
// record themselves, is not evidence of spam.
func (e *Extractor) relayAlignment(m *textextract.Message, from string) {
	n := 0
	for _, h := range m.Headers {
		if !strings.EqualFold(h.Name, "Received") {
			continue
		}
		if n++; n > maxRelays {
			return
		}
		if relayIn(h.Value, from) {
			// A from that is a public suffix (no registered domain) would
			// match every name under it; looked up only on a match.
			if ps, _ := publicsuffix.PublicSuffix(from); ps != from {
				e.addStr(nsHeader, "align:relay:same")
			}
			return
		}
	}
}

// relayIn reports whether a host name in the "from" clause of the
// Received value v (the words before "by") is in the registered domain
// reg: reg itself or a name under it.
func relayIn(v, reg string) bool {
	v = strings.TrimLeft(v, " \t\r\n")
	if len(v) < 5 || !strings.EqualFold(v[:5], "from ") {
		return false
	}
	for tok := range strings.FieldsFuncSeq(v[5:], isRelaySeparator) {
		if strings.EqualFold(tok, "by") {
			break
		}
		if inDomain(strings.Trim(tok, ".;,"), reg) {
			return true
		}
	}
	return false
}

// inDomain reports whether host is the domain reg (lower case) or a name
// under it, in any letter case.
func inDomain(host, reg string) bool {
	n, m := len(host), len(reg)
	switch {
	case n == m:
		return strings.EqualFold(host, reg)
	case n > m:
		return host[n-m-1] == '.' && strings.EqualFold(host[n-m:], reg)
	}
	return false
}

// isRelaySeparator splits a Received clause into host names: white
// space, the parentheses and brackets around the resolved name and the
// address, and the "@" and "=" of "user@host" and "helo=host".
func isRelaySeparator(r rune) bool {
	switch r {
	case ' ', '\t', '\r', '\n', '(', ')', '[', ']', '@', '=':
		return true
	}
	return false
}

// addrReg returns the lower-case registered domain of the address in the
// header value v, or "" when it holds no address with a domain.
func (e *Extractor) addrReg(v string) string {
	_, addr := splitAddress(v)
	_, dom, ok := strings.Cut(strings.ToLower(addr), "@")
	if !ok {
		return ""
	}
	return e.registered(strings.Trim(dom, "<> "))
}

// messageIDReg returns the registered domain of the Message-Id value v
// (what follows its "@"), lower case.
func (e *Extractor) messageIDReg(v string) string {
	_, dom, _ := strings.Cut(strings.Trim(strings.TrimSpace(v), "<>"), "@")
	return e.registered(strings.ToLower(dom))
}
