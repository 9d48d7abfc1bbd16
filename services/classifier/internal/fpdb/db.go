// Package fpdb is the fingerprint database: a compact in-memory index of
// spam and ham fingerprints, kept identical on every classifier replica by
// applying an event log from a NATS JetStream stream in stream order, with
// periodic snapshots in a JetStream object store so that a new replica
// loads the latest snapshot and replays only what followed it.
//
// The index holds no per-entry pointers or strings: digests are reduced to
// 64-bit keys (the kind and class mixed in) in maps of fixed-size structs,
// fuzzy signatures live in one slice, and their LSH band keys in a sorted
// array of packed (key, index) pairs (see bandIndex).
package fpdb

import (
	"crypto/sha256"
	"encoding/binary"
	"math"
	"slices"
	"sync"
	"time"

	"github.com/mxgate/mxgate/services/classifier/internal/fingerprint"
)

// Class is what a fingerprint says about a message.
type Class uint8

// Classes; the values equal the proto FingerprintClass numbers.
const (
	ClassSpam Class = 1
	ClassHam  Class = 2
)

// String returns "spam" or "ham".
func (c Class) String() string {
	switch c {
	case ClassSpam:
		return "spam"
	case ClassHam:
		return "ham"
	}
	return "unknown"
}

// Entry is one fingerprint change, the decoded form of a FingerprintEvent.
type Entry struct {
	FP    fingerprint.FP
	Class Class
	// Weight is the score contribution before trust scaling; 0 = kind default.
	Weight float64
	// ExpiresAt is when the entry is dropped; zero = now + MaxAge.
	ExpiresAt time.Time
	// Source is the feed name or the reporting mailbox.
	Source string
	// Trusted entries (feeds, operators) count in full at once; the others
	// count per distinct reporter.
	Trusted bool
}

// Match is one fingerprint of a message found in the database.
type Match struct {
	Kind  fingerprint.Kind
	Class Class
	// Weight is the stored weight (0 = kind default).
	Weight float64
	// Trusted is set when a feed or operator added the fingerprint.
	Trusted bool
	// Reporters is the number of distinct untrusted sources reporting it.
	Reporters int
	// Similarity is 1 for digests, the estimated Jaccard similarity for fuzzy matches.
	Similarity float64
	// Label is the message fingerprint's label (domain, URL, name).
	Label string
}

// Options tunes a DB.
type Options struct {
	// MaxAge bounds every entry's lifetime from the time it was added.
	MaxAge time.Duration
	// FuzzyThreshold is the least estimated Jaccard similarity that counts as
	// a fuzzy match.
	FuzzyThreshold float64
}

// DefaultOptions are 30 days and 0.7.
func DefaultOptions() Options {
	return Options{MaxAge: 30 * 24 * time.Hour, FuzzyThreshold: 0.7}
}

const (
	flagTrusted = 1 << 0
	classShift  = 1 // bits 1-2 hold the class
)

// meta is the fixed-size payload of every entry (12 bytes).
type meta struct {
	weight    float32
	expires   uint32 // unix seconds
	reporters uint16
	flags     uint8
	kind      uint8
}

func (m meta) class() Class         { return Class(m.flags >> classShift & 3) }
func (m meta) trusted() bool        { return m.flags&flagTrusted != 0 }
func (m meta) alive() bool          { return m.trusted() || m.reporters > 0 }
func (m meta) live(now uint32) bool { return m.expires > now }

type fuzzyEntry struct {
	sig  fingerprint.Signature
	key  uint64
	meta meta
}

type pairKey struct{ entry, source uint64 }

// DB is the in-memory fingerprint index. It is safe for concurrent use.
type DB struct {
	opts Options

	mu      sync.RWMutex
	digests map[uint64]meta
	// pairs records which untrusted source reported which entry, with the
	// pair's expiry, so reporters are counted once each and can withdraw.
	pairs map[pairKey]uint32
	// fuzzy entries; a removed slot is recycled through free.
	fuzzy    []fuzzyEntry
	fuzzyIdx map[uint64]uint32
	free     []uint32
	// bands maps LSH band keys to fuzzy entry indexes.
	bands   bandIndex
	lastSeq uint64
}

// New returns an empty DB.
func New(opts Options) *DB {
	if opts.MaxAge <= 0 {
		opts.MaxAge = DefaultOptions().MaxAge
	}
	if opts.FuzzyThreshold <= 0 {
		opts.FuzzyThreshold = DefaultOptions().FuzzyThreshold
	}
	db := &DB{opts: opts}
	db.reset()
	return db
}

func (db *DB) reset() {
	db.digests = make(map[uint64]meta)
	db.pairs = make(map[pairKey]uint32)
	db.fuzzy = nil
	db.fuzzyIdx = make(map[uint64]uint32)
	db.free = nil
	db.bands = newBandIndex()
	db.lastSeq = 0
}

// Options returns the options the DB was built with.
func (db *DB) Options() Options { return db.opts }

// key derives the 64-bit index key of a fingerprint of a class.
func key(fp *fingerprint.FP, c Class) uint64 {
	var d [8]byte
	if fp.Kind == fingerprint.KindFuzzy {
		s := sha256.Sum256(fp.Sig[:])
		copy(d[:], s[:8])
	} else {
		copy(d[:], fp.Digest[:8])
	}
	return binary.LittleEndian.Uint64(d[:]) ^ mixKC(fp.Kind, c)
}

func mixKC(k fingerprint.Kind, c Class) uint64 {
	x := uint64(k)<<8 | uint64(c) + 0x9e3779b97f4a7c15
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	return x ^ x>>31
}

func sourceKey(s string) uint64 {
	h := sha256.Sum256([]byte(s))
	return binary.LittleEndian.Uint64(h[:8])
}

func unixSec(t time.Time) uint32 {
	s := t.Unix()
	if s < 0 {
		return 0
	}
	if s > math.MaxUint32 {
		return math.MaxUint32
	}
	return uint32(s)
}

// Add inserts or refreshes an entry. now is the time the change was made
// (the event's publish time, so that every replica computes the same expiry).
func (db *DB) Add(e Entry, now time.Time) {
	db.mu.Lock()
	defer db.mu.Unlock()
	db.add(&e, now)
}

// Remove withdraws an entry: a trusted removal clears the trusted flag, an
// untrusted one withdraws that source's report. The entry disappears when
// nothing holds it any more.
func (db *DB) Remove(e Entry) {
	db.mu.Lock()
	defer db.mu.Unlock()
	db.remove(&e)
}

func (db *DB) expiry(e *Entry, now time.Time) uint32 {
	limit := now.Add(db.opts.MaxAge)
	exp := e.ExpiresAt
	if exp.IsZero() || exp.After(limit) {
		exp = limit
	}
	return unixSec(exp)
}

func (db *DB) add(e *Entry, now time.Time) {
	if e.Class != ClassSpam && e.Class != ClassHam {
		return
	}
	exp := db.expiry(e, now)
	if exp <= unixSec(now) {
		return
	}
	k := key(&e.FP, e.Class)
	var m meta
	var fi uint32
	var exists bool
	if e.FP.Kind == fingerprint.KindFuzzy {
		fi, exists = db.fuzzyIdx[k]
		if exists {
			m = db.fuzzy[fi].meta
		}
	} else {
		m, exists = db.digests[k]
	}
	if !exists {
		m = meta{kind: uint8(e.FP.Kind), flags: uint8(e.Class) << classShift}
	}
	if e.Trusted {
		m.flags |= flagTrusted
		m.weight = float32(e.Weight)
	} else {
		pk := pairKey{k, sourceKey(e.Source)}
		if pexp, dup := db.pairs[pk]; !dup {
			if m.reporters < math.MaxUint16 {
				m.reporters++
			}
			db.pairs[pk] = exp
		} else if exp > pexp {
			db.pairs[pk] = exp
		}
		if !m.trusted() && float32(e.Weight) > m.weight {
			m.weight = float32(e.Weight)
		}
	}
	if exp > m.expires {
		m.expires = exp
	}
	if e.FP.Kind != fingerprint.KindFuzzy {
		db.digests[k] = m
		return
	}
	if exists {
		db.fuzzy[fi].meta = m
		return
	}
	db.insertFuzzy(k, &e.FP.Sig, m)
}

func (db *DB) insertFuzzy(k uint64, sig *fingerprint.Signature, m meta) {
	var fi uint32
	if n := len(db.free); n > 0 {
		fi = db.free[n-1]
		db.free = db.free[:n-1]
		db.fuzzy[fi] = fuzzyEntry{sig: *sig, key: k, meta: m}
	} else {
		fi = uint32(len(db.fuzzy))
		db.fuzzy = append(db.fuzzy, fuzzyEntry{sig: *sig, key: k, meta: m})
	}
	db.fuzzyIdx[k] = fi
	for _, bk := range bandKeys(sig) {
		db.bands.add(bk, fi)
	}
}

// bandKeys returns the distinct band keys of a signature.
func bandKeys(sig *fingerprint.Signature) []uint32 {
	all := fingerprint.BandKeys(sig)
	keys := all[:0]
	for _, k := range all {
		if !slices.Contains(keys, k) {
			keys = append(keys, k)
		}
	}
	return keys
}

func (db *DB) remove(e *Entry) {
	k := key(&e.FP, e.Class)
	var m meta
	var fi uint32
	var exists bool
	if e.FP.Kind == fingerprint.KindFuzzy {
		if fi, exists = db.fuzzyIdx[k]; exists {
			m = db.fuzzy[fi].meta
		}
	} else {
		m, exists = db.digests[k]
	}
	if !exists {
		return
	}
	if e.Trusted {
		m.flags &^= flagTrusted
	} else {
		pk := pairKey{k, sourceKey(e.Source)}
		if _, ok := db.pairs[pk]; !ok {
			return
		}
		delete(db.pairs, pk)
		if m.reporters > 0 {
			m.reporters--
		}
	}
	db.store(k, fi, m)
}

// store writes back m for key k (fuzzy slot fi) or drops the entry when
// nothing holds it any more.
func (db *DB) store(k uint64, fi uint32, m meta) {
	fuzzy := fingerprint.Kind(m.kind) == fingerprint.KindFuzzy
	if m.alive() {
		if fuzzy {
			db.fuzzy[fi].meta = m
		} else {
			db.digests[k] = m
		}
		return
	}
	if !fuzzy {
		delete(db.digests, k)
		return
	}
	db.dropFuzzy(k, fi)
}

func (db *DB) dropFuzzy(k uint64, fi uint32) {
	fe := &db.fuzzy[fi]
	for _, bk := range bandKeys(&fe.sig) {
		db.bands.remove(bk, fi)
	}
	delete(db.fuzzyIdx, k)
	*fe = fuzzyEntry{}
	db.free = append(db.free, fi)
}

// Lookup returns the live entries matching the fingerprints of a message:
// for digests an exact key match, for fuzzy signatures the most similar
// entry of each class at or above the threshold.
func (db *DB) Lookup(fps []fingerprint.FP, now time.Time) []Match {
	t := unixSec(now)
	db.mu.RLock()
	defer db.mu.RUnlock()
	var out []Match
	for i := range fps {
		fp := &fps[i]
		if fp.Kind == fingerprint.KindFuzzy {
			out = db.lookupFuzzy(fp, t, out)
			continue
		}
		for _, c := range [...]Class{ClassSpam, ClassHam} {
			if m, ok := db.digests[key(fp, c)]; ok && m.live(t) && m.alive() {
				out = append(out, match(m, fp, 1))
			}
		}
	}
	return out
}

func match(m meta, fp *fingerprint.FP, sim float64) Match {
	return Match{
		Kind: fingerprint.Kind(m.kind), Class: m.class(), Weight: float64(m.weight),
		Trusted: m.trusted(), Reporters: int(m.reporters), Similarity: sim, Label: fp.Label,
	}
}

func (db *DB) lookupFuzzy(fp *fingerprint.FP, t uint32, out []Match) []Match {
	var best [3]Match
	var seen [8]uint32
	checked := seen[:0]
	consider := func(fi uint32) {
		for _, x := range checked {
			if x == fi {
				return
			}
		}
		checked = append(checked, fi)
		fe := &db.fuzzy[fi]
		if !fe.meta.live(t) || !fe.meta.alive() {
			return
		}
		sim := fingerprint.Similarity(&fp.Sig, &fe.sig)
		c := fe.meta.class()
		if sim >= db.opts.FuzzyThreshold && sim > best[c].Similarity {
			best[c] = match(fe.meta, fp, sim)
		}
	}
	for _, bk := range fingerprint.BandKeys(&fp.Sig) {
		db.bands.each(bk, consider)
	}
	for _, c := range [...]Class{ClassSpam, ClassHam} {
		if best[c].Similarity > 0 {
			out = append(out, best[c])
		}
	}
	return out
}

// Sweep drops expired entries and reports and returns how many entries it
// dropped.
func (db *DB) Sweep(now time.Time) int {
	t := unixSec(now)
	db.mu.Lock()
	defer db.mu.Unlock()
	n := 0
	for pk, exp := range db.pairs {
		if exp > t {
			continue
		}
		delete(db.pairs, pk)
		if m, ok := db.digests[pk.entry]; ok {
			if m.reporters > 0 {
				m.reporters--
			}
			db.store(pk.entry, 0, m)
		} else if fi, ok := db.fuzzyIdx[pk.entry]; ok {
			m := db.fuzzy[fi].meta
			if m.reporters > 0 {
				m.reporters--
			}
			db.store(pk.entry, fi, m)
		}
	}
	for k, m := range db.digests {
		if !m.live(t) {
			delete(db.digests, k)
			n++
		}
	}
	for k, fi := range db.fuzzyIdx {
		if !db.fuzzy[fi].meta.live(t) {
			db.dropFuzzy(k, fi)
			n++
		}
	}
	return n
}

// Stats describes the index size.
type Stats struct {
	Digests, Fuzzy, Reports int
	LastSeq                 uint64
}

// Stats returns the index size and the last applied stream sequence.
func (db *DB) Stats() Stats {
	db.mu.RLock()
	defer db.mu.RUnlock()
	return Stats{Digests: len(db.digests), Fuzzy: len(db.fuzzyIdx), Reports: len(db.pairs), LastSeq: db.lastSeq}
}

// LastSeq returns the stream sequence of the last applied event message.
func (db *DB) LastSeq() uint64 {
	db.mu.RLock()
	defer db.mu.RUnlock()
	return db.lastSeq
}

func (db *DB) setLastSeq(seq uint64) {
	db.mu.Lock()
	defer db.mu.Unlock()
	db.lastSeq = seq
}
