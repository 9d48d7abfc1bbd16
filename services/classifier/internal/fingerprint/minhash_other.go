//go:build !amd64 || purego

package fingerprint

// minhash lowers each mins[j], j < NumHashes, to the least h_j over the
// shingle hashes hs, whose length is a multiple of minhashBatch.
func minhash(mins *[minhashLanes]uint64, hs []uint64) { minhashGeneric(mins, hs) }
