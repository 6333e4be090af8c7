package main

import (
	"fmt"
	"io"
	"log/slog"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// countingWriter records each Write it receives.
type countingWriter struct {
	mu     sync.Mutex
	writes []string
}

func (w *countingWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.writes = append(w.writes, string(p))
	return len(p), nil
}

func (w *countingWriter) got() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]string(nil), w.writes...)
}

func TestLogBufferHoldsUntilFlush(t *testing.T) {
	var w countingWriter
	b := newLogBuffer(&w, time.Hour, 16)
	io.WriteString(b, "one\n")
	io.WriteString(b, "two\n")
	if got := w.got(); len(got) != 0 {
		t.Fatalf("written before a flush: %q", got)
	}
	b.Flush()
	io.WriteString(b, "three\n")
	io.WriteString(b, "four-56789\n")           // would pass 16 bytes: "three\n" goes out first
	io.WriteString(b, "a line of 16 or more\n") // as large as the buffer: straight through, after what is held
	io.WriteString(b, "five\n")
	b.Close()
	io.WriteString(b, "after close\n")
	want := []string{"one\ntwo\n", "three\n", "four-56789\n", "a line of 16 or more\n", "five\n", "after close\n"}
	if diff := cmp.Diff(want, w.got()); diff != "" {
		t.Errorf("writes (-want +got):\n%s", diff)
	}
}

func TestLogBufferFlushesOnTimer(t *testing.T) {
	var out syncBuffer
	b := newLogBuffer(&out, 20*time.Millisecond, 1<<10)
	defer b.Close()
	for i := range 3 {
		fmt.Fprintf(b, "line %d\n", i)
		// Each line arrives without Flush, within the interval (and
		// the timer is armed again after it fired).
		out.waitFor(t, regexp.MustCompile(fmt.Sprintf("line %d\n", i)), 5*time.Second)
	}
}

func TestLogBufferErrorsAtOnce(t *testing.T) {
	for _, format := range []string{logText, logJSON} {
		t.Run(format, func(t *testing.T) {
			var w countingWriter
			b := newLogBuffer(&w, time.Hour, 1<<10)
			l := newLogger(format, slog.LevelInfo, b)
			l.Info("routine")
			l.Warn("refused")
			if got := w.got(); len(got) != 0 {
				t.Fatalf("Info and Warn written before a flush: %q", got)
			}
			l.With("k", "v").Error("failed")
			got := w.got()
			if len(got) != 1 || !strings.Contains(got[0], "routine") || !strings.Contains(got[0], "refused") || !strings.Contains(got[0], "failed") {
				t.Fatalf("after an Error record: writes %q, want one with all three records in order", got)
			}
			if i, j := strings.Index(got[0], "routine"), strings.Index(got[0], "failed"); i > j {
				t.Errorf("records out of order: %q", got[0])
			}
		})
	}
}

// TestLogBufferConcurrent writes lines from several goroutines through a
// buffer smaller than their total: every line arrives once, whole.
func TestLogBufferConcurrent(t *testing.T) {
	var out syncBuffer
	b := newLogBuffer(&out, time.Millisecond, 256)
	l := slog.New(slog.NewTextHandler(b, nil))
	const writers, lines = 8, 200
	var wg sync.WaitGroup
	for g := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range lines {
				l.Info("http request", "writer", g, "line", i)
			}
		}()
	}
	wg.Wait()
	b.Close()
	re := regexp.MustCompile(`^time=\S+ level=INFO msg="http request" writer=\d+ line=\d+$`)
	seen := make(map[string]bool)
	for line := range strings.Lines(out.String()) {
		line = strings.TrimSuffix(line, "\n")
		if !re.MatchString(line) {
			t.Fatalf("mangled line %q", line)
		}
		key := line[strings.Index(line, "writer="):]
		if seen[key] {
			t.Fatalf("line twice: %q", line)
		}
		seen[key] = true
	}
	if len(seen) != writers*lines {
		t.Errorf("%d lines, want %d", len(seen), writers*lines)
	}
}
