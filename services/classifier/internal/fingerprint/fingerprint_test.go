package fingerprint

import (
	"encoding/binary"
	"math"
	"math/rand/v2"
	"net"
	"slices"
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"

	"golang.org/x/net/publicsuffix"

	"github.com/mxgate/mxgate/services/classifier/internal/textextract"
)

const base = `Dear friend, we are pleased to inform you that your email address has been selected
for our annual international lottery draw and you have won the sum of two million dollars.
To claim your prize please contact our agent with your full name, address and phone number
before the end of this month, after which the prize will be returned to the treasury.`

func msg(body string, extra ...string) *textextract.Message {
	raw := "From: a@example.org\r\nTo: b@example.com\r\nSubject: hello\r\n" + strings.Join(extra, "") +
		"Content-Type: text/plain; charset=utf-8\r\n\r\n" + body + "\r\n"
	return textextract.Parse([]byte(raw))
}

func find(fps []FP, k Kind) []FP {
	var out []FP
	for _, f := range fps {
		if f.Kind == k {
			out = append(out, f)
		}
	}
	return out
}

func TestNormalize(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"  Hello\t\tWORLD \n", "hello world"},
		{"Ünïcode  ÄÖ", "ünïcode äö"},
		{"a\u00a0b", "a b"},
		{"", ""},
	} {
		if got := Normalize(tc.in); got != tc.want {
			t.Errorf("Normalize(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestExactIgnoresCaseAndSpacing(t *testing.T) {
	a := find(Of(msg(base)), KindExact)
	b := find(Of(msg(strings.ToUpper(strings.ReplaceAll(base, " ", "   ")))), KindExact)
	if len(a) != 1 || len(b) != 1 || a[0].Digest != b[0].Digest {
		t.Fatalf("exact digests differ: %v %v", a, b)
	}
	c := find(Of(msg(base+" extra")), KindExact)
	if c[0].Digest == a[0].Digest {
		t.Fatal("different texts share an exact digest")
	}
}

func TestFuzzySimilarity(t *testing.T) {
	sa, ok := SignatureOf(Normalize(base))
	if !ok {
		t.Fatal("no signature")
	}
	edited := strings.Replace(strings.Replace(base, "two million", "three million", 1), "agent", "representative", 1)
	sb, _ := SignatureOf(Normalize(edited))
	other, _ := SignatureOf(Normalize(`The quarterly report is attached. Please review the figures for the
	northern region before our meeting on Thursday, and send me your comments about the budget.`))
	if s := Similarity(&sa, &sb); s < 0.8 {
		t.Errorf("near duplicate similarity %.2f < 0.8", s)
	}
	if s := Similarity(&sa, &other); s > 0.2 {
		t.Errorf("unrelated similarity %.2f > 0.2", s)
	}
	if s := Similarity(&sa, &sa); s != 1 {
		t.Errorf("self similarity %.2f", s)
	}
	ka, kb := BandKeys(&sa), BandKeys(&sb)
	shared := 0
	for i := range ka {
		if ka[i] == kb[i] {
			shared++
		}
	}
	if shared == 0 {
		t.Error("near duplicates share no LSH band")
	}
	if _, ok := SignatureOf("too short to fingerprint"); ok {
		t.Error("short text got a fuzzy signature")
	}
}

func TestWordHashes(t *testing.T) {
	got := wordHashes(Normalize("Hello, 世界! wide-web 123 café"), nil)
	var want []uint64
	for _, w := range []string{"hello", "世", "界", "wide", "web", "123", "café"} {
		want = append(want, fnv64(w))
	}
	if !slices.Equal(got, want) {
		t.Fatalf("wordHashes = %x, want %x", got, want)
	}
}

// TestSimilarityEstimate checks the b-bit estimator against the exact
// Jaccard similarity of the shingle sets: texts of distinct random words,
// the second sharing a run of the first, over many random trials (mean
// error and spread), and the bounds 0 and 1.
func TestSimilarityEstimate(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	word := func() string {
		b := make([]byte, 8)
		for i := range b {
			b[i] = byte('a' + rng.IntN(26))
		}
		return string(b)
	}
	for _, keep := range []int{300, 240, 160, 60} { // of 300 words
		var sumErr, sumSq float64
		const trials = 200
		for range trials {
			a := make([]string, 300)
			for i := range a {
				a[i] = word()
			}
			b := append([]string(nil), a[:keep]...)
			for len(b) < 300 {
				b = append(b, word())
			}
			// Shingles of two words: a and b share keep-1 of 299 each.
			shared := float64(keep - 1)
			exact := shared / (2*299 - shared)
			sa, _ := SignatureOf(strings.Join(a, " "))
			sb, _ := SignatureOf(strings.Join(b, " "))
			d := Similarity(&sa, &sb) - exact
			sumErr += d
			sumSq += d * d
		}
		mean, sd := sumErr/trials, math.Sqrt(sumSq/trials)
		t.Logf("J=%.2f: mean error %+.3f, rms error %.3f", float64(keep-1)/(2*299-float64(keep-1)), mean, sd)
		if math.Abs(mean) > 0.02 || sd > 0.08 {
			t.Errorf("keep %d: mean error %.3f, rms %.3f", keep, mean, sd)
		}
	}
	var x, y Signature
	for i := range y {
		y[i] = 0xff
	}
	if s := Similarity(&x, &y); s != 0 {
		t.Errorf("all minima differ: similarity %.3f", s)
	}
}

func TestURLs(t *testing.T) {
	fps := Of(msg("visit http://WWW.Bad.Example.co.uk:80/path/?a=1#frag and https://bad.example.co.uk/ now"))
	doms := find(fps, KindURLDomain)
	urls := find(fps, KindURL)
	if len(doms) != 1 || doms[0].Label != "example.co.uk" {
		t.Fatalf("domains = %+v", doms)
	}
	if len(urls) != 2 || urls[0].Label != "http://www.bad.example.co.uk/path/?a=1" {
		t.Fatalf("urls = %+v", urls)
	}
	fv, err := FromValue(KindURLDomain, "mail.bad.example.co.uk")
	if err != nil || fv.Digest != doms[0].Digest {
		t.Fatalf("FromValue domain = %v, %v", fv, err)
	}
	for _, tc := range []struct {
		host, want string
	}{
		{"a.b.example.com", "example.com"}, {"example.com.", "example.com"}, {"co.uk", ""}, {"192.0.2.1", "192.0.2.1"},
	} {
		if got := RegisteredDomain(tc.host); got != tc.want {
			t.Errorf("RegisteredDomain(%q) = %q, want %q", tc.host, got, tc.want)
		}
	}
}

func TestFromValueErrors(t *testing.T) {
	for _, tc := range []struct {
		k Kind
		v string
	}{
		{KindAttachment, "zz"}, {KindFuzzy, "short text"}, {KindURLDomain, "com"}, {KindExact, " "}, {Kind(9), "x"},
	} {
		if _, err := FromValue(tc.k, tc.v); err == nil {
			t.Errorf("FromValue(%v, %q) succeeded", tc.k, tc.v)
		}
	}
	if k, err := ParseKind("URL-Domain"); err != nil || k != KindURLDomain {
		t.Errorf("ParseKind = %v, %v", k, err)
	}
}

func BenchmarkOf(b *testing.B) {
	m := msg(strings.Repeat(base+"\n", 10) + " http://bad.example/x")
	b.ReportAllocs()
	for b.Loop() {
		Of(m)
	}
}

func BenchmarkSignatureOf(b *testing.B) {
	norm := Normalize(strings.Repeat(base+"\n", 10))
	b.ReportAllocs()
	for b.Loop() {
		SignatureOf(norm)
	}
}

// refNormalize, refWordHashes and refSignature are the plain definitions
// that the optimised code must agree with byte for byte: stored
// fingerprints in the replicated database and in feeds depend on them.
func refNormalize(text string) string {
	var b strings.Builder
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

func refWordHashes(norm string) []uint64 {
	var out []uint64
	start := -1
	for i, r := range norm {
		switch {
		case r >= 0x2e80 && unicode.In(r, unicode.Han, unicode.Hiragana, unicode.Katakana):
			if start >= 0 {
				out = append(out, fnv64(norm[start:i]))
				start = -1
			}
			out = append(out, fnv64(norm[i:i+utf8.RuneLen(r)]))
		case r < 0x80 && (r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r >= 'A' && r <= 'Z'),
			r >= 0x80 && (unicode.IsLetter(r) || unicode.IsNumber(r)):
			if start < 0 {
				start = i
			}
		default:
			if start >= 0 {
				out = append(out, fnv64(norm[start:i]))
				start = -1
			}
		}
	}
	if start >= 0 {
		out = append(out, fnv64(norm[start:]))
	}
	return out
}

func refSignature(norm string) (sig Signature, ok bool) {
	wh := refWordHashes(norm)
	if len(wh) < MinWords {
		return sig, false
	}
	var mins [NumHashes]uint64
	for i := range mins {
		mins[i] = ^uint64(0)
	}
	n := min(len(wh)-ShingleWords+1, maxShingles)
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
	for i := 0; i < WideHashes; i++ {
		binary.LittleEndian.PutUint16(sig[2*i:], uint16(mix64(mins[i])))
	}
	for i := 0; i < NarrowHashes; i++ {
		sig[2*WideHashes+i/4] |= byte(mix64(mins[WideHashes+i])&3) << (2 * (i & 3))
	}
	return sig, true
}

// checkText compares Normalize, the words Of hashes and SignatureOf of
// text with the reference definitions.
func checkText(t *testing.T, text string) {
	t.Helper()
	want := refNormalize(text)
	if got := Normalize(text); got != want {
		t.Fatalf("Normalize(%q) = %q, want %q", text, got, want)
	}
	norm, words := appendNormalized(nil, nil, text)
	if string(norm) != want {
		t.Fatalf("appendNormalized(%q) = %q, want %q", text, norm, want)
	}
	if ww := refWordHashes(want); !slices.Equal(words, ww) {
		t.Fatalf("words of %q = %x, want %x", text, words, ww)
	}
	if got, _ := appendNormalized([]byte("x"), nil, text); string(got) != "x"+want {
		t.Fatalf("appendNormalized(\"x\", %q) = %q, want %q", text, got, "x"+want)
	}
	for _, s := range []string{text, want} {
		if got := wordHashes(s, nil); !slices.Equal(got, refWordHashes(s)) {
			t.Fatalf("wordHashes(%q) = %x, want %x", s, got, refWordHashes(s))
		}
		got, ok := SignatureOf(s)
		ws, wok := refSignature(s)
		if got != ws || ok != wok {
			t.Fatalf("SignatureOf(%q) = %x %v, want %x %v", s, got, ok, ws, wok)
		}
	}
}

// TestMatchesReference checks the fast paths against the reference on
// random texts mixing ASCII, white space of every kind, Latin, Greek and
// Cyrillic letters, the Kelvin sign (lower case ASCII k), CJK, digits of
// other scripts, symbols, invalid UTF-8 and repeated words.
func TestMatchesReference(t *testing.T) {
	pieces := []string{
		"a", "B", "z", "Q", "0", "9", " ", "  ", "\t", "\n", "\r\n", "\v", "\f", ".", ",", "-", "'", "_", "$", "@",
		"\u00a0", "\u200b", "\u0085", "\u2003", "\u3000", "\u1680", "É", "ß", "ǅ", "Σ", "ς", "Д", "\u212a", "\u0130",
		"世", "界", "ひ", "カ", "ｶ", "한", "٣", "Ⅻ", "½", "€", "\u0301", "\ufffd", "\xff", "\xe4\xb8", "\xc3",
		"hello", "World", "SPAM", "foo-bar", "x1y2", "ÀÉÎ", "naïve", "東京", "\U0001F600",
	}
	rng := rand.New(rand.NewPCG(1, 2))
	for range 3000 {
		var b strings.Builder
		n := rng.IntN(80)
		if rng.IntN(10) == 0 {
			n = rng.IntN(5000) // beyond maxShingles with repeats
		}
		for range n {
			b.WriteString(pieces[rng.IntN(len(pieces))])
			if rng.IntN(3) == 0 {
				b.WriteByte(' ')
			}
		}
		checkText(t, b.String())
	}
	long := strings.Repeat("alpha beta gamma delta ", 3000) // 12,000 words, 4 distinct shingles
	checkText(t, long)
	checkText(t, strings.Repeat(base+" ", 40))
}

func FuzzNormalize(f *testing.F) {
	f.Add(base)
	f.Add("Ünïcode  ÄÖ \u212a 世界 \xff\xfe a\u00a0b")
	f.Fuzz(func(t *testing.T, text string) { checkText(t, text) })
}

// TestRegisteredDomainIPs checks that skipping net.ParseIP for hosts that
// cannot be IP addresses changes no result.
func TestRegisteredDomainIPs(t *testing.T) {
	ref := func(host string) string {
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
	for _, host := range []string{"192.0.2.1", "[2001:db8::1]", "2001:DB8::1", "::ffff:192.0.2.1", "fe80::1%eth0",
		"bad.cafe", "1.2.3", "dead.beef.example", "192.0.2.1.nip.io", "[::1]", "::", "0.0.0.0", "1e100.net", " 10.0.0.1. ",
		"ABCD::EF", "abcd:ef::g", "example.com", "co.uk", "1.2.3.4.5"} {
		if got, want := RegisteredDomain(host), ref(host); got != want {
			t.Errorf("RegisteredDomain(%q) = %q, want %q", host, got, want)
		}
	}
}
