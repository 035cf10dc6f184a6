package devstack

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"slices"
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
// rebuild of unchanged code take a moment. The first build of a clone
// compiles every dependency for minutes, so it says how far it has got.
func build(ctx context.Context, root, binDir string, pkgs []string, log *slog.Logger) error {
	if err := os.MkdirAll(binDir, 0o750); err != nil {
		return fmt.Errorf("build: %w", err)
	}
	start := time.Now()
	log.Info("building " + describe(pkgs))
	cmd := gobuild.Command(ctx, root, binDir+string(filepath.Separator), pkgs...)
	// -v names each package as it is compiled (not those the cache has).
	cmd.Args = slices.Insert(cmd.Args, 2, "-v")
	var out bytes.Buffer
	progress := &buildProgress{mains: pkgs, log: log, every: 5 * time.Second, last: start}
	cmd.Stdout, cmd.Stderr = &out, io.MultiWriter(&out, progress)
	if err := cmd.Run(); err != nil {
		var exit *exec.ExitError
		if errors.As(err, &exit) {
			return fmt.Errorf("%s failed:\n%s", strings.Join(cmd.Args, " "), bytes.TrimSpace(out.Bytes()))
		}
		return fmt.Errorf("go build: %w", err)
	}
	log.Info("built "+describe(pkgs), "compiled", progress.packages, "into", binDir,
		"duration", time.Since(start).Round(time.Millisecond))
	return nil
}

// describe says what pkgs are: "27 functions and stripe-mock".
func describe(pkgs []string) string {
	var functions int
	var others []string
	for _, p := range pkgs {
		if strings.Contains(p, "/functions/") {
			functions++
		} else {
			others = append(others, path.Base(p))
		}
	}
	var parts []string
	switch functions {
	case 0:
	case 1:
		parts = append(parts, "1 function")
	default:
		parts = append(parts, fmt.Sprintf("%d functions", functions))
	}
	return strings.Join(append(parts, others...), " and ")
}

// buildProgress counts the packages go build -v names, and says every so
// often how many it compiled and how many of the programs are among them.
type buildProgress struct {
	mains []string
	log   *slog.Logger
	every time.Duration

	partial  []byte
	packages int
	programs int
	last     time.Time
}

func (p *buildProgress) Write(b []byte) (int, error) {
	p.partial = append(p.partial, b...)
	for {
		i := bytes.IndexByte(p.partial, '\n')
		if i < 0 {
			return len(b), nil
		}
		line := strings.TrimSpace(string(p.partial[:i]))
		p.partial = p.partial[i+1:]
		if line == "" || strings.ContainsAny(line, " \t:") {
			continue // a compiler's message, not a package
		}
		p.packages++
		if slices.Contains(p.mains, line) {
			p.programs++
		}
		if time.Since(p.last) >= p.every {
			p.last = time.Now()
			p.log.Info("still building", "compiled", p.packages, "programs", fmt.Sprintf("%d/%d", p.programs, len(p.mains)))
		}
	}
}

// binary is the path go build gives the main package pkg in binDir.
func binary(binDir, pkg string) string {
	return filepath.Join(binDir, filepath.Base(pkg))
}
