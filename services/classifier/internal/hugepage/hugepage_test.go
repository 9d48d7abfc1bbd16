package hugepage

import (
	"testing"
	"unsafe"
)

// TestMake checks length, capacity, zeroing and, for a table of huge
// pages, the alignment that the advice needs.
func TestMake(t *testing.T) {
	for _, n := range []int{0, 1, 1000, Size/8 - 1, Size / 8, 3*Size/4 + 5} {
		s := Make[uint32](n)
		if len(s) != n {
			t.Fatalf("Make(%d): len %d", n, len(s))
		}
		for i, v := range s {
			if v != 0 {
				t.Fatalf("Make(%d)[%d] = %d, want 0", n, i, v)
			}
		}
		if n*4 < Size/2 || !supported {
			continue
		}
		if p := uintptr(unsafe.Pointer(&s[0])); p%Size != 0 {
			t.Errorf("Make(%d) starts at %#x, not on a huge page", n, p)
		}
		if c := cap(s) * 4; c%Size != 0 || c < n*4 {
			t.Errorf("Make(%d): capacity %d bytes, want whole huge pages", n, c)
		}
		s[n-1] = 7 // the memory is writable to its end
	}
}
