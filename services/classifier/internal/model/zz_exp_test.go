package model

import (
	"fmt"
	"os"
	"testing"

	"github.com/mxgate/mxgate/services/classifier/internal/textextract"
)

func TestZZSwaks(t *testing.T) {
	if os.Getenv("MXEXP") == "" {
		t.Skip()
	}
	m, err := LoadFile(os.Getenv("MXMODEL"))
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"a.eml", "c.eml", "swaks.eml"} {
		raw, _ := os.ReadFile("/tmp/exp/swaks/" + f)
		msg := textextract.Parse(raw)
		s := m.NewScorer()
		fs, split := s.Features(msg)
		fmt.Printf("%s score=%.3f n0=%d n1=%d v0=%.3f v1=%.3f bias=%.3f %.3f\n", f, m.Score(msg), split, len(fs)-split,
			m.viewScore(0, fs[:split]), m.viewScore(1, fs[split:]), m.b(0), m.b(1))
	}
}
