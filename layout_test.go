package ticketing

import (
	"encoding/json"
	"io"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"testing"
)

const module = "github.com/ticketing-on-knative/ticketing"

// listed is what `go list -json` says of one package.
type listed struct {
	ImportPath string
	Imports    []string
	Deps       []string
}

func goList(t *testing.T, args ...string) []listed {
	t.Helper()
	cmd := exec.Command("go", append([]string{"list", "-json"}, args...)...)
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list %v: %v", args, err)
	}
	var pkgs []listed
	dec := json.NewDecoder(strings.NewReader(string(out)))
	for {
		var p listed
		if err := dec.Decode(&p); err == io.EOF {
			return pkgs
		} else if err != nil {
			t.Fatal(err)
		}
		pkgs = append(pkgs, p)
	}
}

// tooling is what no function image may contain.
func tooling(path string) bool {
	return strings.HasPrefix(path, module+"/internal/devstack") ||
		strings.HasPrefix(path, module+"/internal/testkit") ||
		strings.HasPrefix(path, module+"/cmd/")
}

func TestFunctionsLinkNoToolingAndNoOtherFunction(t *testing.T) {
	for _, p := range goList(t, "./functions/...") {
		for _, dep := range p.Deps {
			if tooling(dep) {
				t.Errorf("%s links %s, which is local tooling", p.ImportPath, dep)
			}
			if strings.HasPrefix(dep, module+"/functions/") {
				t.Errorf("%s imports the function %s: what two functions share belongs in internal/", p.ImportPath, dep)
			}
		}
	}
}

func TestShippedPackagesImportNoTooling(t *testing.T) {
	for _, p := range goList(t, "./internal/...") {
		if tooling(p.ImportPath) {
			continue
		}
		for _, imp := range p.Imports {
			if tooling(imp) {
				t.Errorf("%s imports %s: a package the functions link must not depend on local tooling", p.ImportPath, imp)
			}
		}
	}
}

// A binary left by `go build ./functions/<name>` at the root is easy to
// commit by mistake, and it stays in the history for good.
func TestNoBinaryIsCommitted(t *testing.T) {
	out, err := exec.Command("git", "ls-files", "-z").Output()
	if err != nil {
		t.Skipf("not a git checkout: %v", err) // a release tarball has no index to check
	}
	for _, name := range strings.Split(strings.TrimSuffix(string(out), "\x00"), "\x00") {
		f, err := os.Open(name)
		if err != nil {
			continue // deleted in the work tree
		}
		head := make([]byte, 4)
		n, _ := io.ReadFull(f, head)
		f.Close()
		if n == 4 && string(head) == "\x7fELF" {
			t.Errorf("%s is an executable: build into bin/ (ignored) or a temporary folder, not the tree", name)
		}
	}
}

// The HTTP layer answers 503 for a dependency that is down without knowing
// which driver said so (the packages that open connections mark their
// errors for internal/unavailable), and the event receiver shares nothing
// with it but that.
func TestLayersPointOneWay(t *testing.T) {
	drivers := []string{"go.mongodb.org/mongo-driver", "github.com/redis/go-redis"}
	for _, p := range goList(t, "./internal/httpapi", "./internal/events", "./internal/unavailable") {
		for _, dep := range p.Deps {
			for _, d := range drivers {
				if strings.HasPrefix(dep, d) {
					t.Errorf("%s links the driver %s: let the package that opens the connection mark its errors for internal/unavailable", p.ImportPath, dep)
				}
			}
			if strings.HasSuffix(p.ImportPath, "/internal/events") && dep == module+"/internal/httpapi" {
				t.Errorf("%s links %s: the event receiver is no HTTP API", p.ImportPath, dep)
			}
		}
	}
}

// TestDocsNameEveryPackage: README's "What is where" and CONTRIBUTING.md's
// layout name every top-level folder and every package outside functions/,
// so that what a newcomer reads is what go list shows.
func TestDocsNameEveryPackage(t *testing.T) {
	docs := map[string]string{
		"README.md":       section(t, "README.md", "## What is where"),
		"CONTRIBUTING.md": section(t, "CONTRIBUTING.md", "## Layout"),
	}
	entries, err := os.ReadDir(".")
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if !e.IsDir() || strings.HasPrefix(e.Name(), ".") {
			continue
		}
		for doc, text := range docs {
			if !strings.Contains(text, e.Name()+"/") {
				t.Errorf("%s does not name the folder %s/", doc, e.Name())
			}
		}
	}
	for _, p := range goList(t, "./internal/...", "./cmd/...") {
		name := p.ImportPath[strings.LastIndex(p.ImportPath, "/")+1:]
		word := regexp.MustCompile(`\b` + regexp.QuoteMeta(name) + `\b`)
		for doc, text := range docs {
			if !word.MatchString(text) {
				t.Errorf("%s does not name the package %s", doc, strings.TrimPrefix(p.ImportPath, module+"/"))
			}
		}
	}
}

// section returns the part of the Markdown file that starts with heading
// and ends at the next heading of its level.
func section(t *testing.T, file, heading string) string {
	t.Helper()
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	_, text, ok := strings.Cut(string(b), heading+"\n")
	if !ok {
		t.Fatalf("%s has no %q", file, heading)
	}
	level := heading[:strings.Index(heading, " ")+1]
	if i := strings.Index(text, "\n"+level); i >= 0 {
		text = text[:i]
	}
	return text
}
