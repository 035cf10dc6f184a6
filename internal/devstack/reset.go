package devstack

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/ticketing-on-knative/ticketing/internal/devstack/broker"
	"github.com/ticketing-on-knative/ticketing/internal/devstack/manifest"
)

// Reset deletes what devstack keeps between runs, so that the next run
// starts from nothing: with RABBITMQ_URL set, the exchanges and queues of
// the brokers and Triggers of the manifests on RabbitMQ; then the data
// folder. It refuses while a devstack runs with the data folder.
func Reset(o Options) error {
	set, err := manifest.Load(manifestPaths(o)...)
	if err != nil {
		return err
	}
	if err := checkDataFolder(o.Data); err != nil {
		return err
	}
	if err := refuseIfRunning(o.Data); err != nil {
		return err
	}
	if rabbit, ok := o.Lookup("RABBITMQ_URL"); ok {
		// Only the names matter to delete the queues; the addresses are
		// placeholders.
		addrs := addresses{services: map[string]string{}, brokers: map[string]string{}}
		for _, s := range set.Services {
			addrs.services[s.Name] = "http://127.0.0.1/"
		}
		for _, b := range set.Brokers {
			addrs.brokers[b.Name] = "http://127.0.0.1/"
		}
		for _, b := range set.Brokers {
			uid, err := os.ReadFile(uidFile(o.Data, b.Name))
			if errors.Is(err, os.ErrNotExist) {
				continue // never ran on a broker
			}
			if err != nil {
				return err
			}
			cfg, err := brokerConfig(set, b, strings.TrimSpace(string(uid)), addrs, o.Log)
			if err != nil {
				return err
			}
			r, err := broker.NewRabbitMQ(rabbit, cfg, o.Log)
			if err != nil {
				return err
			}
			err = errors.Join(r.Delete(), r.Close())
			if err != nil {
				return err
			}
			o.Log.Info("deleted the broker's exchanges and queues on RabbitMQ", "broker", b.Name, "uid", cfg.UID)
		}
	}
	if err := os.RemoveAll(o.Data); err != nil {
		return fmt.Errorf("reset: %w", err)
	}
	o.Log.Info("deleted the data folder", "data", o.Data)
	return nil
}

// manifestPaths are the manifests devstack runs: the project's knative/
// and eventing/ folders, and the extra ones of o.
func manifestPaths(o Options) []string {
	return append([]string{filepath.Join(o.Root, "knative"), filepath.Join(o.Root, "eventing")}, o.Manifests...)
}
