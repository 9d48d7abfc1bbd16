package swar

import (
	"math/rand/v2"
	"testing"
)

// Load64 and EqBytes against byte-by-byte definitions, on random words
// rich in the byte looked for and its neighbours (where carries would
// show).
func TestAgainstBytes(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	for n := 0; n < 20000; n++ {
		c := byte(r.IntN(256))
		b := make([]byte, 8+r.IntN(8))
		for i := range b {
			b[i] = c + byte(r.IntN(5)) - 2
			if r.IntN(4) == 0 {
				b[i] = byte(r.IntN(256))
			}
		}
		at := r.IntN(len(b) - 7)
		x := Load64(string(b), at)
		if y := Load64(b, at); y != x {
			t.Fatalf("Load64 of %x at %d: string %x, bytes %x", b, at, x, y)
		}
		var want uint64
		for k := 0; k < 8; k++ {
			if byte(x>>(8*k)) != b[at+k] {
				t.Fatalf("Load64(%x, %d) = %x: byte %d", b, at, x, k)
			}
			if b[at+k] == c {
				want |= 0x80 << (8 * k)
			}
		}
		if got := EqBytes(x, c); got != want {
			t.Fatalf("EqBytes(%x, %#x) = %x, want %x", x, c, got, want)
		}
	}
}
