// Package corpustest gives tests and benchmarks the SpamAssassin corpus
// that lies beside the repository (../shared/corpus/spamassassin, or the
// directory named by MXGATE_CORPUS).
package corpustest

import (
	"encoding/binary"
	"hash"
	"os"
	"path/filepath"
	"runtime"
	"testing"
)

// Sizes of the corpus the golden hashes were recorded from.
const (
	GoldenHam  = 2905
	GoldenSpam = 1328
)

// Dir returns the corpus directory: $MXGATE_CORPUS, or
// ../shared/corpus/spamassassin beside the repository.
func Dir() string {
	if d := os.Getenv("MXGATE_CORPUS"); d != "" {
		return d
	}
	_, file, _, _ := runtime.Caller(0)
	// file is <repo>/services/classifier/internal/corpustest/corpustest.go.
	repo := filepath.Join(filepath.Dir(file), "..", "..", "..", "..")
	return filepath.Join(repo, "..", "shared", "corpus", "spamassassin")
}

// Split returns the ham and the spam messages, each in file name order. A
// missing corpus skips tb, or fails it when CI is set: a test that needs
// the corpus must not pass in CI without it.
func Split(tb testing.TB) (ham, spam [][]byte) {
	tb.Helper()
	dir := Dir()
	load := func(sub string) [][]byte {
		files, err := filepath.Glob(filepath.Join(dir, sub, "*.eml"))
		if err != nil {
			tb.Fatal(err)
		}
		var out [][]byte
		for _, f := range files {
			raw, err := os.ReadFile(f)
			if err != nil {
				tb.Fatal(err)
			}
			out = append(out, raw)
		}
		return out
	}
	ham, spam = load("ham"), load("spam")
	if len(ham)+len(spam) == 0 {
		if os.Getenv("CI") != "" {
			tb.Fatalf("corpus not found under %s", dir)
		}
		tb.Skipf("corpus not found under %s (expected in ../shared beside the repository, or set MXGATE_CORPUS)", dir)
	}
	return ham, spam
}

// Messages returns the ham then the spam messages (see Split).
func Messages(tb testing.TB) [][]byte {
	tb.Helper()
	ham, spam := Split(tb)
	return append(ham, spam...)
}

// GoldenSplit is Split for a test that compares a hash over the whole
// corpus with one recorded earlier: it fails unless the corpus has the
// recorded number of messages.
func GoldenSplit(tb testing.TB) (ham, spam [][]byte) {
	tb.Helper()
	ham, spam = Split(tb)
	if len(ham) != GoldenHam || len(spam) != GoldenSpam {
		tb.Fatalf("corpus under %s has %d ham and %d spam; the golden hashes are of %d and %d", Dir(), len(ham), len(spam), GoldenHam, GoldenSpam)
	}
	return ham, spam
}

// Golden is GoldenSplit's ham then spam.
func Golden(tb testing.TB) [][]byte {
	tb.Helper()
	ham, spam := GoldenSplit(tb)
	return append(ham, spam...)
}

// MeanSize is the mean size of raws in bytes, for testing.B.SetBytes.
func MeanSize(raws [][]byte) int64 {
	if len(raws) == 0 {
		return 0
	}
	var n int64
	for _, r := range raws {
		n += int64(len(r))
	}
	return n / int64(len(raws))
}

// Decoded returns every corpus message (see Messages) run through decode,
// in order: the decoded corpus a benchmark works on.
func Decoded[T any](tb testing.TB, decode func([]byte) T) []T {
	tb.Helper()
	raws := Messages(tb)
	out := make([]T, len(raws))
	for i, raw := range raws {
		out[i] = decode(raw)
	}
	return out
}

// WriteString writes s to h for a golden hash, its length first, so that
// field boundaries count.
func WriteString(h hash.Hash, s string) {
	h.Write(binary.LittleEndian.AppendUint64(nil, uint64(len(s))))
	h.Write([]byte(s))
}
