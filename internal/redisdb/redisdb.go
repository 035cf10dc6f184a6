// Package redisdb opens the Redis connection a function uses.
package redisdb

import (
	"context"
	"errors"
	"io"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/ticketing-on-knative/ticketing/internal/config"
	"github.com/ticketing-on-knative/ticketing/internal/unavailable"
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
	client := redis.NewClient(opts)
	client.AddHook(marker{})
	return client
}

// marker marks, for unavailable.Is, the errors of go-redis that mean Redis
// cannot be reached but are no net.Error: every connection of the pool is
// busy past its timeout, the client is closed, or Redis closed the
// connection under a command (EOF: it was stopped or killed).
type marker struct{}

func (marker) DialHook(next redis.DialHook) redis.DialHook { return next }

func (marker) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		return markCmd(cmd, next(ctx, cmd))
	}
}

func (marker) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		err := next(ctx, cmds)
		for _, cmd := range cmds {
			markCmd(cmd, nil)
		}
		return mark(err)
	}
}

// markCmd marks the error cmd keeps, which is what its caller reads, and
// returns err marked.
func markCmd(cmd redis.Cmder, err error) error {
	if cmdErr := cmd.Err(); cmdErr != nil {
		cmd.SetErr(mark(cmdErr))
	}
	return mark(err)
}

func mark(err error) error {
	if errors.Is(err, redis.ErrPoolTimeout) || errors.Is(err, redis.ErrClosed) ||
		errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return unavailable.Mark(err)
	}
	return err
}
