package devstack

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/ticketing-on-knative/ticketing/internal/config"
	"github.com/ticketing-on-knative/ticketing/internal/deadletters"
	"github.com/ticketing-on-knative/ticketing/internal/devstack/manifest"
	"github.com/ticketing-on-knative/ticketing/internal/devstack/traces"
)

// runRecord is what a running devstack writes to runFile in its data
// folder, for the commands that work on it (devstack deadletters). It is a
// file rather than part of the status the API address serves because the
// MongoDB URI may carry a password, and the API address may be open to a
// network.
type runRecord struct {
	API     string         `json:"api"`
	Brokers []brokerRecord `json:"brokers"`
}

// brokerRecord is one broker of a run.
type brokerRecord struct {
	Name    string `json:"name"`
	Ingress string `json:"ingress"`
	// DeadLetters is the store of its dead-letter function, as that
	// function is configured: MONGODB_URI and MONGODB_DATABASE. Empty when
	// the broker has no dead-letter sink that devstack runs.
	DeadLetters map[string]string `json:"deadLetters,omitempty"`
}

// deadLetterStore returns the configuration of the store b's dead-letter
// sink keeps its letters in, when the sink is a Service devstack runs: the
// MONGODB_URI and MONGODB_DATABASE of its environment, whatever the manifest
// or devstack's environment made them.
func deadLetterStore(set *manifest.Set, b manifest.Broker, env environment) (map[string]string, error) {
	if b.Delivery == nil || b.Delivery.DeadLetterSink == nil {
		return nil, nil
	}
	name, ok := service(*b.Delivery.DeadLetterSink)
	if !ok {
		return nil, nil
	}
	for _, s := range set.Services {
		if s.Name != name {
			continue
		}
		vars, err := env.of(s.Container)
		if err != nil {
			return nil, fmt.Errorf("dead-letter sink %s: %w", name, err)
		}
		store := map[string]string{}
		for _, kv := range vars { // the last of duplicate names wins, as in exec.Cmd
			k, v, _ := strings.Cut(kv, "=")
			if k == "MONGODB_URI" || k == "MONGODB_DATABASE" {
				store[k] = v
			}
		}
		return store, nil
	}
	return nil, nil
}

// recordRun writes the run's record to the data folder, and removes it
// first thing when the Stack stops.
func (s *Stack) recordRun() error {
	r := runRecord{API: s.base}
	for _, b := range s.set.Brokers {
		store, err := deadLetterStore(s.set, b, s.env)
		if err != nil {
			return err
		}
		r.Brokers = append(r.Brokers, brokerRecord{Name: b.Name, Ingress: s.addrs.brokers[b.Name], DeadLetters: store})
	}
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	file := filepath.Join(s.cfg.Data, runFile)
	if err := writeFileAtomic(file, b); err != nil {
		return fmt.Errorf("record the run: %w", err)
	}
	s.stops.push(func() error { return removeIfExists(file) })
	return nil
}

// errNotRunning means no devstack runs with a data folder.
var errNotRunning = errors.New("no devstack runs with this data folder")

// readRun returns the run of the devstack that runs with the data folder,
// once its API has answered.
func readRun(data string) (*runRecord, error) {
	file := filepath.Join(data, runFile)
	b, err := os.ReadFile(file)
	if errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("%w (%s): start it with `go run ./cmd/devstack`, or name its folder with --data", errNotRunning, data)
	}
	if err != nil {
		return nil, err
	}
	var r runRecord
	if err := json.Unmarshal(b, &r); err != nil {
		return nil, fmt.Errorf("%s: %w", file, err)
	}
	if err := answers(r.API); err != nil {
		// It was killed before it could remove the file.
		return nil, fmt.Errorf("%w (%s): the one that wrote %s does not answer: %v", errNotRunning, data, file, err)
	}
	return &r, nil
}

// answers checks that a devstack serves its status at api.
func answers(api string) error {
	client := http.Client{Timeout: 2 * time.Second}
	resp, err := client.Get(api + StatusPath)
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s%s: %s", api, StatusPath, resp.Status)
	}
	return nil
}

// refuseIfRunning fails when a devstack runs with the data folder: two
// would share one FerretDB's files.
func refuseIfRunning(data string) error {
	r, err := readRun(data)
	if errors.Is(err, errNotRunning) {
		return nil
	}
	if err != nil {
		return err
	}
	return fmt.Errorf("a devstack runs with the data folder %s, at %s: stop it first", data, r.API)
}

// DeadLettersOptions configures DeadLetters.
type DeadLettersOptions struct {
	// Data is the data folder of the running devstack.
	Data string
	// Broker names the broker whose dead letters are meant.
	Broker string
	// Args are the arguments of the deadletters command: list [-all]
	// [-json], or replay KEY... | -all.
	Args []string
	Out  io.Writer
}

// DeadLetters runs the deadletters command (as cmd/deadletters does) on a
// running devstack: against the store its dead-letter function keeps, and
// replaying into its broker's ingress.
func DeadLetters(ctx context.Context, o DeadLettersOptions) error {
	r, err := readRun(o.Data)
	if err != nil {
		return err
	}
	for _, b := range r.Brokers {
		if b.Name != o.Broker {
			continue
		}
		if b.DeadLetters == nil {
			return fmt.Errorf("broker %s has no dead-letter function", b.Name)
		}
		vars := map[string]string{"BROKER_URL": b.Ingress}
		maps.Copy(vars, b.DeadLetters)
		return deadletters.Command(ctx, o.Args, config.FromMap(vars), o.Out)
	}
	return fmt.Errorf("devstack runs no broker %s", o.Broker)
}

// TraceOptions configures Trace.
type TraceOptions struct {
	// Data is the data folder of the devstack, running or stopped, whose
	// functions' lines to read.
	Data string
	// ID is a trace id, or an order's or any other id the lines mention.
	ID  string
	Out io.Writer
}

// Trace writes the traces that o.ID names to o.Out, from the functions'
// lines kept in the data folder, by a running devstack or one that has
// stopped.
func Trace(o TraceOptions) error {
	file := filepath.Join(o.Data, traces.File)
	found, err := traces.Find(o.ID, file+".1", file)
	if err != nil {
		return fmt.Errorf("%w in %s", err, file)
	}
	return traces.Print(o.Out, found)
}
