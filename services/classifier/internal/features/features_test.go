package features

import (
	"bytes"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/mxgate/mxgate/services/classifier/internal/corpustest"
	"github.com/mxgate/mxgate/services/classifier/internal/textextract"
)

const sample = "From: \"Shop\" <deals@shop.example.co.uk>\nTo: a@example.com, b@example.org\n" +
	"Subject: Cheap watches -- buy now\nMessage-Id: <ABC123.456@mail.shop.example.co.uk>\n" +
	"Received: from relay.example by mx.example\nDate: Mon, 1 Jan 2024 10:00:00 +0000\n" +
	"Content-Type: text/html\n\n<p>Buy cheap watches now at <a href=\"http://www.shop.example.co.uk/w\">our shop</a></p>\n"

func TestExtractDeterministic(t *testing.T) {
	msg := textextract.Parse([]byte(sample))
	e1, e2 := New(DefaultConfig()), New(DefaultConfig())
	a := slices.Clone(e1.Extract(msg))
	// A different message in between must not change the next result.
	e1.Extract(textextract.Parse([]byte("Subject: other\n\nsomething else entirely")))
	b := slices.Clone(e1.Extract(msg))
	c := slices.Clone(e2.Extract(textextract.Parse([]byte(sample))))
	if !slices.Equal(a, b) || !slices.Equal(a, c) {
		t.Fatalf("features differ between runs: %d %d %d", len(a), len(b), len(c))
	}
	if len(a) < 50 {
		t.Fatalf("only %d features", len(a))
	}
}

func TestExtractProperties(t *testing.T) {
	cfg := DefaultConfig()
	e := New(cfg)
	fs, split := e.ExtractViews(textextract.Parse([]byte(sample)))
	seen := map[uint32]bool{}
	meta := MetaStart(fs, split, cfg.Bits)
	for k, f := range fs {
		if seen[f] {
			t.Fatalf("duplicate feature %d", f)
		}
		seen[f] = true
		view := f >> cfg.Bits
		if (k < split && view != 0) || (k >= split && k < meta && view != 1) || (k >= meta && view != 2) {
			t.Fatalf("feature %d (%x) in wrong view (split %d, meta %d)", k, f, split, meta)
		}
	}
	if split == 0 || meta == split || meta == len(fs) {
		t.Fatalf("split = %d, meta = %d of %d", split, meta, len(fs))
	}
	// The meta view is the features the other two share: the head of the
	// character view, in the same order.
	for i, f := range fs[meta:] {
		if fs[i] != f&(1<<cfg.Bits-1) {
			t.Fatalf("meta feature %d (%x) is not character feature %d (%x)", i, f, i, fs[i])
		}
	}
	cfg.MetaView = false
	off, offSplit := New(cfg).ExtractViews(textextract.Parse([]byte(sample)))
	if !slices.Equal(off, fs[:meta]) || offSplit != split || MetaStart(off, offSplit, cfg.Bits) != len(off) {
		t.Fatalf("without MetaView: %d features (split %d), want the %d before the meta view", len(off), offSplit, meta)
	}
}

func TestHashSeed(t *testing.T) {
	msg := textextract.Parse([]byte(sample))
	cfg := DefaultConfig()
	base, baseSplit := New(cfg).ExtractViews(msg)
	base = slices.Clone(base)
	cfg.HashSeed = 0x2545F4914F6CDD1D
	other, otherSplit := New(cfg).ExtractViews(msg)
	// The same features in other buckets: as many in each view (give or
	// take a collision) and almost none at the same index.
	if d := len(other) - len(base); d < -2 || d > 2 || otherSplit-baseSplit < -2 || otherSplit-baseSplit > 2 {
		t.Fatalf("%d features (split %d) with a hash seed, %d (split %d) without", len(other), otherSplit, len(base), baseSplit)
	}
	same := 0
	for _, f := range other {
		if slices.Contains(base, f) {
			same++
		}
	}
	if same > len(base)/20 {
		t.Fatalf("%d of %d features keep their index under another hash seed", same, len(base))
	}
	if MetaStart(other, otherSplit, cfg.Bits) == len(other) || other[len(other)-1]>>cfg.Bits != 2 {
		t.Fatal("the meta view is missing under another hash seed")
	}
}

func TestDeliveryHeadersIgnored(t *testing.T) {
	// Changing only Received and Date must not change the features.
	other := "From: \"Shop\" <deals@shop.example.co.uk>\nTo: a@example.com, b@example.org\n" +
		"Subject: Cheap watches -- buy now\nMessage-Id: <ABC123.456@mail.shop.example.co.uk>\n" +
		"Received: from elsewhere.example by mx2.example\nDate: Tue, 9 Sep 2031 23:59:59 -0700\n" +
		"X-Spam-Status: Yes, score=99\n" +
		"Content-Type: text/html\n\n<p>Buy cheap watches now at <a href=\"http://www.shop.example.co.uk/w\">our shop</a></p>\n"
	a := slices.Clone(New(DefaultConfig()).Extract(textextract.Parse([]byte(sample))))
	b := slices.Clone(New(DefaultConfig()).Extract(textextract.Parse([]byte(other))))
	slices.Sort(a)
	slices.Sort(b)
	if !slices.Equal(a, b) {
		t.Fatalf("delivery/filter headers changed the features")
	}
}

func TestRegistered(t *testing.T) {
	for in, want := range map[string]string{
		"www.shop.example.co.uk": "example.co.uk",
		"mail.google.com":        "google.com",
		"localhost":              "localhost",
	} {
		if got := registered(in); got != want {
			t.Errorf("registered(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestURLPathWords(t *testing.T) {
	msg := textextract.Parse([]byte("From: a@example.org\nSubject: hi\n\nsee http://www.example.com/Remove.php?id=7 now\n"))
	on := New(DefaultConfig())
	withPath := append([]uint32(nil), on.Extract(msg)...)
	cfg := DefaultConfig()
	cfg.URLPathWords = false
	without := New(cfg).Extract(msg)
	// "remove.php", "id" and "7", in all three views.
	if len(withPath)-len(without) != 9 {
		t.Errorf("path words added %d features, want 9", len(withPath)-len(without))
	}
	// The allocation-free hash equals the plain string feature.
	e := New(DefaultConfig())
	e.group = 0
	e.out = e.out[:0]
	e.addURLPathWord([]byte("remove.php"))
	e.addStr(nsURL, "path:remove.php")
	if len(e.out) != 1 {
		t.Errorf("addURLPathWord and addStr differ: %v", e.out)
	}
	for _, c := range []struct{ in, want string }{
		{"http://Example.COM:8080/a/b?c=d#e", "/a/b?c=d#e"},
		{"www.example.com?q=1", "?q=1"},
		{"mailto:x@example.org", ""},
	} {
		if got := urlPath(c.in); got != c.want {
			t.Errorf("urlPath(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}

// TestFeatureHashParts: a feature hashed from its parts equals the hash of
// the whole name, also when lower-casing meets non-ASCII text.
func TestFeatureHashParts(t *testing.T) {
	ns := nsHeader
	seed := ns * 0x9E3779B97F4A7C15
	for _, tc := range []struct{ prefix, word, value string }{
		{"x-mailer:", "outlook", "Microsoft Outlook Express 6.00"},
		{"content-type:", "", "TEXT/HTML; Charset=ISO-8859-1"},
		{"organization:", "straße", "STRASSE Straße ÄÖÜ İstanbul"},
		{"", "", ""},
	} {
		got := newHash(nsHeader).str(tc.prefix).bytes([]byte(tc.word)).lower(tc.value).sum()
		want := hashString(seed, tc.prefix+tc.word+strings.ToLower(tc.value))
		if got != want {
			t.Errorf("%q %q %q: parts hash %x, whole %x", tc.prefix, tc.word, tc.value, got, want)
		}
	}
	e := New(DefaultConfig())
	for _, name := range []string{"Content-Type", "X-MAILER", "subject", "X-Ünïcode"} {
		if got := e.lowerName(name); got != strings.ToLower(name) {
			t.Errorf("lowerName(%q) = %q", name, got)
		}
	}
}

func TestAppendSequence(t *testing.T) {
	m := textextract.Parse([]byte("From: Alice <Alice@Example.org>\nSubject: Hello  World\n\nLine one\r\n\r\n\tLINE   two\n"))
	got := string(AppendSequence([]byte("x"), m, 1000))
	want := "xsubject: hello world from: alice <alice@example.org> line one line two"
	if got != want {
		t.Fatalf("AppendSequence = %q, want %q", got, want)
	}
	for _, limit := range []int{0, 1, 10, 30} {
		if got := AppendSequence(nil, m, limit); len(got) != limit || string(got) != want[1:1+limit] {
			t.Errorf("limit %d: %q", limit, got)
		}
	}
}

// ExtractViewsSequence gives ExtractViews' features and AppendSequence's
// bytes on every corpus message, at the default sizes and with the
// character view shorter than the sequence (so that it folds again).
func TestExtractViewsSequence(t *testing.T) {
	short := DefaultConfig()
	short.CharBytes = 700
	for _, cfg := range []Config{DefaultConfig(), short} {
		ex, plain := New(cfg), New(cfg)
		for i, raw := range corpustest.Messages(t) {
			msg := textextract.Parse(raw)
			want, wantSplit := plain.ExtractViews(msg)
			for _, limit := range []int{0, 40, 3000, 5000, 100000} {
				fs, split, seq := ex.ExtractViewsSequence(msg, []byte("x"), limit)
				if !slices.Equal(fs, want) || split != wantSplit {
					t.Fatalf("CharBytes %d, message %d: other features than ExtractViews", cfg.CharBytes, i)
				}
				if wantSeq := AppendSequence([]byte("x"), msg, limit); !bytes.Equal(seq, wantSeq) {
					t.Fatalf("CharBytes %d, message %d, limit %d: %d bytes %.60q…, want %d bytes %.60q…", cfg.CharBytes, i, limit, len(seq), seq, len(wantSeq), wantSeq)
				}
			}
		}
	}
}

// ExplainViews gives the features of ExtractViews, in the same order, each
// with a name, on every message of the corpus.
func TestExplainViewsMatchesExtract(t *testing.T) {
	ex, tr := New(DefaultConfig()), New(DefaultConfig())
	for i, raw := range corpustest.Messages(t) {
		msg := textextract.Parse(raw)
		fs, split := ex.ExtractViews(msg)
		tfs, tsplit, names := tr.ExplainViews(msg)
		if !slices.Equal(fs, tfs) || split != tsplit {
			t.Fatalf("message %d: ExplainViews gives other features than ExtractViews (%d/%d, split %d/%d)", i, len(tfs), len(fs), tsplit, split)
		}
		if len(names) != len(fs) {
			t.Fatalf("message %d: %d names for %d features", i, len(names), len(fs))
		}
		for j, n := range names {
			prefix, rest, ok := strings.Cut(n, ":")
			if !ok || prefix == "" || rest == "" {
				t.Fatalf("message %d: feature %d has the name %q", i, j, n)
			}
		}
		// Tracing leaves no state behind: the next plain extraction is unchanged.
		if again, _ := tr.ExtractViews(msg); !slices.Equal(again, fs) {
			t.Fatalf("message %d: extraction after ExplainViews differs", i)
		}
	}
}

func TestExplainViewsNames(t *testing.T) {
	cfg := DefaultConfig()
	cfg.OSBWindow = 3 // pairs with a word between them too
	fs, split, names := New(cfg).ExplainViews(textextract.Parse([]byte(sample)))
	view := map[string]int{}
	for i, n := range names {
		if i < split {
			view[n] |= 1
		} else {
			view[n] |= 2
		}
	}
	for n, v := range map[string]int{
		"header:from:dom:shop.example.co.uk": 3, // shared: both views
		"header:from:reg:example.co.uk":      3,
		"url:reg:example.co.uk":              3,
		"url:path:w":                         3,
		"header:content-type:text":           3,
		"html:a.href":                        3,
		`chars:"cheap"`:                      1,
		"subject:cheap":                      2,
		"subject-pair:cheap watches":         2,
		"subject-pair:cheap _ buy":           2,
		"word:watches":                       2,
		"pair:buy _ watches":                 2,
	} {
		if view[n] != v {
			t.Errorf("feature %q in views %b, want %b", n, view[n], v)
		}
	}
	if len(fs) != len(names) {
		t.Fatalf("%d names for %d features", len(names), len(fs))
	}
}

func TestCharGram(t *testing.T) {
	for _, tc := range []struct {
		gram  int
		valid bool
		used  int
	}{{0, true, 4}, {3, true, 3}, {4, true, 4}, {5, true, 5}, {2, false, 5}, {6, false, 5}} {
		cfg := DefaultConfig()
		cfg.CharGram = tc.gram
		if cfg.Valid() != tc.valid {
			t.Errorf("CharGram %d: Valid %v", tc.gram, cfg.Valid())
		}
		e := New(cfg)
		if got := e.Config().CharGram; got != tc.used {
			t.Errorf("CharGram %d: extractor uses %d, want %d", tc.gram, got, tc.used)
		}
		_, split, names := e.ExplainViews(textextract.Parse([]byte("Subject: x\n\nabcdefgh")))
		want := `chars:"` + "abcdefgh"[:tc.used] + `"`
		if !slices.Contains(names[:split], want) {
			t.Errorf("CharGram %d: no feature %s among %q", tc.gram, want, names[:split])
		}
	}
}

func TestAlignment(t *testing.T) {
	mixed := "From: \"Bank\" <service@free.example>\nReturn-Path: <bounce-7@bulk.example>\n" +
		"Reply-To: claims@free.example\nMessage-Id: <x1@mta.bulk.example>\nSubject: verify\n" +
		"Content-Type: text/html\n\n<a href=\"http://login.other.example/x\">a</a> <a href=\"http://www.free.example/\">b</a>" +
		" <a href=\"http://10.1.2.3/c\">c</a>\n"
	for _, tc := range []struct {
		name, raw string
		want      []string
	}{
		{"aligned", sample, []string{
			"header:align:return-path:none", "header:align:reply-to:none", "header:align:message-id:same",
			"url:align:all", "url:align:regs:1",
		}},
		{"mixed", mixed, []string{
			"header:align:return-path:other", "header:align:reply-to:same", "header:align:message-id:other",
			"url:align:some", "url:align:regs:2",
		}},
		{"no links", "From: a@example.org\nMessage-Id: <1@example.com>\nSubject: hi\n\nplain text\n", []string{
			"header:align:return-path:none", "header:align:reply-to:none", "header:align:message-id:other",
			"url:align:nolinks", "url:align:regs:0",
		}},
		{"no sender", "Subject: hi\n\nsee http://example.com/\n", []string{"header:align:nofrom"}},
	} {
		cfg := DefaultConfig()
		cfg.Alignment = true
		msg := textextract.Parse([]byte(tc.raw))
		_, split, names := New(cfg).ExplainViews(msg)
		var got []string
		for i, n := range names {
			if strings.Contains(n, ":align:") {
				if i >= split {
					break // shared features: the word view repeats them
				}
				got = append(got, n)
			}
		}
		slices.Sort(got)
		slices.Sort(tc.want)
		if !slices.Equal(got, tc.want) {
			t.Errorf("%s: alignment features %q, want %q", tc.name, got, tc.want)
		}
		cfg.Alignment = false
		for _, n := range func() []string { _, _, n := New(cfg).ExplainViews(msg); return n }() {
			if strings.Contains(n, ":align:") {
				t.Errorf("%s: feature %q without Config.Alignment", tc.name, n)
			}
		}
	}
}

// The relay feature: whether a host name of a Received header's "from"
// clause, among the first ten such headers, is in the From address's
// registered domain ("same"; nothing otherwise).
func TestRelayAlignment(t *testing.T) {
	const body = "Subject: news\n\ntext\n"
	hop := func(from string) string { return "Received: " + from + " by mx.in.example with ESMTP id 1\n" }
	for _, tc := range []struct {
		name, received string
		same           bool
		from           string // deals@shop.example.co.uk when empty
	}{
		{"resolved name", hop("from [192.0.2.7] (out3.mail.shop.example.co.uk [192.0.2.7])"), true, ""},
		{"name the client gave", hop("from out.shop.example.co.uk (unknown [192.0.2.7])"), true, ""},
		{"helo= form, upper case", hop("FROM host (HELO=SMTP.Shop.Example.CO.UK) (198.51.100.9)"), true, ""},
		{"an earlier hop", hop("from relay.isp.example (relay.isp.example [198.51.100.1])") +
			hop("from localhost (localhost [127.0.0.1])") +
			hop("from gw.shop.example.co.uk (gw.shop.example.co.uk [192.0.2.1])"), true, ""},
		{"another domain", hop("from mail.shop.example.com (mail.shop.example.com [192.0.2.7])"), false, ""},
		{"a public suffix alone", hop("from co.uk (uk [192.0.2.7])"), false, ""},
		{"after by", "Received: from unknown (198.51.100.9) by mx.shop.example.co.uk; Mon, 1 Jan 2024\n", false, ""},
		{"not a from clause", "Received: (qmail 1234 invoked by uid 0); shop.example.co.uk\n", false, ""},
		{"numeric host", hop("from 192.0.2.7 ([192.0.2.7])"), false, ""},
		{"a sender under a public suffix", hop("from mail.example.co.uk (mail.example.co.uk [192.0.2.7])"), false, "x@co.uk"},
		{"a name that only ends like the domain", hop("from mail.myexample.co.uk (mail.myexample.co.uk [192.0.2.7])"), false, ""},
		{"no Received header", "", false, ""},
		{"past the tenth header", strings.Repeat(hop("from a.isp.example (a.isp.example [198.51.100.1])"), 10) +
			hop("from gw.shop.example.co.uk (gw.shop.example.co.uk [192.0.2.1])"), false, ""},
	} {
		from := "deals@shop.example.co.uk"
		if tc.from != "" {
			from = tc.from
		}
		raw := "From: \"Shop\" <" + from + ">\n" + tc.received + body
		msg := textextract.Parse([]byte(raw))
		cfg := DefaultConfig()
		_, split, names := New(cfg).ExplainViews(msg)
		var got, want []string
		for _, n := range names[:split] {
			if strings.HasPrefix(n, "header:align:relay:") {
				got = append(got, n)
			}
		}
		if tc.same {
			want = []string{"header:align:relay:same"}
		}
		if !slices.Equal(got, want) {
			t.Errorf("%s: relay features %q, want %q", tc.name, got, want)
		}
		for _, n := range names {
			if strings.Contains(n, "isp.example") || strings.Contains(n, "in.example") {
				t.Errorf("%s: feature %q names a relay", tc.name, n)
			}
		}
		cfg.RelayAlignment = false
		if _, _, names := New(cfg).ExplainViews(msg); slices.ContainsFunc(names, func(n string) bool { return strings.Contains(n, "align:relay") }) {
			t.Errorf("%s: relay feature without Config.RelayAlignment", tc.name)
		}
	}
}

// appendFolded against a plain reference: fold each byte through
// foldTable, drop a space that follows a space written by the same call,
// stop at limit bytes in all.
func TestAppendFoldedReference(t *testing.T) {
	ref := func(dst []byte, s string, limit int) []byte {
		space := false
		for i := 0; i < len(s) && len(dst) < limit; i++ {
			c := foldTable[s[i]]
			if c == ' ' && space {
				continue
			}
			space = c == ' '
			dst = append(dst, c)
		}
		return dst
	}
	r := rand.New(rand.NewPCG(1, 2))
	// White space often, rarely, or never, so that runs of eight bytes
	// with nothing to fold but case come up too; the letters' neighbours
	// in ASCII ('@', '[', '`', '{') and bytes from 0x80 up with the
	// letters' low bits.
	alphabets := []string{"aB \t\r\nZ.é", "aBcdZzAY@[`{ .\xc1\xda\xe1\xfa\x7f", "AbcdefghijklmnopqrstuvwxyZ\x00\x1f\x80\xff  \n"}
	for n := 0; n < 6000; n++ {
		alphabet := alphabets[n%len(alphabets)]
		b := make([]byte, r.IntN(120))
		for i := range b {
			b[i] = alphabet[r.IntN(len(alphabet))]
		}
		prefix := []byte(" x "[:r.IntN(4)])
		limit := r.IntN(140)
		got := appendFolded(slices.Clone(prefix), string(b), limit)
		want := ref(slices.Clone(prefix), string(b), limit)
		if !bytes.Equal(got, want) {
			t.Fatalf("appendFolded(%q, %q, %d) = %q, want %q", prefix, b, limit, got, want)
		}
	}
}

// appendWordHashes against forEachWord and hashBytes on random text of
// ASCII letters, digits, joiners, white space, upper- and lower-case
// non-ASCII letters, a non-letter symbol, invalid UTF-8 and long words (cut
// at maxWordBytes, also inside a multi-byte rune).
func TestAppendWordHashesReference(t *testing.T) {
	pieces := []string{"a", "Q", "7", "$", "'", "-", ".", "%", "!", " ", "\n", ",", "É", "ß", "Ω", "д", "中", "€", "\xff", "\xe2\x82",
		"abcdefghijklmnopqrstuvwxyzabcdefghijklm", "ÉÉÉÉÉÉÉÉÉÉÉÉÉÉÉÉÉÉÉ"}
	r := rand.New(rand.NewPCG(3, 4))
	var buf []byte
	for n := 0; n < 5000; n++ {
		var sb strings.Builder
		for range r.IntN(30) {
			sb.WriteString(pieces[r.IntN(len(pieces))])
		}
		s := sb.String()
		max := 1 + r.IntN(12)
		seed := r.Uint64N(16)
		var want []uint64
		forEachWord(s, max, &buf, func(w []byte) { want = append(want, hashBytes(seed, w)) })
		if got := appendWordHashes([]uint64{42}, s, max, seed); !slices.Equal(got[1:], want) || got[0] != 42 {
			t.Fatalf("appendWordHashes(%q, %d, %d) = %x, want 42 then %x", s, max, seed, got, want)
		}
	}
}

// With LateWords, the text's words from that one on (and their pairs) are
// features of their own: a word early and late in a text is two features.
// The subject is not affected, and with LateWords 0 nothing is late.
func TestLateWords(t *testing.T) {
	msg := textextract.Parse([]byte("Subject: one two three four five six\n\nalpha beta gamma delta alpha beta\n"))
	names := func(late int) map[string]bool {
		cfg := DefaultConfig()
		cfg.LateWords = late
		fs, _, ns := New(cfg).ExplainViews(msg)
		if got, _ := New(cfg).ExtractViews(msg); !slices.Equal(got, fs) {
			t.Fatalf("LateWords %d: ExplainViews and ExtractViews differ", late)
		}
		set := map[string]bool{}
		for _, n := range ns {
			set[n] = true
		}
		return set
	}
	late := names(4)
	for n, want := range map[string]bool{
		"word:alpha": true, "late-word:alpha": true, "word:delta": true, "late-word:delta": false,
		"word:beta": true, "late-word:beta": true, "pair:gamma delta": true, "late-pair:alpha beta": true,
		"late-pair:delta alpha": true, "subject:six": true, "late-subject:six": false,
	} {
		if late[n] != want {
			t.Errorf("LateWords 4: feature %q present %v, want %v", n, late[n], want)
		}
	}
	for n := range names(0) {
		if strings.HasPrefix(n, "late-") {
			t.Errorf("LateWords 0: feature %q", n)
		}
	}
	if cfg := (Config{Bits: 21, LateWords: -1}); cfg.Valid() {
		t.Error("a negative LateWords is valid")
	}
}
