// Package natstest finds the NATS JetStream server the classifier's tests
// run against: MXGATE_TEST_NATS_URL, or the machine's nats://127.0.0.1:4222.
package natstest

import (
	"os"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
)

// URL returns the test server's URL. An unreachable server fails the test
// when the CI environment variable is set and skips it otherwise.
func URL(t testing.TB) string {
	t.Helper()
	url := os.Getenv("MXGATE_TEST_NATS_URL")
	if url == "" {
		url = "nats://127.0.0.1:4222"
	}
	nc, err := nats.Connect(url, nats.Timeout(2*time.Second))
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("NATS at %s unreachable: %v", url, err)
		}
		t.Skipf("NATS at %s unreachable (set MXGATE_TEST_NATS_URL): %v", url, err)
	}
	nc.Close()
	return url
}
