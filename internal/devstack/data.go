package devstack

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/ticketing-on-knative/ticketing/internal/devstack/traces"
)

// The layout of a data folder.
const (
	binDir        = "bin"         // the functions' binaries, unless Config.Bin says otherwise
	mongoDir      = "mongo"       // FerretDB's databases
	redisDir      = "redis"       // redis-server's log
	stripeMockDir = "stripe-mock" // stripe-mock's log
	brokerDir     = "broker"      // each broker's UID
	jwtKeyFile    = "jwt-key"     // the key that signs sessions
	eventKeyFile  = "event-key"   // the key that signs events
	runFile       = "run.json"    // while devstack runs: where its parts are, for its operator commands
	// traces.File: the functions' JSON lines, for devstack trace
)

// uidFile keeps the UID of a broker, which names its exchanges and queues
// on RabbitMQ: the same on every run with a data folder, and a different
// one for each data folder.
func uidFile(data, broker string) string {
	return filepath.Join(data, brokerDir, broker+".uid")
}

// kept returns the value kept in file, creating the file with a new value
// the first time, so that the keys and the broker's UID outlive restarts
// with the same data folder, and differ between data folders.
func kept(file string, newValue func() string) (string, error) {
	b, err := os.ReadFile(file)
	if v := strings.TrimSpace(string(b)); err == nil && v != "" {
		return v, nil
	}
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return "", err
	}
	if err := os.MkdirAll(filepath.Dir(file), 0o750); err != nil {
		return "", err
	}
	v := newValue()
	if err := writeFileAtomic(file, []byte(v+"\n")); err != nil {
		return "", err
	}
	return v, nil
}

func randomKey() string {
	var b [32]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// checkDataFolder refuses to let Reset delete a folder that holds anything
// devstack does not put in a data folder, such as a mistyped --data.
func checkDataFolder(dir string) error {
	entries, err := os.ReadDir(dir)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	for _, e := range entries {
		switch e.Name() {
		case binDir, mongoDir, redisDir, stripeMockDir, brokerDir, jwtKeyFile, eventKeyFile, runFile,
			traces.File, traces.File + ".1":
		default:
			return fmt.Errorf("reset: %s holds %s, which devstack did not put there: not deleting it", dir, e.Name())
		}
	}
	return nil
}

// writeFileAtomic writes path through a rename, so that whoever waits for
// the file never reads it half-written.
func writeFileAtomic(path string, b []byte) error {
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, b, 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

func removeIfExists(path string) error {
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	return nil
}
