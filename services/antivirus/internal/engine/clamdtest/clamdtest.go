// Package clamdtest runs a private clamd for tests: a temporary directory
// with its own clamd.conf, a local socket and a tiny signature database
// written at start (the EICAR test file and one hash signature), and a
// listener that accepts connections and never answers, for timeout tests.
package clamdtest

import (
	"context"
	"crypto/md5"
	"encoding/hex"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mxgate/mxgate/services/antivirus/internal/engine"
)

// Binary is the clamd executable the tests start.
const Binary = "/usr/sbin/clamd"

// HashPayload is an object that the private clamd (and a built-in engine
// loading WriteHashDB output) detects as HashSignature by its MD5.
var HashPayload = []byte("mxgate antivirus test payload: detected by hash signature only\n")

// Signature names as clamd reports them (unofficial databases get a
// ".UNOFFICIAL" suffix).
const (
	EICARSignature = "Mxgate-Test-EICAR.UNOFFICIAL"
	HashSignature  = "Mxgate-Test-Hash.UNOFFICIAL"
)

// Daemon is a running private clamd.
type Daemon struct {
	// Addr is the clamd address in mxgate form, "unix:/tmp/.../clamd.sock".
	Addr string
	dir  string
	cmd  *exec.Cmd
	once sync.Once
	done chan struct{}
}

// Require skips the test when clamd is not installed, or fails it when the
// environment variable CI is set.
func Require(t testing.TB) {
	t.Helper()
	if _, err := os.Stat(Binary); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("clamd is required in CI: %v", err)
		}
		t.Skipf("clamd not installed (%v); install the clamav-daemon package", err)
	}
}

// Start starts clamd in the foreground and waits until it answers PING.
// It is stopped when the test ends.
func Start(t testing.TB) *Daemon {
	t.Helper()
	Require(t)
	// A short path: unix socket paths are limited to 108 bytes.
	dir, err := os.MkdirTemp("", "clamd")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	db := filepath.Join(dir, "db")
	if err := os.Mkdir(db, 0o755); err != nil {
		t.Fatal(err)
	}
	ndb := fmt.Sprintf("Mxgate-Test-EICAR:0:0:%s\n", hex.EncodeToString(engine.EICARTestFile()))
	if err := os.WriteFile(filepath.Join(db, "mxgate-test.ndb"), []byte(ndb), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := WriteHashDB(filepath.Join(db, "mxgate-test.hdb"), "Mxgate-Test-Hash"); err != nil {
		t.Fatal(err)
	}
	sock := filepath.Join(dir, "clamd.sock")
	conf := strings.Join([]string{
		"Foreground yes",
		"LocalSocket " + sock,
		"DatabaseDirectory " + db,
		"TemporaryDirectory " + dir,
		"LogFile " + filepath.Join(dir, "clamd.log"),
		"StreamMaxLength 2M",
		"MaxThreads 4",
		"SelfCheck 600",
		"",
	}, "\n")
	confPath := filepath.Join(dir, "clamd.conf")
	if err := os.WriteFile(confPath, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	d := &Daemon{Addr: "unix:" + sock, dir: dir, done: make(chan struct{})}
	d.cmd = exec.Command(Binary, "-c", confPath)
	d.cmd.Dir = dir
	if err := d.cmd.Start(); err != nil {
		t.Fatalf("start clamd: %v", err)
	}
	go func() { _ = d.cmd.Wait(); close(d.done) }()
	t.Cleanup(d.Kill)

	c, err := engine.NewClamd(engine.ClamdOptions{Addr: d.Addr, Timeout: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(60 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		err := c.Check(ctx)
		cancel()
		if err == nil {
			return d
		}
		select {
		case <-d.done:
			log, _ := os.ReadFile(filepath.Join(dir, "clamd.log"))
			t.Fatalf("clamd exited during start: %s", log)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("clamd did not answer PING within 60s: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Kill stops clamd at once (SIGKILL) and waits for it to exit.
func (d *Daemon) Kill() {
	d.once.Do(func() {
		_ = d.cmd.Process.Kill()
		<-d.done
	})
}

// WriteHashDB writes a .hdb file with one signature, name, for HashPayload.
func WriteHashDB(path, name string) error {
	sum := md5.Sum(HashPayload)
	line := fmt.Sprintf("%s:%d:%s\n", hex.EncodeToString(sum[:]), len(HashPayload), name)
	return os.WriteFile(path, []byte(line), 0o644)
}

// Hung starts a TCP listener on 127.0.0.1:0 that accepts connections and
// never answers, and returns its address in mxgate form ("tcp:127.0.0.1:N").
func Hung(t testing.TB) string {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var conns []net.Conn
	go func() {
		for {
			c, err := lis.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		lis.Close()
		mu.Lock()
		defer mu.Unlock()
		for _, c := range conns {
			c.Close()
		}
	})
	return "tcp:" + lis.Addr().String()
}
