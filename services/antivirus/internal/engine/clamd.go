package engine

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"time"
)

// ClamdOptions configures a Clamd client.
type ClamdOptions struct {
	// Addr is "tcp:host:port" or "unix:/path/to/clamd.sock".
	Addr string
	// Timeout bounds one command when the caller's context has no deadline.
	Timeout time.Duration
	// MaxConnections bounds concurrent connections to clamd; keep it at or
	// below clamd's MaxThreads so that commands do not queue inside clamd.
	MaxConnections int
	// StreamMaxLength mirrors clamd's StreamMaxLength: larger objects are
	// refused without being sent (ErrTooLarge). 0 disables the check; clamd
	// still refuses oversize streams and the reply is ErrTooLarge.
	StreamMaxLength int64
	// ChunkSize is the INSTREAM chunk size (default 64 KiB).
	ChunkSize int
}

// Clamd scans through a clamd daemon with the zINSTREAM protocol.
//
// Connections are opened per command: outside an IDSESSION clamd answers one
// command per connection and then closes it, so a pool of idle connections
// would not survive. MaxConnections bounds how many commands run at once.
type Clamd struct {
	network, address string
	opts             ClamdOptions
	sem              chan struct{}
	dialer           net.Dialer
}

// NewClamd returns a client for the clamd at opts.Addr. It does not connect.
func NewClamd(opts ClamdOptions) (*Clamd, error) {
	network, address, ok := strings.Cut(opts.Addr, ":")
	if !ok || address == "" || (network != "tcp" && network != "unix") {
		return nil, fmt.Errorf("engine: clamd address %q: want tcp:host:port or unix:/path", opts.Addr)
	}
	if opts.Timeout <= 0 {
		opts.Timeout = 30 * time.Second
	}
	if opts.MaxConnections <= 0 {
		opts.MaxConnections = 8
	}
	if opts.ChunkSize <= 0 {
		opts.ChunkSize = 64 << 10
	}
	return &Clamd{network: network, address: address, opts: opts, sem: make(chan struct{}, opts.MaxConnections)}, nil
}

// Name implements the engine contract of the scan package.
func (c *Clamd) Name() string { return "clamd" }

// Addr returns the configured address.
func (c *Clamd) Addr() string { return c.opts.Addr }

// ClamdVersion is clamd's answer to VERSION.
type ClamdVersion struct {
	// Raw is the full reply, "ClamAV 1.4.6/27461/Mon Nov 23 08:34:12 2026".
	Raw string
	// Engine is "ClamAV 1.4.6".
	Engine string
	// Database is the signature database version, empty when clamd runs
	// with unofficial databases only.
	Database string
	// DatabaseTime is the build time of the signature database; zero when
	// not reported. A freshness check compares it with the current time.
	DatabaseTime time.Time
}

// ParseClamdVersion parses a VERSION reply.
func ParseClamdVersion(raw string) ClamdVersion {
	v := ClamdVersion{Raw: raw}
	f := strings.SplitN(raw, "/", 3)
	v.Engine = f[0]
	if len(f) > 1 {
		v.Database = f[1]
	}
	if len(f) > 2 {
		if t, err := time.Parse(time.ANSIC, f[2]); err == nil {
			v.DatabaseTime = t
		}
	}
	return v
}

// Version asks clamd for its version and signature database version.
func (c *Clamd) Version(ctx context.Context) (ClamdVersion, error) {
	reply, err := c.command(ctx, "VERSION", nil)
	if err != nil {
		return ClamdVersion{}, err
	}
	if !strings.HasPrefix(reply, "ClamAV") {
		return ClamdVersion{}, fmt.Errorf("%w: unexpected VERSION reply %q", ErrScan, reply)
	}
	return ParseClamdVersion(reply), nil
}

// Check pings clamd; it is the readiness probe.
func (c *Clamd) Check(ctx context.Context) error {
	reply, err := c.command(ctx, "PING", nil)
	if err != nil {
		return err
	}
	if reply != "PONG" {
		return fmt.Errorf("%w: unexpected PING reply %q", ErrScan, reply)
	}
	return nil
}

// Scan streams data to clamd with zINSTREAM and parses the verdict.
func (c *Clamd) Scan(ctx context.Context, data []byte) (Finding, error) {
	if c.opts.StreamMaxLength > 0 && int64(len(data)) > c.opts.StreamMaxLength {
		return Finding{}, fmt.Errorf("%w: %d bytes, clamd StreamMaxLength is %d", ErrTooLarge, len(data), c.opts.StreamMaxLength)
	}
	if data == nil {
		data = []byte{}
	}
	reply, err := c.command(ctx, "INSTREAM", data)
	if err != nil {
		return Finding{}, err
	}
	return parseStreamReply(reply)
}

func parseStreamReply(reply string) (Finding, error) {
	switch {
	case reply == "stream: OK":
		return Finding{}, nil
	case strings.HasSuffix(reply, " FOUND"):
		name := strings.TrimSuffix(strings.TrimPrefix(reply, "stream: "), " FOUND")
		return Finding{Infected: true, Signature: strings.TrimSpace(name)}, nil
	case strings.Contains(reply, "size limit exceeded"):
		return Finding{}, fmt.Errorf("%w: clamd: %s", ErrTooLarge, reply)
	case strings.HasSuffix(reply, " ERROR"):
		return Finding{}, fmt.Errorf("%w: clamd: %s", ErrScan, reply)
	default:
		return Finding{}, fmt.Errorf("%w: unexpected clamd reply %q", ErrScan, reply)
	}
}

// maxReply bounds a clamd reply line.
const maxReply = 4096

// command runs one z-command (NUL-terminated) on a fresh connection. With
// payload non-nil it is sent as INSTREAM chunks: a 4-byte big-endian
// length, the bytes, and a zero length to finish.
func (c *Clamd) command(ctx context.Context, cmd string, payload []byte) (string, error) {
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, c.opts.Timeout)
		defer cancel()
	}
	select {
	case c.sem <- struct{}{}:
		defer func() { <-c.sem }()
	case <-ctx.Done():
		return "", c.ctxErr(ctx, "waiting for a connection slot")
	}
	conn, err := c.dialer.DialContext(ctx, c.network, c.address)
	if err != nil {
		if ctx.Err() != nil {
			return "", c.ctxErr(ctx, "connect")
		}
		return "", fmt.Errorf("%w: clamd %s: %w", ErrUnavailable, c.opts.Addr, err)
	}
	defer conn.Close()
	deadline, _ := ctx.Deadline()
	_ = conn.SetDeadline(deadline)
	stop := context.AfterFunc(ctx, func() { _ = conn.SetDeadline(time.Unix(1, 0)) })
	defer stop()

	werr := c.send(conn, cmd, payload)
	// Read the reply even after a failed write: clamd answers "INSTREAM size
	// limit exceeded" and closes the socket while the client is writing.
	reply, rerr := readReply(conn)
	if rerr != nil || (werr != nil && reply == "") {
		err := rerr
		if werr != nil {
			err = werr
		}
		if ctx.Err() != nil || errors.Is(err, os.ErrDeadlineExceeded) {
			return "", c.ctxErr(ctx, cmd)
		}
		return "", fmt.Errorf("%w: clamd %s %s: %w", ErrUnavailable, c.opts.Addr, cmd, err)
	}
	return reply, nil
}

func (c *Clamd) send(conn net.Conn, cmd string, payload []byte) error {
	var buf bytes.Buffer
	buf.WriteString("z" + cmd + "\x00")
	if payload == nil {
		_, err := conn.Write(buf.Bytes())
		return err
	}
	var hdr [4]byte
	for off := 0; off < len(payload); off += c.opts.ChunkSize {
		chunk := payload[off:min(off+c.opts.ChunkSize, len(payload))]
		binary.BigEndian.PutUint32(hdr[:], uint32(len(chunk)))
		buf.Write(hdr[:])
		buf.Write(chunk)
		if _, err := conn.Write(buf.Bytes()); err != nil {
			return err
		}
		buf.Reset()
	}
	buf.Write([]byte{0, 0, 0, 0})
	_, err := conn.Write(buf.Bytes())
	return err
}

// readReply reads one NUL- (or newline-) terminated reply.
func readReply(conn net.Conn) (string, error) {
	var buf []byte
	tmp := make([]byte, 512)
	for len(buf) < maxReply {
		n, err := conn.Read(tmp)
		buf = append(buf, tmp[:n]...)
		if i := bytes.IndexAny(buf, "\x00\n"); i >= 0 {
			return strings.TrimSpace(string(buf[:i])), nil
		}
		if err != nil {
			if errors.Is(err, io.EOF) && len(buf) > 0 {
				return strings.TrimSpace(string(buf)), nil
			}
			return "", err
		}
	}
	return "", fmt.Errorf("%w: clamd reply longer than %d bytes", ErrScan, maxReply)
}

func (c *Clamd) ctxErr(ctx context.Context, what string) error {
	if errors.Is(ctx.Err(), context.Canceled) {
		return fmt.Errorf("engine: clamd %s: %w", what, ctx.Err())
	}
	return fmt.Errorf("%w: clamd %s: deadline exceeded", ErrTimeout, what)
}
