// Package engine holds the antivirus engines: the built-in engine (the
// EICAR test file and ClamAV hash signature files) and a clamd client. Each
// engine scans one decoded object at a time and reports a Finding; errors
// wrap the sentinels below so that callers can choose a fail action.
package engine

import "errors"

// Finding is an engine's answer for one object.
type Finding struct {
	// Infected is set when a signature matched.
	Infected bool
	// Signature names what matched, for logs and Infection records; it is
	// never shown to the SMTP client.
	Signature string
}

var (
	// ErrUnavailable reports an engine that cannot be reached (clamd down,
	// socket missing, connection reset).
	ErrUnavailable = errors.New("engine: unavailable")
	// ErrTimeout reports an engine that did not answer in time.
	ErrTimeout = errors.New("engine: timeout")
	// ErrTooLarge reports an object bigger than the engine accepts (clamd
	// StreamMaxLength); the object was not scanned.
	ErrTooLarge = errors.New("engine: object too large to scan")
	// ErrScan reports an engine that answered with an error.
	ErrScan = errors.New("engine: scan error")
	// ErrSignatures reports an unreadable or malformed signature file.
	ErrSignatures = errors.New("engine: bad signature file")
)
