package expiry

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"
)

// A claim is a due deadline that one source took: its score in the deadline
// set was moved to the end of the lease, so no other source sees it due until
// then. The source removes the entry once the broker has accepted the event;
// if the source dies first, the lease ends and the entry is due again.
type claim struct {
	orderID   string
	expiresAt time.Time
	lease     int64 // the score the claim set, which names it
}

// claimScript takes due entries: the one named by ARGV[3], or when it is
// absent up to ARGV[2] of them in deadline order. It reads the time from
// Redis, the clock that expires the keys, so sources on hosts whose clocks
// disagree still agree on what is due.
//
// KEYS[1] the deadline set, KEYS[2] the deadline hash; ARGV[1] the lease in
// milliseconds. Returns the lease's score followed by id, deadline pairs.
var claimScript = redis.NewScript(`
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local lease = now + tonumber(ARGV[1])
local due
if ARGV[3] then
  local score = redis.call('ZSCORE', KEYS[1], ARGV[3])
  due = {}
  if score and tonumber(score) <= now then due = {ARGV[3], score} end
else
  due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now, 'WITHSCORES', 'LIMIT', 0, tonumber(ARGV[2]))
end
local out = {lease}
for i = 1, #due, 2 do
  local id = due[i]
  redis.call('ZADD', KEYS[1], lease, id)
  out[#out + 1] = id
  out[#out + 1] = redis.call('HGET', KEYS[2], id) or due[i + 1]
end
return out
`)

// retryScript makes a claimed entry due again after ARGV[3] milliseconds,
// unless its claim (ARGV[2], the lease score) has been superseded or the
// entry removed.
var retryScript = redis.NewScript(`
local score = redis.call('ZSCORE', KEYS[1], ARGV[1])
if not score or tonumber(score) ~= tonumber(ARGV[2]) then return 0 end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('ZADD', KEYS[1], now + tonumber(ARGV[3]), ARGV[1])
return 1
`)

// claimDue claims up to limit due entries for lease.
func (d *Deadlines) claimDue(ctx context.Context, lease time.Duration, limit int) ([]claim, error) {
	return d.claim(ctx, lease.Milliseconds(), limit)
}

// claimOrder claims orderID's entry for lease if it is due. It returns
// false when there is nothing to claim: the order was expired or forgotten
// already, or another source holds it.
func (d *Deadlines) claimOrder(ctx context.Context, orderID string, lease time.Duration) (claim, bool, error) {
	claims, err := d.claim(ctx, lease.Milliseconds(), 1, orderID)
	if err != nil || len(claims) == 0 {
		return claim{}, false, err
	}
	return claims[0], true, nil
}

func (d *Deadlines) claim(ctx context.Context, leaseMS int64, limit int, orderID ...string) ([]claim, error) {
	args := []any{leaseMS, limit}
	for _, id := range orderID {
		args = append(args, id)
	}
	reply, err := claimScript.Run(ctx, d.rdb, []string{d.due, d.expiresAt}, args...).Slice()
	if err != nil {
		return nil, fmt.Errorf("claim due deadlines: %w", err)
	}
	lease, ok := reply[0].(int64)
	if !ok {
		return nil, fmt.Errorf("claim due deadlines: unexpected reply %v", reply)
	}
	claims := make([]claim, 0, (len(reply)-1)/2)
	for i := 1; i+1 < len(reply); i += 2 {
		id, _ := reply[i].(string)
		deadline, _ := reply[i+1].(string)
		ms, err := strconv.ParseFloat(deadline, 64)
		if err != nil {
			return nil, fmt.Errorf("claim due deadlines: order %s: malformed deadline %q", id, deadline)
		}
		claims = append(claims, claim{orderID: id, expiresAt: time.UnixMilli(int64(ms)).UTC(), lease: lease})
	}
	return claims, nil
}

// retryAfter gives up c for now: its entry is due again after delay, rather
// than at the end of the lease.
func (d *Deadlines) retryAfter(ctx context.Context, c claim, delay time.Duration) error {
	if err := retryScript.Run(ctx, d.rdb, []string{d.due}, c.orderID, c.lease, delay.Milliseconds()).Err(); err != nil {
		return fmt.Errorf("release claim on order %s: %w", c.orderID, err)
	}
	return nil
}

// done removes the entry of c, whose event the broker accepted.
func (d *Deadlines) done(ctx context.Context, c claim) error {
	if err := d.remove(ctx, c.orderID, false); err != nil {
		return fmt.Errorf("remove expired order %s: %w", c.orderID, err)
	}
	return nil
}
