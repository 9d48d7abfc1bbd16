package smtpd

import "testing"

func TestMessageBufferPreallocationBounded(t *testing.T) {
	for _, tc := range []struct {
		declared int64
		max      int
	}{
		{0, 0},
		{4096, 2 * (4096 + 1024)},
		{20 << 20, 2 * maxPreallocation}, // a declared 20 MiB reserves no 20 MiB
		{1 << 40, 2 * maxPreallocation},
	} {
		if got := messageBuffer(tc.declared).Cap(); got > tc.max {
			t.Errorf("messageBuffer(%d).Cap() = %d, want at most %d", tc.declared, got, tc.max)
		}
	}
}
