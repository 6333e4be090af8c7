package main

import (
	"bytes"
	"context"
	"log/slog"
	"math"
	"testing"
	"time"
)

// textCase is one record for the fast text handler and slog's to write.
type textCase struct {
	t     time.Time
	level slog.Level
	msg   string
	attrs []slog.Attr
}

// compareText writes c through fastText and through slog.TextHandler and
// reports a difference.
func compareText(t *testing.T, c textCase) {
	t.Helper()
	var want bytes.Buffer
	slogH := slog.NewTextHandler(&want, nil)
	var got countingWriter
	buf := newLogBuffer(&got, time.Hour, 1<<20)
	fast := newFastText(buf, nil)
	for _, h := range []slog.Handler{slogH, fast} {
		r := slog.NewRecord(c.t, c.level, c.msg, 0)
		r.AddAttrs(c.attrs...)
		if err := h.Handle(context.Background(), r); err != nil {
			t.Fatal(err)
		}
	}
	buf.Flush()
	if out := got.got(); len(out) != 1 || out[0] != want.String() {
		t.Errorf("fastText wrote %q\nslog wrote     %q", out, want.String())
	}
}

func TestFastTextMatchesSlog(t *testing.T) {
	when := time.Date(2026, 12, 2, 14, 13, 22, 123456789, time.UTC)
	zones := []*time.Location{time.UTC, time.FixedZone("", -(7*3600 + 30*60)), time.FixedZone("X", 5*3600)}
	strs := []string{"", "plain", "with space", "a=b", `quote"d`, `back\slash`, "tab\there", "nl\n", "\x00", "\x7f", "é", "日本", "\u00a0nbsp", "\u2028", "\xff", "len=40 sha256=0a1b2c3d", "/delegation", "127.0.0.1:5555"}
	for _, z := range zones {
		for _, ns := range []int{0, 1, 999999, 1000000, 999999999} {
			compareText(t, textCase{t: when.In(z).Add(time.Duration(ns)), level: slog.LevelInfo, msg: "http request"})
		}
	}
	compareText(t, textCase{level: slog.LevelWarn, msg: "zero time"})
	for _, l := range []slog.Level{slog.LevelDebug, slog.LevelInfo, slog.LevelWarn, slog.LevelError, slog.LevelInfo + 2, slog.LevelError + 4, -8} {
		compareText(t, textCase{t: when, level: l, msg: "deputy exchange"})
	}
	for _, s := range strs {
		compareText(t, textCase{t: when, msg: s, attrs: []slog.Attr{slog.String(s, s), slog.String("k", s)}})
	}
	compareText(t, textCase{t: when, msg: "kinds", attrs: []slog.Attr{
		slog.Int("status", 200), slog.Int64("neg", -42), slog.Uint64("max", math.MaxUint64), slog.Bool("ok", true), slog.Bool("no", false),
		slog.Duration("latency", 1234567*time.Nanosecond), slog.Duration("zero", 0), slog.Duration("µs", 1500), slog.Duration("neg", -time.Hour),
	}})
	// Off the fast path: slog's handler writes them, so they match too.
	compareText(t, textCase{t: when, msg: "other kinds", attrs: []slog.Attr{
		slog.String("first", "fast"), slog.Float64("f", 1.5), slog.Time("at", when), slog.Any("any", []int{1}),
		slog.Group("g", slog.String("a", "b")), slog.Any("nil", nil),
	}})
}

// FuzzFastText: for any message, key and string value, fastText writes
// what slog's TextHandler writes.
func FuzzFastText(f *testing.F) {
	f.Add("http request", "path", "/delegation", int64(200), int64(1500))
	f.Add("", "", "", int64(0), int64(0))
	f.Add("a b", "k=v", "\"\\\x00é\xff\u2028", int64(-1), int64(-1))
	f.Fuzz(func(t *testing.T, msg, key, val string, n, d int64) {
		compareText(t, textCase{t: time.Unix(0, n).UTC(), level: slog.Level(n % 16), msg: msg, attrs: []slog.Attr{
			slog.String(key, val), slog.Int64(key, n), slog.Duration(val, time.Duration(d)), slog.Bool(msg, n%2 == 0),
		}})
	})
}
