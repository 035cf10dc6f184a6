package events_test

import (
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	cloudevents "github.com/cloudevents/sdk-go/v2"

	"github.com/ticketing-on-knative/ticketing/internal/events"
	"github.com/ticketing-on-knative/ticketing/internal/logging"
	"github.com/ticketing-on-knative/ticketing/internal/testkit/fuzztest"
)

// FuzzReceiver: whatever a POST carries (ce- headers in binary mode, a
// JSON event in structured mode, a batch, anything), the receiver answers
// a 2xx or a 4xx in the contract's shape, and its handler sees only events
// that are valid and signed with one of its keys. headers holds one
// "Name: value" per line.
func FuzzReceiver(f *testing.F) {
	handled := 0
	rc := events.NewReceiver(testKeys, func(ctx context.Context, e cloudevents.Event) (*cloudevents.Event, error) {
		handled++
		if err := e.Validate(); err != nil {
			return nil, err
		}
		return nil, testKeys.Verify(e)
	}, nil)
	f.Fuzz(func(t *testing.T, headers string, body []byte) {
		r := httptest.NewRequest(http.MethodPost, "/", strings.NewReader(string(body)))
		r = r.WithContext(logging.WithLogger(r.Context(), slog.New(slog.DiscardHandler)))
		for line := range strings.Lines(headers) {
			name, value, _ := strings.Cut(strings.TrimRight(line, "\r\n"), ":")
			r.Header.Add(name, strings.TrimSpace(value))
		}
		w := httptest.NewRecorder()
		before := handled
		rc.ServeHTTP(w, r)
		// The handler fails an event it should not have been given, which
		// the receiver answers with a 500.
		if refused := fuzztest.Answered(t, r, w); refused && handled != before {
			t.Fatalf("the receiver answered %d, yet called the handler", w.Code)
		}
	})
}
