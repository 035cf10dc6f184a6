package ticketing

import (
	"encoding/json"
	"io"
	"os/exec"
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
