//go:build amd64 && !purego

package fingerprint

import (
	"math/rand/v2"
	"testing"
)

// TestMinhashAVX512 checks the vector MinHash against the generic one on
// random shingle hashes of every batch count up to 64, starting from
// random minima (as after earlier batches) and from the empty ones.
func TestMinhashAVX512(t *testing.T) {
	if !canAVX512 {
		t.Skip("this CPU has no AVX-512 (F and DQ)")
	}
	checkMinhash(t, func(mins *[minhashLanes]uint64, hs []uint64) { minhashAVX512(mins, &minhashMul, &minhashAdd, hs) })
}

// TestMinhashAVX2 does the same for the AVX2 MinHash.
func TestMinhashAVX2(t *testing.T) {
	if !useAVX2 {
		t.Skip("this CPU has no AVX2")
	}
	checkMinhash(t, minhashAVX2Unsigned)
}

func checkMinhash(t *testing.T, f func(*[minhashLanes]uint64, []uint64)) {
	t.Helper()
	rng := rand.New(rand.NewPCG(1, 2))
	for n := 0; n <= 64*minhashBatch; n += minhashBatch {
		hs := make([]uint64, n)
		for i := range hs {
			hs[i] = rng.Uint64()
			if i%7 == 3 {
				hs[i] >>= 40 // small values, whose products wrap less
			}
		}
		for _, fresh := range []bool{true, false} {
			var want, got [minhashLanes]uint64
			for j := range want {
				want[j] = ^uint64(0)
				if !fresh {
					want[j] = rng.Uint64()
				}
			}
			got = want
			minhashGeneric(&want, hs)
			f(&got, hs)
			// The padding lanes are the vector code's own.
			if [NumHashes]uint64(got[:NumHashes]) != [NumHashes]uint64(want[:NumHashes]) {
				t.Fatalf("%d shingles (fresh %v): minima differ\n got %x\nwant %x", n, fresh, got[:NumHashes], want[:NumHashes])
			}
		}
	}
}

// BenchmarkMinhash compares the two implementations on 300 shingles, about
// a corpus message's text.
func BenchmarkMinhash(b *testing.B) {
	rng := rand.New(rand.NewPCG(1, 2))
	hs := make([]uint64, 300)
	for i := range hs {
		hs[i] = rng.Uint64()
	}
	var mins [minhashLanes]uint64
	b.Run("generic", func(b *testing.B) {
		for b.Loop() {
			minhashGeneric(&mins, hs)
		}
	})
	if useAVX2 {
		b.Run("avx2", func(b *testing.B) {
			for b.Loop() {
				minhashAVX2Unsigned(&mins, hs)
			}
		})
	}
	if canAVX512 {
		b.Run("avx512", func(b *testing.B) {
			for b.Loop() {
				minhashAVX512(&mins, &minhashMul, &minhashAdd, hs)
			}
		})
	}
}

// TestGoldenCorpusEachMinhash pins the fingerprints of the corpus with each
// MinHash implementation this CPU can run, not only the one it selects.
func TestGoldenCorpusEachMinhash(t *testing.T) {
	defer func(a512, a2 bool) { useAVX512, useAVX2 = a512, a2 }(useAVX512, useAVX2)
	have512, have2 := canAVX512, useAVX2
	for _, c := range []struct {
		name       string
		avx512, a2 bool
	}{{"avx512", true, true}, {"avx2", false, true}, {"generic", false, false}} {
		if c.avx512 && !have512 || c.a2 && !have2 {
			continue
		}
		useAVX512, useAVX2 = c.avx512, c.a2
		t.Run(c.name, TestGoldenCorpus)
	}
}
