package engine_test

import (
	"bytes"
	"context"
	"errors"
	"testing"
	"time"

	"github.com/mxgate/mxgate/services/antivirus/internal/engine"
	"github.com/mxgate/mxgate/services/antivirus/internal/engine/clamdtest"
)

func newClamd(t *testing.T, addr string, opts engine.ClamdOptions) *engine.Clamd {
	t.Helper()
	opts.Addr = addr
	c, err := engine.NewClamd(opts)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestClamdRealDaemon(t *testing.T) {
	d := clamdtest.Start(t)
	c := newClamd(t, d.Addr, engine.ClamdOptions{Timeout: 10 * time.Second, ChunkSize: 1000})
	ctx := context.Background()

	v, err := c.Version(ctx)
	if err != nil {
		t.Fatalf("Version: %v", err)
	}
	if v.Engine == "" || !bytes.HasPrefix([]byte(v.Raw), []byte("ClamAV ")) {
		t.Errorf("Version = %+v", v)
	}
	if err := c.Check(ctx); err != nil {
		t.Fatalf("Check: %v", err)
	}

	big := bytes.Repeat([]byte("clean filler line\n"), 100000) // 1.8 MB, under clamd's 2M
	for _, tc := range []struct {
		name string
		data []byte
		sig  string
	}{
		{"eicar", engine.EICARTestFile(), clamdtest.EICARSignature},
		{"eicar with trailing newline", append(engine.EICARTestFile(), '\r', '\n'), clamdtest.EICARSignature},
		{"hash signature", clamdtest.HashPayload, clamdtest.HashSignature},
		{"clean", []byte("hello, world\n"), ""},
		{"empty", nil, ""},
		{"many chunks", big, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f, err := c.Scan(ctx, tc.data)
			if err != nil {
				t.Fatalf("Scan: %v", err)
			}
			if f.Infected != (tc.sig != "") || f.Signature != tc.sig {
				t.Errorf("Scan = %+v, want signature %q", f, tc.sig)
			}
		})
	}

	t.Run("over clamd StreamMaxLength is an error", func(t *testing.T) {
		huge := bytes.Repeat([]byte("x"), 3<<20)
		f, err := c.Scan(ctx, huge)
		if err == nil || f.Infected {
			t.Fatalf("Scan of 3 MiB with clamd limit 2M = %+v, %v; want an error", f, err)
		}
		if !errors.Is(err, engine.ErrTooLarge) && !errors.Is(err, engine.ErrUnavailable) {
			t.Errorf("err = %v, want ErrTooLarge (or a reset connection)", err)
		}
	})
	t.Run("over configured StreamMaxLength is refused before sending", func(t *testing.T) {
		lc := newClamd(t, d.Addr, engine.ClamdOptions{StreamMaxLength: 100})
		if _, err := lc.Scan(ctx, make([]byte, 101)); !errors.Is(err, engine.ErrTooLarge) {
			t.Errorf("err = %v, want ErrTooLarge", err)
		}
	})
	t.Run("killed daemon is unavailable", func(t *testing.T) {
		d.Kill()
		if _, err := c.Scan(ctx, []byte("x")); !errors.Is(err, engine.ErrUnavailable) {
			t.Errorf("Scan err = %v, want ErrUnavailable", err)
		}
		if err := c.Check(ctx); !errors.Is(err, engine.ErrUnavailable) {
			t.Errorf("Check err = %v, want ErrUnavailable", err)
		}
	})
}

func TestClamdHung(t *testing.T) {
	c := newClamd(t, clamdtest.Hung(t), engine.ClamdOptions{Timeout: 200 * time.Millisecond})
	start := time.Now()
	_, err := c.Scan(context.Background(), []byte("x"))
	if !errors.Is(err, engine.ErrTimeout) {
		t.Fatalf("Scan err = %v, want ErrTimeout", err)
	}
	if el := time.Since(start); el > 5*time.Second {
		t.Errorf("timeout took %v", el)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	if err := c.Check(ctx); !errors.Is(err, engine.ErrTimeout) {
		t.Errorf("Check err = %v, want ErrTimeout", err)
	}
}
