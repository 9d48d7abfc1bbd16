package engine

import (
	"bufio"
	"crypto/md5"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
)

// HashDB holds ClamAV hash signatures: .hdb/.hdu lines "md5:size:name",
// .hsb/.hsu lines "sha1-or-sha256:size:name[:flevel]". A size of "*" matches
// any size. The hash algorithm is chosen by the length of the hash, as
// ClamAV does.
type HashDB struct {
	md5    map[[md5.Size]byte][]hashSig
	sha1   map[[sha1.Size]byte][]hashSig
	sha256 map[[sha256.Size]byte][]hashSig
	// sizes lists the object sizes some signature needs; anySize is set
	// when a signature has size "*". They let Match skip hashing objects no
	// signature can match.
	sizes   map[int64]bool
	anySize bool
	count   int
}

type hashSig struct {
	size int64 // -1 for any size
	name string
}

// hashFileExts are the signature files LoadHashDB reads.
var hashFileExts = []string{".hdb", ".hdu", ".hsb", ".hsu"}

// LoadHashDB reads every .hdb, .hdu, .hsb and .hsu file in dir. A malformed
// line fails the load with an error naming file and line, as clamd does.
func LoadHashDB(dir string) (*HashDB, error) {
	db := &HashDB{
		md5:    map[[md5.Size]byte][]hashSig{},
		sha1:   map[[sha1.Size]byte][]hashSig{},
		sha256: map[[sha256.Size]byte][]hashSig{},
		sizes:  map[int64]bool{},
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrSignatures, err)
	}
	for _, e := range entries {
		if e.IsDir() || !slices.Contains(hashFileExts, strings.ToLower(filepath.Ext(e.Name()))) {
			continue
		}
		if err := db.loadFile(filepath.Join(dir, e.Name())); err != nil {
			return nil, err
		}
	}
	return db, nil
}

func (db *HashDB) loadFile(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrSignatures, err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		if err := db.add(line); err != nil {
			return fmt.Errorf("%w: %s:%d: %w", ErrSignatures, path, n, err)
		}
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("%w: %s: %w", ErrSignatures, path, err)
	}
	return nil
}

func (db *HashDB) add(line string) error {
	f := strings.Split(line, ":")
	if len(f) < 3 {
		return fmt.Errorf("want hash:size:name, got %d fields", len(f))
	}
	sum, err := hex.DecodeString(strings.ToLower(f[0]))
	if err != nil {
		return fmt.Errorf("hash: %w", err)
	}
	sig := hashSig{size: -1, name: f[2]}
	if sig.name == "" {
		return fmt.Errorf("empty signature name")
	}
	if f[1] != "*" {
		sig.size, err = strconv.ParseInt(f[1], 10, 64)
		if err != nil || sig.size < 0 {
			return fmt.Errorf("size %q", f[1])
		}
		db.sizes[sig.size] = true
	} else {
		db.anySize = true
	}
	switch len(sum) {
	case md5.Size:
		k := [md5.Size]byte(sum)
		db.md5[k] = append(db.md5[k], sig)
	case sha1.Size:
		k := [sha1.Size]byte(sum)
		db.sha1[k] = append(db.sha1[k], sig)
	case sha256.Size:
		k := [sha256.Size]byte(sum)
		db.sha256[k] = append(db.sha256[k], sig)
	default:
		return fmt.Errorf("hash of %d bytes is not md5, sha1 or sha256", len(sum))
	}
	db.count++
	return nil
}

// Len returns the number of signatures loaded.
func (db *HashDB) Len() int { return db.count }

// Match returns the name of a signature matching data.
func (db *HashDB) Match(data []byte) (string, bool) {
	if db == nil || db.count == 0 {
		return "", false
	}
	size := int64(len(data))
	if !db.anySize && !db.sizes[size] {
		return "", false
	}
	if len(db.md5) > 0 {
		if name, ok := pick(db.md5[md5.Sum(data)], size); ok {
			return name, true
		}
	}
	if len(db.sha1) > 0 {
		if name, ok := pick(db.sha1[sha1.Sum(data)], size); ok {
			return name, true
		}
	}
	if len(db.sha256) > 0 {
		if name, ok := pick(db.sha256[sha256.Sum256(data)], size); ok {
			return name, true
		}
	}
	return "", false
}

func pick(sigs []hashSig, size int64) (string, bool) {
	for _, s := range sigs {
		if s.size < 0 || s.size == size {
			return s.name, true
		}
	}
	return "", false
}
