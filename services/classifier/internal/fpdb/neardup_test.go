package fpdb

import (
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mxgate/mxgate/services/classifier/internal/corpustest"
	"github.com/mxgate/mxgate/services/classifier/internal/fingerprint"
	"github.com/mxgate/mxgate/services/classifier/internal/textextract"
)

var (
	corpusOnce sync.Once
	corpusText map[string][]string
)

// corpusTexts returns the decoded texts of the corpus messages in dir
// ("spam" or "ham") that have a fuzzy signature, without exact duplicates,
// in file name order. It skips the test when the corpus is absent.
func corpusTexts(t *testing.T, dir string) []string {
	t.Helper()
	corpusOnce.Do(func() {
		corpusText = map[string][]string{}
		for _, d := range []string{"spam", "ham"} {
			files, _ := filepath.Glob(filepath.Join(corpustest.Dir(), d, "*.eml"))
			slices.Sort(files)
			seen := map[string]bool{}
			for _, f := range files {
				raw, err := os.ReadFile(f)
				if err != nil {
					continue
				}
				norm := fingerprint.Normalize(textextract.Parse(raw).Text)
				if _, ok := fingerprint.SignatureOf(norm); !ok || seen[norm] {
					continue
				}
				seen[norm] = true
				corpusText[d] = append(corpusText[d], norm)
			}
		}
	})
	if len(corpusText[dir]) == 0 {
		t.Fatalf("no corpus messages under %s/%s (the corpus is expected in ../shared beside the repository)", corpustest.Dir(), dir)
	}
	return corpusText[dir]
}

func sigOf(t *testing.T, text string) fingerprint.FP {
	t.Helper()
	sig, ok := fingerprint.SignatureOf(fingerprint.Normalize(text))
	if !ok {
		t.Fatalf("no signature for %.60q", text)
	}
	return fingerprint.FP{Kind: fingerprint.KindFuzzy, Sig: sig}
}

// plainWords counts the tokens that are plain words (see isPlainWord).
func plainWords(s string) int {
	n := 0
	for _, w := range strings.Fields(s) {
		if isPlainWord(w) {
			n++
		}
	}
	return n
}

// isPlainWord reports whether a white-space separated token is one word of
// ASCII letters, as a spammer's edit would change.
func isPlainWord(w string) bool {
	for _, r := range w {
		if (r < 'a' || r > 'z') && (r < 'A' || r > 'Z') {
			return false
		}
	}
	return w != ""
}

var vocabulary = strings.Fields(`account bonus cheap deal exclusive free guaranteed income instant limited
money offer order price profit quick rate save secret special trial urgent winner amazing benefit`)

// edit returns text with n edits at plain words spread over it, each made
// by op on the token list at index i.
func edit(rng *rand.Rand, text string, n int, op func(rng *rand.Rand, w []string, i int) []string) string {
	w := strings.Fields(text)
	for k := n - 1; k >= 0; k-- { // back to front, so earlier positions stay valid
		lo, hi := k*len(w)/n, (k+1)*len(w)/n
		i := lo + rng.IntN(max(1, hi-lo))
		for j := i; j < len(w); j++ { // the next plain word, else the one before
			if isPlainWord(w[j]) {
				i = j
				break
			}
		}
		for ; i > 0 && !isPlainWord(w[i]); i-- {
		}
		w = op(rng, w, i)
	}
	return strings.Join(w, " ")
}

func replaceWord(rng *rand.Rand, w []string, i int) []string {
	w[i] = vocabulary[rng.IntN(len(vocabulary))]
	return w
}

func insertWord(rng *rand.Rand, w []string, i int) []string {
	return slices.Insert(w, i, vocabulary[rng.IntN(len(vocabulary))])
}

func deleteWord(_ *rand.Rand, w []string, i int) []string { return slices.Delete(w, i, i+1) }

// withURL puts a link line into the middle of the text.
func withURL(text, link string) string {
	w := strings.Fields(text)
	mid := len(w) / 2
	return strings.Join(w[:mid], " ") + "\n" + link + "\n" + strings.Join(w[mid:], " ")
}

// TestNearDuplicateCorpus stores corpus spam texts of 100–400 plain words as
// fuzzy spam entries and looks up edited copies: every edit pattern must
// match its original (the shingle, hash and band parameters are chosen for
// these edits, see fingerprint's constants).
func TestNearDuplicateCorpus(t *testing.T) {
	var bases []string
	for _, s := range corpusTexts(t, "spam") {
		if n := plainWords(s); n >= 100 && n <= 400 {
			bases = append(bases, s)
		}
	}
	if len(bases) < 50 {
		t.Fatalf("only %d corpus spam texts of 100–400 plain words", len(bases))
	}
	const link = "http://offers.example.net/claim?id=48213&ref=alice&campaign=7"
	patterns := []struct {
		name       string
		base, edit func(rng *rand.Rand, s string) string
	}{
		{"5 words replaced", nil, func(rng *rand.Rand, s string) string { return edit(rng, s, 5, replaceWord) }},
		{"5 words inserted", nil, func(rng *rand.Rand, s string) string { return edit(rng, s, 5, insertWord) }},
		{"5 words deleted", nil, func(rng *rand.Rand, s string) string { return edit(rng, s, 5, deleteWord) }},
		{"greeting name", func(_ *rand.Rand, s string) string { return "Dear Alice Johnson,\n" + s },
			func(_ *rand.Rand, s string) string { return "Dear Robert Miller,\n" + s }},
		{"url query string", func(_ *rand.Rand, s string) string { return withURL(s, link) },
			func(_ *rand.Rand, s string) string {
				return withURL(s, "http://offers.example.net/claim?id=90317&ref=bob.smith&campaign=12")
			}},
		{"greeting, url and 3 words", func(_ *rand.Rand, s string) string { return "Hi alice,\n" + withURL(s, link) },
			func(rng *rand.Rand, s string) string {
				return "Hi bob,\n" + withURL(edit(rng, s, 3, replaceWord), "http://offers.example.net/claim?id=5&ref=bob")
			}},
		{"case, spacing and punctuation", nil, func(_ *rand.Rand, s string) string {
			return strings.NewReplacer(" ", "  ", ".", "!", ",", ";", "e", "E", "a", "A", "o", "O").Replace(s)
		}},
	}
	now := time.Now()
	for _, p := range patterns {
		t.Run(p.name, func(t *testing.T) {
			rng := rand.New(rand.NewPCG(7, uint64(len(p.name))))
			var sims []float64
			missed := 0
			for i, s := range bases {
				base := s
				if p.base != nil {
					base = p.base(rng, s)
				}
				db := New(DefaultOptions())
				db.Add(Entry{FP: sigOf(t, base), Class: ClassSpam, Trusted: true}, now)
				edited := sigOf(t, p.edit(rng, base))
				got := db.Lookup([]fingerprint.FP{edited}, now)
				if len(got) != 1 || got[0].Class != ClassSpam {
					missed++
					if missed <= 3 {
						t.Errorf("message %d (%d words) not matched after the edit: %+v; similarity %.2f",
							i, plainWords(base), got, fingerprint.Similarity(&db.fuzzy.at(0).sig, &edited.Sig))
					}
					continue
				}
				sims = append(sims, got[0].Similarity)
			}
			slices.Sort(sims)
			if len(sims) > 0 {
				t.Logf("%d/%d matched; similarity least %.2f, 1st percentile %.2f, median %.2f (threshold %.2f)",
					len(sims), len(bases), sims[0], sims[len(sims)/100], sims[len(sims)/2], DefaultOptions().FuzzyThreshold)
			}
		})
	}
}

// TestUnrelatedCorpusNoMatch checks that corpus ham never matches corpus
// spam: 200 random (spam, ham) pairs in their own databases, then every ham
// text against a database of all spam texts.
func TestUnrelatedCorpusNoMatch(t *testing.T) {
	spam, ham := corpusTexts(t, "spam"), corpusTexts(t, "ham")
	now := time.Now()
	rng := rand.New(rand.NewPCG(11, 13))
	maxSim := 0.0
	for range 200 {
		s, h := spam[rng.IntN(len(spam))], ham[rng.IntN(len(ham))]
		db := New(DefaultOptions())
		db.Add(Entry{FP: sigOf(t, s), Class: ClassSpam, Trusted: true}, now)
		hs := sigOf(t, h)
		if got := db.Lookup([]fingerprint.FP{hs}, now); len(got) != 0 {
			t.Errorf("unrelated pair matched: spam %.80q / ham %.80q: %+v", s, h, got)
		}
		maxSim = max(maxSim, fingerprint.Similarity(&db.fuzzy.at(0).sig, &hs.Sig))
	}
	t.Logf("200 random pairs: 0 matches expected, highest similarity %.2f", maxSim)

	db := New(DefaultOptions())
	for _, s := range spam {
		db.Add(Entry{FP: sigOf(t, s), Class: ClassSpam, Trusted: true}, now)
	}
	matched := 0
	for _, h := range ham {
		if got := db.Lookup([]fingerprint.FP{sigOf(t, h)}, now); len(got) != 0 {
			matched++
			t.Logf("ham matched spam: %.100q (similarity %.2f)", h, got[0].Similarity)
		}
	}
	t.Logf("%d ham texts against %d spam entries: %d matched", len(ham), len(spam), matched)
	if matched != 0 {
		t.Errorf("%d ham texts matched the spam database", matched)
	}
}
