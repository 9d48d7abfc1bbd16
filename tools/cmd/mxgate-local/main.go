// Command mxgate-local runs the whole mxgate cluster on loopback for
// development: an embedded NATS server with JetStream, the local mailbox
// server (LMTP and SMTP into Maildirs under var/mail) and the five
// services, started in order and stopped in reverse on Ctrl-C.
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/mxgate/mxgate/proto/lifecycle"
	"github.com/mxgate/mxgate/tools/internal/localcluster"
)

const help = `usage: mxgate-local [-root DIR] [flags]

Starts the mxgate cluster on loopback, in this order:
  NATS with JetStream   127.0.0.1:14222 (store in var/nats)
  mailbox server        LMTP 127.0.0.1:2424, SMTP 127.0.0.1:2526 (Maildirs in var/mail/<domain>/<local>)
  reputation, policy, antivirus, classifier, edge-smtp
                        from bin/, each with -config deploy/local/<service>.yaml when present
and prints one "mxgate cluster ready" line once every service is SERVING.
Send mail to the edge on 127.0.0.1:2525. Ctrl-C stops everything.

Reputation keeps in-memory counters unless MXGATE_REDIS_ADDR is set; other
MXGATE_* variables are passed to every service. The local profile has no
DNS-based checks (no DNSBL, SPF, DKIM or DMARC).

flags:
`

func main() {
	root := flag.String("root", ".", "repository root: bin/, deploy/local/ and var/ live here")
	readyTimeout := flag.Duration("ready-timeout", 60*time.Second, "how long each service may take to become SERVING")
	stopTimeout := flag.Duration("stop-timeout", 15*time.Second, "how long each service may drain after SIGTERM before SIGKILL")
	flag.Usage = func() {
		fmt.Fprint(flag.CommandLine.Output(), help)
		flag.PrintDefaults()
	}
	flag.Parse()

	base := slog.New(slog.NewTextHandler(os.Stderr, nil))
	slog.SetDefault(base)
	log := base.With("component", "mxgate-local")
	abs, err := filepath.Abs(*root)
	if err != nil {
		log.Error("bad -root", "err", err)
		os.Exit(2)
	}
	ctx, cancel := lifecycle.SignalContext(context.Background())
	defer cancel()
	err = localcluster.Run(ctx, localcluster.Config{
		Root:         abs,
		ReadyTimeout: *readyTimeout,
		StopTimeout:  *stopTimeout,
		Env:          os.Environ(),
		Log:          base,
		Output:       os.Stderr,
	})
	if err != nil {
		log.Error("mxgate cluster failed", "err", err)
		cancel()
		os.Exit(1)
	}
	log.Info("mxgate cluster stopped")
}
