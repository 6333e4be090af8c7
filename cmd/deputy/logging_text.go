package main

import (
	"context"
	"log/slog"
	"strconv"
	"sync"
	"time"
	"unicode"
	"unicode/utf8"
)

// fastText is slog's TextHandler with a shorter path for the records
// deputy serve writes on every request (the access log and the audit
// event): attributes that are strings, integers, booleans and durations,
// no groups, no With. It writes those records byte for byte as the
// TextHandler does (TestFastTextMatchesSlog, FuzzFastText) and hands every
// other record, and every derived handler, to the TextHandler itself. The
// two log lines were a fifth of a delegation's time in the handler, most
// of it slog's general machinery per attribute.
//
// It writes each record with one Write to a *logBuffer, which serializes
// writes (slog's handler does that with its own lock, which this one cannot
// share), so records from both paths never interleave.
type fastText struct {
	*slog.TextHandler // Enabled, WithAttrs, WithGroup, and records off the fast path
	w                 *logBuffer
}

// newFastText returns a text handler on w with the given options; only
// Level may be set in opts.
func newFastText(w *logBuffer, opts *slog.HandlerOptions) slog.Handler {
	return fastText{slog.NewTextHandler(w, opts), w}
}

var fastTextBufs = sync.Pool{New: func() any { b := make([]byte, 0, 1024); return &b }}

func (h fastText) Handle(ctx context.Context, r slog.Record) error {
	bp := fastTextBufs.Get().(*[]byte)
	b, ok := appendTextRecord((*bp)[:0], r)
	var err error
	if ok {
		_, err = h.w.Write(b)
	} else {
		err = h.TextHandler.Handle(ctx, r)
	}
	if cap(b) <= 64<<10 {
		*bp = b
		fastTextBufs.Put(bp)
	}
	return err
}

// appendTextRecord appends r as slog's TextHandler (with no ReplaceAttr,
// AddSource, groups or With attributes) writes it, and reports whether
// every attribute was of a kind it formats.
func appendTextRecord(b []byte, r slog.Record) ([]byte, bool) {
	if !r.Time.IsZero() {
		b = append(b, "time="...)
		b = appendRFC3339Millis(b, r.Time.Round(0))
		b = append(b, ' ')
	}
	b = append(b, "level="...)
	b = appendTextString(b, r.Level.String())
	b = append(b, " msg="...)
	b = appendTextString(b, r.Message)
	ok := true
	r.Attrs(func(a slog.Attr) bool {
		v := a.Value
		switch v.Kind() {
		case slog.KindString, slog.KindInt64, slog.KindUint64, slog.KindBool, slog.KindDuration:
		default:
			ok = false // time, float, any, group, LogValuer: slog's own path
			return false
		}
		b = append(b, ' ')
		b = appendTextString(b, a.Key)
		b = append(b, '=')
		switch v.Kind() {
		case slog.KindString:
			b = appendTextString(b, v.String())
		case slog.KindInt64:
			b = strconv.AppendInt(b, v.Int64(), 10)
		case slog.KindUint64:
			b = strconv.AppendUint(b, v.Uint64(), 10)
		case slog.KindBool:
			b = strconv.AppendBool(b, v.Bool())
		case slog.KindDuration:
			b = append(b, v.Duration().String()...)
		}
		return true
	})
	return append(b, '\n'), ok
}

// appendTextString appends s as slog's TextHandler writes a string: as it
// is, or quoted (strconv.Quote) when it is empty or holds a space, '=',
// '"', a control character, invalid UTF-8 or a non-printing or space rune.
func appendTextString(b []byte, s string) []byte {
	if textNeedsQuoting(s) {
		return strconv.AppendQuote(b, s)
	}
	return append(b, s...)
}

// textNeedsQuoting is log/slog's needsQuoting: ASCII needs quoting when
// JSON would escape it (control characters, '"'; a backslash excepted),
// and for a space and '='.
func textNeedsQuoting(s string) bool {
	if len(s) == 0 {
		return true
	}
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if textQuoted[c] {
				return true
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError || unicode.IsSpace(r) || !unicode.IsPrint(r) {
			return true
		}
		i += size
	}
	return false
}

// textQuoted marks the ASCII bytes textNeedsQuoting quotes for.
var textQuoted = func() (q [utf8.RuneSelf]bool) {
	for c := range q {
		q[c] = c < 0x20 || c == ' ' || c == '=' || c == '"'
	}
	return q
}()

// appendRFC3339Millis is log/slog's: RFC 3339 with exactly three
// fractional digits.
func appendRFC3339Millis(b []byte, t time.Time) []byte {
	// RFC3339Nano trims trailing zeros: adding a tenth of a millisecond
	// makes four digits, and the fourth is dropped.
	const prefixLen = len("2006-01-02T15:04:05.000")
	n := len(b)
	t = t.Truncate(time.Millisecond).Add(time.Millisecond / 10)
	b = t.AppendFormat(b, time.RFC3339Nano)
	return append(b[:n+prefixLen], b[n+prefixLen+1:]...)
}
