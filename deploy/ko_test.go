package deploy_test

import (
	"bytes"
	"fmt"
	"io"
	"io/fs"
	"log"
	"net/http/httptest"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/ticketing-on-knative/ticketing/deploy/manifests"
)

// TestKoResolve builds every ko:// image of knative/ and eventing/ with the
// pinned ko and .ko.yaml, as `ko apply` does before it applies, against a
// registry in memory on loopback (ko's default base image and registries
// are out of reach here), and checks that every reference became an image
// pinned by digest that the registry holds.
func TestKoResolve(t *testing.T) {
	// Read the manifests first: ko reads them after, and may find more
	// while other work adds to the tree, never fewer.
	before := images(t, os.DirFS(".."), manifests.Dirs...)
	if len(before) == 0 {
		t.Fatal("the manifests have no images")
	}
	host := startRegistry(t)
	base := pushBaseImage(t, host+"/base:latest")

	cmd := exec.CommandContext(t.Context(), koBinary(t), "resolve", "--platform=linux/amd64", "-f", "knative/", "-f", "eventing/")
	cmd.Dir = ".." // the repository root, where .ko.yaml is
	cmd.Env = append(os.Environ(), "KO_DOCKER_REPO="+host+"/ticketing", "KO_DEFAULTBASEIMAGE="+base, "KOCACHE="+koCache(t))
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	start := time.Now()
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("ko resolve: %v\n%s", err, stderr.Bytes())
	}
	elapsed := time.Since(start).Round(100 * time.Millisecond)

	if n := bytes.Count(out, []byte("ko://")); n > 0 {
		t.Errorf("ko resolve left %d ko:// references", n)
	}
	after := images(t, written(t, "resolved.yaml", out), ".")
	for object, ref := range before {
		got, ok := after[object]
		if !ok {
			t.Errorf("%s: %s is missing from ko's output", object, ref)
			continue
		}
		checkImage(t, object, got, host, path.Base(strings.TrimPrefix(ref, "ko://")))
	}
	t.Logf("ko resolve built and pushed %d images in %v", len(before), elapsed)
}

// startRegistry serves an empty registry on loopback, which ko and
// go-containerregistry reach over plain HTTP, and returns its host:port.
func startRegistry(t *testing.T) string {
	srv := httptest.NewServer(registry.New(registry.Logger(log.New(io.Discard, "", 0))))
	t.Cleanup(srv.Close)
	return strings.TrimPrefix(srv.URL, "http://")
}

// pushBaseImage pushes the smallest base image ko accepts: no layers, and
// the platform ko builds for.
func pushBaseImage(t *testing.T, ref string) string {
	tag, err := name.NewTag(ref)
	if err != nil {
		t.Fatal(err)
	}
	img, err := mutate.ConfigFile(empty.Image, &v1.ConfigFile{OS: "linux", Architecture: "amd64"})
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(tag, img); err != nil {
		t.Fatalf("push base image: %v", err)
	}
	return ref
}

// koBinary builds the ko pinned in go.mod (go tool caches it) and returns
// its path: ko must run from the repository root, outside this module.
func koBinary(t *testing.T) string {
	out, err := exec.CommandContext(t.Context(), "go", "tool", "-n", "ko").Output()
	if err != nil {
		t.Fatalf("go tool -n ko: %v", err)
	}
	return strings.TrimSpace(string(out))
}

// koCache is where ko keeps the binaries it builds and what it knows of
// their layers, so that a run after the first relinks nothing that did not
// change: .cache/ko in the repository, which git ignores.
func koCache(t *testing.T) string {
	dir, err := filepath.Abs(filepath.Join("..", ".cache", "ko"))
	if err != nil {
		t.Fatal(err)
	}
	return dir
}

// written writes data to file in a new directory and returns the directory.
func written(t *testing.T, file string, data []byte) fs.FS {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, file), data, 0o644); err != nil {
		t.Fatal(err)
	}
	return os.DirFS(dir)
}

// images maps every container of the Services and ContainerSources of the
// manifests in dirs of fsys to its image.
func images(t *testing.T, fsys fs.FS, dirs ...string) map[string]string {
	t.Helper()
	set, problems := manifests.Load(fsys, dirs...)
	for _, p := range problems {
		t.Error(p)
	}
	refs := map[string]string{}
	for _, o := range set.Services {
		for i, c := range o.Value.Spec.Template.Spec.Containers {
			refs[fmt.Sprintf("%s containers[%d]", o, i)] = c.Image
		}
	}
	for _, o := range set.ContainerSources {
		for i, c := range o.Value.Spec.Template.Spec.Containers {
			refs[fmt.Sprintf("%s containers[%d]", o, i)] = c.Image
		}
	}
	return refs
}

// checkImage checks that ref is an image of the registry at host, pinned by
// digest, that runs the function.
func checkImage(t *testing.T, object, ref, host, function string) {
	t.Helper()
	digest, err := name.NewDigest(ref)
	if err != nil || digest.RegistryStr() != host {
		t.Errorf("%s: image %s is not pinned by digest in %s (%v)", object, ref, host, err)
		return
	}
	img, err := remote.Image(digest)
	if err != nil {
		t.Errorf("%s: %s: %v", object, ref, err)
		return
	}
	cfg, err := img.ConfigFile()
	if err != nil {
		t.Errorf("%s: %s: %v", object, ref, err)
		return
	}
	if want := "/ko-app/" + function; len(cfg.Config.Entrypoint) != 1 || cfg.Config.Entrypoint[0] != want {
		t.Errorf("%s: %s runs %v, want %s", object, ref, cfg.Config.Entrypoint, want)
	}
	if cfg.OS != "linux" || cfg.Architecture != "amd64" {
		t.Errorf("%s: %s is for %s/%s, want linux/amd64", object, ref, cfg.OS, cfg.Architecture)
	}
}
