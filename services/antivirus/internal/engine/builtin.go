package engine

import "context"

// Builtin is the in-process engine that is always on: it detects the EICAR
// test file and matches ClamAV hash signatures. It never fails a scan.
type Builtin struct {
	hashes *HashDB
}

// NewBuiltin returns the built-in engine with the hash signatures in
// sigDir; an empty sigDir loads none.
func NewBuiltin(sigDir string) (*Builtin, error) {
	b := &Builtin{}
	if sigDir != "" {
		db, err := LoadHashDB(sigDir)
		if err != nil {
			return nil, err
		}
		b.hashes = db
	}
	return b, nil
}

// Name implements the engine contract of the scan package.
func (b *Builtin) Name() string { return "builtin" }

// Signatures returns the number of hash signatures loaded.
func (b *Builtin) Signatures() int {
	if b.hashes == nil {
		return 0
	}
	return b.hashes.Len()
}

// Scan checks data against the EICAR test file and the hash signatures.
func (b *Builtin) Scan(_ context.Context, data []byte) (Finding, error) {
	if isEICAR(data) {
		return Finding{Infected: true, Signature: EICARSignature}, nil
	}
	if name, ok := b.hashes.Match(data); ok {
		return Finding{Infected: true, Signature: name}, nil
	}
	return Finding{}, nil
}
