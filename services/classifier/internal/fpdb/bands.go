package fpdb

import (
	"slices"
)

// bandIndex is a multimap from 32-bit LSH band keys to fuzzy entry
// indexes, built for memory: most pairs live in one sorted []uint64 (key
// in the high half, index in the low half; 8 bytes a pair, no per-pair
// overhead) found through a table of offsets by the key's top 16 bits.
// Recent additions go to a small map and removals of sorted pairs to a set
// of tombstones; both are merged into the sorted slice once they grow past
// an eighth of it, so inserts cost O(log n) amortized.
type bandIndex struct {
	base   []uint64
	starts []uint32 // starts[p] is the first position in base of prefix p; len 1<<16+1 once built
	// delta holds recent additions: head maps a key to index+1 of its
	// first entry, more to any further ones (rare).
	head   map[uint32]uint32
	more   map[uint32][]uint32
	ndelta int
	dead   map[uint64]struct{}
}

const minMerge = 4096

func newBandIndex() bandIndex {
	return bandIndex{head: make(map[uint32]uint32), more: make(map[uint32][]uint32), dead: make(map[uint64]struct{})}
}

func pack(k, idx uint32) uint64 { return uint64(k)<<32 | uint64(idx) }

func (b *bandIndex) len() int { return len(b.base) - len(b.dead) + b.ndelta }

// add records that entry idx has band key k.
func (b *bandIndex) add(k, idx uint32) {
	p := pack(k, idx)
	if _, ok := b.dead[p]; ok { // still in base: just revive it
		delete(b.dead, p)
		return
	}
	if _, ok := b.head[k]; ok {
		b.more[k] = append(b.more[k], idx)
	} else {
		b.head[k] = idx + 1
	}
	b.ndelta++
	if b.ndelta > minMerge && b.ndelta > len(b.base)/8 {
		b.merge()
	}
}

// remove forgets that entry idx has band key k.
func (b *bandIndex) remove(k, idx uint32) {
	if h, ok := b.head[k]; ok {
		list := b.more[k]
		switch i := slices.Index(list, idx); {
		case h == idx+1 && len(list) > 0:
			b.head[k] = list[len(list)-1] + 1
			b.setMore(k, list[:len(list)-1])
		case h == idx+1:
			delete(b.head, k)
		case i >= 0:
			list[i] = list[len(list)-1]
			b.setMore(k, list[:len(list)-1])
		default:
			goto base
		}
		b.ndelta--
		return
	}
base:
	if b.inBase(pack(k, idx)) {
		b.dead[pack(k, idx)] = struct{}{}
		if len(b.dead) > minMerge && len(b.dead) > len(b.base)/8 {
			b.merge()
		}
	}
}

// span returns the range of base that can hold key k.
func (b *bandIndex) span(k uint32) (lo, hi int) {
	if b.starts == nil {
		return 0, len(b.base)
	}
	p := k >> 16
	return int(b.starts[p]), int(b.starts[p+1])
}

func (b *bandIndex) inBase(p uint64) bool {
	lo, hi := b.span(uint32(p >> 32))
	_, found := slices.BinarySearch(b.base[lo:hi], p)
	return found
}

// each calls fn for every entry index with band key k.
func (b *bandIndex) each(k uint32, fn func(idx uint32)) {
	lo, hi := b.span(k)
	s := b.base[lo:hi]
	i, _ := slices.BinarySearch(s, pack(k, 0))
	for ; i < len(s) && uint32(s[i]>>32) == k; i++ {
		if len(b.dead) > 0 {
			if _, gone := b.dead[s[i]]; gone {
				continue
			}
		}
		fn(uint32(s[i]))
	}
	if h, ok := b.head[k]; ok {
		fn(h - 1)
		for _, idx := range b.more[k] {
			fn(idx)
		}
	}
}

func (b *bandIndex) setMore(k uint32, list []uint32) {
	if len(list) == 0 {
		delete(b.more, k)
	} else {
		b.more[k] = list
	}
}

// merge folds the additions and tombstones into the sorted slice.
func (b *bandIndex) merge() {
	add := make([]uint64, 0, b.ndelta)
	for k, h := range b.head {
		add = append(add, pack(k, h-1))
	}
	for k, list := range b.more {
		for _, idx := range list {
			add = append(add, pack(k, idx))
		}
	}
	slices.Sort(add)
	out := make([]uint64, 0, len(b.base)-len(b.dead)+len(add))
	i, j := 0, 0
	for i < len(b.base) || j < len(add) {
		var v uint64
		if j >= len(add) || (i < len(b.base) && b.base[i] <= add[j]) {
			v = b.base[i]
			i++
			if _, gone := b.dead[v]; gone {
				continue
			}
		} else {
			v = add[j]
			j++
		}
		if n := len(out); n > 0 && out[n-1] == v {
			continue
		}
		out = append(out, v)
	}
	b.base = out
	b.head = make(map[uint32]uint32)
	b.more = make(map[uint32][]uint32)
	b.ndelta = 0
	b.dead = make(map[uint64]struct{})
	if b.starts == nil {
		b.starts = make([]uint32, 1<<16+1)
	}
	pos := 0
	for p := 0; p <= 1<<16; p++ {
		for pos < len(out) && int(out[pos]>>48) < p {
			pos++
		}
		b.starts[p] = uint32(pos)
	}
}
