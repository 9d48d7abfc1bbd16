// Package counter stores the per-IP state the reputation service shares
// between its replicas: connection leases, the sliding-window spam count
// and temporary blocks. Redis holds it for the whole cluster; Memory holds
// it in one process. Both give the same answers to the same calls.
//
// Every operation is atomic per IP and, with Redis, one round trip. Times
// are taken from the store's clock (Redis TIME), never from the caller, so
// replicas with skewed clocks agree on when a lease expires.
package counter

import (
	"errors"
	"fmt"
	"strconv"
	"time"
)

// ErrBadArgument wraps calls with an empty IP, lease id or a bad number.
var ErrBadArgument = errors.New("counter: bad argument")

// Outcome is the result of Acquire.
type Outcome int

const (
	// Admitted: the lease is held.
	Admitted Outcome = iota + 1
	// OverLimit: the IP already holds limit live leases; nothing was taken.
	OverLimit
	// Blocked: the IP is temporarily blocked; nothing was taken.
	Blocked
)

func (o Outcome) String() string {
	switch o {
	case Admitted:
		return "admitted"
	case OverLimit:
		return "over_limit"
	case Blocked:
		return "blocked"
	}
	return "unknown"
}

// Admission is the answer to Acquire.
type Admission struct {
	Outcome Outcome
	// Count is the number of live leases of the IP, the new one included
	// when admitted. It is 0 when Blocked.
	Count int
	// BlockedFor is what remains of the temporary block when Blocked.
	BlockedFor time.Duration
}

// Spam is the answer to AddSpam.
type Spam struct {
	// Points in the window after this report. It never exceeds the
	// threshold: reports past it are not stored.
	Points int
	// Blocked is true while the IP is temporarily blocked.
	Blocked bool
	// BlockedFor is what remains of the block when Blocked.
	BlockedFor time.Duration
}

func checkLease(ip, lease string, ttl time.Duration) error {
	switch {
	case ip == "":
		return fmt.Errorf("%w: empty ip", ErrBadArgument)
	case lease == "":
		return fmt.Errorf("%w: empty lease id", ErrBadArgument)
	case ttl < time.Millisecond:
		return fmt.Errorf("%w: lease ttl under 1ms", ErrBadArgument)
	}
	return nil
}

func checkSpam(ip, report string, points, threshold int, window, blockFor time.Duration) error {
	switch {
	case ip == "":
		return fmt.Errorf("%w: empty ip", ErrBadArgument)
	case report == "":
		return fmt.Errorf("%w: empty report id", ErrBadArgument)
	case points < 0 || threshold < 1:
		return fmt.Errorf("%w: points must be >= 0 and threshold >= 1", ErrBadArgument)
	case window < time.Millisecond || blockFor < time.Millisecond:
		return fmt.Errorf("%w: window and block duration must be >= 1ms", ErrBadArgument)
	}
	return nil
}

// spamMember names point p of a spam report; the Redis script builds the
// same name.
func spamMember(report string, p int) string { return report + ":" + strconv.Itoa(p) }
