// Package redisdb opens the Redis connection a function uses.
package redisdb

import (
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/ticketing-on-knative/ticketing/internal/config"
)

// Connect returns a client for $REDIS_URL. Like the MongoDB client it dials on
// first use, and its timeouts are short so that a Redis that is down becomes
// a 503 quickly.
func Connect(cfg *config.Env) (*redis.Client, error) {
	url := cfg.Require("REDIS_URL")
	timeout := cfg.Duration("REDIS_TIMEOUT", 2*time.Second)
	if err := cfg.Err(); err != nil {
		return nil, err
	}
	opts, err := redis.ParseURL(url)
	if err != nil {
		return nil, fmt.Errorf("configuration: REDIS_URL: %w", err)
	}
	opts.DialTimeout = timeout
	opts.ReadTimeout = timeout
	opts.WriteTimeout = timeout
	opts.MaxRetries = 1
	opts.ClientName = cfg.String("K_SERVICE", "")
	return redis.NewClient(opts), nil
}
