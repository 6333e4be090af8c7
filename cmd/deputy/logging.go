package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
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

// newLogger returns the process logger: slog's text or JSON handler on w.
func newLogger(format string, level slog.Level, w io.Writer) *slog.Logger {
	opts := &slog.HandlerOptions{Level: level}
	if format == logJSON {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
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
