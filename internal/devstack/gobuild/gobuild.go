// Package gobuild builds the project's programs the way ko builds its
// images (.ko.yaml): static, without file system paths, without a symbol
// table. devstack, the tests and the benchmarks all build this way, so they
// run what the cluster runs and share one build cache with ko.
package gobuild

import (
	"context"
	"os"
	"os/exec"
)

// Command returns the go build, run in dir, of the main packages pkgs into
// out: a file for one package, or a directory ending in a path separator for
// several.
func Command(ctx context.Context, dir, out string, pkgs ...string) *exec.Cmd {
	args := append([]string{"build", "-trimpath", "-ldflags=-s -w", "-o", out}, pkgs...)
	cmd := exec.CommandContext(ctx, "go", args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	return cmd
}
