// Package traces keeps the JSON lines that devstack's functions write, and
// reads the path of one trace across the functions back from them: which
// function served which route or event, with what status, when and for how
// long (devstack trace).
package traces

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"sync"
)

// File is the name of the log in devstack's data folder; the lines of the
// runs before the last rotation are in File+".1".
const File = "functions.jsonl"

// maxSize is the size above which Open starts a new file, keeping one old.
const maxSize = 64 << 20

// A Log appends the functions' JSON lines to a file, a whole line at a time.
type Log struct {
	mu sync.Mutex
	f  *os.File
}

// Open opens the log at path for appending. A log grown past 64 MiB
// becomes path.1 first, replacing the one before it.
func Open(path string) (*Log, error) {
	if fi, err := os.Stat(path); err == nil && fi.Size() > maxSize {
		if err := os.Rename(path, path+".1"); err != nil {
			return nil, fmt.Errorf("rotate the functions' log: %w", err)
		}
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("open the functions' log: %w", err)
	}
	return &Log{f: f}, nil
}

// Close closes the file.
func (l *Log) Close() error { return l.f.Close() }

// Tee returns a writer that writes to w and keeps the JSON lines of what
// it is given in l. What is not a JSON object, such as a panic's stack,
// goes to w only.
func (l *Log) Tee(w io.Writer) io.Writer { return &tee{w: w, l: l} }

// tee is one process's writer: its stdout and stderr write at once.
type tee struct {
	mu      sync.Mutex
	w       io.Writer
	l       *Log
	partial []byte
}

func (t *tee) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.partial = append(t.partial, p...)
	for {
		i := bytes.IndexByte(t.partial, '\n')
		if i < 0 {
			break
		}
		t.keep(t.partial[:i+1])
		t.partial = t.partial[i+1:]
	}
	if len(t.partial) > 64<<10 {
		t.partial = nil // not a log line: the console shows it
	}
	return t.w.Write(p)
}

// keep appends line to the log if it is a JSON object. A log that cannot
// be written loses the line; the console still shows it.
func (t *tee) keep(line []byte) {
	if !bytes.HasPrefix(bytes.TrimSpace(line), []byte("{")) {
		return
	}
	t.l.mu.Lock()
	defer t.l.mu.Unlock()
	_, _ = t.l.f.Write(line)
}
