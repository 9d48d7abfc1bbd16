package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"time"

	classifierv1 "github.com/mxgate/mxgate/proto/mxgate/classifier/v1"
)

func init() {
	register(command{
		name:    "report",
		summary: "report messages as spam or ham to the classifier (report spam|ham [--mailbox ADDR] [--undo] FILE...)",
		run:     runReport,
	})
}

func runReport(ctx context.Context, stdout io.Writer, args []string) error {
	const use = "usage: mxgatectl report spam|ham [--mailbox ADDR] [--undo] [--classifier ADDR] FILE..."
	if len(args) == 0 {
		fmt.Fprintln(os.Stderr, use)
		return errUsage
	}
	var class classifierv1.FingerprintClass
	switch args[0] {
	case "spam":
		class = classifierv1.FingerprintClass_FINGERPRINT_CLASS_SPAM
	case "ham":
		class = classifierv1.FingerprintClass_FINGERPRINT_CLASS_HAM
	default:
		fmt.Fprintln(os.Stderr, use)
		return errUsage
	}
	fs := flag.NewFlagSet("report", flag.ContinueOnError)
	addr := classifierFlag(fs)
	mailbox := fs.String("mailbox", "", "reporting mailbox (empty: an operator report, trusted at once)")
	undo := fs.Bool("undo", false, "withdraw an earlier report of the same messages")
	timeout := fs.Duration("timeout", 30*time.Second, "timeout per message")
	files, err := operands(fs, args[1:], use)
	if err != nil {
		return err
	}
	client, conn, err := dialClassifier(*addr)
	if err != nil {
		return err
	}
	defer conn.Close()
	return eachMessage(ctx, files, *timeout, func(ctx context.Context, f string, raw []byte) error {
		resp, err := client.Report(ctx, &classifierv1.ReportRequest{Class: class, Mailbox: *mailbox, Message: raw, Undo: *undo})
		if err != nil {
			return err
		}
		verb := "reported as " + args[0]
		if *undo {
			verb = "report withdrawn (" + args[0] + ")"
		}
		learned := ""
		if resp.GetLearned() {
			learned = ", model updated"
		}
		_, err = fmt.Fprintf(stdout, "%s: %s, %d fingerprints%s\n", f, verb, len(resp.GetFingerprints()), learned)
		return err
	})
}
