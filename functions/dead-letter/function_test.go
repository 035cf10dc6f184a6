package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/ticketing-on-knative/ticketing/internal/config"
	"github.com/ticketing-on-knative/ticketing/internal/deadletters"
	"github.com/ticketing-on-knative/ticketing/internal/events"
	"github.com/ticketing-on-knative/ticketing/internal/testkit/functest"
)

// TestDeadLettersAreKeptListedAndReplayed sends the function what the
// broker sends after the last retry, then lists and replays it with the
// operator's command, as an operator would after fixing the subscriber.
func TestDeadLettersAreKeptListedAndReplayed(t *testing.T) {
	env := functest.Env(t, nil)
	url := functest.Start(t, "POST /", New(), env)

	p, err := events.NewPending(t.Context(), "/functions/create-order", "o1", events.OrderCreated{ID: "o1", Status: "created"}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	dead := p.Event()
	if err := functest.Keys(t).Sign(&dead); err != nil { // as create-order published it
		t.Fatal(err)
	}
	dead.SetExtension(deadletters.ErrorDest, "http://reserve-ticket.ticketing.svc.cluster.local")
	dead.SetExtension(deadletters.ErrorCode, "503")
	dead.SetExtension(deadletters.ErrorData, base64.StdEncoding.EncodeToString([]byte("database unavailable")))
	for range 2 { // the DLQ delivers at least once
		if err := events.NewPublisher(url, 5*time.Second).Publish(context.Background(), dead); err != nil {
			t.Fatal(err)
		}
	}

	broker := functest.NewSink(t)
	var out bytes.Buffer
	run := func(args ...string) string {
		t.Helper()
		out.Reset()
		cmdEnv := map[string]string{"MONGODB_URI": env["MONGODB_URI"], "MONGODB_DATABASE": env["MONGODB_DATABASE"]}
		if args[0] == "replay" {
			cmdEnv["BROKER_URL"] = broker.URL
		}
		if err := deadletters.Command(context.Background(), args, config.FromMap(cmdEnv), &out); err != nil {
			t.Fatalf("deadletters %v: %v", args, err)
		}
		return out.String()
	}
	listed := run("list")
	for _, want := range []string{"/functions/create-order " + p.ID, "ticketing.order.created", "reserve-ticket", "503", "  2  "} {
		if !strings.Contains(listed, want) {
			t.Errorf("list does not show %q:\n%s", want, listed)
		}
	}

	if js := run("list", "-json"); !strings.Contains(js, `"errorData":"database unavailable"`) {
		t.Errorf("list -json does not show the decoded response body:\n%s", js)
	} else if want := `"signedBy":"` + functest.Keys(t).SigningKeyID() + `"`; !strings.Contains(js, want) {
		t.Errorf("list -json does not show the key that signed the event (%s):\n%s", want, js)
	}

	run("replay", "/functions/create-order "+p.ID)
	got := broker.Wait(t, 1)
	replayed := got[0]
	if replayed.ID() != p.ID || replayed.Type() != events.TypeOrderCreated || string(replayed.Data()) != p.Data {
		t.Errorf("replayed %s %s %s, want the original event", replayed.ID(), replayed.Type(), replayed.Data())
	}
	for name := range replayed.Extensions() {
		if strings.HasPrefix(name, "knativeerror") {
			t.Errorf("the replayed event still carries %s", name)
		}
	}
	// The consumers accept it: it carries create-order's signature.
	if err := functest.Keys(t).Verify(replayed); err != nil {
		t.Errorf("the replayed event is not the signed event: %v", err)
	}
	if listed := run("list"); strings.Contains(listed, p.ID) {
		t.Errorf("a replayed letter is still listed as pending:\n%s", listed)
	}
	if listed := run("list", "-all"); !strings.Contains(listed, p.ID) {
		t.Errorf("list -all lost the replayed letter:\n%s", listed)
	}
}

func TestDeadLetterDatabaseDownIsRetried(t *testing.T) {
	env := functest.Env(t, map[string]string{"MONGODB_URI": "mongodb://127.0.0.1:1/", "MONGODB_TIMEOUT": "200ms"})
	url := functest.Start(t, "POST /", New(), env)
	e := functest.Event(t, "create-order", "o1", events.OrderCreated{ID: "o1"})
	if status := functest.Deliver(t, url, e); status != http.StatusServiceUnavailable {
		t.Errorf("status %d, want 503 so that the broker keeps the letter", status)
	}
}

// TestDeadLetterKeepsUnsignedLettersButNeverReplaysThem: the broker drops
// what its sink does not take, so a letter no key of the system signed is
// kept too, marked unsigned and under a key of its own, so that it cannot
// take the place of a signed letter; the operator's command shows it and
// refuses to replay it.
func TestDeadLetterKeepsUnsignedLettersButNeverReplaysThem(t *testing.T) {
	env := functest.Env(t, nil)
	url := functest.Start(t, "POST /", New(), env)
	e := functest.Event(t, "charge", "o1", events.ChargeCreated{OrderID: "o1"})
	e.SetExtension(deadletters.ErrorDest, "http://complete-order.ticketing.svc.cluster.local")
	e.SetExtension(deadletters.ErrorCode, "-1")
	for name, status := range map[string]int{
		"unsigned": functest.DeliverUnsigned(t, url, e),
		"forged":   functest.DeliverForged(t, url, e),
		"signed":   functest.Deliver(t, url, e),
	} {
		if status != http.StatusOK {
			t.Errorf("%s: status %d, want 200", name, status)
		}
	}
	broker := functest.NewSink(t)
	cmdEnv := map[string]string{"MONGODB_URI": env["MONGODB_URI"], "MONGODB_DATABASE": env["MONGODB_DATABASE"], "BROKER_URL": broker.URL}
	run := func(args ...string) (string, error) {
		var out bytes.Buffer
		err := deadletters.Command(context.Background(), args, config.FromMap(cmdEnv), &out)
		return out.String(), err
	}
	listed, err := run("list")
	if err != nil {
		t.Fatal(err)
	}
	signedKey, unsignedKey := e.Source()+" "+e.ID(), "unsigned: "+e.Source()+" "+e.ID()
	var signedLine, unsignedLine string
	for line := range strings.SplitSeq(listed, "\n") {
		switch {
		case strings.HasPrefix(line, unsignedKey+" "):
			unsignedLine = line
		case strings.HasPrefix(line, signedKey+" "):
			signedLine = line
		}
	}
	if !strings.Contains(unsignedLine, " no ") || !strings.Contains(unsignedLine, " 2 ") || !strings.Contains(unsignedLine, "-1") {
		t.Errorf("list shows the unsigned and forged letter as %q, want it unsigned (no), 2 deaths, status -1:\n%s", unsignedLine, listed)
	}
	if !strings.Contains(signedLine, " "+functest.Keys(t).SigningKeyID()+" ") || !strings.Contains(signedLine, " 1 ") {
		t.Errorf("list shows the signed letter as %q, want its key and 1 death:\n%s", signedLine, listed)
	}

	if _, err := run("replay", unsignedKey); !errors.Is(err, deadletters.ErrUnsigned) {
		t.Errorf("replay of the unsigned letter: %v, want %v", err, deadletters.ErrUnsigned)
	}
	out, err := run("replay", "-all")
	if err != nil || !strings.Contains(out, "skipped "+unsignedKey) || !strings.Contains(out, "replayed "+signedKey) {
		t.Errorf("replay -all said %q, %v; want the unsigned letter skipped and the signed one replayed", out, err)
	}
	if got := broker.Wait(t, 1); functest.Keys(t).Verify(got[0]) != nil {
		t.Errorf("replayed an event the keys do not verify: %v", got[0])
	}
}
