package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
	"time"
)

// Log formats of "deputy serve".
const (
	logText = "text"
	logJSON = "json"
)

// parseLogLevel parses --log-level.
func parseLogLevel(s string) (slog.Level, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(s)); err != nil {
		return 0, fmt.Errorf("%q is not debug, info, warn or error", s)
	}
	return l, nil
}

// newLogger returns the process logger: slog's text or JSON handler on w,
// in a hostHandler. When w is a *logBuffer, records at Error and above are
// written out at once rather than at the next flush, and the access log and
// the audit event take hostHandler's fast path.
func newLogger(format string, level slog.Level, w io.Writer) *slog.Logger {
	// No ReplaceAttr and no AddSource: hostHandler's fast path writes what
	// slog writes without them (TestFastRecordMatchesSlog).
	opts := &slog.HandlerOptions{Level: level}
	h := hostHandler{json: format == logJSON}
	h.buf, _ = w.(*logBuffer)
	if h.json {
		h.Handler = slog.NewJSONHandler(w, opts)
	} else {
		h.Handler = slog.NewTextHandler(w, opts)
	}
	return slog.New(h)
}

// Log buffering of "deputy serve": at most logFlushInterval late, at most
// logBufferSize bytes held.
const (
	logFlushInterval = 100 * time.Millisecond
	logBufferSize    = 64 << 10
)

// logBuffer collects what serve writes to stderr and writes it out in one
// call at most interval after the first byte it holds, when the next write
// would take it past size, and on Flush and Close. Each request logs two
// lines (the access log and the audit event); written one by one, they cost
// two system calls per request, which under load was a tenth of the host's
// throughput. Every line still arrives, in order, whole (each Write is one
// slog record or one printed line, and is never split), at most interval
// late; a record at Error level is flushed at once (see newLogger). What a
// crash of the process itself (not a handler's panic, which is recovered
// and logged) leaves in the buffer is lost: at most interval's worth.
//
// Write, Flush and Close are safe for concurrent use. Writes to the
// underlying writer happen under the lock, so they never interleave.
type logBuffer struct {
	w        io.Writer
	interval time.Duration
	size     int

	mu     sync.Mutex
	buf    []byte
	timer  *time.Timer // nil until the first write
	armed  bool        // timer set to flush what buf holds
	closed bool        // Close called: writes go straight through
}

// newLogBuffer buffers w. interval > 0; size > 0.
func newLogBuffer(w io.Writer, interval time.Duration, size int) *logBuffer {
	return &logBuffer{w: w, interval: interval, size: size}
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return b.w.Write(p)
	}
	if len(b.buf)+len(p) > b.size {
		if err := b.flushLocked(); err != nil {
			return 0, err
		}
		if len(p) >= b.size {
			return b.w.Write(p)
		}
	}
	if b.buf == nil {
		b.buf = make([]byte, 0, b.size)
	}
	b.buf = append(b.buf, p...)
	if !b.armed {
		b.armed = true
		if b.timer == nil {
			b.timer = time.AfterFunc(b.interval, func() { b.Flush() })
		} else {
			b.timer.Reset(b.interval)
		}
	}
	return len(p), nil
}

// Flush writes out what the buffer holds.
func (b *logBuffer) Flush() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.flushLocked()
}

// flushLocked writes the buffer out. On an error what it held is dropped:
// the writer is stderr, and holding on would only grow the buffer.
func (b *logBuffer) flushLocked() error {
	if b.armed {
		b.armed = false
		b.timer.Stop()
	}
	if len(b.buf) == 0 {
		return nil
	}
	_, err := b.w.Write(b.buf)
	b.buf = b.buf[:0]
	return err
}

// Close flushes the buffer; later writes go straight to the writer.
func (b *logBuffer) Close() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.closed = true
	return b.flushLocked()
}

// scanLogFormat finds the value of --log-format in args before the flags
// are parsed, so that even a usage error is written in that format. It
// follows the flag package's syntax: -log-format or --log-format, with the
// value after = or as the next argument; parsing stops at "--" or the
// first non-flag argument. The last occurrence wins, as with flag.
func scanLogFormat(args []string) string {
	format := logText
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "--" || !strings.HasPrefix(a, "-") {
			break
		}
		name, value, hasValue := strings.Cut(strings.TrimLeft(a, "-"), "=")
		if name != "log-format" {
			continue
		}
		if !hasValue && i+1 < len(args) {
			i++
			value = args[i]
		}
		format = value
	}
	return format
}

// lineLogger is an io.Writer that logs each line written to it as one
// record (the line as its message) at a fixed level. With --log-format
// json, serve sends what it would print as text (usage and config errors,
// the listening address) through one, so that every line on stderr is a
// JSON object. Write is safe for concurrent use; an unterminated last line
// waits for Flush.
type lineLogger struct {
	log   *slog.Logger
	level slog.Level

	mu  sync.Mutex
	buf []byte
}

func (l *lineLogger) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.buf = append(l.buf, p...)
	for {
		i := bytes.IndexByte(l.buf, '\n')
		if i < 0 {
			break
		}
		l.emit(l.buf[:i])
		l.buf = l.buf[i+1:]
	}
	return len(p), nil
}

// Flush logs an unterminated last line.
func (l *lineLogger) Flush() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.buf) > 0 {
		l.emit(l.buf)
		l.buf = nil
	}
}

func (l *lineLogger) emit(line []byte) {
	s := strings.TrimRight(string(line), "\r")
	if strings.TrimSpace(s) == "" {
		return // blank separator lines of usage texts
	}
	l.log.Log(context.Background(), l.level, s)
}
