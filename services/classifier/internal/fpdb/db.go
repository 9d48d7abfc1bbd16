// Package fpdb is the fingerprint database: a compact in-memory index of
// spam and ham fingerprints, kept identical on every classifier replica by
// applying an event log from a NATS JetStream stream in stream order, with
// periodic snapshots in a JetStream object store so that a new replica
// loads the latest snapshot and replays only what followed it.
//
// The index holds no per-entry pointers or strings: digests are reduced to
// 64-bit keys (the kind and class mixed in) in flat open-addressing tables
// (see table), fuzzy signatures live in fixed-size chunks and their LSH
// bands in tables of 32-bit entry indexes (see fuzzyStore). Which source
// reported which entry is kept in a table of report records, except that a
// fuzzy entry holds one report in itself (see fuzzyEntry.reporter).
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

func (c Class) valid() bool { return c == ClassSpam || c == ClassHam }

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
	// flagInline marks a fuzzy entry that holds one report in itself
	// (fuzzyEntry.reporter); a digest entry never has it.
	flagInline = 1 << 3
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
func (m meta) inline() bool         { return m.flags&flagInline != 0 }
func (m meta) alive() bool          { return m.trusted() || m.reporters > 0 }
func (m meta) live(now uint32) bool { return m.expires > now }

// dkey is the key of a digest entry.
type dkey uint64

func (k dkey) hash() uint64 { return mix64(uint64(k)) }

// pairKey names one untrusted source's report of one entry: the entry's
// key and a 32-bit hash of the source (12 bytes, no padding). Two sources
// colliding on one entry would count as one reporter, never as more.
type pairKey struct{ entryLo, entryHi, source uint32 }

func newPairKey(entry uint64, source uint32) pairKey {
	return pairKey{uint32(entry), uint32(entry >> 32), source}
}

func (k pairKey) entry() uint64 { return uint64(k.entryHi)<<32 | uint64(k.entryLo) }

func (k pairKey) hash() uint64 { return mix64(k.entry() ^ uint64(k.source)<<17) }

// DB is the in-memory fingerprint index. It is safe for concurrent use.
type DB struct {
	opts Options

	mu      sync.RWMutex
	digests table[dkey, meta]
	// pairs records which untrusted source reported which entry, with the
	// pair's expiry, so reporters are counted once each and can withdraw;
	// a fuzzy entry's inline report (see fuzzyEntry.reporter) is not in it.
	pairs   table[pairKey, uint32]
	fuzzy   fuzzyStore
	lastSeq uint64
	// stream identifies the stream incarnation lastSeq counts in (its
	// creation time); "" before the first sync.
	stream string
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
	db.digests = table[dkey, meta]{}
	db.pairs = table[pairKey, uint32]{maxLoad: 0.9} // not on the lookup path: dense
	db.fuzzy = fuzzyStore{}
	db.lastSeq = 0
	db.stream = ""
}

// Options returns the options the DB was built with.
func (db *DB) Options() Options { return db.opts }

// key derives the 64-bit key of a fingerprint of a class (the digest
// table's key, and the entry half of a report's key).
func key(fp *fingerprint.FP, c Class) uint64 {
	if fp.Kind == fingerprint.KindFuzzy {
		return fuzzyKey(&fp.Sig, c)
	}
	return binary.LittleEndian.Uint64(fp.Digest[:8]) ^ mixKC(fp.Kind, c)
}

func mixKC(k fingerprint.Kind, c Class) uint64 {
	return mix64(uint64(k)<<8 | uint64(c) + 0x9e3779b97f4a7c15)
}

func sourceKey(s string) uint32 {
	h := sha256.Sum256([]byte(s))
	return binary.LittleEndian.Uint32(h[:4])
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

// ref is an entry being changed: its key, its meta and, for a fuzzy
// entry, its index and inline reporter (see fuzzyEntry).
type ref struct {
	key      uint64
	fuzzy    bool
	fi       uint32
	m        meta
	reporter uint32
}

// get looks up the entry of a fingerprint of a class; ok is false when
// there is none (r then holds only the key and kind).
func (db *DB) get(fp *fingerprint.FP, c Class) (r ref, ok bool) {
	r = ref{key: key(fp, c), fuzzy: fp.Kind == fingerprint.KindFuzzy}
	if r.fuzzy {
		if r.fi, ok = db.fuzzy.find(&fp.Sig, c); ok {
			fe := db.fuzzy.at(r.fi)
			r.m, r.reporter = fe.meta, fe.reporter
		}
		return r, ok
	}
	r.m, ok = db.digests.get(dkey(r.key))
	return r, ok
}

func (db *DB) add(e *Entry, now time.Time) {
	if e.Class != ClassSpam && e.Class != ClassHam {
		return
	}
	exp := db.expiry(e, now)
	if exp <= unixSec(now) {
		return
	}
	r, exists := db.get(&e.FP, e.Class)
	if !exists {
		r.m = meta{kind: uint8(e.FP.Kind), flags: uint8(e.Class) << classShift}
	}
	var src uint32
	if !e.Trusted {
		src = sourceKey(e.Source)
	}
	own := !e.Trusted && r.m.inline() && r.reporter == src
	// An inline report expires with its entry: when another report or a
	// feed extends the entry, the inline one keeps its expiry in pairs.
	if r.m.inline() && !own && exp > r.m.expires {
		db.pairs.put(newPairKey(r.key, r.reporter), r.m.expires)
		r.m.flags &^= flagInline
		r.reporter = 0
	}
	if exp > r.m.expires {
		r.m.expires = exp
	}
	if e.Trusted {
		r.m.flags |= flagTrusted
		r.m.weight = float32(e.Weight)
	} else {
		if !own { // the inline report's expiry is the entry's, just updated
			db.report(&r, src, exp)
		}
		if !r.m.trusted() && float32(e.Weight) > r.m.weight {
			r.m.weight = float32(e.Weight)
		}
	}
	switch {
	case !r.fuzzy:
		db.digests.put(dkey(r.key), r.m)
	case exists:
		db.fuzzy.set(r.fi, r.m, r.reporter)
	default:
		db.fuzzy.insert(&e.FP.Sig, r.m, r.reporter)
	}
}

// report records source src's report of entry r, expiring at exp (r.m's
// expiry already covers it), and counts a new reporter. A fuzzy entry
// without an inline report takes it inline when the report lasts as long
// as the entry; any other report is a pairs record.
func (db *DB) report(r *ref, src, exp uint32) {
	pk := newPairKey(r.key, src)
	pexp, dup := db.pairs.get(pk)
	if !dup && r.m.reporters < math.MaxUint16 {
		r.m.reporters++
	}
	switch {
	case r.fuzzy && !r.m.inline() && max(pexp, exp) == r.m.expires:
		if dup {
			db.pairs.del(pk)
		}
		r.m.flags |= flagInline
		r.reporter = src
	case !dup || exp > pexp:
		db.pairs.put(pk, exp)
	}
}

func (db *DB) remove(e *Entry) {
	r, exists := db.get(&e.FP, e.Class)
	if !exists {
		return
	}
	if e.Trusted {
		r.m.flags &^= flagTrusted
	} else {
		src := sourceKey(e.Source)
		switch {
		case r.m.inline() && r.reporter == src:
			r.m.flags &^= flagInline
			r.reporter = 0
		case !db.pairs.del(newPairKey(r.key, src)):
			return
		}
		if r.m.reporters > 0 {
			r.m.reporters--
		}
	}
	db.store(&r)
}

// store writes back entry r or drops it when nothing holds it any more.
func (db *DB) store(r *ref) {
	switch {
	case r.m.alive() && r.fuzzy:
		db.fuzzy.set(r.fi, r.m, r.reporter)
	case r.m.alive():
		db.digests.put(dkey(r.key), r.m)
	case r.fuzzy:
		db.fuzzy.remove(r.fi)
	default:
		db.digests.del(dkey(r.key))
	}
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
			if m, ok := db.digests.get(dkey(key(fp, c))); ok && m.live(t) && m.alive() {
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

// maxBandCandidates bounds the entries compared per band of a lookup: a
// campaign of many near-identical stored variants shares its band values,
// and comparing a few dozen of them finds a match as well as all would.
const maxBandCandidates = 48

func (db *DB) lookupFuzzy(fp *fingerprint.FP, t uint32, out []Match) []Match {
	var best [3]Match
	var seen [16]uint32
	checked := seen[:0]
	n := 0
	consider := func(fi uint32) bool {
		if n++; n > maxBandCandidates {
			return false
		}
		if slices.Contains(checked, fi) {
			return true
		}
		checked = append(checked, fi)
		fe := db.fuzzy.at(fi)
		if !fe.meta.live(t) || !fe.meta.alive() {
			return true
		}
		sim := fingerprint.Similarity(&fp.Sig, &fe.sig)
		c := fe.meta.class()
		if sim >= db.opts.FuzzyThreshold && sim > best[c].Similarity {
			best[c] = match(fe.meta, fp, sim)
		}
		return true
	}
	for b := 0; b < fingerprint.Bands; b++ {
		n = 0
		db.fuzzy.candidates(b, fingerprint.BandValue(&fp.Sig, b), consider)
	}
	for _, c := range [...]Class{ClassSpam, ClassHam} {
		if best[c].Similarity > 0 {
			out = append(out, best[c])
		}
	}
	return out
}

// Sweep drops expired entries and reports and returns how many entries it
// dropped: the expired ones and those whose last report expired.
func (db *DB) Sweep(now time.Time) int {
	t := unixSec(now)
	db.mu.Lock()
	defer db.mu.Unlock()
	// Expired reports: withdraw them from their entries. A fuzzy entry is
	// found by its key, which is computed from its signature, so those are
	// collected and matched in one pass over the fuzzy entries.
	var expired []pairKey
	db.pairs.each(func(pk pairKey, exp uint32) {
		if exp <= t {
			expired = append(expired, pk)
		}
	})
	fuzzyGone := map[uint64]uint16{}
	n := 0
	for _, pk := range expired {
		db.pairs.del(pk)
		if m, ok := db.digests.get(dkey(pk.entry())); ok {
			if m.reporters > 0 {
				m.reporters--
			}
			db.store(&ref{key: pk.entry(), m: m}) // drops it when no report is left
			if !m.alive() {
				n++
			}
		} else {
			fuzzyGone[pk.entry()]++
		}
	}
	var drop []uint32
	db.fuzzy.each(func(i uint32, e *fuzzyEntry) {
		if len(fuzzyGone) > 0 {
			if n := fuzzyGone[fuzzyKey(&e.sig, e.meta.class())]; n > 0 {
				e.meta.reporters -= min(n, e.meta.reporters)
			}
		}
		if !e.meta.live(t) {
			drop = append(drop, i)
			n++
		} else if !e.meta.alive() {
			drop = append(drop, i)
			n++
		}
	})
	db.fuzzy.removeAll(drop)
	var dead []dkey
	db.digests.each(func(k dkey, m meta) {
		if !m.live(t) {
			dead = append(dead, k)
		}
	})
	for _, k := range dead {
		db.digests.del(k)
	}
	return n + len(dead)
}

// Stats describes the index size.
type Stats struct {
	// Reports counts the untrusted sources' reports of entries (each
	// source once per entry).
	Digests, Fuzzy, Reports int
	LastSeq                 uint64
}

// Stats returns the index size and the last applied stream sequence.
func (db *DB) Stats() Stats {
	db.mu.RLock()
	defer db.mu.RUnlock()
	return Stats{Digests: db.digests.len(), Fuzzy: db.fuzzy.len(), Reports: db.pairs.len() + db.fuzzy.inline, LastSeq: db.lastSeq}
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

// Stream returns the identity of the stream incarnation that LastSeq
// counts in ("" before the first sync).
func (db *DB) Stream() string {
	db.mu.RLock()
	defer db.mu.RUnlock()
	return db.stream
}

func (db *DB) setStream(id string) {
	db.mu.Lock()
	defer db.mu.Unlock()
	db.stream = id
}
