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
func Reset(cfg Config) error {
	set, err := manifest.Load(manifestPaths(cfg)...)
	if err != nil {
		return err
	}
	if err := checkDataFolder(cfg.Data); err != nil {
		return err
	}
	if err := refuseIfRunning(cfg.Data); err != nil {
		return err
	}
	if rabbit, ok := cfg.Lookup("RABBITMQ_URL"); ok {
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
			uid, err := os.ReadFile(uidFile(cfg.Data, b.Name))
			if errors.Is(err, os.ErrNotExist) {
				continue // never ran on a broker
			}
			if err != nil {
				return err
			}
			bc, err := brokerConfig(set, b, strings.TrimSpace(string(uid)), addrs, cfg.Log)
			if err != nil {
				return err
			}
			r, err := broker.NewRabbitMQ(rabbit, bc, cfg.Log)
			if err != nil {
				return err
			}
			err = errors.Join(r.Delete(), r.Close())
			if err != nil {
				return err
			}
			cfg.Log.Info("deleted the broker's exchanges and queues on RabbitMQ", "broker", b.Name, "uid", bc.UID)
		}
	}
	if err := os.RemoveAll(cfg.Data); err != nil {
		return fmt.Errorf("reset: %w", err)
	}
	cfg.Log.Info("deleted the data folder", "data", cfg.Data)
	return nil
}

// manifestPaths are the manifests devstack runs: the project's knative/
// and eventing/ folders, and the extra ones of cfg.
func manifestPaths(cfg Config) []string {
	return append([]string{filepath.Join(cfg.Root, "knative"), filepath.Join(cfg.Root, "eventing")}, cfg.Manifests...)
}
