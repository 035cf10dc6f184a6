package devstack

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"

	"golang.org/x/sync/errgroup"

	"github.com/ticketing-on-knative/ticketing/internal/devstack/deps"
)

// stripeMockPkg is stripe-mock's main package, pinned by go.mod's tool
// directive; devstack builds it with the functions rather than through
// `go tool`, so that it runs as devstack's own child and gets its signals.
const stripeMockPkg = "github.com/stripe/stripe-mock"

// DepsOptions configures Deps.
type DepsOptions struct {
	// Root is the module's directory.
	Root string
	// Data is where the services keep their files; empty means a temporary
	// folder, removed on exit, so every test run starts clean.
	Data string
	// EnvFile receives the export lines once every service answers.
	EnvFile string
	Log     *slog.Logger
}

// Deps runs the services the test suite needs (MongoDB as FerretDB behind
// the serializing proxy, redis-server, stripe-mock), writes their addresses
// to EnvFile as `export TEST_...=...` lines once they answer, and stops them
// when ctx ends. EnvFile exists only while they run.
func Deps(ctx context.Context, o DepsOptions) (err error) {
	if err := removeIfExists(o.EnvFile); err != nil {
		return err
	}
	data := o.Data
	if data == "" {
		if data, err = os.MkdirTemp("", "devstack-deps-"); err != nil {
			return err
		}
		defer os.RemoveAll(data)
	}
	var running stack
	defer func() { err = errors.Join(err, running.close(context.WithoutCancel(ctx))) }()

	// The services outlive ctx: they are stopped after it ends, in order.
	life := context.WithoutCancel(ctx)
	var mongo, redis, stripe *deps.Server
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() (err error) {
		mongo, err = deps.Mongo(life, filepath.Join(data, mongoDir), o.Log)
		return err
	})
	g.Go(func() (err error) {
		redis, err = deps.RedisServer(gctx, filepath.Join(data, redisDir))
		return err
	})
	g.Go(func() error {
		bin := filepath.Join(data, binDir)
		if err := build(gctx, o.Root, bin, []string{stripeMockPkg}, o.Log); err != nil {
			return err
		}
		var err error
		stripe, err = deps.StripeMock(gctx, binary(bin, stripeMockPkg), filepath.Join(data, stripeMockDir))
		return err
	})
	err = g.Wait()
	for _, s := range []*deps.Server{stripe, redis, mongo} {
		if s != nil {
			running.push(s.Close)
		}
	}
	if err != nil {
		return err
	}
	o.Log.Info("MongoDB", "url", mongo.URL, "is", mongo.About)
	o.Log.Info("Redis", "url", redis.URL, "is", redis.About)
	o.Log.Info("Stripe", "url", stripe.URL, "is", stripe.About)

	env := fmt.Sprintf("export TEST_MONGODB_URI=%s\nexport TEST_REDIS_URL=%s\nexport TEST_STRIPE_URL=%s\n",
		mongo.URL, redis.URL, stripe.URL)
	if err := writeFileAtomic(o.EnvFile, []byte(env)); err != nil {
		return err
	}
	running.push(func() error { return removeIfExists(o.EnvFile) })
	o.Log.Info("ready: services run until interrupted", "env_file", o.EnvFile)
	<-ctx.Done()
	o.Log.Info("stopping")
	return nil
}
