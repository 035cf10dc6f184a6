// Package ratelimit limits how often a client may try something, such as
// signing in with a wrong password. The counts are kept in Redis, so every
// instance of a function shares them, by the generic cell rate algorithm of
// github.com/go-redis/redis_rate: a limit of COUNT/PERIOD lets COUNT
// attempts through at once, then one more every PERIOD/COUNT.
//
// Losing Redis's data forgets the counts, which only lets clients start
// afresh; a Redis that cannot be reached refuses the attempt (a 503), since
// a limit that lapses whenever Redis is away would not be one.
package ratelimit

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/go-redis/redis_rate/v10"
	"github.com/redis/go-redis/v9"

	"github.com/ticketing-on-knative/ticketing/internal/config"
	"github.com/ticketing-on-knative/ticketing/internal/httpapi"
	"github.com/ticketing-on-knative/ticketing/internal/logging"
)

// Limit is COUNT/PERIOD: COUNT attempts at once, and a steady COUNT per PERIOD.
type Limit struct {
	Count  int
	Period time.Duration
}

func (l Limit) String() string { return fmt.Sprintf("%d/%s", l.Count, l.Period) }

// ParseLimit reads a limit written COUNT/PERIOD, such as 10/15m: a positive
// count and a positive Go duration.
func ParseLimit(s string) (Limit, error) {
	count, period, ok := strings.Cut(s, "/")
	n, errCount := strconv.Atoi(strings.TrimSpace(count))
	d, errPeriod := time.ParseDuration(strings.TrimSpace(period))
	if !ok || errCount != nil || errPeriod != nil || n <= 0 || d <= 0 {
		return Limit{}, fmt.Errorf("%q is not COUNT/PERIOD, a positive count and a positive duration such as 10/15m or 20/1m", s)
	}
	return Limit{Count: n, Period: d}, nil
}

// Rule is one limit on one kind of attempt, such as failed sign-ins per
// account.
type Rule struct {
	// Name tells the rule's counts apart from other rules' in Redis.
	Name  string
	Limit Limit
}

// RuleFromEnv returns the rule set by the variable, COUNT/PERIOD, or by def
// when it is unset; a malformed value is recorded in cfg. The rule is named
// after the variable.
func RuleFromEnv(cfg *config.Env, variable, def string) Rule {
	v := cfg.String(variable, def)
	l, err := ParseLimit(v)
	if err != nil {
		cfg.Invalid(variable, err)
	}
	return Rule{Name: strings.ToLower(variable), Limit: l}
}

// For returns the budget of who (an email, an address) under r.
func (r Rule) For(who string) Budget {
	// Hashed, so that keys have one length and Redis holds no email.
	sum := sha256.Sum256([]byte(who))
	return Budget{rule: r, key: r.Name + ":" + hex.EncodeToString(sum[:16])}
}

// Budget is what one client has left under one rule.
type Budget struct {
	rule Rule
	key  string
}

// Limiter keeps the counts in Redis.
type Limiter struct {
	rdb    *redis.Client
	rate   *redis_rate.Limiter
	prefix string
}

// DefaultKeyPrefix begins the Redis keys of the counts, unless
// RATE_LIMIT_KEY_PREFIX says otherwise (tests sharing one Redis each have
// their own).
const DefaultKeyPrefix = "ticketing:ratelimit"

// Open returns the limiter that keeps its counts in rdb.
func Open(cfg *config.Env, rdb *redis.Client) *Limiter {
	prefix := cfg.String("RATE_LIMIT_KEY_PREFIX", DefaultKeyPrefix)
	if rdb == nil {
		return nil
	}
	return &Limiter{rdb: rdb, rate: redis_rate.NewLimiter(rdb), prefix: prefix + ":"}
}

// Take counts one attempt against every budget, or against none: when one
// of them is spent, it gives back what it took from the others and returns
// the contract's 429, with how long to wait until that budget has room.
func (l *Limiter) Take(ctx context.Context, budgets ...Budget) (*Attempt, error) {
	a := &Attempt{limiter: l}
	for _, b := range budgets {
		res, err := l.allow(ctx, b, 1)
		if err != nil {
			a.GiveBack(ctx)
			return nil, err
		}
		if res.Allowed == 0 {
			a.GiveBack(ctx)
			return nil, httpapi.TooManyRequests(res.RetryAfter)
		}
		a.taken = append(a.taken, b)
	}
	return a, nil
}

func (l *Limiter) allow(ctx context.Context, b Budget, n int) (*redis_rate.Result, error) {
	res, err := l.rate.AllowN(ctx, l.prefix+b.key, b.rule.gcra(), n)
	if err != nil {
		return nil, fmt.Errorf("rate limit %s: %w", b.rule.Name, err)
	}
	return res, nil
}

func (r Rule) gcra() redis_rate.Limit {
	return redis_rate.Limit{Rate: r.Limit.Count, Burst: r.Limit.Count, Period: r.Limit.Period}
}

// rateKeyPrefix is what redis_rate puts before the keys it is given.
const rateKeyPrefix = "rate:"

// giveBack credits b with one attempt. The limiter's script takes a
// negative count as a credit, but never stores one that would leave the
// budget whole, since it never stores a time that has passed: it leaves the
// attempt counted instead. A whole budget is a missing key, so giveBack then
// deletes the key, unless another attempt has been counted since (WATCH),
// in which case the credit, tried again, is stored.
func (l *Limiter) giveBack(ctx context.Context, b Budget) error {
	key := l.prefix + b.key
	credit := func(tx *redis.Tx) error {
		res, err := redis_rate.NewLimiter(tx).AllowN(ctx, key, b.rule.gcra(), -1)
		if err != nil || res.ResetAfter > 0 {
			return err // stored, or failed
		}
		_, err = tx.TxPipelined(ctx, func(p redis.Pipeliner) error {
			return redis_rate.NewLimiter(p).Reset(ctx, key)
		})
		return err
	}
	for range 10 {
		err := l.rdb.Watch(ctx, credit, rateKeyPrefix+key)
		if !errors.Is(err, redis.TxFailedErr) {
			if err != nil {
				return fmt.Errorf("rate limit %s: give back: %w", b.rule.Name, err)
			}
			return nil
		}
	}
	return fmt.Errorf("rate limit %s: give back: the budget changes too often", b.rule.Name)
}

// Attempt is what Take counted.
type Attempt struct {
	limiter *Limiter
	taken   []Budget
}

// GiveBack uncounts the attempt, for one that turned out not to be the kind
// the rules limit: a sign-in with the right password is no failed sign-in.
// Taking first and giving back after holds the limit however many attempts
// run at once, where a look before and a count after would let them all in.
// It is best effort: an attempt it cannot give back stays counted, which
// only makes the limit stricter, and is logged.
func (a *Attempt) GiveBack(ctx context.Context) {
	var errs []error
	for _, b := range a.taken {
		errs = append(errs, a.limiter.giveBack(ctx, b))
	}
	a.taken = nil
	if err := errors.Join(errs...); err != nil {
		logging.FromContext(ctx).Warn("an attempt stays counted", "error", err.Error())
	}
}
