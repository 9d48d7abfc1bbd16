package fpdb

import (
	"bytes"
	"os"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	classifierv1 "github.com/mxgate/mxgate/proto/mxgate/classifier/v1"
	"github.com/mxgate/mxgate/services/classifier/internal/fingerprint"
)

// FuzzLoadSnapshot: snapshots come from the object store; a corrupt one
// must be rejected without panicking or changing the index.
func FuzzLoadSnapshot(f *testing.F) {
	db := New(DefaultOptions())
	now := time.Now()
	db.Add(Entry{FP: digestFP(fingerprint.KindURL, "x"), Class: ClassSpam, Source: "a"}, now)
	db.Add(Entry{FP: fuzzyFP(f, text), Class: ClassHam, Trusted: true}, now)
	var buf bytes.Buffer
	if _, err := db.WriteSnapshot(&buf); err != nil {
		f.Fatal(err)
	}
	f.Add(buf.Bytes())
	f.Add([]byte("MXFPDB1\n"))
	v2, err := os.ReadFile("testdata/snapshot-v2.bin")
	if err != nil {
		f.Fatal(err)
	}
	f.Add(v2)
	f.Fuzz(func(t *testing.T, data []byte) {
		d := New(DefaultOptions())
		if _, err := d.LoadSnapshot(bytes.NewReader(data)); err != nil && d.Stats() != (Stats{}) {
			t.Fatal("failed load changed the index")
		}
	})
}

// FuzzApply: events come from the stream; any payload decodes or is
// skipped without panicking.
func FuzzApply(f *testing.F) {
	e := Entry{FP: digestFP(fingerprint.KindExact, "x"), Class: ClassSpam, Source: "a"}
	b, _ := proto.Marshal(&classifierv1.FingerprintEventBatch{Events: []*classifierv1.FingerprintEvent{NewEvent(&e, false, time.Now())}})
	f.Add(b)
	f.Fuzz(func(t *testing.T, data []byte) {
		var batch classifierv1.FingerprintEventBatch
		if proto.Unmarshal(data, &batch) != nil {
			return
		}
		d := New(DefaultOptions())
		d.Apply(1, &batch)
		d.Lookup([]fingerprint.FP{e.FP}, time.Now())
		d.Sweep(time.Now().Add(1000 * time.Hour))
	})
}
