// Package redistest connects tests to the real Redis server named by
// MXGATE_TEST_REDIS_ADDR (default 127.0.0.1:6379) and gives each test its
// own key prefix, deleted when the test ends.
package redistest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// Addr is the address of the test Redis server.
func Addr() string {
	if a := os.Getenv("MXGATE_TEST_REDIS_ADDR"); a != "" {
		return a
	}
	return "127.0.0.1:6379"
}

// Client returns a client of the test Redis server and a key prefix unique
// to this test. When the server is unreachable the test fails if the CI
// environment variable is set and is skipped otherwise. Keys under the
// prefix are deleted and the client closed at cleanup.
func Client(tb testing.TB) (*redis.Client, string) {
	tb.Helper()
	rdb := redis.NewClient(&redis.Options{
		Addr:            Addr(),
		DialTimeout:     time.Second,
		ReadTimeout:     2 * time.Second,
		WriteTimeout:    2 * time.Second,
		DisableIdentity: true,
	})
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if err := rdb.Ping(ctx).Err(); err != nil {
		_ = rdb.Close()
		if os.Getenv("CI") != "" {
			tb.Fatalf("redis at %s (MXGATE_TEST_REDIS_ADDR) unreachable: %v", Addr(), err)
		}
		tb.Skipf("redis at %s (MXGATE_TEST_REDIS_ADDR) unreachable, skipping: %v", Addr(), err)
	}
	prefix := Prefix(tb)
	tb.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		iter := rdb.Scan(ctx, 0, prefix+"*", 100).Iterator()
		for iter.Next(ctx) {
			rdb.Del(ctx, iter.Val())
		}
		_ = rdb.Close()
	})
	return rdb, prefix
}

// Prefix returns a key prefix unique to this test run of tb.
func Prefix(tb testing.TB) string {
	var b [6]byte
	_, _ = rand.Read(b[:])
	name := strings.NewReplacer("/", "_", " ", "_", "{", "_", "}", "_").Replace(tb.Name())
	return "mxgate-test:" + name + ":" + hex.EncodeToString(b[:]) + ":"
}
