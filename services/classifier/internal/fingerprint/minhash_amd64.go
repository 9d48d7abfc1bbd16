//go:build amd64 && !purego

package fingerprint

import "golang.org/x/sys/cpu"

// canAVX512 reports whether the CPU runs minhashAVX512: AVX-512 has the
// 64-bit multiply (AVX512DQ) and unsigned minimum (AVX512F) that MinHash
// needs, 8 lanes at a time. The operating system's support for the wide
// registers is part of the check.
var canAVX512 = cpu.X86.HasAVX512F && cpu.X86.HasAVX512DQ

// useAVX512 selects minhashAVX512, only on CPUs that also have
// AVX512_VBMI2 (Intel from Ice Lake, AMD from Zen 4): the earlier Intel
// server cores (Skylake-SP, Cascade Lake) lower the clock of the whole core
// for a while after 512-bit multiplies, and with a message every hundred
// microseconds or so every other step of the path would run at that lower
// clock. They take the AVX2 loop.
var useAVX512 = canAVX512 && cpu.X86.HasAVX512VBMI2

// useAVX2 selects minhashAVX2 where AVX-512 is missing.
var useAVX2 = cpu.X86.HasAVX2

// minhashMulHi and minhashAddFlip are the keys as minhashAVX2 takes them:
// the multipliers' high halves, and the addends plus 2^63 (see signBit).
var minhashMulHi, minhashAddFlip = func() (hi, af [minhashLanes]uint64) {
	for i := range hi {
		hi[i] = minhashMul[i] >> 32
		af[i] = minhashAdd[i] + signBit
	}
	return hi, af
}()

// signBit flips the order of uint64 values into that of int64 ones: x < y
// unsigned exactly when int64(x^signBit) < int64(y^signBit), and adding it
// is the same as flipping it.
const signBit = 1 << 63

// minhashAVX512 (14 vectors of 8 lanes) and minhashAVX2 (28 of 4) are
// written for 112 lanes.
const _ = uint(minhashLanes-14*8) + uint(14*8-minhashLanes)

// minhash lowers each mins[j], j < NumHashes, to the least h_j over the
// shingle hashes hs, whose length is a multiple of minhashBatch.
func minhash(mins *[minhashLanes]uint64, hs []uint64) {
	switch {
	case useAVX512:
		minhashAVX512(mins, &minhashMul, &minhashAdd, hs)
	case useAVX2:
		minhashAVX2Unsigned(mins, hs)
	default:
		minhashGeneric(mins, hs)
	}
}

// minhashAVX2Unsigned runs minhashAVX2 on unsigned minima.
func minhashAVX2Unsigned(mins *[minhashLanes]uint64, hs []uint64) {
	for i := range mins {
		mins[i] ^= signBit
	}
	minhashAVX2(mins, &minhashMul, &minhashMulHi, &minhashAddFlip, hs)
	for i := range mins {
		mins[i] ^= signBit
	}
}

// minhashAVX512 lowers every mins[j] to the least hs[i]*mul[j]+add[j]. It
// keeps the minima in registers for the whole of hs and takes each shingle
// hash against all lanes, so it computes every lane of minhashLanes.
//
//go:noescape
func minhashAVX512(mins, mul, add *[minhashLanes]uint64, hs []uint64)

// minhashAVX2 lowers every mins[j] (stored with the sign bit flipped) to
// the least hs[i]*mul[j]+add[j], given mulHi[j] = mul[j]>>32 and
// addFlip[j] = add[j]+2^63, in the same flipped form.
//
//go:noescape
func minhashAVX2(mins, mul, mulHi, addFlip *[minhashLanes]uint64, hs []uint64)
