package auth

import (
	"context"
	"errors"
	"time"

	"github.com/redis/go-redis/v9"
)

// RedisRevocations keeps revoked token ids in Redis, each key expiring when
// the token would have, so the list never outgrows the live sessions.
type RedisRevocations struct {
	rdb *redis.Client
}

// NewRedisRevocations returns the revocation list kept in rdb.
func NewRedisRevocations(rdb *redis.Client) *RedisRevocations {
	return &RedisRevocations{rdb: rdb}
}

func revokedKey(jti string) string { return "ticketing:revoked:" + jti }

// Revoke denies jti until until.
func (r *RedisRevocations) Revoke(ctx context.Context, jti string, until time.Time) error {
	if time.Until(until) <= 0 {
		return nil
	}
	return r.rdb.SetArgs(ctx, revokedKey(jti), 1, redis.SetArgs{ExpireAt: until}).Err()
}

// Revoked reports whether jti was revoked.
func (r *RedisRevocations) Revoked(ctx context.Context, jti string) (bool, error) {
	err := r.rdb.Get(ctx, revokedKey(jti)).Err()
	if errors.Is(err, redis.Nil) {
		return false, nil
	}
	return err == nil, err
}
