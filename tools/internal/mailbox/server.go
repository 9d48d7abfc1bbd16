// Package mailbox is the local mailbox server that sits downstream of the
// edge in the local cluster and the end-to-end tests: it speaks LMTP and
// SMTP and delivers every accepted message, per recipient, into a Maildir
// under <root>/<domain>/<local>/. A message goes into the Maildir++ folder
// .<Folder>/ when the recipient carries a detail (local+Folder@domain) or,
// failing that, when the message has an X-Spam-Folder header.
//
// Delivery is durable before the reply: the message is written into tmp/
// under a unique name, fsynced, renamed into new/ and the directory synced;
// only then does the client get 250 (per recipient over LMTP).
package mailbox

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/emersion/go-smtp"
)

// Config configures a Server. Zero fields take the defaults noted.
type Config struct {
	// Root is the mail root; a mailbox is Root/<domain>/<local>. Required.
	Root string
	// Hostname is used in the greeting and in Maildir file names; the
	// machine's host name when empty.
	Hostname string
	// MaxMessageBytes bounds one message (552 5.3.4 beyond); 64 MiB when 0.
	MaxMessageBytes int64
	// MaxRecipients bounds one transaction (452 4.5.3 beyond); 100 when 0.
	MaxRecipients int
	// Log receives one line per delivery and per failure; discarded when nil.
	Log *slog.Logger
}

// Defaults of Config.
const (
	DefaultMaxMessageBytes = 64 << 20
	DefaultMaxRecipients   = 100
)

// FolderHeader is the header that names the target folder when the
// recipient has no detail.
const FolderHeader = "X-Spam-Folder"

// ErrNoRoot is returned by New when Config.Root is empty.
var ErrNoRoot = errors.New("mailbox: no mail root configured")

// Server delivers into Maildirs. One Server may serve LMTP and SMTP on any
// number of listeners; Close or Shutdown stops all of them, and a stopped
// Server is not restarted (build a new one on the same root instead).
type Server struct {
	cfg Config
	log *slog.Logger

	mu      sync.Mutex
	servers []*smtp.Server
	closed  bool
}

// New checks cfg, creates the mail root and returns a Server.
func New(cfg Config) (*Server, error) {
	if cfg.Root == "" {
		return nil, ErrNoRoot
	}
	if cfg.Hostname == "" {
		h, err := os.Hostname()
		if err != nil || h == "" {
			h = "localhost"
		}
		cfg.Hostname = h
	}
	if cfg.MaxMessageBytes <= 0 {
		cfg.MaxMessageBytes = DefaultMaxMessageBytes
	}
	if cfg.MaxRecipients <= 0 {
		cfg.MaxRecipients = DefaultMaxRecipients
	}
	if err := os.MkdirAll(cfg.Root, 0o700); err != nil {
		return nil, fmt.Errorf("mailbox: create mail root: %w", err)
	}
	log := cfg.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Server{cfg: cfg, log: log.With("component", "mailbox")}, nil
}

// ServeLMTP serves LMTP on l until the Server is closed. It returns nil
// after Close or Shutdown.
func (s *Server) ServeLMTP(l net.Listener) error { return s.serve(l, true) }

// ServeSMTP serves SMTP on l until the Server is closed. It returns nil
// after Close or Shutdown.
func (s *Server) ServeSMTP(l net.Listener) error { return s.serve(l, false) }

func (s *Server) serve(l net.Listener, lmtp bool) error {
	proto := "smtp"
	if lmtp {
		proto = "lmtp"
	}
	srv := smtp.NewServer(smtp.BackendFunc(func(c *smtp.Conn) (smtp.Session, error) {
		return &session{srv: s, proto: proto, remote: c.Conn().RemoteAddr().String()}, nil
	}))
	srv.LMTP = lmtp
	srv.Domain = s.cfg.Hostname
	srv.MaxMessageBytes = s.cfg.MaxMessageBytes
	srv.MaxRecipients = s.cfg.MaxRecipients
	srv.ReadTimeout = 5 * time.Minute
	srv.WriteTimeout = time.Minute
	srv.EnableSMTPUTF8 = true
	srv.ErrorLog = errorLog{s.log.With("protocol", proto)}

	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		_ = l.Close()
		return nil
	}
	s.servers = append(s.servers, srv)
	s.mu.Unlock()

	err := srv.Serve(l)
	if errors.Is(err, smtp.ErrServerClosed) || errors.Is(err, net.ErrClosed) {
		return nil
	}
	return err
}

// Close closes every listener and open connection at once.
func (s *Server) Close() error {
	var errs []error
	for _, srv := range s.stop() {
		if err := srv.Close(); err != nil && !errors.Is(err, smtp.ErrServerClosed) && !errors.Is(err, net.ErrClosed) {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// Shutdown closes the listeners and waits until open sessions end or ctx is
// done; then it closes what is left.
func (s *Server) Shutdown(ctx context.Context) error {
	servers := s.stop()
	var wg sync.WaitGroup
	errs := make([]error, len(servers))
	for i, srv := range servers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			err := srv.Shutdown(ctx)
			if ctx.Err() != nil {
				_ = srv.Close()
			}
			if err != nil && !errors.Is(err, smtp.ErrServerClosed) && !errors.Is(err, net.ErrClosed) {
				errs[i] = err
			}
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}

func (s *Server) stop() []*smtp.Server {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closed = true
	servers := s.servers
	s.servers = nil
	return servers
}

// errorLog adapts slog to go-smtp's Logger.
type errorLog struct{ log *slog.Logger }

func (e errorLog) Printf(format string, v ...any) { e.log.Warn(fmt.Sprintf(format, v...)) }
func (e errorLog) Println(v ...any)               { e.log.Warn(strings.TrimSpace(fmt.Sprintln(v...))) }

// recipient is one accepted RCPT.
type recipient struct {
	raw    string // as given at RCPT, the key of LMTP statuses
	target Target
}

// session is one SMTP or LMTP connection.
type session struct {
	srv    *Server
	proto  string
	remote string
	from   string
	rcpts  []recipient
}

var (
	_ smtp.Session     = (*session)(nil)
	_ smtp.LMTPSession = (*session)(nil)
)

var (
	errBadRecipient = &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 3}, Message: "Bad recipient address syntax"}
	errLocalFailure = &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 3, 0}, Message: "Local delivery failure, try again later"}
)

func (s *session) Reset()        { s.from, s.rcpts = "", nil }
func (s *session) Logout() error { return nil }

func (s *session) Mail(from string, _ *smtp.MailOptions) error {
	s.from = from
	s.rcpts = nil
	return nil
}

func (s *session) Rcpt(to string, _ *smtp.RcptOptions) error {
	t, err := ParseRecipient(to)
	if err != nil {
		return errBadRecipient
	}
	s.rcpts = append(s.rcpts, recipient{raw: to, target: t})
	return nil
}

// Data delivers an SMTP transaction with one reply for all recipients:
// every copy is staged in tmp/ first, and only when all are staged are they
// moved into new/, so a failure to write leaves nothing delivered.
func (s *session) Data(r io.Reader) error {
	msg, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	hdrFolder := headerFolder(msg)
	var done []staged
	for _, rc := range s.rcpts {
		st, err := s.stage(rc, hdrFolder, msg)
		if err != nil {
			for _, d := range done {
				d.abort()
			}
			s.srv.log.Error("delivery failed", "protocol", s.proto, "from", s.from, "rcpt", rc.raw, "err", err)
			return errLocalFailure
		}
		done = append(done, st)
	}
	for i, st := range done {
		if err := st.commit(); err != nil {
			for _, d := range done[i:] {
				d.abort()
			}
			s.srv.log.Error("delivery failed", "protocol", s.proto, "from", s.from, "rcpt", s.rcpts[i].raw, "err", err)
			return errLocalFailure
		}
		s.logDelivered(s.rcpts[i], st)
	}
	return nil
}

// LMTPData delivers each recipient's copy on its own and reports one
// status per recipient.
func (s *session) LMTPData(r io.Reader, status smtp.StatusCollector) error {
	msg, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	hdrFolder := headerFolder(msg)
	for _, rc := range s.rcpts {
		st, err := s.stage(rc, hdrFolder, msg)
		if err == nil {
			if err = st.commit(); err != nil {
				st.abort()
			}
		}
		if err != nil {
			s.srv.log.Error("delivery failed", "protocol", s.proto, "from", s.from, "rcpt", rc.raw, "err", err)
			status.SetStatus(rc.raw, errLocalFailure)
			continue
		}
		s.logDelivered(rc, st)
		status.SetStatus(rc.raw, nil)
	}
	return nil
}

func (s *session) stage(rc recipient, hdrFolder string, msg []byte) (staged, error) {
	t := rc.target
	if t.Folder == "" {
		t.Folder = hdrFolder
	}
	var b bytes.Buffer
	b.Grow(len(msg) + 128)
	fmt.Fprintf(&b, "Return-Path: <%s>\nDelivered-To: %s@%s\n", s.from, t.Local, t.Domain)
	writeLF(&b, msg)
	return stage(t.Dir(s.srv.cfg.Root), s.srv.cfg.Hostname, t.Folder != "", b.Bytes())
}

func (s *session) logDelivered(rc recipient, st staged) {
	s.srv.log.Info("delivered", "protocol", s.proto, "remote", s.remote, "from", s.from, "rcpt", rc.raw,
		"maildir", st.dir, "file", st.name)
}

// writeLF appends msg with CRLF line ends turned into LF, the line end of
// files in a Maildir.
func writeLF(b *bytes.Buffer, msg []byte) {
	for len(msg) > 0 {
		i := bytes.Index(msg, []byte("\r\n"))
		if i < 0 {
			b.Write(msg)
			return
		}
		b.Write(msg[:i])
		b.WriteByte('\n')
		msg = msg[i+2:]
	}
}

// headerFolder returns the sanitized value of the X-Spam-Folder header in
// the message's header section, or "".
func headerFolder(msg []byte) string {
	var value string
	found := false
	for len(msg) > 0 {
		line := msg
		if i := bytes.IndexByte(msg, '\n'); i >= 0 {
			line, msg = msg[:i], msg[i+1:]
		} else {
			msg = nil
		}
		line = bytes.TrimRight(line, "\r")
		if len(line) == 0 {
			break // end of the header section
		}
		if line[0] == ' ' || line[0] == '\t' {
			if found {
				value += " " + strings.TrimSpace(string(line))
			}
			continue
		}
		if found {
			break
		}
		name, v, ok := bytes.Cut(line, []byte(":"))
		if ok && strings.EqualFold(strings.TrimSpace(string(name)), FolderHeader) {
			value, found = strings.TrimSpace(string(v)), true
		}
	}
	return SanitizeFolder(value)
}
