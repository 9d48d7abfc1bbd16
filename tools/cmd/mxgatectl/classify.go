package main

import (
	"context"
	"encoding/json"
	"flag"
	"io"
	"strings"
	"time"

	classifierv1 "github.com/mxgate/mxgate/proto/mxgate/classifier/v1"
)

func init() {
	register(command{
		name:    "classify",
		summary: "classify messages with the live classifier and show why (classify [--explain N] FILE...)",
		run:     runClassify,
	})
}

// classifyLine is one line of the output of classify.
type classifyLine struct {
	File         string         `json:"file"`
	Class        string         `json:"class"`
	Score        float64        `json:"score"`
	ModelVersion string         `json:"model_version"`
	Evidence     []evidenceLine `json:"evidence"`
}

type evidenceLine struct {
	Kind   string  `json:"kind"`
	Detail string  `json:"detail,omitempty"`
	Weight float64 `json:"weight"`
}

// runClassify sends each file to the classifier, as the SMTP edge would
// (without the scores of the earlier stages), and prints one JSON object
// per message and line: the class, the score and the evidence, with the
// model's score broken down when --explain is given.
func runClassify(ctx context.Context, stdout io.Writer, args []string) error {
	const use = "usage: mxgatectl classify [--explain N] [--classifier ADDR] FILE..."
	fs := flag.NewFlagSet("classify", flag.ContinueOnError)
	addr := classifierFlag(fs)
	explain := fs.Uint("explain", 0, "also break the model's score down: its views and the `N` features with the largest shares (at most 100)")
	timeout := fs.Duration("timeout", 30*time.Second, "timeout per message")
	files, err := operands(fs, args, use)
	if err != nil {
		return err
	}
	client, conn, err := dialClassifier(*addr)
	if err != nil {
		return err
	}
	defer conn.Close()
	enc := json.NewEncoder(stdout)
	return eachMessage(ctx, files, *timeout, func(ctx context.Context, f string, raw []byte) error {
		resp, err := client.Classify(ctx, &classifierv1.ClassifyRequest{Message: raw, Explain: uint32(min(*explain, 100))})
		if err != nil {
			return err
		}
		line := classifyLine{
			File:         f,
			Class:        strings.ToLower(strings.TrimPrefix(resp.GetClass().String(), "CLASS_")),
			Score:        resp.GetScore(),
			ModelVersion: resp.GetModelVersion(),
			Evidence:     []evidenceLine{},
		}
		for _, e := range resp.GetEvidence() {
			line.Evidence = append(line.Evidence, evidenceLine{Kind: e.GetKind(), Detail: e.GetDetail(), Weight: e.GetWeight()})
		}
		return enc.Encode(line)
	})
}
