package console

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"strings"
	"testing"
	"time"
)

var at = time.Date(2026, 12, 3, 18, 4, 5, 123_000_000, time.Local)

// record logs one record at a fixed time through log's handler.
func record(t *testing.T, log *slog.Logger, level slog.Level, msg string, args ...any) {
	t.Helper()
	if !log.Handler().Enabled(context.Background(), level) {
		return
	}
	r := slog.NewRecord(at, level, msg, 0)
	r.Add(args...)
	if err := log.Handler().Handle(context.Background(), r); err != nil {
		t.Fatal(err)
	}
}

func lines(b *bytes.Buffer) []string {
	return strings.Split(strings.TrimSuffix(b.String(), "\n"), "\n")
}

func TestAFunctionsJSONLinesReadAsMessageAndFields(t *testing.T) {
	var out bytes.Buffer
	c := New(&out, Pretty, false)
	w := c.Writer("create-order")
	// A process's output arrives in chunks that split lines anywhere.
	whole := `{"time":"2026-12-03T18:04:05.123+00:00","level":"INFO","msg":"request","function":"create-order","request_id":"ab12","method":"POST","path":"/api/orders","status":201,"duration_ms":12.5}` + "\n" +
		`{"time":"2026-12-03T18:04:05.200+00:00","level":"INFO","msg":"event applied","function":"create-order","event_type":"ticketing.order.created","event_id":"e1","event_source":"/functions/x","event_subject":""}` + "\n" +
		`{"time":"2026-12-03T18:04:06.000+00:00","level":"WARN","msg":"change stored; its event is left for the outbox sweep","function":"create-order","error":"publish: sink answered 503"}` + "\n" +
		"panic: runtime error\n"
	for len(whole) > 0 {
		n := min(17, len(whole))
		if _, err := w.Write([]byte(whole[:n])); err != nil {
			t.Fatal(err)
		}
		whole = whole[n:]
	}
	got := lines(&out)
	want := []string{
		`create-order │ request method=POST path=/api/orders status=201 duration_ms=12.5`,
		`create-order │ event applied event_type=ticketing.order.created`,
		`create-order │ WARN change stored; its event is left for the outbox sweep error="publish: sink answered 503"`,
		`create-order │ panic: runtime error`,
	}
	if len(got) != len(want) {
		t.Fatalf("got %d lines, want %d:\n%s", len(got), len(want), out.String())
	}
	for i := range want {
		// The time is the record's, in the local zone: compare what follows it.
		_, rest, _ := strings.Cut(got[i], " ")
		if rest != want[i] {
			t.Errorf("line %d:\n got %q\nwant %q", i, rest, want[i])
		}
	}
	if !strings.HasPrefix(got[0], time.Date(2026, 12, 3, 18, 4, 5, 123_000_000, time.UTC).Local().Format("15:04:05.000")+" ") {
		t.Errorf("line 0 does not begin with the record's time: %q", got[0])
	}
}

func TestDevstacksRecordsStandUnderThePartTheyAreAbout(t *testing.T) {
	var out bytes.Buffer
	c := New(&out, Pretty, false)
	log := c.Logger()
	for _, name := range []string{"signup", "get-order", "expiry-source"} {
		c.Writer(name) // as devstack asks for each before they start
	}
	record(t, log, slog.LevelInfo, "building 27 functions and stripe-mock")
	record(t, log, slog.LevelInfo, "cold start", "function", "signup", "duration", 15200*time.Microsecond, "pid", 42)
	record(t, log.With("broker", "default"), slog.LevelWarn, "event undeliverable; dead-lettered", "trigger", "complete-order", "status", 500)
	record(t, log, slog.LevelError, "function unavailable", "function", "get-order", "error", "exec: no such file")
	record(t, log, slog.LevelInfo, "started", "source", "expiry-source", "pid", 7)
	record(t, log, slog.LevelDebug, "not shown")
	want := []string{
		"18:04:05.123 devstack      │ building 27 functions and stripe-mock",
		"18:04:05.123 signup        │ ▲ cold start duration=15.2ms pid=42",
		"18:04:05.123 broker        │ ✗ event undeliverable; dead-lettered broker=default trigger=complete-order status=500",
		`18:04:05.123 get-order     │ ERROR function unavailable error="exec: no such file"`,
		"18:04:05.123 expiry-source │ started pid=7",
	}
	got := lines(&out)
	for i := range want {
		if i >= len(got) {
			t.Fatalf("missing line %d: %q\n%s", i, want[i], out.String())
		}
		if got[i] != want[i] {
			t.Errorf("line %d:\n got %q\nwant %q", i, got[i], want[i])
		}
	}
	if len(got) != len(want) {
		t.Errorf("got %d lines, want %d (a debug record is not shown):\n%s", len(got), len(want), out.String())
	}
}

func TestColorsOnlyOnATerminal(t *testing.T) {
	for _, color := range []bool{false, true} {
		var out bytes.Buffer
		c := New(&out, Pretty, color)
		record(t, c.Logger(), slog.LevelInfo, "cold start", "function", "signup")
		_, _ = c.Writer("signup").Write([]byte(`{"time":"2026-12-03T18:04:05Z","level":"ERROR","msg":"request failed","function":"signup"}` + "\n"))
		if got := strings.Contains(out.String(), "\x1b["); got != color {
			t.Errorf("color %v: escape codes in the output: %v\n%q", color, got, out.String())
		}
	}
	var out bytes.Buffer
	if IsTerminal(&out) {
		t.Error("a buffer is taken for a terminal")
	}
}

func TestJSONFormatKeepsLinesForMachines(t *testing.T) {
	var out bytes.Buffer
	c := New(&out, JSON, true)
	record(t, c.Logger(), slog.LevelInfo, "cold start", "function", "signup", "duration", time.Millisecond)
	fn := `{"time":"2026-12-03T18:04:05Z","level":"INFO","msg":"request","function":"signup","status":201}`
	_, _ = c.Writer("signup").Write([]byte(fn + "\n"))
	got := lines(&out)
	if len(got) != 2 {
		t.Fatalf("got %d lines, want 2:\n%s", len(got), out.String())
	}
	var rec map[string]any
	if err := json.Unmarshal([]byte(got[0]), &rec); err != nil {
		t.Fatalf("devstack's line is not JSON: %q: %v", got[0], err)
	}
	if rec["msg"] != "cold start" || rec["component"] != "devstack" || rec["function"] != "signup" {
		t.Errorf("devstack's record %v, want its message, component and fields", rec)
	}
	if got[1] != fn {
		t.Errorf("a function's line changed:\n got %q\nwant %q", got[1], fn)
	}
	if strings.Contains(out.String(), "\x1b[") {
		t.Error("colors in JSON output")
	}
	if _, err := ParseFormat("xml"); err == nil {
		t.Error("ParseFormat took xml")
	}
}
