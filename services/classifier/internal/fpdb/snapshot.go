package fpdb

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"math"

	"github.com/mxgate/mxgate/services/classifier/internal/fingerprint"
)

// ErrBadSnapshot is returned when a snapshot cannot be read.
var ErrBadSnapshot = errors.New("fpdb: bad snapshot")

// Snapshot format (little endian): an 8-byte header "MXFPDB", the format
// version as one ASCII digit (snapVersion; "MXFPDB1\n" was version 1) and
// '\n'; the last applied stream sequence; the signature length; then three
// sections each prefixed by its record count — digests (key, meta), fuzzy
// entries (signature, meta, inline reporter's source key), reports in
// pairs (entry key, 32-bit source key, expiry) — and a CRC-32 (IEEE) of
// everything before it. Version 2 is version 3 without inline reports: its
// fuzzy records end after the meta, and every report is in the reports
// section; it is still read. Another version, signature length or a
// checksum mismatch is rejected with ErrBadSnapshot (the replica then
// replays the stream instead). Version 1 held 64-byte signatures of an
// earlier MinHash layout and an entry key per fuzzy record.
var snapMagic = [6]byte{'M', 'X', 'F', 'P', 'D', 'B'}

const (
	snapVersion = '3'
	// snapVersionNoInline is the older version still read (see above).
	snapVersionNoInline = '2'
)

const metaBytes = 12

func putMeta(b []byte, m meta) {
	binary.LittleEndian.PutUint32(b[0:], math.Float32bits(m.weight))
	binary.LittleEndian.PutUint32(b[4:], m.expires)
	binary.LittleEndian.PutUint16(b[8:], m.reporters)
	b[10], b[11] = m.flags, m.kind
}

func getMeta(b []byte) meta {
	return meta{
		weight:    math.Float32frombits(binary.LittleEndian.Uint32(b[0:])),
		expires:   binary.LittleEndian.Uint32(b[4:]),
		reporters: binary.LittleEndian.Uint16(b[8:]),
		flags:     b[10], kind: b[11],
	}
}

// WriteSnapshot writes the whole index and returns the stream sequence it
// includes. The index is read-locked while writing.
func (db *DB) WriteSnapshot(w io.Writer) (uint64, error) {
	db.mu.RLock()
	defer db.mu.RUnlock()
	crc := crc32.NewIEEE()
	bw := bufio.NewWriterSize(io.MultiWriter(w, crc), 64<<10)
	var buf [fingerprint.SigLen + metaBytes + 4]byte
	put64 := func(v uint64) {
		binary.LittleEndian.PutUint64(buf[:8], v)
		bw.Write(buf[:8]) //nolint:errcheck // bufio keeps the first error for Flush
	}
	bw.Write(snapMagic[:])              //nolint:errcheck
	bw.Write([]byte{snapVersion, '\n'}) //nolint:errcheck
	put64(db.lastSeq)
	put64(fingerprint.SigLen)
	put64(uint64(db.digests.len()))
	db.digests.each(func(k dkey, m meta) {
		binary.LittleEndian.PutUint64(buf[:8], uint64(k))
		putMeta(buf[8:], m)
		bw.Write(buf[:8+metaBytes]) //nolint:errcheck
	})
	put64(uint64(db.fuzzy.len()))
	db.fuzzy.each(func(_ uint32, fe *fuzzyEntry) {
		copy(buf[:], fe.sig[:])
		putMeta(buf[fingerprint.SigLen:], fe.meta)
		binary.LittleEndian.PutUint32(buf[fingerprint.SigLen+metaBytes:], fe.reporter)
		bw.Write(buf[:fingerprint.SigLen+metaBytes+4]) //nolint:errcheck
	})
	put64(uint64(db.pairs.len()))
	db.pairs.each(func(pk pairKey, exp uint32) {
		binary.LittleEndian.PutUint64(buf[:8], pk.entry())
		binary.LittleEndian.PutUint32(buf[8:12], pk.source)
		binary.LittleEndian.PutUint32(buf[12:16], exp)
		bw.Write(buf[:16]) //nolint:errcheck
	})
	if err := bw.Flush(); err != nil {
		return 0, fmt.Errorf("fpdb: write snapshot: %w", err)
	}
	binary.LittleEndian.PutUint32(buf[:4], crc.Sum32())
	if _, err := w.Write(buf[:4]); err != nil {
		return 0, fmt.Errorf("fpdb: write snapshot: %w", err)
	}
	return db.lastSeq, nil
}

// LoadSnapshot replaces the index with a snapshot. On error the index is
// left unchanged.
func (db *DB) LoadSnapshot(r io.Reader) (uint64, error) {
	// sizeHint bounds presized maps by what the input can hold when its
	// length is known (a bytes.Reader), so a corrupt count allocates little.
	sizeHint := uint64(1 << 16)
	if l, ok := r.(interface{ Len() int }); ok {
		sizeHint = uint64(l.Len()) / (8 + metaBytes)
	}
	crc := crc32.NewIEEE()
	br := bufio.NewReaderSize(r, 64<<10)
	var buf [fingerprint.SigLen + metaBytes + 4]byte
	var err error
	// read returns the next n bytes; after an error, zeros, so that the
	// remaining counts read as 0 and the first error is the one returned.
	read := func(n int) []byte {
		if err == nil {
			_, err = io.ReadFull(br, buf[:n])
			crc.Write(buf[:n]) //nolint:errcheck // hash writes never fail
		}
		if err != nil {
			clear(buf[:n])
		}
		return buf[:n]
	}
	get64 := func() uint64 { return binary.LittleEndian.Uint64(read(8)) }
	hdr := read(8)
	if string(hdr[:6]) != string(snapMagic[:]) || hdr[7] != '\n' {
		return 0, fmt.Errorf("%w: magic", ErrBadSnapshot)
	}
	version := hdr[6]
	if version != snapVersion && version != snapVersionNoInline {
		return 0, fmt.Errorf("%w: format version %q, want %q", ErrBadSnapshot, version, snapVersion)
	}
	fuzzyRecord := fingerprint.SigLen + metaBytes + 4
	if version == snapVersionNoInline {
		fuzzyRecord = fingerprint.SigLen + metaBytes
	}
	fresh := New(db.opts)
	fresh.lastSeq = get64()
	if n := get64(); n != fingerprint.SigLen {
		return 0, fmt.Errorf("%w: %d-byte signatures, want %d", ErrBadSnapshot, n, fingerprint.SigLen)
	}
	n := get64()
	const maxRecords = 1 << 30
	if n > maxRecords {
		return 0, fmt.Errorf("%w: %d digests", ErrBadSnapshot, n)
	}
	// Presizing is bounded by what the input can hold, so a corrupt count
	// cannot exhaust memory.
	fresh.digests.reserve(int(min(n, sizeHint, 1<<24)))
	for i := uint64(0); i < n && err == nil; i++ {
		b := read(8 + metaBytes)
		m := getMeta(b[8:])
		if err == nil && m.inline() {
			err = fmt.Errorf("digest record %d: inline report", i)
			break
		}
		fresh.digests.put(dkey(binary.LittleEndian.Uint64(b)), m)
	}
	n = get64()
	if n > maxRecords {
		return 0, fmt.Errorf("%w: %d fuzzy entries", ErrBadSnapshot, n)
	}
	var sig fingerprint.Signature
	for i := uint64(0); i < n && err == nil; i++ {
		b := read(fuzzyRecord)
		if err != nil {
			break
		}
		copy(sig[:], b)
		m := getMeta(b[fingerprint.SigLen:])
		if fingerprint.Kind(m.kind) != fingerprint.KindFuzzy || !m.class().valid() {
			err = fmt.Errorf("fuzzy record %d: kind %d class %d", i, m.kind, m.class())
			break
		}
		var reporter uint32
		if version == snapVersionNoInline {
			if m.inline() {
				err = fmt.Errorf("fuzzy record %d: inline report in version %c", i, version)
				break
			}
		} else if m.inline() {
			reporter = binary.LittleEndian.Uint32(b[fingerprint.SigLen+metaBytes:])
		}
		fresh.fuzzy.append(&sig, m, reporter)
	}
	if err == nil {
		fresh.fuzzy.rebuild(int(float64(fresh.fuzzy.live)/0.85) + 64) // some room before the first growth
	}
	n = get64()
	if n > maxRecords {
		return 0, fmt.Errorf("%w: %d reports", ErrBadSnapshot, n)
	}
	fresh.pairs.reserve(int(min(n, sizeHint, 1<<24)))
	for i := uint64(0); i < n && err == nil; i++ {
		b := read(16)
		fresh.pairs.put(newPairKey(binary.LittleEndian.Uint64(b), binary.LittleEndian.Uint32(b[8:])), binary.LittleEndian.Uint32(b[12:]))
	}
	if err != nil {
		return 0, fmt.Errorf("%w: %w", ErrBadSnapshot, err)
	}
	want := crc.Sum32()
	var tail [4]byte
	if _, err := io.ReadFull(br, tail[:]); err != nil {
		return 0, fmt.Errorf("%w: checksum: %w", ErrBadSnapshot, err)
	}
	if binary.LittleEndian.Uint32(tail[:]) != want {
		return 0, fmt.Errorf("%w: checksum mismatch", ErrBadSnapshot)
	}
	db.mu.Lock()
	defer db.mu.Unlock()
	db.digests, db.pairs, db.fuzzy, db.lastSeq = fresh.digests, fresh.pairs, fresh.fuzzy, fresh.lastSeq
	return db.lastSeq, nil
}
