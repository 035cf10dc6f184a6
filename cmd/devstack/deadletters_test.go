package main_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ticketing-on-knative/ticketing/internal/deadletters"
	"github.com/ticketing-on-knative/ticketing/internal/devstack/devstacktest"
	"github.com/ticketing-on-knative/ticketing/internal/events"
	"github.com/ticketing-on-knative/ticketing/internal/testkit"
	"github.com/ticketing-on-knative/ticketing/internal/testkit/testenv"
)

// deadLettersScenario signs a user up while flaky answers 503 to every
// event, so that its Trigger dead-letters the sign-up's event; finds the
// letter with `devstack deadletters list`; fixes flaky and replays the
// letter with `devstack deadletters replay -all`, which delivers it.
func deadLettersScenario(t *testing.T, s *devstacktest.Stack, flaky *devstacktest.Subscriber) {
	email := fmt.Sprintf("letter-%s@example.com", testenv.Name())
	var user struct{ ID string }
	if code := s.Call(t, "POST", "/api/users/signup", "", map[string]string{"email": email, "password": "secret1"}, &user); code != http.StatusCreated {
		t.Fatalf("sign up: %d", code)
	}

	var letter deadletters.Letter
	testkit.Eventually(t, time.Minute, func() error {
		var ok bool
		if letter, ok = findLetter(letters(t, s, "list", "-json"), user.ID); !ok {
			return fmt.Errorf("the sign-up's event (user %s) is not among the dead letters", user.ID)
		}
		return nil
	})
	if letter.Type != "ticketing.user.created" || letter.Source != "/functions/signup" || letter.ErrorCode != "503" || letter.Deaths != 1 || letter.Unsigned {
		t.Errorf("dead letter %+v, want the sign-up's signed ticketing.user.created, failed with 503 once", letter)
	}
	if table := deadLetters(t, s, "list"); !strings.Contains(table, letter.Key) {
		t.Errorf("devstack deadletters list does not show %q:\n%s", letter.Key, table)
	}

	flaky.Answer(http.StatusOK)
	if out := deadLetters(t, s, "replay", "-all"); !strings.Contains(out, "replayed "+letter.Key+" (ticketing.user.created)") {
		t.Errorf("devstack deadletters replay -all said:\n%s", out)
	}
	for {
		e := flaky.Next(t)
		if e.Subject() != user.ID {
			continue // another dead letter, replayed too
		}
		if e.ID() != letter.ID || e.Source() != letter.Source || e.Type() != letter.Type {
			t.Errorf("replayed %s, want the event of letter %+v", e, letter)
		}
		// As signup signed it with the key devstack made, so that the
		// handlers accept it again.
		key, err := os.ReadFile(filepath.Join(s.Data, "event-key"))
		if err != nil {
			t.Fatal(err)
		}
		keys, err := events.ParseKeys(string(key))
		if err != nil {
			t.Fatal(err)
		}
		if err := keys.Verify(e.Event); err != nil {
			t.Errorf("the replayed event does not carry signup's signature: %v", err)
		}
		break
	}
	if _, ok := findLetter(letters(t, s, "list", "-json"), user.ID); ok {
		t.Errorf("the replayed letter is still listed as not replayed")
	}
	if l, ok := findLetter(letters(t, s, "list", "-all", "-json"), user.ID); !ok || l.ReplayedAt == nil {
		t.Errorf("list -all: %+v, %v, want the letter marked replayed", l, ok)
	}
}

// deadLetters runs `devstack deadletters args...` on s and returns what it
// printed.
func deadLetters(t *testing.T, s *devstacktest.Stack, args ...string) string {
	t.Helper()
	cmd := s.Command(t, append([]string{"deadletters"}, args...)...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("devstack deadletters %s: %v\n%s", strings.Join(args, " "), err, &stderr)
	}
	return string(out)
}

// letters decodes what `devstack deadletters list -json` prints.
func letters(t *testing.T, s *devstacktest.Stack, args ...string) []deadletters.Letter {
	t.Helper()
	var list []deadletters.Letter
	dec := json.NewDecoder(strings.NewReader(deadLetters(t, s, args...)))
	for dec.More() {
		var l deadletters.Letter
		if err := dec.Decode(&l); err != nil {
			t.Fatalf("devstack deadletters %s: %v", strings.Join(args, " "), err)
		}
		list = append(list, l)
	}
	return list
}

func findLetter(list []deadletters.Letter, subject string) (deadletters.Letter, bool) {
	for _, l := range list {
		if l.Subject == subject {
			return l, true
		}
	}
	return deadletters.Letter{}, false
}

func TestDeadLettersWithoutDevstack(t *testing.T) {
	t.Parallel()
	data := t.TempDir()
	cmd := devstacktest.Command(t, []string{"DEVSTACK_DATA=" + data}, "deadletters", "list")
	out, err := cmd.CombinedOutput()
	if cmd.ProcessState == nil || cmd.ProcessState.ExitCode() != 1 {
		t.Fatalf("devstack deadletters exited with %v, want 1\n%s", err, out)
	}
	if want := "no devstack runs with this data folder (" + data + ")"; !strings.Contains(string(out), want) {
		t.Errorf("devstack deadletters does not say %q:\n%s", want, out)
	}
}
