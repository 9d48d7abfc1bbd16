// Package hugepage allocates large tables that are read at random (the
// model's weights: 24 MiB, a few thousand reads per message) so that the
// kernel can back them with transparent huge pages: a read then needs one
// TLB entry per 2 MiB instead of one per 4 KiB, and the table stops missing
// the TLB on nearly every read.
package hugepage

import "unsafe"

// Size is the huge page size the tables are aligned to (x86-64, and arm64
// with 4 KiB base pages).
const Size = 2 << 20

// Make returns a zeroed slice of n elements. On Linux, when it takes at
// least half a huge page, it lies in memory of whole huge pages (up to 2 MiB
// more is allocated to align it) marked for transparent huge pages (madvise
// MADV_HUGEPAGE), which takes effect when the kernel's setting is "madvise"
// or "always". A smaller slice, another system or a refusal leaves ordinary
// pages.
func Make[T any](n int) []T {
	var zero T
	elem := int(unsafe.Sizeof(zero))
	size := n * elem
	if !supported || elem == 0 || size < Size/2 {
		return make([]T, n)
	}
	pages := (size + Size - 1) / Size
	// One huge page more than needed, so that whole pages fit in it
	// wherever it starts.
	s := make([]T, (pages+1)*Size/elem)
	start := uintptr(unsafe.Pointer(&s[0]))
	skip := int(((start+Size-1)&^(Size-1) - start) / uintptr(elem))
	s = s[skip : skip+n : skip+pages*Size/elem]
	advise(unsafe.Slice((*byte)(unsafe.Pointer(&s[0])), pages*Size))
	return s
}
