package hugepage

import "golang.org/x/sys/unix"

const supported = true

// advise marks b, whole huge pages, for transparent huge pages. It is
// advice only: an error (an old kernel, THP compiled out) changes nothing
// but speed.
func advise(b []byte) { _ = unix.Madvise(b, unix.MADV_HUGEPAGE) }
