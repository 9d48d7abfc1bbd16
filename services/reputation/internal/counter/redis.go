package counter

import (
	"context"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"
)

// Keys. Every key of one IP carries the IP as a hash tag, so that all of
// them live in one Redis Cluster slot and one script may touch them:
//
//	<prefix>conn:{<ip>}   sorted set: member lease id, score expiry (unix ms)
//	<prefix>spam:{<ip>}   sorted set: member "<report id>:<n>", score time (unix ms)
//	<prefix>block:{<ip>}  string "1" with a TTL: the temporary block
const (
	kindConn  = "conn"
	kindSpam  = "spam"
	kindBlock = "block"
)

// nowMS is the Lua preamble that reads the Redis server clock in unix ms.
const nowMS = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
`

// expireAtLast makes KEYS[1] (a sorted set of expiries) expire with its
// latest member.
const expireAtLast = `
local last = redis.call('ZRANGE', KEYS[1], -1, -1, 'WITHSCORES')
if last[2] then redis.call('PEXPIREAT', KEYS[1], math.ceil(tonumber(last[2]))) end
`

// acquireScript: KEYS conn, block; ARGV lease id, limit, ttl ms.
// Returns {outcome (0 admitted, 1 over limit, 2 blocked), count, block pttl}.
var acquireScript = redis.NewScript(nowMS + `
local limit = tonumber(ARGV[2])
if limit > 0 then
  local b = redis.call('PTTL', KEYS[2])
  if b ~= -2 then return {2, 0, b} end
end
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
local n = redis.call('ZCARD', KEYS[1])
local held = redis.call('ZSCORE', KEYS[1], ARGV[1])
if not held and limit > 0 and n >= limit then return {1, n, 0} end
redis.call('ZADD', KEYS[1], now + tonumber(ARGV[3]), ARGV[1])
if not held then n = n + 1 end
` + expireAtLast + `
return {0, n, 0}
`)

// renewScript: KEYS conn; ARGV lease id, ttl ms. Returns 1 when the lease
// was live, 0 when it had expired (it is held again either way).
var renewScript = redis.NewScript(nowMS + `
local s = redis.call('ZSCORE', KEYS[1], ARGV[1])
local live = 0
if s and tonumber(s) > now then live = 1 end
redis.call('ZADD', KEYS[1], now + tonumber(ARGV[2]), ARGV[1])
` + expireAtLast + `
return live
`)

// spamScript: KEYS spam, block; ARGV report id, points, threshold,
// window ms, block ms. Returns {points in window, blocked (0/1), block pttl}.
var spamScript = redis.NewScript(nowMS + `
local threshold = tonumber(ARGV[3])
local window = tonumber(ARGV[4])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window)
local n = redis.call('ZCARD', KEYS[1])
local i = 1
while i <= tonumber(ARGV[2]) and n < threshold do
  n = n + redis.call('ZADD', KEYS[1], 'NX', now, ARGV[1] .. ':' .. i)
  i = i + 1
end
if n > 0 then redis.call('PEXPIRE', KEYS[1], window) end
if n >= threshold then redis.call('SET', KEYS[2], '1', 'PX', ARGV[5], 'NX') end
local b = redis.call('PTTL', KEYS[2])
if b == -2 then return {n, 0, 0} end
return {n, 1, b}
`)

// Redis keeps the counters in Redis under a key prefix, shared by every
// replica that uses the same server and prefix. Each call is one round
// trip (EVALSHA; one extra EVAL after the server lost its script cache).
type Redis struct {
	rdb    redis.UniversalClient
	prefix string
}

// NewRedis returns counters stored through rdb under keys starting with
// prefix (for example "mxgate:"). The caller owns and closes rdb.
func NewRedis(rdb redis.UniversalClient, prefix string) *Redis {
	return &Redis{rdb: rdb, prefix: prefix}
}

// Preload loads the scripts into the server's script cache so the first
// calls take one round trip too.
func (r *Redis) Preload(ctx context.Context) error {
	for _, s := range []*redis.Script{acquireScript, renewScript, spamScript} {
		if err := s.Load(ctx, r.rdb).Err(); err != nil {
			return fmt.Errorf("counter: load script: %w", err)
		}
	}
	return nil
}

func (r *Redis) key(kind, ip string) string { return r.prefix + kind + ":{" + ip + "}" }

// Acquire has the contract of Memory.Acquire.
func (r *Redis) Acquire(ctx context.Context, ip, lease string, limit int, ttl time.Duration) (Admission, error) {
	if err := checkLease(ip, lease, ttl); err != nil {
		return Admission{}, err
	}
	res, err := acquireScript.Run(ctx, r.rdb, []string{r.key(kindConn, ip), r.key(kindBlock, ip)},
		lease, limit, ttl.Milliseconds()).Int64Slice()
	if err != nil {
		return Admission{}, fmt.Errorf("counter: acquire: %w", err)
	}
	if len(res) != 3 {
		return Admission{}, fmt.Errorf("counter: acquire: unexpected reply %v", res)
	}
	switch res[0] {
	case 0:
		return Admission{Outcome: Admitted, Count: int(res[1])}, nil
	case 1:
		return Admission{Outcome: OverLimit, Count: int(res[1])}, nil
	default:
		return Admission{Outcome: Blocked, BlockedFor: pttl(res[2])}, nil
	}
}

// Renew has the contract of Memory.Renew.
func (r *Redis) Renew(ctx context.Context, ip, lease string, ttl time.Duration) (bool, error) {
	if err := checkLease(ip, lease, ttl); err != nil {
		return false, err
	}
	live, err := renewScript.Run(ctx, r.rdb, []string{r.key(kindConn, ip)}, lease, ttl.Milliseconds()).Int64()
	if err != nil {
		return false, fmt.Errorf("counter: renew: %w", err)
	}
	return live == 1, nil
}

// Release has the contract of Memory.Release.
func (r *Redis) Release(ctx context.Context, ip, lease string) error {
	if err := checkLease(ip, lease, time.Second); err != nil {
		return err
	}
	if err := r.rdb.ZRem(ctx, r.key(kindConn, ip), lease).Err(); err != nil {
		return fmt.Errorf("counter: release: %w", err)
	}
	return nil
}

// AddSpam has the contract of Memory.AddSpam.
func (r *Redis) AddSpam(ctx context.Context, ip, report string, points, threshold int, window, blockFor time.Duration) (Spam, error) {
	if err := checkSpam(ip, report, points, threshold, window, blockFor); err != nil {
		return Spam{}, err
	}
	res, err := spamScript.Run(ctx, r.rdb, []string{r.key(kindSpam, ip), r.key(kindBlock, ip)},
		report, points, threshold, window.Milliseconds(), blockFor.Milliseconds()).Int64Slice()
	if err != nil {
		return Spam{}, fmt.Errorf("counter: add spam: %w", err)
	}
	if len(res) != 3 {
		return Spam{}, fmt.Errorf("counter: add spam: unexpected reply %v", res)
	}
	return Spam{Points: int(res[0]), Blocked: res[1] == 1, BlockedFor: pttl(res[2])}, nil
}

// pttl turns a PTTL reply into a duration; a block without expiry (-1)
// reports 0.
func pttl(ms int64) time.Duration {
	if ms < 0 {
		return 0
	}
	return time.Duration(ms) * time.Millisecond
}
