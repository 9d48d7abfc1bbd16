package fingerprint

import (
	"encoding/binary"
	"sync"
)

// minhashLanes is NumHashes rounded up to whole 8-lane vectors: the
// minima and keys are padded to it so that a vector implementation needs no
// tail. The padding lanes' minima are computed and never read.
const minhashLanes = (NumHashes + 7) &^ 7

// minhashMul and minhashAdd are the fixed keys of the NumHashes hash
// functions h_j(x) = x*mul_j + add_j (mod 2^64, mul_j odd: a permutation of
// the 64-bit shingle hashes; the minimum is taken over the permuted values).
var minhashMul, minhashAdd = func() (m, a [minhashLanes]uint64) {
	s := uint64(0x6d78676174650001) // "mxgate" + 1
	for i := range NumHashes {
		s += 0x9e3779b97f4a7c15
		m[i] = mix64(s) | 1
		s += 0x9e3779b97f4a7c15
		a[i] = mix64(s)
	}
	return m, a
}()

// mix64 is the splitmix64 finalizer.
func mix64(x uint64) uint64 {
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	x ^= x >> 31
	return x
}

// scratch holds the buffers of one fingerprinting, reused through a pool.
type scratch struct {
	norm     []byte   // normalized text
	words    []uint64 // word hashes
	shingles []uint64 // distinct shingle hashes
	set      []uint64 // open-addressing set of the shingle hashes (0 = empty)
}

var scratchPool = sync.Pool{New: func() any { return new(scratch) }}

func getScratch() *scratch { return scratchPool.Get().(*scratch) }

// maxPooled bounds the buffers a pooled scratch keeps (bytes of text,
// words), so that one huge message does not pin them for good.
const maxPooled = 1 << 20

func putScratch(s *scratch) {
	if cap(s.norm) > maxPooled || cap(s.words) > maxPooled/8 {
		return
	}
	scratchPool.Put(s)
}

// signature computes the MinHash signature of the shingles of the words
// (see SignatureOf). A shingle that occurs again cannot lower a minimum, so
// each distinct shingle is hashed once.
func (s *scratch) signature(words []uint64) (sig Signature, ok bool) {
	if len(words) < MinWords {
		return sig, false
	}
	n := min(len(words)-ShingleWords+1, maxShingles)
	size := 16
	for size < 2*n {
		size *= 2
	}
	if cap(s.set) < size {
		s.set = make([]uint64, size)
	}
	set := s.set[:size]
	clear(set)
	mask := uint64(size - 1)
	sh := s.shingles[:0]
	zero := false // the shingle hash 0 (the empty marker) was seen
	for i := 0; i < n; i++ {
		h := words[i]
		for j := 1; j < ShingleWords; j++ {
			h = mix64(h*31 + words[i+j])
		}
		if h == 0 {
			if !zero {
				zero = true
				sh = append(sh, h)
			}
			continue
		}
		// h is a mixed hash: its low bits index the table.
		for k := h & mask; ; k = (k + 1) & mask {
			if v := set[k]; v == h {
				break
			} else if v == 0 {
				set[k] = h
				sh = append(sh, h)
				break
			}
		}
	}
	// Pad to whole batches with copies of a shingle (which change no minimum).
	for len(sh)%minhashBatch != 0 {
		sh = append(sh, sh[0])
	}
	s.shingles = sh
	var mins [minhashLanes]uint64
	for i := range mins {
		mins[i] = ^uint64(0)
	}
	minhash(&mins, sh)
	// The bits kept are a hash of the whole minimum, so equal minima give
	// equal bits and different ones agree with chance 2^-b.
	for i := 0; i < WideHashes; i++ {
		binary.LittleEndian.PutUint16(sig[2*i:], uint16(mix64(mins[i])))
	}
	for i := 0; i < NarrowHashes; i++ {
		sig[2*WideHashes+i/4] |= byte(mix64(mins[WideHashes+i])&3) << (2 * (i & 3))
	}
	return sig, true
}

// minhashBatch is the number of shingles minhash takes per pass over the
// hash functions.
const minhashBatch = 4

// minhashGeneric lowers each mins[j], j < NumHashes, to the least h_j over
// the shingle hashes hs, whose length is a multiple of minhashBatch. Taking
// several shingles per pass loads each key and minimum once per batch, and
// the branch-free min keeps the CPU from mispredicting while the minima
// still change often.
func minhashGeneric(mins *[minhashLanes]uint64, hs []uint64) {
	for ; len(hs) >= minhashBatch; hs = hs[minhashBatch:] {
		h0, h1, h2, h3 := hs[0], hs[1], hs[2], hs[3]
		for j := range NumHashes {
			m, a := minhashMul[j], minhashAdd[j]
			mins[j] = min(mins[j], min(h0*m+a, h1*m+a), min(h2*m+a, h3*m+a))
		}
	}
}
