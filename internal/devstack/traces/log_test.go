package traces_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ticketing-on-knative/ticketing/internal/devstack/traces"
)

// TestTeeKeepsWholeJSONLines: the log keeps each JSON line a process
// writes, however its writes split it, and nothing else; the console gets
// everything; a second run appends.
func TestTeeKeepsWholeJSONLines(t *testing.T) {
	path := filepath.Join(t.TempDir(), traces.File)
	for run := range 2 {
		l, err := traces.Open(path)
		if err != nil {
			t.Fatal(err)
		}
		var console strings.Builder
		w := l.Tee(&console)
		for _, p := range []string{`{"msg":"ser`, "ving\"}\npanic: boom\n", `{"msg":"request","run":`, string(rune('0'+run)) + "}\n", `{"msg":"unfinished"`} {
			if _, err := w.Write([]byte(p)); err != nil {
				t.Fatal(err)
			}
		}
		if err := l.Close(); err != nil {
			t.Fatal(err)
		}
		if want := "{\"msg\":\"serving\"}\npanic: boom\n{\"msg\":\"request\",\"run\":" + string(rune('0'+run)) + "}\n{\"msg\":\"unfinished\""; console.String() != want {
			t.Errorf("console got %q, want %q", console.String(), want)
		}
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	want := "{\"msg\":\"serving\"}\n{\"msg\":\"request\",\"run\":0}\n{\"msg\":\"serving\"}\n{\"msg\":\"request\",\"run\":1}\n"
	if string(b) != want {
		t.Errorf("log holds %q, want %q", b, want)
	}
}
