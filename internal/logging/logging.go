// Package logging carries a structured logger in a context, so that every log
// line written while serving a request names the function and the request.
package logging

import (
	"context"
	"io"
	"log/slog"
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
