package counter

import (
	"context"
	"slices"
	"sync"
	"time"
)

// sweepEvery is how often Memory drops the state of idle IPs.
const sweepEvery = time.Minute

// Memory keeps the counters in this process. Each replica then counts only
// its own connections and spam reports; use Redis to share them. It is
// safe for concurrent use; the zero value is not usable, call NewMemory.
type Memory struct {
	mu        sync.Mutex
	ips       map[string]*ipState
	lastSweep time.Time
	now       func() time.Time
}

type ipState struct {
	leases       map[string]time.Time // lease id -> expiry
	spam         []spamPoint          // oldest first
	spamUntil    time.Time            // when the newest spam point leaves its window
	blockedUntil time.Time
}

type spamPoint struct {
	id string
	at time.Time
}

// NewMemory returns empty in-process counters.
func NewMemory() *Memory {
	return &Memory{ips: make(map[string]*ipState), now: time.Now, lastSweep: time.Now()}
}

// state returns the state of ip, creating it; it also sweeps idle IPs now
// and then. mu must be held.
func (m *Memory) state(ip string, now time.Time) *ipState {
	if now.Sub(m.lastSweep) >= sweepEvery {
		m.lastSweep = now
		for k, s := range m.ips {
			if s.idle(now) {
				delete(m.ips, k)
			}
		}
	}
	s := m.ips[ip]
	if s == nil {
		s = &ipState{leases: make(map[string]time.Time)}
		m.ips[ip] = s
	}
	return s
}

func (s *ipState) idle(now time.Time) bool {
	s.dropExpiredLeases(now)
	return len(s.leases) == 0 && !now.Before(s.spamUntil) && !now.Before(s.blockedUntil)
}

func (s *ipState) dropExpiredLeases(now time.Time) {
	for id, exp := range s.leases {
		if !exp.After(now) {
			delete(s.leases, id)
		}
	}
}

// Acquire takes lease for ip unless ip is temporarily blocked or already
// holds limit live leases. limit <= 0 takes the lease unconditionally,
// ignoring blocks (allow-listed clients). Acquiring a lease id that is
// already held renews it and admits.
func (m *Memory) Acquire(_ context.Context, ip, lease string, limit int, ttl time.Duration) (Admission, error) {
	if err := checkLease(ip, lease, ttl); err != nil {
		return Admission{}, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	now := m.now()
	s := m.state(ip, now)
	if limit > 0 && now.Before(s.blockedUntil) {
		return Admission{Outcome: Blocked, BlockedFor: s.blockedUntil.Sub(now)}, nil
	}
	s.dropExpiredLeases(now)
	_, held := s.leases[lease]
	if !held && limit > 0 && len(s.leases) >= limit {
		return Admission{Outcome: OverLimit, Count: len(s.leases)}, nil
	}
	s.leases[lease] = now.Add(ttl)
	return Admission{Outcome: Admitted, Count: len(s.leases)}, nil
}

// Renew pushes the expiry of lease to ttl from now. It reports false when
// the lease had expired or was unknown; it is held again either way, even
// past the limit, because the connection it counts is still open.
func (m *Memory) Renew(_ context.Context, ip, lease string, ttl time.Duration) (bool, error) {
	if err := checkLease(ip, lease, ttl); err != nil {
		return false, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	now := m.now()
	s := m.state(ip, now)
	exp, held := s.leases[lease]
	s.leases[lease] = now.Add(ttl)
	return held && exp.After(now), nil
}

// Release drops lease. Releasing an unknown lease is not an error.
func (m *Memory) Release(_ context.Context, ip, lease string) error {
	if err := checkLease(ip, lease, time.Second); err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if s := m.ips[ip]; s != nil {
		delete(s.leases, lease)
	}
	return nil
}

// AddSpam records points (0 only reads the state) under report id in the
// sliding window of ip. When the window then holds threshold points, ip is
// blocked for blockFor unless it is already blocked. Adding the same
// report id twice counts it once.
func (m *Memory) AddSpam(_ context.Context, ip, report string, points, threshold int, window, blockFor time.Duration) (Spam, error) {
	if err := checkSpam(ip, report, points, threshold, window, blockFor); err != nil {
		return Spam{}, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	now := m.now()
	s := m.state(ip, now)
	cut := now.Add(-window)
	i := 0
	for i < len(s.spam) && !s.spam[i].at.After(cut) {
		i++
	}
	s.spam = slices.Delete(s.spam, 0, i)
	for p := 1; p <= points && len(s.spam) < threshold; p++ {
		id := spamMember(report, p)
		if !slices.ContainsFunc(s.spam, func(sp spamPoint) bool { return sp.id == id }) {
			s.spam = append(s.spam, spamPoint{id: id, at: now})
		}
	}
	if len(s.spam) > 0 {
		s.spamUntil = s.spam[len(s.spam)-1].at.Add(window)
	}
	if len(s.spam) >= threshold && !now.Before(s.blockedUntil) {
		s.blockedUntil = now.Add(blockFor)
	}
	res := Spam{Points: len(s.spam)}
	if now.Before(s.blockedUntil) {
		res.Blocked, res.BlockedFor = true, s.blockedUntil.Sub(now)
	}
	return res, nil
}
