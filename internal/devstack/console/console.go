// Package console renders devstack's output for a person at a terminal, the
// way docker compose and overmind do: one line per record, prefixed with
// the name of the part that wrote it (devstack, the broker, or a function),
// the message first and then its key fields, colored when the output is a
// terminal. A function writes JSON lines (package logging); devstack writes
// slog records; both come out in the same shape. Cold starts, warnings,
// errors and dead letters stand out.
//
// For machines, a Console in JSON mode writes every line as JSON instead:
// devstack's own records through slog's JSON handler, and the functions'
// lines as they wrote them.
package console

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"hash/fnv"
	"io"
	"log/slog"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Format is how a Console writes.
type Format string

// The formats of a Console.
const (
	Pretty Format = "pretty"
	JSON   Format = "json"
)

// ParseFormat reads the value of devstack's --log-format flag.
func ParseFormat(s string) (Format, error) {
	switch f := Format(s); f {
	case Pretty, JSON:
		return f, nil
	}
	return "", fmt.Errorf("log format %q: want %s or %s", s, Pretty, JSON)
}

// Console writes the lines of devstack and of its functions to one writer,
// a whole line at a time.
type Console struct {
	format Format
	color  bool
	now    func() time.Time

	mu    sync.Mutex
	w     io.Writer
	width int // of the widest name so far, so that lines align
}

// New returns a Console that writes to w in format, with ANSI colors if
// color is set (see IsTerminal).
func New(w io.Writer, format Format, color bool) *Console {
	return &Console{w: w, format: format, color: color && format == Pretty, now: time.Now, width: len("devstack")}
}

// IsTerminal reports whether w is a terminal that takes colors: a character
// device, unless NO_COLOR is set (https://no-color.org) or TERM is dumb.
func IsTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok || os.Getenv("NO_COLOR") != "" || os.Getenv("TERM") == "dumb" {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}

// Logger returns devstack's own logger, writing through c.
func (c *Console) Logger() *slog.Logger {
	if c.format == JSON {
		return slog.New(slog.NewJSONHandler(lineWriter{c}, nil)).With("component", "devstack")
	}
	return slog.New(&handler{c: c})
}

// Writer returns the writer of the named function's stdout and stderr. It
// keeps a partial line until its end arrives, so that the lines of
// processes writing at once never mix. The names column is as wide as the
// widest name a writer was asked for, so that devstack, which asks for
// every function's before they start, prints them in one column.
func (c *Console) Writer(name string) io.Writer {
	c.mu.Lock()
	c.width = max(c.width, len(name))
	c.mu.Unlock()
	return &funcWriter{c: c, name: name}
}

// A line is one record, however it was written.
type line struct {
	time    time.Time
	name    string // the part that wrote it
	level   slog.Level
	message string
	attrs   []attr
}

type attr struct{ key, value string }

// write renders l as one line.
func (c *Console) write(l line) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.width = max(c.width, len(l.name))
	var b bytes.Buffer
	c.paint(&b, dim, l.time.Format("15:04:05.000"))
	b.WriteByte(' ')
	c.paint(&b, nameColor(l.name), fmt.Sprintf("%-*s", c.width, l.name))
	c.paint(&b, dim, " │ ")
	switch {
	case strings.Contains(l.message, "dead-letter"):
		c.paint(&b, magenta+bold, "✗ "+l.message)
	case l.level >= slog.LevelError:
		c.paint(&b, red+bold, "ERROR "+l.message)
	case l.level >= slog.LevelWarn:
		c.paint(&b, yellow, "WARN "+l.message)
	case l.message == "cold start":
		c.paint(&b, cyan+bold, "▲ cold start")
	case l.message == "scaling to zero":
		c.paint(&b, dim, "▼ scaling to zero")
	default:
		b.WriteString(l.message)
	}
	for _, a := range l.attrs {
		b.WriteByte(' ')
		c.paint(&b, dim, a.key+"=")
		b.WriteString(quote(a.value))
	}
	b.WriteByte('\n')
	_, _ = c.w.Write(b.Bytes())
}

// The ANSI colors a Console uses.
const (
	reset   = "\x1b[0m"
	bold    = "\x1b[1m"
	dim     = "\x1b[2m"
	red     = "\x1b[31m"
	yellow  = "\x1b[33m"
	magenta = "\x1b[35m"
	cyan    = "\x1b[36m"
)

// palette colors the names: each name keeps its color from run to run.
var palette = []string{"\x1b[32m", "\x1b[34m", "\x1b[35m", "\x1b[36m", "\x1b[92m", "\x1b[94m", "\x1b[95m", "\x1b[96m", "\x1b[33m"}

func nameColor(name string) string {
	if name == "devstack" {
		return bold
	}
	h := fnv.New32a()
	_, _ = h.Write([]byte(name))
	return palette[h.Sum32()%uint32(len(palette))]
}

func (c *Console) paint(b *bytes.Buffer, color, s string) {
	if !c.color {
		b.WriteString(s)
		return
	}
	b.WriteString(color)
	b.WriteString(s)
	b.WriteString(reset)
}

// quote writes a value as it reads best: bare unless it has spaces, quotes
// or an equals sign, or is empty.
func quote(s string) string {
	if s == "" || strings.ContainsAny(s, " \t\n\"=") {
		return strconv.Quote(s)
	}
	return s
}

// funcWriter turns a function's output into lines.
type funcWriter struct {
	c    *Console
	name string

	mu      sync.Mutex
	partial []byte
}

func (w *funcWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.partial = append(w.partial, p...)
	for {
		i := bytes.IndexByte(w.partial, '\n')
		if i < 0 {
			break
		}
		w.line(w.partial[:i])
		w.partial = w.partial[i+1:]
	}
	// A line without an end for 64 KiB is a line of its own.
	if len(w.partial) > 64<<10 {
		w.line(w.partial)
		w.partial = nil
	}
	return len(p), nil
}

func (w *funcWriter) line(raw []byte) {
	raw = bytes.TrimRight(raw, "\r")
	if len(bytes.TrimSpace(raw)) == 0 {
		return
	}
	if w.c.format == JSON {
		w.c.mu.Lock()
		defer w.c.mu.Unlock()
		_, _ = w.c.w.Write(append(slices.Clip(raw), '\n'))
		return
	}
	l, ok := parseJSON(raw)
	if !ok {
		// Not a log record: a panic's trace, say. Shown as it is.
		l = line{time: w.c.now(), message: string(raw)}
	}
	l.name = w.name
	w.c.write(l)
}

// hidden are the fields of a function's record that its line shows in
// another form (time, level, message, the name) or that a person does not
// need to read: ids, and the event's source, which the JSON output keeps.
var hidden = map[string]bool{
	"time": true, "level": true, "msg": true, "function": true,
	"request_id": true, "event_id": true, "event_source": true,
}

// parseJSON reads a record that package logging wrote, keeping its fields
// in the order they were written.
func parseJSON(raw []byte) (line, bool) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	if t, err := dec.Token(); err != nil || t != json.Delim('{') {
		return line{}, false
	}
	l := line{}
	for dec.More() {
		t, err := dec.Token()
		if err != nil {
			return line{}, false
		}
		key, _ := t.(string)
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			return line{}, false
		}
		switch key {
		case "time":
			var s string
			_ = json.Unmarshal(v, &s)
			l.time, _ = time.Parse(time.RFC3339Nano, s)
		case "level":
			var s string
			_ = json.Unmarshal(v, &s)
			_ = l.level.UnmarshalText([]byte(s))
		case "msg":
			_ = json.Unmarshal(v, &l.message)
		}
		if value := jsonValue(v); !hidden[key] && value != "" {
			l.attrs = append(l.attrs, attr{key, value})
		}
	}
	if l.time.IsZero() {
		return line{}, false
	}
	return l, true
}

// jsonValue is a JSON value as a line shows it: a string without its
// quotes, anything else as written.
func jsonValue(v json.RawMessage) string {
	var s string
	if json.Unmarshal(v, &s) == nil {
		return s
	}
	return string(v)
}

// handler is devstack's slog.Handler in the pretty format. A record about
// one function (its "function" or "source" attribute) is shown under that
// function's name, and the broker's under "broker", beside the lines the
// function writes itself.
type handler struct {
	c      *Console
	name   string
	attrs  []attr
	groups []string
}

func (h *handler) Enabled(_ context.Context, level slog.Level) bool { return level >= slog.LevelInfo }

func (h *handler) Handle(_ context.Context, r slog.Record) error {
	l := line{time: r.Time, name: h.name, level: r.Level, message: r.Message, attrs: slices.Clone(h.attrs)}
	r.Attrs(func(a slog.Attr) bool {
		l.name, l.attrs = h.add(l.name, l.attrs, a)
		return true
	})
	if l.name == "" {
		l.name = "devstack"
	}
	h.c.write(l)
	return nil
}

// add appends a to attrs, or takes it for the name of the line.
func (h *handler) add(name string, attrs []attr, a slog.Attr) (string, []attr) {
	a.Value = a.Value.Resolve()
	if a.Equal(slog.Attr{}) {
		return name, attrs
	}
	if len(h.groups) == 0 && name == "" {
		switch a.Key {
		case "function", "source":
			return a.Value.String(), attrs
		case "broker":
			return "broker", append(attrs, attr{a.Key, a.Value.String()})
		}
	}
	if a.Value.Kind() == slog.KindGroup {
		for _, g := range a.Value.Group() {
			name, attrs = h.add(name, attrs, slog.Attr{Key: a.Key + "." + g.Key, Value: g.Value})
		}
		return name, attrs
	}
	key := a.Key
	if len(h.groups) > 0 {
		key = strings.Join(h.groups, ".") + "." + key
	}
	value := a.Value.String()
	if d, ok := a.Value.Any().(time.Duration); ok {
		value = d.String()
	}
	return name, append(attrs, attr{key, value})
}

func (h *handler) WithAttrs(as []slog.Attr) slog.Handler {
	h2 := *h
	h2.attrs = slices.Clone(h.attrs)
	for _, a := range as {
		h2.name, h2.attrs = h.add(h2.name, h2.attrs, a)
	}
	return &h2
}

func (h *handler) WithGroup(name string) slog.Handler {
	if name == "" {
		return h
	}
	h2 := *h
	h2.groups = append(slices.Clip(h.groups), name)
	return &h2
}

// lineWriter writes slog's JSON lines, one Write each, under the Console's lock.
type lineWriter struct{ c *Console }

func (w lineWriter) Write(p []byte) (int, error) {
	w.c.mu.Lock()
	defer w.c.mu.Unlock()
	return w.c.w.Write(p)
}
