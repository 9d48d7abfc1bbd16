// Package store holds the live policy Directory and swaps it atomically
// when its source changes. File is the YAML-file source; other sources
// (a NATS KV bucket, an admin API) publish through the same Swap.
package store

import (
	"errors"
	"fmt"
	"sync/atomic"

	"github.com/mxgate/mxgate/services/policy/internal/config"
	"github.com/mxgate/mxgate/services/policy/internal/directory"
)

// ErrNoFile is returned by Reload when the service runs without a file.
var ErrNoFile = errors.New("store: no configuration file to reload")

// Store is the current Directory. Safe for concurrent use; readers never
// block and always see a complete version.
type Store struct {
	cur atomic.Pointer[directory.Directory]
}

// New returns a Store holding d.
func New(d *directory.Directory) *Store {
	s := &Store{}
	s.cur.Store(d)
	return s
}

// Directory returns the current version.
func (s *Store) Directory() *directory.Directory { return s.cur.Load() }

// Swap publishes d as the current version.
func (s *Store) Swap(d *directory.Directory) { s.cur.Store(d) }

// File is a Store fed by the YAML configuration file.
type File struct {
	*Store
	path string
}

// NewFile builds the Directory from cfg, already loaded from path, and
// remembers path for Reload.
func NewFile(path string, cfg config.Config) (*File, error) {
	d, err := directory.Build(cfg)
	if err != nil {
		return nil, err
	}
	return &File{Store: New(d), path: path}, nil
}

// Reload reads the file again and publishes it. On any error the current
// version stays in place. Only the policy keys (domains, mailboxes, spam_tag,
// spam_folder, recipient_delimiter) take effect; listen and telemetry need a
// restart.
func (f *File) Reload() (*directory.Directory, error) {
	if f.path == "" {
		return nil, ErrNoFile
	}
	cfg, err := config.Load(f.path)
	if err != nil {
		return nil, fmt.Errorf("store: reload %s: %w", f.path, err)
	}
	d, err := directory.Build(cfg)
	if err != nil {
		return nil, fmt.Errorf("store: reload %s: %w", f.path, err)
	}
	f.Swap(d)
	return d, nil
}
