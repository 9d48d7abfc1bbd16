package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/mxgate/mxgate/services/classifier/internal/eval"
	"github.com/mxgate/mxgate/services/classifier/internal/model"
)

func TestSubcommandsRegistered(t *testing.T) {
	for _, name := range []string{"train", "classify", "eval"} {
		if subcommands[name] == nil {
			t.Errorf("subcommand %q not registered", name)
		}
	}
}

func TestClassifyJSON(t *testing.T) {
	dir := t.TempDir()
	sub := filepath.Join(dir, "sub")
	if err := os.Mkdir(sub, 0o755); err != nil {
		t.Fatal(err)
	}
	files := map[string]string{
		filepath.Join(dir, "gtube.eml"): "From: a@example.com\nSubject: test\n\n" + model.GTUBE + "\n",
		filepath.Join(sub, "ham.eml"): "From: Alice <alice@example.org>\nSubject: Re: patch\nIn-Reply-To: <1@example.org>\n\n" +
			"Thanks, I applied the patch and the build passes now. See you at the meeting tomorrow.\n",
	}
	for p, c := range files {
		if err := os.WriteFile(p, []byte(c), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	var out bytes.Buffer
	if err := classify(context.Background(), []string{dir}, &out); err != nil {
		t.Fatal(err)
	}
	got := map[string]struct {
		File  string  `json:"file"`
		Class string  `json:"class"`
		Score float64 `json:"score"`
	}{}
	dec := json.NewDecoder(&out)
	for dec.More() {
		var r struct {
			File  string  `json:"file"`
			Class string  `json:"class"`
			Score float64 `json:"score"`
		}
		if err := dec.Decode(&r); err != nil {
			t.Fatal(err)
		}
		got[r.File] = r
	}
	if len(got) != 2 {
		t.Fatalf("got %d results: %v", len(got), got)
	}
	g := got[filepath.Join(dir, "gtube.eml")]
	if g.Class != "spam" || g.Score < 100 {
		t.Errorf("GTUBE: %+v", g)
	}
	h := got[filepath.Join(sub, "ham.eml")]
	if h.Class != "legit" || h.Score >= g.Score {
		t.Errorf("ham: %+v", h)
	}
}

func TestWriteScoresOrder(t *testing.T) {
	files := []eval.File{{Path: "h1"}, {Path: "s1", Spam: true}, {Path: "h2"}, {Path: "s2", Spam: true}}
	path := filepath.Join(t.TempDir(), "scores")
	scores := []float64{-3, 4.5, 1.25, -0.5}
	if err := writeScores(path, files, scores, nil); err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	want := "spam 4.5000 s1\nham 1.2500 h2\nspam -0.5000 s2\nham -3.0000 h1\n"
	if string(got) != want {
		t.Errorf("scores file:\n%s\nwant:\n%s", got, want)
	}
	// With --views each line gives the views' shares between score and path.
	shares := make([][]model.Contribution, len(scores))
	for i, sc := range scores {
		shares[i] = []model.Contribution{{Name: model.ViewChars, Score: sc / 2}, {Name: model.ViewSequence, Score: sc / 2}}
	}
	if err := writeScores(path, files, scores, shares); err != nil {
		t.Fatal(err)
	}
	if got, err = os.ReadFile(path); err != nil {
		t.Fatal(err)
	}
	want = "spam 4.5000 chars=2.2500 sequence=2.2500 s1\nham 1.2500 chars=0.6250 sequence=0.6250 h2\n" +
		"spam -0.5000 chars=-0.2500 sequence=-0.2500 s2\nham -3.0000 chars=-1.5000 sequence=-1.5000 h1\n"
	if string(got) != want {
		t.Errorf("scores file with views:\n%s\nwant:\n%s", got, want)
	}
}

func TestClassifyExplain(t *testing.T) {
	path := filepath.Join(t.TempDir(), "offer.eml")
	raw := "From: Deals <deals@offers.example>\nSubject: FREE money, act now!!!\n\n" +
		"Click here to claim your FREE prize. Limited time offer, 100% guaranteed. To be removed reply REMOVE.\n"
	if err := os.WriteFile(path, []byte(raw), 0o644); err != nil {
		t.Fatal(err)
	}
	var plain, explained bytes.Buffer
	if err := classify(context.Background(), []string{path}, &plain); err != nil {
		t.Fatal(err)
	}
	if err := classify(context.Background(), []string{"--explain", "5", path}, &explained); err != nil {
		t.Fatal(err)
	}
	var p, e classifyResult
	if err := json.Unmarshal(plain.Bytes(), &p); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(explained.Bytes(), &e); err != nil {
		t.Fatal(err)
	}
	if p.Views != nil || p.Features != nil || bytes.Contains(plain.Bytes(), []byte(`"views"`)) {
		t.Errorf("plain output has an explanation: %s", plain.Bytes())
	}
	if e.Score != p.Score || e.Class != p.Class {
		t.Errorf("--explain changed the result: %+v, plain %+v", e, p)
	}
	var sum float64
	for _, v := range []string{"chars", "words", "meta", "sequence"} {
		s, ok := e.Views[v]
		if !ok {
			t.Errorf("view %q missing: %v", v, e.Views)
		}
		sum += s
	}
	if d := sum - e.Score; d > 1e-4 || d < -1e-4 {
		t.Errorf("views %v add up to %g, score %g", e.Views, sum, e.Score)
	}
	if len(e.Features) != 5 {
		t.Fatalf("%d features, want 5: %s", len(e.Features), explained.Bytes())
	}
	for _, f := range e.Features {
		if f.Name == "" || f.Score == 0 {
			t.Errorf("feature %+v", f)
		}
	}
}

func TestTrainingFlags(t *testing.T) {
	p := model.DefaultParams()
	fs := flag.NewFlagSet("t", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	trainingFlags(fs, &p)
	if err := fs.Parse([]string{"--bits", "22", "--char-gram", "3", "--ham-weight", "6", "--runs", "2"}); err != nil {
		t.Fatal(err)
	}
	if p.Features.Bits != 22 || p.Features.CharGram != 3 || p.HamWeight != 6 || p.Runs != 2 {
		t.Fatalf("params %+v", p)
	}
	for _, bad := range []string{"7", "25", "x"} {
		if err := fs.Parse([]string{"--bits", bad}); err == nil {
			t.Errorf("--bits %s accepted", bad)
		}
	}
}
