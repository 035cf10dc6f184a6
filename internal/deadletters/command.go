package deadletters

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"github.com/ticketing-on-knative/ticketing/internal/config"
	"github.com/ticketing-on-knative/ticketing/internal/events"
	"github.com/ticketing-on-knative/ticketing/internal/mongodb"
)

const usage = `usage: deadletters list [-all] [-json]
       deadletters replay KEY... | -all
environment: MONGODB_URI (required), MONGODB_DATABASE (default deadletters),
             BROKER_URL (required by replay: the broker's ingress)
SIGNED is the id of the key that signed each event, or "no" for a letter no
key of the system verifies (kept to be seen, never replayed): replay a letter
while the functions still hold its key, or they refuse it`

// Command runs one command of the operator CLI (cmd/deadletters, and
// devstack's deadletters subcommand) with cfg and writes to out.
func Command(ctx context.Context, args []string, cfg *config.Env, out io.Writer) error {
	if len(args) == 0 {
		return errors.New(usage)
	}
	flags := flag.NewFlagSet("deadletters "+args[0], flag.ContinueOnError)
	all := flags.Bool("all", false, "list: include replayed letters; replay: every letter not yet replayed")
	asJSON := flags.Bool("json", false, "list: one JSON object per line")
	if err := flags.Parse(args[1:]); err != nil {
		return err
	}
	client, db := mongodb.Open(cfg, "deadletters")
	var broker string
	if args[0] == "replay" {
		broker = cfg.Require("BROKER_URL")
	}
	if err := cfg.Err(); err != nil {
		return err
	}
	defer func() { _ = mongodb.Close(context.Background(), client) }()
	store := NewStore(db)

	switch args[0] {
	case "list":
		letters, err := store.List(ctx, *all)
		if err != nil {
			return err
		}
		return list(out, letters, *asJSON)
	case "replay":
		return replay(ctx, out, store, events.NewPublisher(broker, 10*time.Second), flags.Args(), *all)
	default:
		return fmt.Errorf("unknown command %q\n%s", args[0], usage)
	}
}

func list(out io.Writer, letters []Letter, asJSON bool) error {
	if asJSON {
		enc := json.NewEncoder(out)
		for _, l := range letters {
			if err := enc.Encode(l); err != nil {
				return err
			}
		}
		return nil
	}
	w := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "KEY\tTYPE\tSUBJECT\tFAILED AT\tSTATUS\tSIGNED\tDEATHS\tLAST DIED\tREPLAYED")
	for _, l := range letters {
		replayed := "-"
		if l.ReplayedAt != nil {
			replayed = l.ReplayedAt.UTC().Format(time.RFC3339)
		}
		signed := l.SignedBy
		if l.Unsigned || signed == "" {
			signed = "no"
		}
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\t%d\t%s\t%s\n", l.Key, l.Type, l.Subject, l.ErrorDest, l.ErrorCode,
			signed, l.Deaths, l.LastDied.UTC().Format(time.RFC3339), replayed)
	}
	return w.Flush()
}

func replay(ctx context.Context, out io.Writer, store *Store, pub Publisher, keys []string, all bool) error {
	var letters []Letter
	switch {
	case all && len(keys) == 0:
		var err error
		if letters, err = store.List(ctx, false); err != nil {
			return err
		}
	case !all && len(keys) > 0:
		for _, k := range keys {
			l, err := store.Get(ctx, k)
			if err != nil {
				return err
			}
			letters = append(letters, *l)
		}
	default:
		return errors.New("replay takes KEY... or -all")
	}
	for _, l := range letters {
		if all && l.Unsigned {
			fmt.Fprintf(out, "skipped %s (%s): not signed by the system's keys\n", l.Key, l.Type)
			continue
		}
		if err := store.Replay(ctx, &l, pub, time.Now()); err != nil {
			return err
		}
		fmt.Fprintf(out, "replayed %s (%s)\n", l.Key, l.Type)
	}
	return nil
}
