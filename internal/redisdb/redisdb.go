// Package redisdb opens the Redis connection a function uses.
package redisdb

import (
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/ticketing-on-knative/ticketing/internal/config"
)

// Open returns a client for $REDIS_URL, or nil after recording in cfg why it
// cannot. Like the MongoDB client it dials on first use, and its timeouts are
// short so that a Redis that is down becomes a 503 quickly.
func Open(cfg *config.Env) *redis.Client {
	url := cfg.Require("REDIS_URL")
	timeout := cfg.Duration("REDIS_TIMEOUT", 2*time.Second)
	if url == "" {
		return nil
	}
	opts, err := redis.ParseURL(url)
	if err != nil {
		cfg.Invalid("REDIS_URL", err)
		return nil
	}
	opts.DialTimeout = timeout
	opts.ReadTimeout = timeout
	opts.WriteTimeout = timeout
	opts.MaxRetries = 1
	return redis.NewClient(opts)
}
