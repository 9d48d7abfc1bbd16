package fpdb

import (
	"encoding/binary"
	"math/bits"

	"github.com/mxgate/mxgate/services/classifier/internal/fingerprint"
)

// fuzzyEntry is one fuzzy fingerprint (64 bytes, no pointers: an entry
// fills one cache line of its page-aligned chunk).
type fuzzyEntry struct {
	sig  fingerprint.Signature
	meta meta // meta.kind == 0 marks a free slot
	// reporter is, when meta.inline(), the source key of one untrusted
	// report held in the entry instead of a DB.pairs record (0 otherwise).
	// That report's expiry is meta.expires: a report goes inline only when
	// it lasts as long as the entry, and moves to pairs when the entry is
	// extended past it. A fuzzy entry reported by one mailbox (the usual
	// case) thus needs no pairs record (16 bytes at a load of 0.72-0.9).
	reporter uint32
}

const (
	chunkBits = 12
	chunkLen  = 1 << chunkBits
	// bandMaxLoad and bandGrow keep the band tables' load in [0.72, 0.9]:
	// slots are 4 bytes and carry tag bits, so long probe runs stay cheap.
	bandMaxLoad = 0.9
	bandGrow    = 1.25
)

// fuzzyStore holds the fuzzy entries and their LSH index.
//
// Entries live in fixed-size chunks (growing never copies them and wastes
// at most one chunk), addressed by a 32-bit index; a removed entry's slot
// is recycled. The index is one open-addressing table per LSH band whose
// slots are single uint32s: the entry index plus one in the low idxBits
// bits and, above it, tag bits of the band's hash. A band's 32-bit value is
// read from the entry's own signature, so nothing else is stored per band:
// a probe compares tags and reads a signature only on a tag match. An
// entry is found by its signature through band 0 (there is no separate
// key map).
type fuzzyStore struct {
	chunks [][]fuzzyEntry
	next   uint32 // entries ever allocated (high-water index)
	free   []uint32
	live   int // entries present (allocated and not free)
	inline int // entries present holding an inline report

	cap     int // slots per band table
	idxBits uint
	bands   [fingerprint.Bands][]uint32
}

func (s *fuzzyStore) at(i uint32) *fuzzyEntry { return &s.chunks[i>>chunkBits][i&(chunkLen-1)] }

func (s *fuzzyStore) len() int { return s.live }

// bandHash hashes band b's value; the high half picks the slot, the low
// half gives the tag.
func bandHash(v uint32, b int) uint64 {
	return mix64(uint64(v) | uint64(b+1)<<32)
}

func mix64(x uint64) uint64 {
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	return x ^ x>>31
}

func (s *fuzzyStore) idxMask() uint32 { return uint32(1)<<s.idxBits - 1 }

func (s *fuzzyStore) tagOf(h uint64) uint32 {
	if s.idxBits >= 32 {
		return 0
	}
	return uint32(h) >> s.idxBits
}

// slot encodes entry i with tag t.
func (s *fuzzyStore) slot(t, i uint32) uint32 {
	if s.idxBits >= 32 {
		return i + 1
	}
	return t<<s.idxBits | (i + 1)
}

// candidates calls fn for every present entry whose band b equals v, until
// fn returns false.
func (s *fuzzyStore) candidates(b int, v uint32, fn func(i uint32) bool) {
	n := s.cap
	if n == 0 {
		return
	}
	h := bandHash(v, b)
	tag, mask := s.tagOf(h), s.idxMask()
	tab := s.bands[b]
	for j := home(h, n); ; {
		x := tab[j]
		if x == 0 {
			return
		}
		if s.idxBits >= 32 || x>>s.idxBits == tag {
			i := x&mask - 1
			if fingerprint.BandValue(&s.at(i).sig, b) == v && !fn(i) {
				return
			}
		}
		if j++; j == n {
			j = 0
		}
	}
}

// find returns the index of the entry with this signature and class.
func (s *fuzzyStore) find(sig *fingerprint.Signature, c Class) (uint32, bool) {
	var found uint32
	ok := false
	s.candidates(0, fingerprint.BandValue(sig, 0), func(i uint32) bool {
		e := s.at(i)
		if e.sig == *sig && e.meta.class() == c {
			found, ok = i, true
			return false
		}
		return true
	})
	return found, ok
}

// append stores an entry without indexing it; rebuild must follow.
func (s *fuzzyStore) append(sig *fingerprint.Signature, m meta, reporter uint32) {
	i := s.next
	s.next++
	if int(i>>chunkBits) == len(s.chunks) {
		s.chunks = append(s.chunks, make([]fuzzyEntry, chunkLen))
	}
	s.fill(i, sig, m, reporter)
}

// fill stores an entry in the empty slot i, without indexing it.
func (s *fuzzyStore) fill(i uint32, sig *fingerprint.Signature, m meta, reporter uint32) {
	*s.at(i) = fuzzyEntry{sig: *sig, meta: m, reporter: reporter}
	s.live++
	if m.inline() {
		s.inline++
	}
}

// clear empties the slot of entry i, without unindexing it.
func (s *fuzzyStore) clear(i uint32) {
	if s.at(i).meta.inline() {
		s.inline--
	}
	*s.at(i) = fuzzyEntry{}
	s.free = append(s.free, i)
	s.live--
}

// set replaces the meta and inline reporter of entry i.
func (s *fuzzyStore) set(i uint32, m meta, reporter uint32) {
	e := s.at(i)
	if e.meta.inline() {
		s.inline--
	}
	if m.inline() {
		s.inline++
	}
	e.meta, e.reporter = m, reporter
}

// insert adds an entry and returns its index.
func (s *fuzzyStore) insert(sig *fingerprint.Signature, m meta, reporter uint32) uint32 {
	var i uint32
	if n := len(s.free); n > 0 {
		i = s.free[n-1]
		s.free = s.free[:n-1]
	} else {
		i = s.next
		s.next++
		if int(i>>chunkBits) == len(s.chunks) {
			s.chunks = append(s.chunks, make([]fuzzyEntry, chunkLen))
		}
	}
	s.fill(i, sig, m, reporter)
	if float64(s.live) > bandMaxLoad*float64(s.cap) || s.next > s.idxMask() {
		s.rebuild(max(64, int(float64(s.live)*bandGrow/bandMaxLoad)))
		return i
	}
	for b := range s.bands {
		s.place(b, i)
	}
	return i
}

// place puts entry i into band table b (there is a free slot).
func (s *fuzzyStore) place(b int, i uint32) {
	h := bandHash(fingerprint.BandValue(&s.at(i).sig, b), b)
	tab := s.bands[b]
	j := home(h, s.cap)
	for tab[j] != 0 {
		if j++; j == s.cap {
			j = 0
		}
	}
	tab[j] = s.slot(s.tagOf(h), i)
}

// rebuild sizes the band tables for n slots and refills them from the
// entries (also after the index width changed).
func (s *fuzzyStore) rebuild(n int) {
	s.cap = max(n, int(float64(s.live)/bandMaxLoad)+1)
	s.idxBits = uint(bits.Len32(s.next))
	if limit := uint32(len(s.chunks)) << chunkBits; limit > s.next {
		s.idxBits = uint(bits.Len32(limit))
	}
	for b := range s.bands {
		s.bands[b] = nil // let the old table go before the new one is built
		s.bands[b] = make([]uint32, s.cap)
		for i := uint32(0); i < s.next; i++ {
			if s.at(i).meta.kind != 0 {
				s.place(b, i)
			}
		}
	}
}

// remove drops entry i.
func (s *fuzzyStore) remove(i uint32) {
	for b := range s.bands {
		s.unplace(b, i)
	}
	s.clear(i)
}

// removeAll drops the entries listed; many at once are cheaper to drop by
// rebuilding the band tables than one by one.
func (s *fuzzyStore) removeAll(idx []uint32) {
	if len(idx) < 1024 || len(idx) < s.live/8 {
		for _, i := range idx {
			s.remove(i)
		}
		return
	}
	for _, i := range idx {
		s.clear(i)
	}
	s.rebuild(max(64, int(float64(s.live)*bandGrow/bandMaxLoad)))
}

// unplace removes entry i from band table b, shifting later slots of the
// probe run back (their home is recomputed from their signatures).
func (s *fuzzyStore) unplace(b int, i uint32) {
	n := s.cap
	tab := s.bands[b]
	h := bandHash(fingerprint.BandValue(&s.at(i).sig, b), b)
	want := s.slot(s.tagOf(h), i)
	hole := home(h, n)
	for tab[hole] != want {
		if tab[hole] == 0 {
			return
		}
		if hole++; hole == n {
			hole = 0
		}
	}
	mask := s.idxMask()
	for j := hole; ; {
		if j++; j == n {
			j = 0
		}
		x := tab[j]
		if x == 0 {
			break
		}
		k := home(bandHash(fingerprint.BandValue(&s.at(x&mask-1).sig, b), b), n)
		if (hole <= j && (k <= hole || k > j)) || (hole > j && k <= hole && k > j) {
			tab[hole] = x
			hole = j
		}
	}
	tab[hole] = 0
}

// each calls fn for every present entry.
func (s *fuzzyStore) each(fn func(i uint32, e *fuzzyEntry)) {
	for i := uint32(0); i < s.next; i++ {
		if e := s.at(i); e.meta.kind != 0 {
			fn(i, e)
		}
	}
}

// fuzzyKey is the 64-bit identity of a fuzzy entry (for report records):
// a fixed hash of the signature, mixed with the class.
func fuzzyKey(sig *fingerprint.Signature, c Class) uint64 {
	h := uint64(len(sig))
	for i := 0; i+8 <= len(sig); i += 8 {
		h = mix64(h ^ binary.LittleEndian.Uint64(sig[i:]))
	}
	return h ^ mixKC(fingerprint.KindFuzzy, c)
}
