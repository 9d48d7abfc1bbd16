package mailbox

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
)

// ErrBadAddress reports a recipient that cannot name a mailbox directory.
var ErrBadAddress = errors.New("mailbox: bad recipient address")

// Target is where one recipient's copy of a message goes.
type Target struct {
	Domain string // lower-cased domain
	Local  string // lower-cased local part without the detail
	Folder string // Maildir++ folder name without the dot; "" for INBOX
}

// ParseRecipient splits local+detail@domain into a Target. The detail, when
// present, names the folder (case preserved, sanitized); domain and local
// part are lower-cased. Addresses whose parts could escape the mail root are
// rejected with ErrBadAddress.
func ParseRecipient(addr string) (Target, error) {
	at := strings.LastIndexByte(addr, '@')
	if at <= 0 || at == len(addr)-1 {
		return Target{}, fmt.Errorf("%w: %q", ErrBadAddress, addr)
	}
	local, domain := addr[:at], strings.ToLower(addr[at+1:])
	var detail string
	if i := strings.IndexByte(local, '+'); i >= 0 {
		local, detail = local[:i], local[i+1:]
	}
	local = strings.ToLower(local)
	if !safeName(local) || !safeName(domain) {
		return Target{}, fmt.Errorf("%w: %q", ErrBadAddress, addr)
	}
	return Target{Domain: domain, Local: local, Folder: SanitizeFolder(detail)}, nil
}

// safeName reports whether s can be used as one path element.
func safeName(s string) bool {
	if s == "" || s == "." || s == ".." || strings.HasPrefix(s, ".") {
		return false
	}
	for _, r := range s {
		if r == '/' || r == '\\' || r < 0x20 || r == 0x7f {
			return false
		}
	}
	return true
}

// SanitizeFolder turns a folder name from the network into a Maildir++
// folder name: letters, digits, '-' and '_' are kept (case preserved), any
// other character becomes '_'. Leading dots cannot survive, so the result
// never escapes the mailbox directory. An empty or all-underscore result
// means INBOX.
func SanitizeFolder(name string) string {
	name = strings.TrimSpace(name)
	if name == "" || strings.EqualFold(name, "INBOX") {
		return ""
	}
	var b strings.Builder
	for _, r := range name {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '-', r == '_':
			b.WriteRune(r)
		default:
			b.WriteByte('_')
		}
		if b.Len() >= 64 {
			break
		}
	}
	out := b.String()
	if strings.Trim(out, "_") == "" {
		return ""
	}
	return out
}

// Dir returns the Maildir directory of t under root:
// root/<domain>/<local> for INBOX, root/<domain>/<local>/.<Folder> otherwise.
func (t Target) Dir(root string) string {
	d := filepath.Join(root, t.Domain, t.Local)
	if t.Folder != "" {
		d = filepath.Join(d, "."+t.Folder)
	}
	return d
}

// deliveryCounter makes file names unique within the process.
var deliveryCounter atomic.Uint64

// uniqueName returns a Maildir file name: time, microseconds, pid, a
// counter and random bytes, then the host name (qmail's and Dovecot's
// scheme), so that concurrent deliveries never collide.
func uniqueName(host string) string {
	now := time.Now()
	var rnd [6]byte
	_, _ = rand.Read(rnd[:])
	host = strings.NewReplacer("/", `\057`, ":", `\072`).Replace(host)
	return strconv.FormatInt(now.Unix(), 10) + ".M" + strconv.Itoa(now.Nanosecond()/1000) +
		"P" + strconv.Itoa(os.Getpid()) + "Q" + strconv.FormatUint(deliveryCounter.Add(1), 10) +
		"R" + hex.EncodeToString(rnd[:]) + "." + host
}

// ensureMaildir creates dir/{tmp,new,cur}, and marks Maildir++ folders
// with the maildirfolder file.
func ensureMaildir(dir string, folder bool) error {
	for _, sub := range []string{"tmp", "new", "cur"} {
		if err := os.MkdirAll(filepath.Join(dir, sub), 0o700); err != nil {
			return fmt.Errorf("mailbox: create maildir: %w", err)
		}
	}
	if folder {
		f, err := os.OpenFile(filepath.Join(dir, "maildirfolder"), os.O_CREATE|os.O_WRONLY, 0o600)
		if err != nil {
			return fmt.Errorf("mailbox: create maildir: %w", err)
		}
		return f.Close()
	}
	return nil
}

// staged is a message written and synced into tmp/, not yet visible.
type staged struct {
	dir, name string
}

// stage writes msg into dir/tmp under a unique name and fsyncs it.
func stage(dir, host string, folder bool, msg []byte) (staged, error) {
	if err := ensureMaildir(dir, folder); err != nil {
		return staged{}, err
	}
	name := uniqueName(host)
	p := filepath.Join(dir, "tmp", name)
	f, err := os.OpenFile(p, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
	if err != nil {
		return staged{}, fmt.Errorf("mailbox: write message: %w", err)
	}
	_, err = f.Write(msg)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		_ = os.Remove(p)
		return staged{}, fmt.Errorf("mailbox: write message: %w", err)
	}
	return staged{dir: dir, name: name}, nil
}

// commit moves the message from tmp/ into new/ and syncs the directory, so
// the delivery survives a crash once commit returns.
func (s staged) commit() error {
	if err := os.Rename(filepath.Join(s.dir, "tmp", s.name), filepath.Join(s.dir, "new", s.name)); err != nil {
		return fmt.Errorf("mailbox: deliver message: %w", err)
	}
	d, err := os.Open(filepath.Join(s.dir, "new"))
	if err != nil {
		return fmt.Errorf("mailbox: sync new/: %w", err)
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("mailbox: sync new/: %w", err)
	}
	return nil
}

// abort removes a staged message that will not be delivered.
func (s staged) abort() {
	_ = os.Remove(filepath.Join(s.dir, "tmp", s.name))
}
