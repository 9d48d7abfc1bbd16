package fpdb

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"math/rand/v2"
	"os"
	"runtime"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	classifierv1 "github.com/mxgate/mxgate/proto/mxgate/classifier/v1"
	"github.com/mxgate/mxgate/services/classifier/internal/fingerprint"
)

const text = `Dear friend, we are pleased to inform you that your email address has been selected
for our annual international lottery draw and you have won the sum of two million dollars.
To claim your prize please contact our agent with your full name, address and phone number.`

func digestFP(k fingerprint.Kind, s string) fingerprint.FP {
	return fingerprint.FP{Kind: k, Digest: sha256.Sum256([]byte(s))}
}

func fuzzyFP(t testing.TB, s string) fingerprint.FP {
	sig, ok := fingerprint.SignatureOf(fingerprint.Normalize(s))
	if !ok {
		t.Fatal("no signature")
	}
	return fingerprint.FP{Kind: fingerprint.KindFuzzy, Sig: sig}
}

func TestAddLookupRemove(t *testing.T) {
	db := New(DefaultOptions())
	now := time.Now()
	dom := digestFP(fingerprint.KindURLDomain, "bad.example")
	db.Add(Entry{FP: dom, Class: ClassSpam, Weight: 5, Source: "feed", Trusted: true}, now)
	got := db.Lookup([]fingerprint.FP{dom, digestFP(fingerprint.KindURLDomain, "good.example")}, now)
	if len(got) != 1 || got[0].Class != ClassSpam || !got[0].Trusted || got[0].Weight != 5 || got[0].Similarity != 1 {
		t.Fatalf("lookup = %+v", got)
	}
	// The same digest under another kind does not match.
	if got := db.Lookup([]fingerprint.FP{digestFP(fingerprint.KindURL, "bad.example")}, now); len(got) != 0 {
		t.Fatalf("kind mixed up: %+v", got)
	}
	db.Remove(Entry{FP: dom, Class: ClassSpam, Trusted: true})
	if got := db.Lookup([]fingerprint.FP{dom}, now); len(got) != 0 {
		t.Fatalf("after remove: %+v", got)
	}
}

func TestReportersCountedOnce(t *testing.T) {
	db := New(DefaultOptions())
	now := time.Now()
	fp := digestFP(fingerprint.KindExact, "x")
	for _, src := range []string{"a@x", "a@x", "b@x"} {
		db.Add(Entry{FP: fp, Class: ClassSpam, Source: src}, now)
	}
	if got := db.Lookup([]fingerprint.FP{fp}, now); len(got) != 1 || got[0].Reporters != 2 || got[0].Trusted {
		t.Fatalf("lookup = %+v", got)
	}
	db.Remove(Entry{FP: fp, Class: ClassSpam, Source: "c@x"}) // never reported: no effect
	db.Remove(Entry{FP: fp, Class: ClassSpam, Source: "a@x"})
	if got := db.Lookup([]fingerprint.FP{fp}, now); len(got) != 1 || got[0].Reporters != 1 {
		t.Fatalf("after one withdrawal = %+v", got)
	}
	db.Remove(Entry{FP: fp, Class: ClassSpam, Source: "b@x"})
	if got := db.Lookup([]fingerprint.FP{fp}, now); len(got) != 0 {
		t.Fatalf("after all withdrawals = %+v", got)
	}
	if s := db.Stats(); s.Digests != 0 || s.Reports != 0 {
		t.Fatalf("stats = %+v", s)
	}
}

// TestFuzzyInlineReport: a fuzzy entry's single reporter is held in the
// entry, not in pairs; a later report extending the entry moves it to
// pairs with its own expiry, which still ends it on time.
func TestFuzzyInlineReport(t *testing.T) {
	db := New(DefaultOptions())
	t0 := time.Unix(1_700_000_000, 0)
	fp := randFuzzyFP(1)
	lookup := func(at time.Time) []Match { return db.Lookup([]fingerprint.FP{fp}, at) }
	db.Add(Entry{FP: fp, Class: ClassSpam, Source: "a@x", ExpiresAt: t0.Add(10 * time.Hour)}, t0)
	if s := db.Stats(); s.Reports != 1 || db.pairs.len() != 0 || !db.HasReport(&fp, ClassSpam, "a@x") {
		t.Fatalf("one reporter: stats %+v, %d pairs", s, db.pairs.len())
	}
	db.Add(Entry{FP: fp, Class: ClassSpam, Source: "b@x", ExpiresAt: t0.Add(20 * time.Hour)}, t0)
	db.Add(Entry{FP: fp, Class: ClassSpam, Source: "a@x", ExpiresAt: t0.Add(5 * time.Hour)}, t0) // a repeat: no change
	if s := db.Stats(); s.Reports != 2 || db.pairs.len() != 1 || !db.HasReport(&fp, ClassSpam, "a@x") || !db.HasReport(&fp, ClassSpam, "b@x") {
		t.Fatalf("two reporters: stats %+v, %d pairs", s, db.pairs.len())
	}
	if got := lookup(t0); len(got) != 1 || got[0].Reporters != 2 {
		t.Fatalf("two reporters: %+v", got)
	}
	if n := db.Sweep(t0.Add(15 * time.Hour)); n != 0 {
		t.Fatalf("sweep dropped %d entries", n)
	}
	if got := lookup(t0.Add(15 * time.Hour)); len(got) != 1 || got[0].Reporters != 1 || db.HasReport(&fp, ClassSpam, "a@x") {
		t.Fatalf("after a's report expired: %+v", got)
	}
	// A feed extending the entry moves b's report to pairs: it still
	// expires at 20h and the entry lives on as a trusted one.
	db.Add(Entry{FP: fp, Class: ClassSpam, Trusted: true, ExpiresAt: t0.Add(40 * time.Hour)}, t0)
	if db.pairs.len() != 1 || db.fuzzy.inline != 0 {
		t.Fatalf("after the feed: %d pairs, %d inline", db.pairs.len(), db.fuzzy.inline)
	}
	db.Sweep(t0.Add(25 * time.Hour))
	if got := lookup(t0.Add(25 * time.Hour)); len(got) != 1 || got[0].Reporters != 0 || !got[0].Trusted {
		t.Fatalf("after b's report expired: %+v", got)
	}
	db.Remove(Entry{FP: fp, Class: ClassSpam, Trusted: true})
	if s := db.Stats(); s != (Stats{}) {
		t.Fatalf("not empty: %+v", s)
	}
}

// TestFuzzyReportsLikeDigests applies the same random reports, withdrawals,
// feed additions, sweeps and snapshot round trips to digest entries (whose
// reports are all pairs records) and to fuzzy entries (which hold one
// report inline): everything observable must be the same.
func TestFuzzyReportsLikeDigests(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	now := time.Unix(1_700_000_000, 0)
	dig, fuz := New(DefaultOptions()), New(DefaultOptions())
	const entries, sources = 4, 5
	sawInline, sawPairs := false, false
	for step := range 6000 {
		i, c := rng.IntN(entries), Class(1+rng.IntN(2))
		e := Entry{Class: c, Weight: float64(rng.IntN(3)), ExpiresAt: now.Add(time.Duration(1+rng.IntN(120)) * time.Minute)}
		if rng.IntN(5) == 0 {
			e.Trusted, e.Source = true, "feed"
		} else {
			e.Source = "user" + strconv.Itoa(rng.IntN(sources))
		}
		switch op := rng.IntN(20); {
		case op < 12:
			e.FP = seqFP(i)
			dig.Add(e, now)
			e.FP = randFuzzyFP(i)
			fuz.Add(e, now)
		case op < 17:
			e.FP = seqFP(i)
			dig.Remove(e)
			e.FP = randFuzzyFP(i)
			fuz.Remove(e)
		case op < 19:
			// The counts Sweep returns differ by kind: a digest entry
			// dropped because its last report expired is not counted.
			now = now.Add(time.Duration(rng.IntN(40)) * time.Minute)
			dig.Sweep(now)
			fuz.Sweep(now)
		default:
			var buf bytes.Buffer
			if _, err := fuz.WriteSnapshot(&buf); err != nil {
				t.Fatal(err)
			}
			fuz = New(DefaultOptions())
			if _, err := fuz.LoadSnapshot(&buf); err != nil {
				t.Fatal(err)
			}
		}
		sawInline = sawInline || fuz.fuzzy.inline > 0
		sawPairs = sawPairs || fuz.pairs.len() > 0
		if a, b := dig.Stats(), fuz.Stats(); a.Digests != b.Fuzzy || a.Reports != b.Reports {
			t.Fatalf("step %d: stats %+v vs %+v", step, a, b)
		}
		for i := range entries {
			d, f := seqFP(i), randFuzzyFP(i)
			a, b := dig.Lookup([]fingerprint.FP{d}, now), fuz.Lookup([]fingerprint.FP{f}, now)
			for j := range b {
				b[j].Kind = a[min(j, len(a)-1)].Kind
			}
			if !slices.Equal(a, b) {
				t.Fatalf("step %d, entry %d: digest %+v, fuzzy %+v", step, i, a, b)
			}
			for _, c := range [...]Class{ClassSpam, ClassHam} {
				for s := range sources {
					src := "user" + strconv.Itoa(s)
					if a, b := dig.HasReport(&d, c, src), fuz.HasReport(&f, c, src); a != b {
						t.Fatalf("step %d, entry %d %v: HasReport(%s) %v vs %v", step, i, c, src, a, b)
					}
				}
			}
		}
	}
	if !sawInline || !sawPairs {
		t.Fatalf("inline reports seen %v, pairs records seen %v", sawInline, sawPairs)
	}
}

func TestFuzzyMatch(t *testing.T) {
	db := New(DefaultOptions())
	now := time.Now()
	db.Add(Entry{FP: fuzzyFP(t, text), Class: ClassSpam, Source: "s", Trusted: true}, now)
	near := fuzzyFP(t, strings.Replace(text, "two million", "five million", 1))
	got := db.Lookup([]fingerprint.FP{near}, now)
	// One changed word of 49 leaves J = 0.92 for two-word shingles; the
	// estimate must stay well clear of the threshold.
	if len(got) != 1 || got[0].Similarity < 0.8 || got[0].Kind != fingerprint.KindFuzzy {
		t.Fatalf("near duplicate lookup = %+v", got)
	}
	t.Logf("near duplicate similarity %.2f", got[0].Similarity)
	far := fuzzyFP(t, "The quarterly report is attached; please review the figures for the northern region before Thursday's meeting and send comments.")
	if got := db.Lookup([]fingerprint.FP{far}, now); len(got) != 0 {
		t.Fatalf("unrelated text matched: %+v", got)
	}
	db.Remove(Entry{FP: fuzzyFP(t, text), Class: ClassSpam, Trusted: true})
	if got := db.Lookup([]fingerprint.FP{near}, now); len(got) != 0 {
		t.Fatalf("after remove: %+v", got)
	}
	if s := db.Stats(); s.Fuzzy != 0 || bandSlots(db) != 0 {
		t.Fatalf("index not empty: %+v band slots=%d", s, bandSlots(db))
	}
}

// bandSlots counts the used slots of the LSH band tables.
func bandSlots(db *DB) int {
	n := 0
	for _, tab := range db.fuzzy.bands {
		for _, x := range tab {
			if x != 0 {
				n++
			}
		}
	}
	return n
}

func TestFuzzySharedBands(t *testing.T) {
	db := New(DefaultOptions())
	now := time.Now()
	a := fuzzyFP(t, text)
	b := fuzzyFP(t, text+" and some more words at the end")
	db.Add(Entry{FP: a, Class: ClassSpam, Trusted: true}, now)
	db.Add(Entry{FP: b, Class: ClassHam, Trusted: true}, now)
	if got := db.Lookup([]fingerprint.FP{a}, now); len(got) != 2 {
		t.Fatalf("want a spam and a ham match, got %+v", got)
	}
	db.Remove(Entry{FP: a, Class: ClassSpam, Trusted: true})
	got := db.Lookup([]fingerprint.FP{a}, now)
	if len(got) != 1 || got[0].Class != ClassHam {
		t.Fatalf("after removing the spam entry: %+v", got)
	}
}

// TestFuzzyCrowdedBands stores many variants sharing every band value (a
// campaign): lookups still match, and an entry is still found for removal.
func TestFuzzyCrowdedBands(t *testing.T) {
	db := New(DefaultOptions())
	now := time.Now()
	base := fuzzyFP(t, text)
	const n = 5000
	variant := func(i int) fingerprint.FP {
		fp := base
		binary.LittleEndian.PutUint32(fp.Sig[fingerprint.SigLen-4:], uint32(i)) // narrow minima only
		return fp
	}
	for i := range n {
		db.Add(Entry{FP: variant(i), Class: ClassSpam, Trusted: true}, now)
	}
	db.Add(Entry{FP: variant(n), Class: ClassHam, Trusted: true}, now)
	if s := db.Stats(); s.Fuzzy != n+1 {
		t.Fatalf("stats %+v", s)
	}
	start := time.Now()
	got := db.Lookup([]fingerprint.FP{base}, now)
	if len(got) == 0 || got[0].Class != ClassSpam || got[0].Similarity < 0.8 {
		t.Fatalf("lookup in a crowded bucket = %+v", got)
	}
	t.Logf("lookup among %d entries sharing all bands: %v", n, time.Since(start))
	db.Remove(Entry{FP: variant(n), Class: ClassHam, Trusted: true})
	db.Remove(Entry{FP: variant(7), Class: ClassSpam, Trusted: true})
	if s := db.Stats(); s.Fuzzy != n-1 {
		t.Fatalf("after removals: %+v", s)
	}
}

func TestExpiry(t *testing.T) {
	db := New(Options{MaxAge: time.Hour, FuzzyThreshold: 0.7})
	now := time.Now()
	short := digestFP(fingerprint.KindURL, "short")
	long := digestFP(fingerprint.KindURL, "long")
	capped := digestFP(fingerprint.KindURL, "capped")
	db.Add(Entry{FP: short, Class: ClassSpam, Trusted: true, ExpiresAt: now.Add(time.Minute)}, now)
	db.Add(Entry{FP: long, Class: ClassSpam, Source: "u", ExpiresAt: now.Add(50 * time.Minute)}, now)
	db.Add(Entry{FP: capped, Class: ClassSpam, Trusted: true, ExpiresAt: now.Add(1000 * time.Hour)}, now)
	db.Add(Entry{FP: fuzzyFP(t, text), Class: ClassSpam, Trusted: true, ExpiresAt: now.Add(time.Minute)}, now)
	db.Add(Entry{FP: digestFP(fingerprint.KindURL, "past"), Class: ClassSpam, Trusted: true, ExpiresAt: now.Add(-time.Minute)}, now)
	all := []fingerprint.FP{short, long, capped}
	if got := db.Lookup(all, now); len(got) != 3 {
		t.Fatalf("before expiry: %+v", got)
	}
	later := now.Add(2 * time.Minute)
	if got := db.Lookup(all, later); len(got) != 2 {
		t.Fatalf("expired entry still matches: %+v", got)
	}
	if n := db.Sweep(later); n != 2 {
		t.Fatalf("sweep dropped %d, want 2", n)
	}
	// MaxAge caps the far expiry; the reporter's pair expires with its
	// entry, which goes with its last report and is counted too.
	if n := db.Sweep(now.Add(61 * time.Minute)); n != 2 {
		t.Fatalf("second sweep dropped %d, want 2", n)
	}
	if s := db.Stats(); s.Digests != 0 || s.Fuzzy != 0 || s.Reports != 0 {
		t.Fatalf("not empty after sweeps: %+v", s)
	}
}

func TestApplySequence(t *testing.T) {
	db := New(DefaultOptions())
	e := Entry{FP: digestFP(fingerprint.KindExact, "x"), Class: ClassSpam, Source: "u"}
	b := &classifierv1.FingerprintEventBatch{Events: []*classifierv1.FingerprintEvent{NewEvent(&e, false, time.Now())}}
	if ok, _ := db.Apply(5, b); !ok {
		t.Fatal("first apply skipped")
	}
	if ok, _ := db.Apply(5, b); ok {
		t.Fatal("duplicate applied")
	}
	if ok, _ := db.Apply(3, b); ok {
		t.Fatal("older sequence applied")
	}
	bad := &classifierv1.FingerprintEventBatch{Events: []*classifierv1.FingerprintEvent{{Op: classifierv1.FingerprintEvent_OP_ADD, Fingerprint: &classifierv1.Fingerprint{Kind: 1, Digest: []byte{1}}}}}
	if ok, invalid := db.Apply(6, bad); !ok || invalid != 1 {
		t.Fatalf("bad event: applied=%v invalid=%d", ok, invalid)
	}
	// A fuzzy digest of another signature layout (the 64-byte one of
	// earlier versions) is invalid, not misread.
	old := &classifierv1.FingerprintEventBatch{Events: []*classifierv1.FingerprintEvent{{Op: classifierv1.FingerprintEvent_OP_ADD,
		Fingerprint: &classifierv1.Fingerprint{Kind: classifierv1.FingerprintKind(fingerprint.KindFuzzy), Class: 1, Digest: make([]byte, 64)}}}}
	if ok, invalid := db.Apply(7, old); !ok || invalid != 1 || db.Stats().Fuzzy != 0 {
		t.Fatalf("old fuzzy digest: applied=%v invalid=%d stats=%+v", ok, invalid, db.Stats())
	}
	if db.LastSeq() != 7 {
		t.Fatalf("last seq %d", db.LastSeq())
	}
}

func TestSnapshotRoundTrip(t *testing.T) {
	db := New(DefaultOptions())
	now := time.Now()
	db.Add(Entry{FP: digestFP(fingerprint.KindURLDomain, "bad.example"), Class: ClassSpam, Weight: 3, Trusted: true}, now)
	db.Add(Entry{FP: digestFP(fingerprint.KindExact, "x"), Class: ClassHam, Source: "a"}, now)
	db.Add(Entry{FP: fuzzyFP(t, text), Class: ClassSpam, Source: "b"}, now)
	db.lastSeq = 42
	var buf bytes.Buffer
	if seq, err := db.WriteSnapshot(&buf); err != nil || seq != 42 {
		t.Fatalf("write: %d %v", seq, err)
	}
	data := buf.Bytes()
	cp := New(DefaultOptions())
	if seq, err := cp.LoadSnapshot(bytes.NewReader(data)); err != nil || seq != 42 {
		t.Fatalf("load: %d %v", seq, err)
	}
	if a, b := db.Stats(), cp.Stats(); a != b {
		t.Fatalf("stats differ: %+v vs %+v", a, b)
	}
	q := []fingerprint.FP{digestFP(fingerprint.KindURLDomain, "bad.example"), digestFP(fingerprint.KindExact, "x"), fuzzyFP(t, text)}
	if got := cp.Lookup(q, now); len(got) != 3 {
		t.Fatalf("lookup after load: %+v", got)
	}
	// The loaded reports can still be withdrawn.
	cp.Remove(Entry{FP: digestFP(fingerprint.KindExact, "x"), Class: ClassHam, Source: "a"})
	if got := cp.Lookup(q[1:2], now); len(got) != 0 {
		t.Fatalf("withdrawal after load: %+v", got)
	}
	corrupt := append([]byte(nil), data...)
	corrupt[20] ^= 0xff
	if _, err := New(DefaultOptions()).LoadSnapshot(bytes.NewReader(corrupt)); err == nil {
		t.Fatal("corrupt snapshot loaded")
	}
	if _, err := New(DefaultOptions()).LoadSnapshot(bytes.NewReader(data[:len(data)-9])); err == nil {
		t.Fatal("truncated snapshot loaded")
	}
	// Another format version (version 1 held signatures of another layout)
	// is rejected, even with a valid checksum.
	for _, v := range []byte{'1', '4'} {
		other := append([]byte(nil), data[:len(data)-4]...)
		other[6] = v
		other = binary.LittleEndian.AppendUint32(other, crc32.ChecksumIEEE(other))
		if _, err := New(DefaultOptions()).LoadSnapshot(bytes.NewReader(other)); !errors.Is(err, ErrBadSnapshot) || !strings.Contains(err.Error(), "version") {
			t.Fatalf("version %c: %v", v, err)
		}
	}
}

// TestSnapshotVersion2 loads a version 2 snapshot (written by the code of
// that version; every report in the reports section): it reads as it was,
// and the reports can still be withdrawn and expire.
//
// The DB it holds, at t0 = 1,700,000,000 (unix seconds): a trusted spam
// domain "bad.example" (weight 3); a ham exact digest of "x" reported by
// a@x (expiring at t0+10h) and b@x (t0+20h); randFuzzyFP(1), trusted spam
// (weight 2); randFuzzyFP(2), spam reported by a@x (t0+10h) and b@x
// (t0+20h); randFuzzyFP(3), ham reported by c@x (t0+30h); sequence 42.
func TestSnapshotVersion2(t *testing.T) {
	data, err := os.ReadFile("testdata/snapshot-v2.bin")
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Unix(1_700_000_000, 0)
	db := New(DefaultOptions())
	if seq, err := db.LoadSnapshot(bytes.NewReader(data)); err != nil || seq != 42 {
		t.Fatalf("load: %d %v", seq, err)
	}
	if s := db.Stats(); s != (Stats{Digests: 2, Fuzzy: 3, Reports: 5, LastSeq: 42}) {
		t.Fatalf("stats %+v", s)
	}
	x, f2 := digestFP(fingerprint.KindExact, "x"), randFuzzyFP(2)
	q := []fingerprint.FP{digestFP(fingerprint.KindURLDomain, "bad.example"), x, randFuzzyFP(1), f2, randFuzzyFP(3)}
	want := []Match{
		{Kind: fingerprint.KindURLDomain, Class: ClassSpam, Weight: 3, Trusted: true, Similarity: 1},
		{Kind: fingerprint.KindExact, Class: ClassHam, Reporters: 2, Similarity: 1},
		{Kind: fingerprint.KindFuzzy, Class: ClassSpam, Weight: 2, Trusted: true, Similarity: 1},
		{Kind: fingerprint.KindFuzzy, Class: ClassSpam, Reporters: 2, Similarity: 1},
		{Kind: fingerprint.KindFuzzy, Class: ClassHam, Reporters: 1, Similarity: 1},
	}
	got := db.Lookup(q, t0)
	if len(got) != len(want) {
		t.Fatalf("lookup = %+v", got)
	}
	for i := range want {
		// Random signatures are not near duplicates of each other.
		if got[i] != want[i] {
			t.Errorf("match %d = %+v, want %+v", i, got[i], want[i])
		}
	}
	if !db.HasReport(&f2, ClassSpam, "a@x") || db.HasReport(&f2, ClassSpam, "c@x") {
		t.Fatal("HasReport")
	}
	// a@x's reports expire at t0+10h; c@x withdraws; b@x's reports (and
	// with them their entries) expire at t0+20h.
	if n := db.Sweep(t0.Add(15 * time.Hour)); n != 0 {
		t.Fatalf("sweep at 15h dropped %d", n)
	}
	if got := db.Lookup([]fingerprint.FP{x, f2}, t0.Add(15*time.Hour)); len(got) != 2 || got[0].Reporters != 1 || got[1].Reporters != 1 {
		t.Fatalf("after a@x's reports expired: %+v", got)
	}
	db.Remove(Entry{FP: randFuzzyFP(3), Class: ClassHam, Source: "c@x"})
	// Written again (as the current version) and loaded, it is the same.
	var buf bytes.Buffer
	if _, err := db.WriteSnapshot(&buf); err != nil {
		t.Fatal(err)
	}
	cp := New(DefaultOptions())
	if _, err := cp.LoadSnapshot(&buf); err != nil {
		t.Fatal(err)
	}
	for _, d := range []*DB{db, cp} {
		if s := d.Stats(); s != (Stats{Digests: 2, Fuzzy: 2, Reports: 2, LastSeq: 42}) {
			t.Fatalf("stats %+v", s)
		}
		d.Sweep(t0.Add(25 * time.Hour))
		if s := d.Stats(); s != (Stats{Digests: 1, Fuzzy: 1, LastSeq: 42}) {
			t.Fatalf("stats %+v", s)
		}
	}
	// A version 2 fuzzy record cannot hold an inline report: its flag
	// there is corruption, even with a valid checksum.
	const firstFuzzyFlags = 8 + 8 + 8 + 8 + 2*(8+metaBytes) + 8 + fingerprint.SigLen + 10
	bad := append([]byte(nil), data[:len(data)-4]...)
	bad[firstFuzzyFlags] |= flagInline
	bad = binary.LittleEndian.AppendUint32(bad, crc32.ChecksumIEEE(bad))
	if _, err := New(DefaultOptions()).LoadSnapshot(bytes.NewReader(bad)); !errors.Is(err, ErrBadSnapshot) || !strings.Contains(err.Error(), "inline") {
		t.Fatalf("version 2 with an inline flag: %v", err)
	}
}

func seqFP(i int) fingerprint.FP {
	var d fingerprint.Digest
	binary.LittleEndian.PutUint64(d[:], uint64(i)*0x9e3779b97f4a7c15+1)
	binary.LittleEndian.PutUint64(d[8:], uint64(i))
	return fingerprint.FP{Kind: fingerprint.KindURL, Digest: d}
}

// randFuzzyFP is a fuzzy fingerprint with a pseudo-random signature.
func randFuzzyFP(i int) fingerprint.FP {
	fp := fingerprint.FP{Kind: fingerprint.KindFuzzy}
	for j := 0; j < fingerprint.SigLen; j += 8 {
		binary.LittleEndian.PutUint64(fp.Sig[j:], uint64(i)*0x9e3779b97f4a7c15^uint64(j)*0xbf58476d1ce4e5b9)
	}
	return fp
}

// BenchmarkLookup looks up a message's fingerprints (two digests, one of
// them stored, and a fuzzy signature with a stored near duplicate) in a DB
// of 100k digests, and of 100k digests plus 1M fuzzy entries.
func BenchmarkLookup(b *testing.B) {
	for _, nFuzzy := range []int{0, 1000000} {
		b.Run(fmt.Sprintf("fuzzy=%d", nFuzzy), func(b *testing.B) {
			db := New(DefaultOptions())
			now := time.Now()
			for i := 0; i < 100000; i++ {
				db.Add(Entry{FP: seqFP(i), Class: ClassSpam, Trusted: true}, now)
			}
			for i := 0; i < nFuzzy; i++ {
				db.Add(Entry{FP: randFuzzyFP(i), Class: ClassSpam, Trusted: true}, now)
			}
			db.Add(Entry{FP: fuzzyFP(b, text), Class: ClassSpam, Trusted: true}, now)
			near := fuzzyFP(b, strings.Replace(text, "two million", "five million", 1))
			q := []fingerprint.FP{seqFP(7), seqFP(-1), near}
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				if len(db.Lookup(q, now)) != 2 {
					b.Fatal("lookup")
				}
			}
		})
	}
}

func rssBytes() uint64 {
	data, _ := os.ReadFile("/proc/self/status")
	for _, l := range strings.Split(string(data), "\n") {
		if strings.HasPrefix(l, "VmRSS:") {
			f := strings.Fields(l)
			kb, _ := strconv.ParseUint(f[1], 10, 64)
			return kb << 10
		}
	}
	return 0
}

// BenchmarkInsert1M measures the memory of one million entries (heap and
// RSS after a GC that returns free memory to the OS): digests
// (trusted, as from feeds), digests with one reporter each (as from user
// reports) and fuzzy signatures, trusted and with one reporter each. Run
// with -benchtime=1x.
func BenchmarkInsert1M(b *testing.B) {
	const n = 1000000
	for _, tc := range []struct {
		name string
		add  func(db *DB, i int, now time.Time)
	}{
		{"digest", func(db *DB, i int, now time.Time) {
			db.Add(Entry{FP: seqFP(i), Class: ClassSpam, Trusted: true}, now)
		}},
		{"digest-reported", func(db *DB, i int, now time.Time) {
			db.Add(Entry{FP: seqFP(i), Class: ClassSpam, Source: "user" + strconv.Itoa(i%1000)}, now)
		}},
		{"fuzzy", func(db *DB, i int, now time.Time) {
			db.Add(Entry{FP: randFuzzyFP(i), Class: ClassSpam, Trusted: true}, now)
		}},
		{"fuzzy-reported", func(db *DB, i int, now time.Time) {
			db.Add(Entry{FP: randFuzzyFP(i), Class: ClassSpam, Source: "user" + strconv.Itoa(i%1000)}, now)
		}},
	} {
		b.Run(tc.name, func(b *testing.B) {
			for b.Loop() {
				debug.FreeOSMemory()
				var before, after runtime.MemStats
				runtime.ReadMemStats(&before)
				rss0 := rssBytes()
				db := New(DefaultOptions())
				now := time.Now()
				start := time.Now()
				for i := 0; i < n; i++ {
					tc.add(db, i, now)
				}
				elapsed := time.Since(start)
				debug.FreeOSMemory() // RSS of the live index, without garbage not yet returned
				runtime.ReadMemStats(&after)
				b.ReportMetric(float64(after.HeapAlloc-before.HeapAlloc)/n, "heap-B/fp")
				b.ReportMetric(float64(rssBytes()-rss0)/n, "rss-B/fp")
				b.ReportMetric(float64(elapsed.Nanoseconds())/n, "ns/insert")
				runtime.KeepAlive(db)
			}
		})
	}
}
