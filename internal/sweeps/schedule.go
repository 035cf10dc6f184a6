// Package sweeps schedules the outbox sweeps, so that a domain's sweep runs
// only when there may be something to sweep, and an idle system runs none.
//
// A function that is about to write an event to an outbox (or to claim a
// charge, or anything else its domain's sweep finishes after a crash) first
// makes its domain's sweep due: an entry of a sorted set in Redis, the
// domain scored by when the sweep is due, the write's time plus the outbox's
// minimum age. The always-on expiry source polls the set (Source) and, when
// a domain is due, publishes a signed ticketing.sweep.due event about it,
// which the domain's sweep-<domain> Service is triggered by. A sweep that
// leaves work not yet due makes itself due again for when it is.
//
// So an event whose function crashed between its write and its publish is
// published within the minimum age plus the source's poll interval of its
// write. Redis losing the set (a restart without persistence, FLUSHALL,
// eviction) loses no sweep: the set holds a marker that only the source
// writes, and a source that finds it gone makes every domain's sweep due
// at once (sweep-orders then also expires the orders whose deadlines were
// lost with it).
package sweeps

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"
)

// Domains are the domains that have a sweep: each has a sweep-<domain>
// Service, triggered by ticketing.sweep.due events whose subject is the domain.
var Domains = []string{"users", "tickets", "orders", "payments"}

// marker is the member of the due set that says the set is whole: the
// source adds it, scored +inf so that it is never due, and finds it gone
// only when Redis lost the set.
const marker = "*"

// Schedule is the due set of the sweeps in one Redis database.
//
// Its keys, for prefix p (the expiry schedule's, EXPIRY_KEY_PREFIX):
//
//	p:sweeps          sorted set: domain scored by when its sweep is due,
//	                  and the marker "*" scored +inf
//	p:sweeps-claimed  sorted set: domain scored by the end of the lease of
//	                  the source that is publishing its sweep
//
// Scores are Unix milliseconds of Redis's own clock.
type Schedule struct {
	rdb     *redis.Client
	due     string
	claimed string
}

// New returns the schedule kept in rdb under prefix.
func New(rdb *redis.Client, prefix string) *Schedule {
	return &Schedule{rdb: rdb, due: prefix + ":sweeps", claimed: prefix + ":sweeps-claimed"}
}

// dueScript makes ARGV[1] due ARGV[2] milliseconds from now, by Redis's
// clock, unless it is due sooner (ZADD LT keeps the earliest).
var dueScript = redis.NewScript(`
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('ZADD', KEYS[1], 'LT', now + tonumber(ARGV[2]), ARGV[1])
return now
`)

// Due makes domain's sweep due after delay, unless it is due sooner. Call it
// before the write whose crash the sweep would repair: a sweep due for
// nothing costs one run, a write without its sweep may never be published.
func (s *Schedule) Due(ctx context.Context, domain string, delay time.Duration) error {
	if err := dueScript.Run(ctx, s.rdb, []string{s.due}, domain, max(delay, 0).Milliseconds()).Err(); err != nil {
		return fmt.Errorf("schedule the %s sweep: %w", domain, err)
	}
	return nil
}

// Sweep is one domain's sweep as the functions that write its outboxes see it.
func (s *Schedule) Sweep(domain string, delay time.Duration) Sweep {
	return Sweep{schedule: s, domain: domain, delay: delay}
}

// A Sweep makes one domain's sweep due a fixed delay after each write.
type Sweep struct {
	schedule *Schedule
	domain   string
	delay    time.Duration
}

// Expect makes the sweep due after the delay (the outbox's minimum age):
// call it before a write that leaves an event pending, so that the event is
// published even if the process dies before its publish.
func (s Sweep) Expect(ctx context.Context) error { return s.schedule.Due(ctx, s.domain, s.delay) }

// A claim is a due domain that one source took: moved from the due set to
// the claimed set until the end of its lease, so that no other source
// publishes it meanwhile. The source removes it once the broker has
// accepted the event; if the source dies first, the lease ends and the
// domain is due again.
type claim struct {
	domain string
	dueAt  time.Time
	lease  int64 // the score of the claim, which names it
}

// claimScript takes the due domains for ARGV[1] milliseconds. When the
// marker is missing, Redis lost the set: it makes every domain of ARGV[2..]
// due now and puts the marker back. Claims whose lease ended are due again.
//
// KEYS[1] the due set, KEYS[2] the claimed set. Returns whether the set was
// lost, the lease's score, then domain, due-time pairs.
var claimScript = redis.NewScript(`
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local lost = 0
if not redis.call('ZSCORE', KEYS[1], '*') then
  lost = 1
  for i = 2, #ARGV do redis.call('ZADD', KEYS[1], 'LT', now, ARGV[i]) end
  redis.call('ZADD', KEYS[1], '+inf', '*')
end
local ended = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', now)
for _, domain in ipairs(ended) do
  redis.call('ZREM', KEYS[2], domain)
  redis.call('ZADD', KEYS[1], 'LT', now, domain)
end
local lease = now + tonumber(ARGV[1])
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now, 'WITHSCORES')
local out = {lost, lease}
for i = 1, #due, 2 do
  redis.call('ZREM', KEYS[1], due[i])
  redis.call('ZADD', KEYS[2], lease, due[i])
  out[#out + 1] = due[i]
  out[#out + 1] = due[i + 1]
end
return out
`)

// claimDue claims the due domains for lease; lost says that the set had
// been lost and every one of domains was made due.
func (s *Schedule) claimDue(ctx context.Context, lease time.Duration, domains []string) (claims []claim, lost bool, err error) {
	args := []any{lease.Milliseconds()}
	for _, d := range domains {
		args = append(args, d)
	}
	reply, err := claimScript.Run(ctx, s.rdb, []string{s.due, s.claimed}, args...).Slice()
	if err != nil {
		return nil, false, fmt.Errorf("claim due sweeps: %w", err)
	}
	lostFlag, ok1 := reply[0].(int64)
	leaseScore, ok2 := reply[1].(int64)
	if !ok1 || !ok2 {
		return nil, false, fmt.Errorf("claim due sweeps: unexpected reply %v", reply)
	}
	for i := 2; i+1 < len(reply); i += 2 {
		domain, _ := reply[i].(string)
		score, _ := reply[i+1].(string)
		ms, err := strconv.ParseFloat(score, 64)
		if err != nil {
			return nil, false, fmt.Errorf("claim due sweeps: %s: malformed score %q", domain, score)
		}
		claims = append(claims, claim{domain: domain, dueAt: time.UnixMilli(int64(ms)).UTC(), lease: leaseScore})
	}
	return claims, lostFlag == 1, nil
}

// releaseScript ends the claim of ARGV[1] named by its lease score ARGV[2]
// (unless another source's claim superseded it) and, with ARGV[3] set,
// makes the domain due again after ARGV[3] milliseconds.
var releaseScript = redis.NewScript(`
local score = redis.call('ZSCORE', KEYS[2], ARGV[1])
if not score or tonumber(score) ~= tonumber(ARGV[2]) then return 0 end
redis.call('ZREM', KEYS[2], ARGV[1])
if ARGV[3] then
  local t = redis.call('TIME')
  local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
  redis.call('ZADD', KEYS[1], 'LT', now + tonumber(ARGV[3]), ARGV[1])
end
return 1
`)

// done ends c, whose event the broker accepted.
func (s *Schedule) done(ctx context.Context, c claim) error {
	if err := releaseScript.Run(ctx, s.rdb, []string{s.due, s.claimed}, c.domain, c.lease).Err(); err != nil {
		return fmt.Errorf("sweep of %s published but its claim kept: %w", c.domain, err)
	}
	return nil
}

// retryAfter gives c up: its domain is due again after delay, rather than
// at the end of the lease.
func (s *Schedule) retryAfter(ctx context.Context, c claim, delay time.Duration) error {
	if err := releaseScript.Run(ctx, s.rdb, []string{s.due, s.claimed}, c.domain, c.lease, delay.Milliseconds()).Err(); err != nil {
		return fmt.Errorf("release the claim on the %s sweep: %w", c.domain, err)
	}
	return nil
}

// Pending returns the domains whose sweep is due or claimed, with when it is
// due (or when its claim ends): for tests and for a look at an idle system.
func (s *Schedule) Pending(ctx context.Context) (map[string]time.Time, error) {
	out := map[string]time.Time{}
	for _, key := range []string{s.due, s.claimed} {
		zs, err := s.rdb.ZRangeWithScores(ctx, key, 0, -1).Result()
		if err != nil {
			return nil, fmt.Errorf("read the sweeps due: %w", err)
		}
		for _, z := range zs {
			if m, _ := z.Member.(string); m != marker {
				out[m] = time.UnixMilli(int64(z.Score)).UTC()
			}
		}
	}
	return out, nil
}
