package e2e

import (
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

// serviceNames are the binaries under ../services/<name>/cmd/<name>.
var serviceNames = []string{"reputation", "policy", "antivirus", "classifier", "edge-smtp"}

// binDir holds the service binaries: built by TestMain, or taken from the
// directory in MXGATE_E2E_BIN.
var binDir string

func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	flag.Parse()
	if dir := os.Getenv("MXGATE_E2E_BIN"); dir != "" {
		// Prebuilt binaries, for example the bin/ of 'make build'.
		abs, err := filepath.Abs(dir)
		if err != nil {
			fmt.Fprintln(os.Stderr, "e2e: MXGATE_E2E_BIN:", err)
			return 1
		}
		binDir = abs
		return m.Run()
	}
	dir, err := os.MkdirTemp("", "mxgate-e2e-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e:", err)
		return 1
	}
	defer os.RemoveAll(dir)
	binDir = dir
	if err := buildServices(dir); err != nil {
		fmt.Fprintln(os.Stderr, "e2e: building the services failed:\n"+err.Error())
		return 1
	}
	return m.Run()
}

// buildServices builds every service binary into dir, each module on its
// own (GOWORK=off), in parallel.
func buildServices(dir string) error {
	start := time.Now()
	var wg sync.WaitGroup
	errs := make([]error, len(serviceNames)+1) // the last one is mxgatectl's
	for i, name := range serviceNames {
		wg.Add(1)
		go func() {
			defer wg.Done()
			mod, err := filepath.Abs(filepath.Join("..", "..", "services", name))
			if err != nil {
				errs[i] = err
				return
			}
			cmd := exec.Command("go", "build", "-o", filepath.Join(dir, name), "./cmd/"+name)
			cmd.Dir = mod
			cmd.Env = append(os.Environ(), "GOWORK=off")
			if out, err := cmd.CombinedOutput(); err != nil {
				errs[i] = fmt.Errorf("  %s (go build ./cmd/%s in %s): %v\n%s", name, name, mod, err, out)
			}
		}()
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		// mxgatectl lives in this module.
		cmd := exec.Command("go", "build", "-o", filepath.Join(dir, "mxgatectl"), "./cmd/mxgatectl")
		cmd.Dir = ".."
		cmd.Env = append(os.Environ(), "GOWORK=off")
		if out, err := cmd.CombinedOutput(); err != nil {
			errs[len(serviceNames)] = fmt.Errorf("  mxgatectl: %v\n%s", err, out)
		}
	}()
	wg.Wait()
	var msg string
	for _, err := range errs {
		if err != nil {
			msg += err.Error() + "\n"
		}
	}
	if msg != "" {
		return fmt.Errorf("%s", msg)
	}
	if testing.Verbose() {
		fmt.Fprintf(os.Stderr, "e2e: built %d services in %s\n", len(serviceNames), time.Since(start).Round(time.Millisecond))
	}
	return nil
}
