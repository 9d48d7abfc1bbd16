// Package supervise runs mxgate service binaries as child processes for the
// local cluster and the end-to-end tests: it starts a binary with its own
// environment, hands each line of its output to a callback, waits for its
// gRPC health service to report SERVING, and stops it with SIGTERM, then
// SIGKILL after a deadline.
package supervise

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"sync"
	"syscall"
	"time"
)

// ErrStopTimeout reports a child that did not exit within the stop
// deadline after SIGTERM and was killed.
var ErrStopTimeout = errors.New("supervise: child did not stop in time, killed")

// Spec describes one child process.
type Spec struct {
	// Name identifies the child in errors and in output callbacks.
	Name string
	// Path is the binary; Args are its arguments (without the program name).
	Path string
	Args []string
	// Env is the complete environment; nil inherits the parent's.
	Env []string
	// Dir is the working directory; the parent's when empty.
	Dir string
	// Output, when set, receives every line the child writes to stdout or
	// stderr, without the line end, from one goroutine at a time.
	Output func(line string)
}

// Process is a started child.
type Process struct {
	name string
	cmd  *exec.Cmd
	done chan struct{}
	err  error // exit status, valid once done is closed
}

// Start starts the child. The child gets its own process group, so that a
// Ctrl-C in the terminal reaches only the parent, which stops children in
// its own order.
func Start(s Spec) (*Process, error) {
	cmd := exec.Command(s.Path, s.Args...)
	cmd.Env = s.Env
	cmd.Dir = s.Dir
	cmd.SysProcAttr = sysProcAttr()
	out := &lineWriter{fn: s.Output}
	cmd.Stdout = out
	cmd.Stderr = out
	// Output copying must not hold Wait forever if a grandchild keeps the
	// pipe open.
	cmd.WaitDelay = 2 * time.Second
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("supervise: start %s: %w", s.Name, err)
	}
	p := &Process{name: s.Name, cmd: cmd, done: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		out.flush()
		close(p.done)
	}()
	return p, nil
}

// Name returns the child's name.
func (p *Process) Name() string { return p.name }

// Pid returns the child's process id.
func (p *Process) Pid() int { return p.cmd.Process.Pid }

// Done is closed once the child has exited and its output is consumed.
func (p *Process) Done() <-chan struct{} { return p.done }

// Err returns the child's exit status (nil for exit 0); valid after Done.
func (p *Process) Err() error {
	select {
	case <-p.done:
		return p.err
	default:
		return nil
	}
}

// Signal sends sig to the child; a child that already exited is not an
// error.
func (p *Process) Signal(sig os.Signal) error {
	select {
	case <-p.done:
		return nil
	default:
	}
	if err := p.cmd.Process.Signal(sig); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return fmt.Errorf("supervise: signal %s: %w", p.name, err)
	}
	return nil
}

// Stop sends SIGTERM and waits up to timeout for the child to exit, then
// kills it. It returns the exit status, ErrStopTimeout when the child had
// to be killed.
func (p *Process) Stop(timeout time.Duration) error {
	if err := p.Signal(syscall.SIGTERM); err != nil {
		return err
	}
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case <-p.done:
		return p.err
	case <-t.C:
	}
	_ = p.Signal(syscall.SIGKILL)
	<-p.done
	return fmt.Errorf("%w: %s after %s", ErrStopTimeout, p.name, timeout)
}

// Kill kills the child at once and waits for it to exit.
func (p *Process) Kill() {
	_ = p.Signal(syscall.SIGKILL)
	<-p.done
}

// Wait waits for the child to exit or ctx to end.
func (p *Process) Wait(ctx context.Context) error {
	select {
	case <-p.done:
		return p.err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// lineWriter splits a byte stream into lines for Spec.Output.
type lineWriter struct {
	mu  sync.Mutex
	fn  func(string)
	buf []byte
}

func (w *lineWriter) Write(b []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.fn == nil {
		return len(b), nil
	}
	w.buf = append(w.buf, b...)
	for {
		i := bytes.IndexByte(w.buf, '\n')
		if i < 0 {
			break
		}
		w.fn(string(bytes.TrimRight(w.buf[:i], "\r")))
		w.buf = w.buf[i+1:]
	}
	// Keep a runaway line without a newline from growing without bound.
	if len(w.buf) > 1<<20 {
		w.fn(string(w.buf))
		w.buf = w.buf[:0]
	}
	return len(b), nil
}

func (w *lineWriter) flush() {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.fn != nil && len(w.buf) > 0 {
		w.fn(string(w.buf))
		w.buf = nil
	}
}
