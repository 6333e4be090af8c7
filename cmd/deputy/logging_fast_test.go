package main

import (
	"bytes"
	"context"
	"log/slog"
	"testing"
	"time"
)

// fastAndSlog writes one record through hostHandler's fast path and
// through the slog handler it wraps, and returns both lines. ok is
// writeRecord's answer.
func fastAndSlog(t *testing.T, format string, tm time.Time, level slog.Level, msg string, attrs []slog.Attr) (fast, want string, ok bool) {
	t.Helper()
	var out bytes.Buffer
	buf := newLogBuffer(&out, time.Hour, 16<<10)
	defer buf.Close() // stops its timer
	h, isHost := newLogger(format, slog.LevelDebug-8, buf).Handler().(hostHandler)
	if !isHost {
		t.Fatal("newLogger on a logBuffer has no hostHandler")
	}
	ok = h.writeRecord(tm, level, msg, attrs)
	buf.Flush()
	fast = out.String()
	out.Reset()
	r := slog.NewRecord(tm, level, msg, 0)
	r.AddAttrs(attrs...)
	if err := h.Handler.Handle(context.Background(), r); err != nil {
		t.Fatal(err)
	}
	buf.Flush()
	return fast, out.String(), ok
}

// TestFastRecordMatchesSlog: the fast path writes the bytes slog's text
// and JSON handlers write for the same record, values a request controls
// (spaces, '=', quotes, line breaks, invalid UTF-8, Unicode spaces and
// separators) included, so that a log reader cannot tell them apart and
// no value breaks out of its attribute or its line.
func TestFastRecordMatchesSlog(t *testing.T) {
	tm := time.Date(2026, 12, 2, 15, 4, 5, 123456789, time.FixedZone("X", 5*3600+30*60))
	values := []string{
		"", "plain", "demo-app", "urn:ietf:params:oauth:grant-type:jwt-bearer", "/delegation",
		"two words", "a=b", `say "hi"`, `back\slash`, "line\nbreak", "cr\rlf", "tab\there",
		"\x00\x1f\x7f", "invalid \xff utf-8", "\xc3", "\ufffd", "nbsp\u00a0here", "line\u2028sep",
		"zero\u200bwidth", "ünïcødé 🔑", "<script>&</script>", "127.0.0.1:54321",
	}
	levels := []slog.Level{slog.LevelDebug, slog.LevelInfo, slog.LevelWarn, slog.LevelError, slog.LevelInfo + 2, slog.LevelError + 4}
	for _, format := range []string{logText, logJSON} {
		for i, v := range values {
			attrs := []slog.Attr{
				slog.String("method", "POST"),
				slog.String("value", v),
				slog.Int("status", 200+i),
				slog.Int("negative", -i),
				slog.Duration("duration", time.Duration(i)*1234567*time.Nanosecond),
				slog.String(v, "as key"),
			}
			if v == "" {
				attrs = attrs[:len(attrs)-1] // an empty key is not for the fast path
			}
			level := levels[i%len(levels)]
			fast, want, ok := fastAndSlog(t, format, tm, level, v, attrs)
			if !ok {
				t.Fatalf("%s %q: writeRecord refused the record", format, v)
			}
			if fast != want {
				t.Errorf("%s %q:\nfast %s\nslog %s", format, v, fast, want)
			}
		}
	}
}

// TestFastRecordFallsBack: what the fast path does not write, it leaves to
// slog, writing nothing itself; logRecord then hands the record to slog.
func TestFastRecordFallsBack(t *testing.T) {
	tm := time.Date(2026, 12, 2, 15, 4, 5, 0, time.UTC)
	for name, tc := range map[string]struct {
		tm    time.Time
		attrs []slog.Attr
	}{
		"bool":        {tm, []slog.Attr{slog.Bool("b", true)}},
		"any":         {tm, []slog.Attr{slog.Any("a", []int{1})}},
		"group":       {tm, []slog.Attr{slog.Group("g", "k", "v")}},
		"empty key":   {tm, []slog.Attr{slog.String("", "v")}},
		"zero time":   {time.Time{}, nil},
		"year 10000":  {time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC), nil},
		"zone a day":  {tm.In(time.FixedZone("", 86400)), nil},
		"zone 5e12 s": {time.Unix(1e9-5e12, 0).In(time.FixedZone("", 5e12)), nil},
	} {
		for _, format := range []string{logText, logJSON} {
			fast, want, ok := fastAndSlog(t, format, tc.tm, slog.LevelInfo, "m", tc.attrs)
			if ok || fast != "" {
				t.Errorf("%s %s: writeRecord = %v and wrote %q, want false and nothing", format, name, ok, fast)
			}
			var out bytes.Buffer
			buf := newLogBuffer(&out, time.Hour, 16<<10)
			defer buf.Close()
			logRecord(context.Background(), newLogger(format, slog.LevelInfo, buf).Handler(), tc.tm, slog.LevelInfo, "m", tc.attrs)
			buf.Flush()
			if out.String() != want {
				t.Errorf("%s %s: logRecord wrote %q, want slog's %q", format, name, out.String(), want)
			}
		}
	}
}

// TestFastRecordFlushesErrors: a record at Error level reaches the writer
// at once, as through slog (flushOnError); one below waits for the flush.
func TestFastRecordFlushesErrors(t *testing.T) {
	var out bytes.Buffer
	buf := newLogBuffer(&out, time.Hour, 16<<10)
	defer buf.Close()
	h := newLogger(logText, slog.LevelInfo, buf).Handler()
	now := time.Now()
	logRecord(context.Background(), h, now, slog.LevelInfo, "held", nil)
	if out.Len() != 0 {
		t.Fatalf("an Info record was written before the flush: %q", out.String())
	}
	logRecord(context.Background(), h, now, slog.LevelError, "failed", nil)
	if got := out.String(); !bytes.Contains([]byte(got), []byte("msg=held")) || !bytes.Contains([]byte(got), []byte("msg=failed")) {
		t.Fatalf("after an Error record the writer holds %q, want both records", got)
	}
}

// FuzzFastRecord: for any message, key, string value, int and duration
// the fast path writes what slog writes, in both formats.
func FuzzFastRecord(f *testing.F) {
	f.Add("http request", "client_id", "demo-app", int64(200), int64(1234567), int64(0))
	f.Add("", "k=v", "a\"b\\c\n\xff\u2028 ", int64(-1), int64(-5), int64(8))
	f.Fuzz(func(t *testing.T, msg, key, value string, n, d, level int64) {
		if key == "" {
			key = "k"
		}
		tm := time.Unix(1796225272, n%1e9).In(time.FixedZone("", int(d%50400)))
		attrs := []slog.Attr{slog.String(key, value), slog.Int64("n", n), slog.Duration("d", time.Duration(d))}
		for _, format := range []string{logText, logJSON} {
			fast, want, ok := fastAndSlog(t, format, tm, slog.Level(level%16), msg, attrs)
			if !ok {
				t.Fatalf("%s: writeRecord refused the record", format)
			}
			if fast != want {
				t.Errorf("%s:\nfast %s\nslog %s", format, fast, want)
			}
		}
	})
}
