package main

import (
	"bytes"
	"context"
	"encoding/json"
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
	if err := writeScores(path, files, []float64{-3, 4.5, 1.25, -0.5}); err != nil {
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
}
