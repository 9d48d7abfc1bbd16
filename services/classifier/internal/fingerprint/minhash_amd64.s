//go:build amd64 && !purego

#include "textflag.h"

// func minhashAVX512(mins, mul, add *[minhashLanes]uint64, hs []uint64)
//
// Z0-Z13 hold the 112 minima; each shingle hash is broadcast to Z31 and
// taken through the 14 vectors of keys: Z16-Z29 = h*mul+add, then the
// unsigned minimum. Z14 and Z15 are not needed.

// STEP512 lowers the minima min (8 lanes, keys at byte offset off) by the
// hash in Z31, through the temporary t.
#define STEP512(off, t, min) \
	VPMULLQ off(R8), Z31, t \
	VPADDQ  off(R9), t, t   \
	VPMINUQ t, min, min

TEXT ·minhashAVX512(SB), NOSPLIT, $0-48
	MOVQ mins+0(FP), DI
	MOVQ mul+8(FP), R8
	MOVQ add+16(FP), R9
	MOVQ hs_base+24(FP), SI
	MOVQ hs_len+32(FP), CX
	VMOVDQU64 0(DI), Z0
	VMOVDQU64 64(DI), Z1
	VMOVDQU64 128(DI), Z2
	VMOVDQU64 192(DI), Z3
	VMOVDQU64 256(DI), Z4
	VMOVDQU64 320(DI), Z5
	VMOVDQU64 384(DI), Z6
	VMOVDQU64 448(DI), Z7
	VMOVDQU64 512(DI), Z8
	VMOVDQU64 576(DI), Z9
	VMOVDQU64 640(DI), Z10
	VMOVDQU64 704(DI), Z11
	VMOVDQU64 768(DI), Z12
	VMOVDQU64 832(DI), Z13
	TESTQ CX, CX
	JZ    done512

loop512:
	VPBROADCASTQ (SI), Z31
	STEP512(0, Z16, Z0)
	STEP512(64, Z17, Z1)
	STEP512(128, Z18, Z2)
	STEP512(192, Z19, Z3)
	STEP512(256, Z20, Z4)
	STEP512(320, Z21, Z5)
	STEP512(384, Z22, Z6)
	STEP512(448, Z23, Z7)
	STEP512(512, Z24, Z8)
	STEP512(576, Z25, Z9)
	STEP512(640, Z26, Z10)
	STEP512(704, Z27, Z11)
	STEP512(768, Z28, Z12)
	STEP512(832, Z29, Z13)
	ADDQ $8, SI
	DECQ CX
	JNZ  loop512

done512:
	VMOVDQU64 Z0, 0(DI)
	VMOVDQU64 Z1, 64(DI)
	VMOVDQU64 Z2, 128(DI)
	VMOVDQU64 Z3, 192(DI)
	VMOVDQU64 Z4, 256(DI)
	VMOVDQU64 Z5, 320(DI)
	VMOVDQU64 Z6, 384(DI)
	VMOVDQU64 Z7, 448(DI)
	VMOVDQU64 Z8, 512(DI)
	VMOVDQU64 Z9, 576(DI)
	VMOVDQU64 Z10, 640(DI)
	VMOVDQU64 Z11, 704(DI)
	VMOVDQU64 Z12, 768(DI)
	VMOVDQU64 Z13, 832(DI)
	VZEROUPPER
	RET

// func minhashAVX2(mins, mul, mulHi, addFlip *[minhashLanes]uint64, hs []uint64)
//
// AVX2 has neither a 64-bit multiply nor an unsigned 64-bit minimum, so
// each lane computes x*mul mod 2^64 from three 32-bit multiplies (the low
// halves' product plus the cross products shifted up by 32) and keeps its
// minimum with the sign bit flipped, where a signed compare orders the
// values as unsigned ones do: addFlip is add+2^63, and the caller flips
// the minima in and out.
//
// The 28 vectors of 4 lanes take three passes over the shingles, with 10
// minima in Y0-Y9: vectors 0-9, 9-18 and 18-27 (a minimum lowered twice
// by the same hashes is the same). Y10 is the shingle hash, Y11 its high
// half, Y12-Y15 temporaries (X15, the zero register of Go's internal ABI,
// is free in ABI0 code and restored on the return to Go).

// STEP2 lowers the minima min (4 lanes, keys at byte offset off) by the
// hash in Y10 (high half in Y11).
#define STEP2(off, min) \
	VPMULUDQ  off(R8), Y10, Y12  \
	VPMULUDQ  off(R8), Y11, Y13  \
	VPMULUDQ  off(R9), Y10, Y14  \
	VPADDQ    Y14, Y13, Y13      \
	VPSLLQ    $32, Y13, Y13      \
	VPADDQ    Y13, Y12, Y12      \
	VPADDQ    off(R10), Y12, Y12 \
	VPCMPGTQ  Y12, min, Y15      \
	VPBLENDVB Y15, Y12, min, min

TEXT ·minhashAVX2(SB), NOSPLIT, $0-56
	MOVQ mins+0(FP), DI
	MOVQ mul+8(FP), R8
	MOVQ mulHi+16(FP), R9
	MOVQ addFlip+24(FP), R10
	MOVQ $3, DX

pass:
	MOVQ hs_base+32(FP), SI
	MOVQ hs_len+40(FP), CX
	VMOVDQU 0(DI), Y0
	VMOVDQU 32(DI), Y1
	VMOVDQU 64(DI), Y2
	VMOVDQU 96(DI), Y3
	VMOVDQU 128(DI), Y4
	VMOVDQU 160(DI), Y5
	VMOVDQU 192(DI), Y6
	VMOVDQU 224(DI), Y7
	VMOVDQU 256(DI), Y8
	VMOVDQU 288(DI), Y9
	TESTQ CX, CX
	JZ    store

loop:
	VPBROADCASTQ (SI), Y10
	VPSRLQ       $32, Y10, Y11
	STEP2(0, Y0)
	STEP2(32, Y1)
	STEP2(64, Y2)
	STEP2(96, Y3)
	STEP2(128, Y4)
	STEP2(160, Y5)
	STEP2(192, Y6)
	STEP2(224, Y7)
	STEP2(256, Y8)
	STEP2(288, Y9)
	ADDQ $8, SI
	DECQ CX
	JNZ  loop

store:
	VMOVDQU Y0, 0(DI)
	VMOVDQU Y1, 32(DI)
	VMOVDQU Y2, 64(DI)
	VMOVDQU Y3, 96(DI)
	VMOVDQU Y4, 128(DI)
	VMOVDQU Y5, 160(DI)
	VMOVDQU Y6, 192(DI)
	VMOVDQU Y7, 224(DI)
	VMOVDQU Y8, 256(DI)
	VMOVDQU Y9, 288(DI)

	// The next pass starts 9 vectors on.
	ADDQ $288, DI
	ADDQ $288, R8
	ADDQ $288, R9
	ADDQ $288, R10
	DECQ DX
	JNZ  pass

	VZEROUPPER
	RET
