// Package queueid makes the short message ids the edge puts in Received
// headers, logs and replies.
package queueid

import (
	"crypto/rand"
	"encoding/base32"
	"encoding/binary"
	"time"
)

var enc = base32.NewEncoding("0123456789ABCDEFGHJKMNPQRSTVWXYZ").WithPadding(base32.NoPadding)

// New returns a 12-character id: 25 bits of seconds (sortable within about a
// year) and 35 random bits, Crockford base32 (no I, L, O, U).
func New() string {
	var b [8]byte
	_, _ = rand.Read(b[3:]) // crypto/rand.Read never fails
	secs := uint64(time.Now().Unix()) & (1<<25 - 1)
	v := secs<<35 | binary.BigEndian.Uint64(b[:])&(1<<35-1)
	binary.BigEndian.PutUint64(b[:], v<<4) // 60 bits used, left-aligned
	return enc.EncodeToString(b[:])[:12]
}
