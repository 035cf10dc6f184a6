// Command devstack runs the whole ticketing system on one machine from its
// Knative manifests: every function as its own scale-to-zero process, the
// API on one address, a broker, and the services they need.
//
// Usage:
//
//	devstack [flags]                run the system (subcommand up, the default)
//	devstack deps --env-file FILE   run only MongoDB, Redis and stripe-mock, for the tests
//	devstack reset [flags]          delete the state of the runs with these flags
//	devstack status [--data DIR]    each function of a running devstack: its
//	                                state, cold starts and when it last woke
//	devstack deadletters [flags] list [-all] [-json]
//	devstack deadletters [flags] replay KEY... | -all
//	                                list or replay what a running devstack's
//	                                broker gave up on (as cmd/deadletters)
//	devstack trace [flags] ID       the path of one purchase across the
//	                                functions: each hop's function, route or
//	                                event, status, duration and offset
//
// Run `devstack -h` or `devstack deps -h` for the flags; each flag of up
// has an environment variable too (DEVSTACK_ADDR, DEVSTACK_DATA,
// DEVSTACK_IDLE, DEVSTACK_MANIFESTS, DEVSTACK_BIN, DEVSTACK_PING_INTERVAL,
// DEVSTACK_LOG_FORMAT). It writes a line per record, of its own and of its
// functions, prefixed with the name of the part that wrote it (package
// console), or JSON lines with --log-format json.
//
// It reads every manifest in knative/ and eventing/, builds each function
// once, and serves the API on 127.0.0.1:8080 as the HTTPRoute maps it. A
// function's process starts on its first request or event and stops after
// a minute without any; GET /_devstack/status says which run. The
// dependencies are embedded unless their variable names a real one:
// MONGODB_URI, REDIS_URL, RABBITMQ_URL, STRIPE_KEY (and STRIPE_API_BASE).
// Any other variable a manifest declares, set in devstack's environment,
// overrides the manifest's value: `ORDER_TTL=2s devstack`. Its state (the
// binaries, FerretDB's data, the JWT key, the broker's UID) is in .devstack/,
// and so, while it runs, is run.json: the addresses that the deadletters
// subcommand finds it by. It keeps the functions' JSON lines there too, in
// functions.jsonl, which the trace subcommand reads: ID is a trace id, or
// any other id (an order's) whose lines name the traces to show.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/ticketing-on-knative/ticketing/internal/config"
	"github.com/ticketing-on-knative/ticketing/internal/devstack"
	"github.com/ticketing-on-knative/ticketing/internal/devstack/console"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	// Once stopping has begun, a second Ctrl-C ends devstack at once; its
	// children are told to stop when it dies.
	context.AfterFunc(ctx, stop)
	os.Exit(run(ctx, os.Args[1:], os.Stdout, os.Stderr))
}

// A command is one of devstack's subcommands.
type command struct {
	name    string
	summary string
	run     func(ctx context.Context, args []string, env *config.Env, stdout, stderr io.Writer) error
}

func commands() []command {
	return []command{
		{"up", "run the whole system (the default)", up},
		{"deps", "run only MongoDB, Redis and stripe-mock, for the tests", deps},
		{"reset", "delete the data folder and, with RABBITMQ_URL, the broker's queues on RabbitMQ", reset},
		{"deadletters", "list [-all] [-json], or replay KEY... | -all, the dead letters of a running devstack", deadLetters},
		{"trace", "ID: the path of a trace (or of the traces an order id's lines are in) across the functions", traceCmd},
		{"status", "each function of a running devstack: its state, cold starts, when it last woke", status},
	}
}

// run dispatches to a subcommand and returns the exit code: 0 after a
// clean stop, 2 for bad usage, 1 for anything else.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	name := "up"
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		name, args = args[0], args[1:]
	}
	for _, c := range commands() {
		if c.name != name {
			continue
		}
		err := c.run(ctx, args, config.FromOS(), stdout, stderr)
		switch {
		case err == nil:
			return 0
		case errors.Is(err, flag.ErrHelp):
			return 0
		case errors.Is(err, errUsage):
			return 2
		}
		fmt.Fprintf(stderr, "devstack %s: %v\n", name, err)
		return 1
	}
	fmt.Fprintf(stderr, "devstack: unknown command %q; the commands are:\n", name)
	for _, c := range commands() {
		fmt.Fprintf(stderr, "  %-11s %s\n", c.name, c.summary)
	}
	return 2
}

// errUsage means the flags were wrong; the flag package has said how.
var errUsage = errors.New("usage")

// flags are a subcommand's flags, with what every subcommand shares: the
// module's directory and devstack's environment.
type flags struct {
	*flag.FlagSet
	root string
	env  *config.Env
}

// newFlags returns the flags of the subcommand name, which writes its usage
// to stderr.
func newFlags(name string, env *config.Env, stderr io.Writer) (*flags, error) {
	root, err := devstack.FindRoot(".")
	if err != nil {
		return nil, err
	}
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	return &flags{FlagSet: fs, root: root, env: env}, nil
}

// dataFlag defines the flag of the data folder, which says which run of
// devstack a subcommand means.
func (f *flags) dataFlag(p *string, usage string) {
	f.StringVar(p, "data", f.env.String("DEVSTACK_DATA", filepath.Join(f.root, ".devstack")), usage+" (env DEVSTACK_DATA)")
}

// usage makes -h say text before the flags.
func (f *flags) usage(text string) {
	f.Usage = func() {
		fmt.Fprintln(f.Output(), text)
		f.PrintDefaults()
	}
}

// parse parses args, which must be flags alone.
func (f *flags) parse(args []string) error {
	if err := f.parseFlags(args); err != nil {
		return err
	}
	if f.NArg() > 0 {
		fmt.Fprintf(f.Output(), "unexpected arguments: %q\n", f.Args())
		return errUsage
	}
	return nil
}

// parseArgs parses args, whose flags end at the first argument; ok says
// whether the number of arguments is one the subcommand takes.
func (f *flags) parseArgs(args []string, ok func(n int) bool) error {
	if err := f.parseFlags(args); err != nil {
		return err
	}
	if !ok(f.NArg()) {
		f.Usage()
		return errUsage
	}
	return nil
}

func (f *flags) parseFlags(args []string) error {
	if err := f.env.Err(); err != nil {
		return err
	}
	if err := f.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return errUsage
	}
	return nil
}

// newConsole returns where devstack writes: $DEVSTACK_LOG_FORMAT lines
// (pretty, or json for machines), colored when w is a terminal.
func newConsole(w io.Writer, env *config.Env) *console.Console {
	format, err := console.ParseFormat(env.String("DEVSTACK_LOG_FORMAT", string(console.Pretty)))
	if err != nil {
		env.Invalid("DEVSTACK_LOG_FORMAT", err)
	}
	return console.New(w, format, console.IsTerminal(w))
}

// logFormatFlag lets --log-format override $DEVSTACK_LOG_FORMAT.
func logFormatFlag(fs *flag.FlagSet, con **console.Console, w io.Writer) {
	fs.Func("log-format", "write `pretty` lines for a person, or json lines for machines (env DEVSTACK_LOG_FORMAT)",
		func(s string) error {
			format, err := console.ParseFormat(s)
			if err == nil {
				*con = console.New(w, format, console.IsTerminal(w))
			}
			return err
		})
}

func deps(ctx context.Context, args []string, env *config.Env, stdout, stderr io.Writer) error {
	fs, err := newFlags("devstack deps", env, stderr)
	if err != nil {
		return err
	}
	envFile := fs.String("env-file", "", "write `export TEST_...=...` lines to this `file` once the services answer (required)")
	data := fs.String("data", "", "keep the services' files in this `folder` (default: a temporary folder, removed on exit)")
	con := newConsole(stderr, env)
	logFormatFlag(fs.FlagSet, &con, stderr)
	if err := fs.parse(args); err != nil {
		return err
	}
	if *envFile == "" {
		fmt.Fprintln(stderr, "devstack deps: --env-file is required")
		return errUsage
	}
	return devstack.Deps(ctx, devstack.DepsOptions{Root: fs.root, Data: *data, EnvFile: *envFile, Log: con.Logger()})
}

// stackFlags returns the flags of a subcommand that say which system to run
// and where its state is, shared by up and reset, and the Config they fill
// in.
func stackFlags(name string, env *config.Env, stdout, stderr io.Writer) (*flags, *devstack.Config, error) {
	fs, err := newFlags(name, env, stderr)
	if err != nil {
		return nil, nil, err
	}
	cfg := &devstack.Config{
		Root:   fs.root,
		Lookup: os.LookupEnv,
		Stdout: stdout,
	}
	fs.dataFlag(&cfg.Data, "keep binaries, databases and keys in this `folder`")
	if list := env.String("DEVSTACK_MANIFESTS", ""); list != "" {
		cfg.Manifests = strings.Split(list, ",")
	}
	fs.Func("manifests", "also run the manifests in this `file or folder`; repeatable (env DEVSTACK_MANIFESTS, comma-separated)",
		func(p string) error {
			cfg.Manifests = append(cfg.Manifests, p)
			return nil
		})
	return fs, cfg, nil
}

func up(ctx context.Context, args []string, env *config.Env, stdout, stderr io.Writer) error {
	fs, cfg, err := stackFlags("devstack", env, stdout, stderr)
	if err != nil {
		return err
	}
	fs.StringVar(&cfg.Bin, "bin", env.String("DEVSTACK_BIN", ""),
		"build the functions into this `folder` (env DEVSTACK_BIN; default: the data folder's bin)")
	fs.StringVar(&cfg.Addr, "addr", env.String("DEVSTACK_ADDR", "127.0.0.1:8080"), "serve the API on this `address` (env DEVSTACK_ADDR)")
	fs.DurationVar(&cfg.Idle, "idle", env.Duration("DEVSTACK_IDLE", 60*time.Second),
		"stop a function after this long without requests (env DEVSTACK_IDLE)")
	fs.DurationVar(&cfg.PingInterval, "ping-interval", env.Duration("DEVSTACK_PING_INTERVAL", 0),
		"send every PingSource's event this often instead of on its schedule (env DEVSTACK_PING_INTERVAL)")
	con := newConsole(stderr, env)
	logFormatFlag(fs.FlagSet, &con, stderr)
	if err := fs.parse(args); err != nil {
		return err
	}
	cfg.Log, cfg.Output = con.Logger(), con.Writer
	return devstack.Up(ctx, *cfg)
}

func reset(ctx context.Context, args []string, env *config.Env, stdout, stderr io.Writer) error {
	fs, cfg, err := stackFlags("devstack reset", env, stdout, stderr)
	if err != nil {
		return err
	}
	if err := fs.parse(args); err != nil {
		return err
	}
	cfg.Log = newConsole(stderr, env).Logger()
	return devstack.Reset(*cfg)
}

func status(ctx context.Context, args []string, env *config.Env, stdout, stderr io.Writer) error {
	fs, err := newFlags("devstack status", env, stderr)
	if err != nil {
		return err
	}
	var data string
	fs.dataFlag(&data, "the data `folder` of the running devstack")
	if err := fs.parse(args); err != nil {
		return err
	}
	return devstack.PrintStatus(data, stdout)
}

func deadLetters(ctx context.Context, args []string, env *config.Env, stdout, stderr io.Writer) error {
	fs, err := newFlags("devstack deadletters", env, stderr)
	if err != nil {
		return err
	}
	fs.usage("usage: devstack deadletters [flags] list [-all] [-json]\n" +
		"       devstack deadletters [flags] replay KEY... | -all\n" +
		"It works on the devstack that runs with the data folder, which says where it is. Flags:")
	o := devstack.DeadLettersOptions{Out: stdout}
	fs.dataFlag(&o.Data, "the data `folder` of the running devstack")
	fs.StringVar(&o.Broker, "broker", "default", "the dead letters of this `broker`")
	// The flags end at the command, whose own flags follow it.
	if err := fs.parseArgs(args, func(n int) bool { return n > 0 }); err != nil {
		return err
	}
	o.Args = fs.Args()
	return devstack.DeadLetters(ctx, o)
}

func traceCmd(ctx context.Context, args []string, env *config.Env, stdout, stderr io.Writer) error {
	fs, err := newFlags("devstack trace", env, stderr)
	if err != nil {
		return err
	}
	fs.usage("usage: devstack trace [flags] ID\n" +
		"ID is a trace id, or an order's (or any) id: the traces whose lines mention it. Flags:")
	o := devstack.TraceOptions{Out: stdout}
	fs.dataFlag(&o.Data, "the data `folder` of the devstack whose functions' lines to read")
	if err := fs.parseArgs(args, func(n int) bool { return n == 1 }); err != nil {
		return err
	}
	o.ID = fs.Arg(0)
	return devstack.Trace(o)
}
