package fpdb

import (
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/mxgate/mxgate/services/classifier/internal/fingerprint"
)

// TestTableModel checks table against a plain map through random puts and
// deletions that cross several grow and shrink steps, with keys crowded
// into few home slots (long probe runs, wrap-around) and the zero key.
func TestTableModel(t *testing.T) {
	for _, maxLoad := range []float64{0, 0.9} {
		t.Run(fmt.Sprint("maxLoad=", maxLoad), func(t *testing.T) { testTableModel(t, maxLoad) })
	}
}

func testTableModel(t *testing.T, maxLoad float64) {
	rng := rand.New(rand.NewPCG(1, 2))
	tab := table[pairKey, uint32]{maxLoad: maxLoad}
	ref := map[pairKey]uint32{}
	var keys []pairKey
	check := func() {
		t.Helper()
		if tab.len() != len(ref) {
			t.Fatalf("len %d, want %d", tab.len(), len(ref))
		}
		for k, v := range ref {
			if got, ok := tab.get(k); !ok || got != v {
				t.Fatalf("get %v = %d %v, want %d", k, got, ok, v)
			}
		}
		n := 0
		tab.each(func(k pairKey, v uint32) {
			n++
			if ref[k] != v {
				t.Fatalf("each: %v = %d, want %d", k, v, ref[k])
			}
		})
		if n != len(ref) {
			t.Fatalf("each saw %d, want %d", n, len(ref))
		}
	}
	zeroSeen := false
	for step := range 40000 {
		switch {
		case len(keys) > 0 && rng.IntN(3) == 0 || step > 30000:
			if len(keys) == 0 {
				break
			}
			i := rng.IntN(len(keys))
			k := keys[i]
			keys[i] = keys[len(keys)-1]
			keys = keys[:len(keys)-1]
			if !tab.del(k) {
				t.Fatalf("del %v: not found", k)
			}
			delete(ref, k)
			if tab.del(k) {
				t.Fatalf("del %v twice", k)
			}
		default:
			k := pairKey{uint32(rng.IntN(5000)), 0, uint32(rng.IntN(3))}
			if _, ok := ref[k]; !ok {
				keys = append(keys, k)
			}
			zeroSeen = zeroSeen || k == pairKey{}
			v := rng.Uint32()
			tab.put(k, v)
			ref[k] = v
		}
		if step%2000 == 0 {
			check()
		}
	}
	check()
	if !zeroSeen {
		t.Fatal("the zero key was never used")
	}
	_, want := ref[pairKey{}]
	if _, ok := tab.get(pairKey{}); ok != want || slices.Contains(keys, pairKey{}) != want {
		t.Fatal("zero key")
	}
}

// TestFuzzyStoreModel checks the fuzzy entries and their band tables
// against a list through random inserts and removals, with signatures that
// share bands (many candidates per bucket) and enough entries to cross
// several rebuilds and index widths.
func TestFuzzyStoreModel(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	var s fuzzyStore
	ref := map[uint32]fingerprint.Signature{}
	randSig := func() fingerprint.Signature {
		var sig fingerprint.Signature
		for j := 0; j+8 <= len(sig); j += 8 {
			binary.LittleEndian.PutUint64(sig[j:], rng.Uint64())
		}
		// A few band values only, so buckets hold many entries.
		binary.LittleEndian.PutUint32(sig[0:], rng.Uint32N(50))
		binary.LittleEndian.PutUint32(sig[8:], rng.Uint32N(5000))
		return sig
	}
	m := meta{kind: uint8(fingerprint.KindFuzzy), flags: uint8(ClassSpam) << classShift, expires: 1}
	check := func(i uint32, sig fingerprint.Signature) {
		t.Helper()
		if got, ok := s.find(&sig, ClassSpam); !ok || got != i {
			t.Fatalf("find entry %d = %d %v", i, got, ok)
		}
		for b := range fingerprint.Bands {
			seen := false
			s.candidates(b, fingerprint.BandValue(&sig, b), func(j uint32) bool {
				if fingerprint.BandValue(&s.at(j).sig, b) != fingerprint.BandValue(&sig, b) {
					t.Fatalf("band %d: candidate %d has another value", b, j)
				}
				seen = seen || j == i
				return true
			})
			if !seen {
				t.Fatalf("band %d: entry %d not a candidate", b, i)
			}
		}
	}
	var ids []uint32
	for step := range 30000 {
		if len(ids) > 0 && rng.IntN(4) == 0 {
			k := rng.IntN(len(ids))
			i := ids[k]
			ids[k] = ids[len(ids)-1]
			ids = ids[:len(ids)-1]
			sig := ref[i]
			s.remove(i)
			delete(ref, i)
			if _, ok := s.find(&sig, ClassSpam); ok {
				t.Fatalf("removed entry %d still found", i)
			}
			continue
		}
		sig := randSig()
		i := s.insert(&sig, m, 0)
		if _, dup := ref[i]; dup {
			t.Fatalf("index %d handed out twice", i)
		}
		ref[i] = sig
		ids = append(ids, i)
		if step%101 == 0 {
			check(i, sig)
		}
	}
	for i, sig := range ref {
		check(i, sig)
	}
	if s.len() != len(ref) {
		t.Fatalf("len %d, want %d", s.len(), len(ref))
	}
	// Dropping most entries at once rebuilds the tables.
	drop := ids[:len(ids)*3/4]
	s.removeAll(drop)
	for _, i := range drop {
		delete(ref, i)
	}
	for i, sig := range ref {
		check(i, sig)
	}
	if got := s.live; got != len(ref) {
		t.Fatalf("live %d, want %d", got, len(ref))
	}
}
