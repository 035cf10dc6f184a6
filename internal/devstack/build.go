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
// rebuild of unchanged code take a moment. The binaries are built as ko
// builds the images (.ko.yaml): static, without file system paths, so that
// devstack runs what the cluster runs and the two share the build cache.
func build(ctx context.Context, root, binDir string, pkgs []string, log *slog.Logger) error {
	if err := os.MkdirAll(binDir, 0o750); err != nil {
		return fmt.Errorf("build: %w", err)
	}
	start := time.Now()
	args := append([]string{"build", "-trimpath", "-ldflags=-s -w", "-o", binDir + string(filepath.Separator)}, pkgs...)
	cmd := exec.CommandContext(ctx, "go", args...)
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		var exit *exec.ExitError
		if errors.As(err, &exit) {
			return fmt.Errorf("go %s failed:\n%s", strings.Join(args, " "), bytes.TrimSpace(out.Bytes()))
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
