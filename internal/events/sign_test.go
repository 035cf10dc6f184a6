package events_test

import (
	"strings"
	"testing"
	"time"

	cloudevents "github.com/cloudevents/sdk-go/v2"

	"github.com/ticketing-on-knative/ticketing/internal/config"
	"github.com/ticketing-on-knative/ticketing/internal/events"
)

const (
	oldKey = "the-key-before-the-rotation-0123456789"
	newKey = "the-key-after-the-rotation-abcdefghijk"
)

func signedBy(t *testing.T, keys string) cloudevents.Event {
	t.Helper()
	e := orderExpired(t, "e1")
	must(t, mustKeys(keys).Sign(&e))
	return e
}

// TestKeyRotation follows docs/SECURITY.md: the new key is added to be
// accepted, then made the signing key, then the old one is dropped. At no
// step does a function refuse what another function, one step behind or
// ahead, has signed.
func TestKeyRotation(t *testing.T) {
	steps := []string{oldKey, oldKey + "," + newKey, newKey + "," + oldKey, newKey}
	for i := 1; i < len(steps); i++ {
		behind, ahead := steps[i-1], steps[i]
		for _, pair := range [][2]string{{behind, ahead}, {ahead, behind}} {
			signer, verifier := pair[0], pair[1]
			if err := mustKeys(verifier).Verify(signedBy(t, signer)); err != nil {
				t.Errorf("step %d: %q refuses what %q signed: %v", i, verifier, signer, err)
			}
		}
	}
	if err := mustKeys(newKey).Verify(signedBy(t, oldKey)); err == nil {
		t.Error("once the old key is dropped, what it signed is still accepted")
	}
	if got, want := mustKeys(newKey+" "+oldKey).SigningKeyID(), mustKeys(newKey).SigningKeyID(); got != want {
		t.Errorf("the signing key is %s, want the first, %s", got, want)
	}
}

// TestSignatureSurvivesTheTimesReformatting: a broker parses the time and
// writes it again, perhaps in another zone or with other digits; the
// signature covers the instant.
func TestSignatureSurvivesTheTimesReformatting(t *testing.T) {
	e := orderExpired(t, "e1")
	e.SetTime(time.Date(2026, 11, 25, 13, 1, 0, 500_000_000, time.FixedZone("CET", 3600)))
	must(t, testKeys.Sign(&e))
	e.SetTime(e.Time().UTC())
	if err := testKeys.Verify(e); err != nil {
		t.Errorf("the same instant in UTC: %v", err)
	}
	var copied cloudevents.Event
	b, err := e.MarshalJSON()
	must(t, err)
	must(t, copied.UnmarshalJSON(b))
	if err := testKeys.Verify(copied); err != nil {
		t.Errorf("the event through JSON, as the dead-letter store keeps it: %v", err)
	}
}

func TestSignOnlyEventsOfTheCatalogue(t *testing.T) {
	e := orderExpired(t, "e1")
	e.SetSource(events.Source("create-order"))
	if err := testKeys.Sign(&e); err == nil || !strings.Contains(err.Error(), "Emitters") {
		t.Errorf("signed an order.expired from create-order: %v", err)
	}
	e.SetType("ticketing.order.shipped")
	if err := testKeys.Sign(&e); err == nil {
		t.Error("signed a type the catalogue does not have")
	}
}

func TestEmittersCoverTheCatalogue(t *testing.T) {
	for typ := range events.Catalogue {
		if len(events.Emitters[typ]) == 0 {
			t.Errorf("%s has no Emitters", typ)
		}
	}
	for typ := range events.Emitters {
		if _, ok := events.Catalogue[typ]; !ok {
			t.Errorf("Emitters has %s, which the Catalogue does not", typ)
		}
	}
}

func TestKeysFromEnv(t *testing.T) {
	tests := []struct {
		name, value string
		want        string // in cfg.Err; empty: no error
	}{
		{"one key", oldKey, ""},
		{"two keys", oldKey + ", " + newKey, ""},
		{"missing", "", "EVENT_SIGNING_KEYS: is required"},
		{"too short", oldKey + ",short-key", "EVENT_SIGNING_KEYS: key 2 of 2 is 9 bytes long; a key must be at least 32 bytes"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := config.FromMap(map[string]string{events.KeysVariable: tt.value})
			keys := events.KeysFromEnv(cfg)
			err := cfg.Err()
			switch {
			case tt.want == "" && (err != nil || keys == nil):
				t.Errorf("keys %v, error %v", keys, err)
			case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
				t.Errorf("error %v, want %q", err, tt.want)
			case err != nil && strings.Contains(err.Error(), oldKey):
				t.Errorf("the error shows a key: %v", err)
			}
		})
	}
	// A function that publishes and receives reads the keys twice; it is
	// told what is wrong once.
	cfg := config.FromMap(nil)
	events.KeysFromEnv(cfg)
	events.KeysFromEnv(cfg)
	if n := strings.Count(cfg.Err().Error(), events.KeysVariable); n != 1 {
		t.Errorf("the missing keys are reported %d times: %v", n, cfg.Err())
	}
}

// BenchmarkSignAndVerify is what a signature adds to an event's hop: one
// Sign in the publisher, one Verify in the receiver.
func BenchmarkSignAndVerify(b *testing.B) {
	p, err := events.NewPending(b.Context(), events.Source("create-order"), "o1", events.OrderCreated{ID: "o1", Status: "created", UserID: "u1"}, time.Now())
	if err != nil {
		b.Fatal(err)
	}
	e := p.Event()
	for b.Loop() {
		if err := testKeys.Sign(&e); err != nil {
			b.Fatal(err)
		}
		if err := testKeys.Verify(e); err != nil {
			b.Fatal(err)
		}
	}
}
