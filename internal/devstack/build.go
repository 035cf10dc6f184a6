package devstack

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/ticketing-on-knative/ticketing/internal/devstack/gobuild"
)

// FindRoot returns the directory of the go.mod that encloses dir: devstack
// builds from there and finds knative/ and eventing/ there.
func FindRoot(dir string) (string, error) {
	dir, err := filepath.Abs(dir)
	if err != nil {
		return "", err
	}
	for d := dir; ; d = filepath.Dir(d) {
		if _, err := os.Stat(filepath.Join(d, "go.mod")); err == nil {
			return d, nil
		}
		if filepath.Dir(d) == d {
			return "", fmt.Errorf("no go.mod in %s or above it: run devstack inside the project", dir)
		}
	}
}

// build compiles the main packages pkgs into binDir in one go build, so
// that the packages they share are compiled once; the build cache makes a
// rebuild of unchanged code take a moment.
func build(ctx context.Context, root, binDir string, pkgs []string, log *slog.Logger) error {
	if err := os.MkdirAll(binDir, 0o750); err != nil {
		return fmt.Errorf("build: %w", err)
	}
	start := time.Now()
	cmd := gobuild.Command(ctx, root, binDir+string(filepath.Separator), pkgs...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		var exit *exec.ExitError
		if errors.As(err, &exit) {
			return fmt.Errorf("%s failed:\n%s", strings.Join(cmd.Args, " "), bytes.TrimSpace(out.Bytes()))
		}
		return fmt.Errorf("go build: %w", err)
	}
	log.Info("built", "binaries", len(pkgs), "into", binDir, "duration", time.Since(start).Round(time.Millisecond))
	return nil
}

// binary is the path go build gives the main package pkg in binDir.
func binary(binDir, pkg string) string {
	return filepath.Join(binDir, filepath.Base(pkg))
}
