// Package logging carries a structured logger in a context, so that every log
// line written while serving a request names the function and the request.
package logging

import (
	"context"
	"io"
	"log/slog"
	"sync/atomic"
)

type key struct{}

// New returns a JSON logger that names the function on every line.
func New(w io.Writer, function string, level slog.Leveler) *slog.Logger {
	return slog.New(slog.NewJSONHandler(w, &slog.HandlerOptions{Level: level})).With("function", function)
}

// WithLogger returns a copy of ctx that carries l.
func WithLogger(ctx context.Context, l *slog.Logger) context.Context {
	return context.WithValue(ctx, key{}, l)
}

// FromContext returns the logger in ctx, or slog's default logger.
func FromContext(ctx context.Context) *slog.Logger {
	if l, ok := ctx.Value(key{}).(*slog.Logger); ok {
		return l
	}
	return slog.Default()
}

// A Trace is the id of the trace that the lines of a request's logger
// name. It is read as each line is written, so that a request that joins
// the trace of what it works on (telemetry.Join) names that trace in its
// remaining lines, and in the line that ends it.
type Trace struct{ id atomic.Pointer[string] }

type traceKey struct{}

// WithTrace returns a copy of ctx that carries t, and a logger like l
// whose every line carries t's id as trace_id.
func WithTrace(ctx context.Context, l *slog.Logger, id string) (context.Context, *slog.Logger) {
	t := &Trace{}
	t.id.Store(&id)
	l = slog.New(traceHandler{l.Handler(), t})
	return context.WithValue(WithLogger(ctx, l), traceKey{}, t), l
}

// SetTrace makes the logger of ctx's request name the trace id from now
// on. It does nothing outside a request that WithTrace set up.
func SetTrace(ctx context.Context, id string) {
	if t, ok := ctx.Value(traceKey{}).(*Trace); ok {
		t.id.Store(&id)
	}
}

// traceHandler adds trace_id to every record, from its Trace.
type traceHandler struct {
	slog.Handler
	t *Trace
}

func (h traceHandler) Handle(ctx context.Context, r slog.Record) error {
	if id := *h.t.id.Load(); id != "" {
		r.AddAttrs(slog.String("trace_id", id))
	}
	return h.Handler.Handle(ctx, r)
}

func (h traceHandler) WithAttrs(as []slog.Attr) slog.Handler {
	return traceHandler{h.Handler.WithAttrs(as), h.t}
}

// WithGroup is not used by the functions' loggers; a group would hold
// trace_id too.
func (h traceHandler) WithGroup(name string) slog.Handler {
	return traceHandler{h.Handler.WithGroup(name), h.t}
}
