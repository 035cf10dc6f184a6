// Command deadletters lists and replays the events the broker gave up on,
// which the dead-letter function keeps in MongoDB.
//
//	MONGODB_URI=... deadletters list [-all] [-json]
//	MONGODB_URI=... BROKER_URL=... deadletters replay KEY... | -all
//
// Against devstack, `go run ./cmd/devstack deadletters ...` sets both.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"

	"github.com/ticketing-on-knative/ticketing/internal/config"
	"github.com/ticketing-on-knative/ticketing/internal/deadletters"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := deadletters.Command(ctx, os.Args[1:], config.FromOS(), os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "deadletters:", err)
		os.Exit(1)
	}
}
