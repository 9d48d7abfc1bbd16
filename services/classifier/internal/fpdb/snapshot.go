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

// Snapshot format (little endian): magic, last applied stream sequence,
// then three sections each prefixed by its record count — digests (key,
// meta), fuzzy entries (key, signature, meta), reports (entry key, source
// key, expiry) — and a CRC-32 (IEEE) of everything before it.
var snapMagic = [8]byte{'M', 'X', 'F', 'P', 'D', 'B', '1', '\n'}

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
	var buf [8 + fingerprint.SigLen + metaBytes]byte
	put64 := func(v uint64) {
		binary.LittleEndian.PutUint64(buf[:8], v)
		bw.Write(buf[:8]) //nolint:errcheck // bufio keeps the first error for Flush
	}
	bw.Write(snapMagic[:]) //nolint:errcheck
	put64(db.lastSeq)
	put64(uint64(len(db.digests)))
	for k, m := range db.digests {
		binary.LittleEndian.PutUint64(buf[:8], k)
		putMeta(buf[8:], m)
		bw.Write(buf[:8+metaBytes]) //nolint:errcheck
	}
	put64(uint64(len(db.fuzzyIdx)))
	for k, fi := range db.fuzzyIdx {
		fe := &db.fuzzy[fi]
		binary.LittleEndian.PutUint64(buf[:8], k)
		copy(buf[8:], fe.sig[:])
		putMeta(buf[8+fingerprint.SigLen:], fe.meta)
		bw.Write(buf[:]) //nolint:errcheck
	}
	put64(uint64(len(db.pairs)))
	for pk, exp := range db.pairs {
		binary.LittleEndian.PutUint64(buf[:8], pk.entry)
		binary.LittleEndian.PutUint64(buf[8:16], pk.source)
		binary.LittleEndian.PutUint32(buf[16:20], exp)
		bw.Write(buf[:20]) //nolint:errcheck
	}
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
		sizeHint = uint64(l.Len()) / (8 + fingerprint.SigLen + metaBytes)
	}
	crc := crc32.NewIEEE()
	br := bufio.NewReaderSize(r, 64<<10)
	var buf [8 + fingerprint.SigLen + metaBytes]byte
	var err error
	read := func(n int) []byte {
		if err == nil {
			_, err = io.ReadFull(br, buf[:n])
			crc.Write(buf[:n]) //nolint:errcheck // hash writes never fail
		}
		return buf[:n]
	}
	get64 := func() uint64 { return binary.LittleEndian.Uint64(read(8)) }
	if string(read(8)) != string(snapMagic[:]) {
		return 0, fmt.Errorf("%w: magic", ErrBadSnapshot)
	}
	fresh := New(db.opts)
	fresh.lastSeq = get64()
	n := get64()
	const maxRecords = 1 << 30
	if n > maxRecords {
		return 0, fmt.Errorf("%w: %d digests", ErrBadSnapshot, n)
	}
	fresh.digests = make(map[uint64]meta, min(n, sizeHint*4, 1<<24))
	for i := uint64(0); i < n && err == nil; i++ {
		b := read(8 + metaBytes)
		fresh.digests[binary.LittleEndian.Uint64(b)] = getMeta(b[8:])
	}
	n = get64()
	if n > maxRecords {
		return 0, fmt.Errorf("%w: %d fuzzy entries", ErrBadSnapshot, n)
	}
	if hint := min(n, sizeHint, 1<<22); hint > 0 { // size the index once; a corrupt count cannot exhaust memory
		fresh.fuzzy = make([]fuzzyEntry, 0, hint)
		fresh.fuzzyIdx = make(map[uint64]uint32, hint)
	}
	for i := uint64(0); i < n && err == nil; i++ {
		b := read(len(buf))
		e := Entry{FP: fingerprint.FP{Kind: fingerprint.KindFuzzy}}
		copy(e.FP.Sig[:], b[8:])
		m := getMeta(b[8+fingerprint.SigLen:])
		k := binary.LittleEndian.Uint64(b)
		fresh.insertFuzzy(k, &e.FP.Sig, m)
	}
	n = get64()
	if n > maxRecords {
		return 0, fmt.Errorf("%w: %d reports", ErrBadSnapshot, n)
	}
	fresh.pairs = make(map[pairKey]uint32, min(n, sizeHint*4, 1<<24))
	for i := uint64(0); i < n && err == nil; i++ {
		b := read(20)
		fresh.pairs[pairKey{binary.LittleEndian.Uint64(b), binary.LittleEndian.Uint64(b[8:])}] = binary.LittleEndian.Uint32(b[16:])
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
	db.digests, db.pairs, db.lastSeq = fresh.digests, fresh.pairs, fresh.lastSeq
	db.fuzzy, db.fuzzyIdx, db.free, db.bands = fresh.fuzzy, fresh.fuzzyIdx, fresh.free, fresh.bands
	return db.lastSeq, nil
}
