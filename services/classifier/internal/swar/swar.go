// Package swar holds the word-at-a-time byte tests (SIMD within a
// register) that the text scanners share: eight bytes of a string in one
// uint64, and exact per-byte masks over it.
package swar

// Ones has a one in every byte of a word; Highs the high bit of every byte.
const (
	Ones  = 0x0101010101010101
	Highs = 0x8080808080808080
)

// Load64 returns the 8 bytes of s at i as a little-endian word (one load).
func Load64[T string | []byte](s T, i int) uint64 {
	w := s[i : i+8]
	return uint64(w[0]) | uint64(w[1])<<8 | uint64(w[2])<<16 | uint64(w[3])<<24 |
		uint64(w[4])<<32 | uint64(w[5])<<40 | uint64(w[6])<<48 | uint64(w[7])<<56
}

// EqBytes returns the high bit of each byte of x that equals c (exact: no
// carries between bytes).
func EqBytes(x uint64, c byte) uint64 {
	y := x ^ (Ones * uint64(c))
	return ^((y&^Highs + ^uint64(Highs)) | y | ^uint64(Highs))
}
