package fpdb

import (
	"math/rand/v2"
	"slices"
	"testing"
)

// TestBandIndexModel checks bandIndex against a plain map through enough
// random additions and removals to cross several merges.
func TestBandIndexModel(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	b := newBandIndex()
	ref := map[uint32]map[uint32]bool{}
	var live [][2]uint32
	check := func(k uint32) {
		var got []uint32
		b.each(k, func(idx uint32) { got = append(got, idx) })
		var want []uint32
		for idx := range ref[k] {
			want = append(want, idx)
		}
		slices.Sort(got)
		slices.Sort(want)
		if !slices.Equal(got, want) {
			t.Fatalf("key %d: got %v, want %v", k, got, want)
		}
	}
	for step := range 60000 {
		if len(live) > 0 && rng.IntN(3) == 0 {
			i := rng.IntN(len(live))
			p := live[i]
			live[i] = live[len(live)-1]
			live = live[:len(live)-1]
			b.remove(p[0], p[1])
			delete(ref[p[0]], p[1])
			check(p[0])
			continue
		}
		k := rng.Uint32N(20000) << 10 // spread keys over the 16-bit prefixes
		idx := rng.Uint32N(50000)
		if ref[k][idx] {
			continue
		}
		b.add(k, idx)
		if ref[k] == nil {
			ref[k] = map[uint32]bool{}
		}
		ref[k][idx] = true
		live = append(live, [2]uint32{k, idx})
		if step%97 == 0 {
			check(k)
		}
	}
	n := 0
	for k, m := range ref {
		n += len(m)
		check(k)
	}
	if b.len() != n {
		t.Fatalf("len %d, want %d", b.len(), n)
	}
	if len(b.base) == 0 {
		t.Fatal("no merge happened")
	}
}
