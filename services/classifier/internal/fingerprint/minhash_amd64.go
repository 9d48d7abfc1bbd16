//go:build amd64 && !purego

package fingerprint

import "golang.org/x/sys/cpu"

// useAVX512 selects minhashAVX512: AVX-512 has the 64-bit multiply
// (AVX512DQ) and unsigned minimum (AVX512F) that MinHash needs, 8 lanes at
// a time. The operating system's support for the wide registers is part of
// the check.
var useAVX512 = cpu.X86.HasAVX512F && cpu.X86.HasAVX512DQ

// minhashAVX512 is written for 14 vectors of 8 lanes.
const _ = uint(minhashLanes-14*8) + uint(14*8-minhashLanes)

// minhash lowers each mins[j], j < NumHashes, to the least h_j over the
// shingle hashes hs, whose length is a multiple of minhashBatch.
func minhash(mins *[minhashLanes]uint64, hs []uint64) {
	if useAVX512 {
		minhashAVX512(mins, &minhashMul, &minhashAdd, hs)
		return
	}
	minhashGeneric(mins, hs)
}

// minhashAVX512 lowers every mins[j] to the least hs[i]*mul[j]+add[j]. It
// keeps the minima in registers for the whole of hs and takes each shingle
// hash against all lanes, so it computes every lane of minhashLanes.
//
//go:noescape
func minhashAVX512(mins, mul, add *[minhashLanes]uint64, hs []uint64)
