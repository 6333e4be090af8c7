package main

import (
	"context"
	"log/slog"
	"strconv"
	"sync"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/deputyauth/deputy/internal/jsonstr"
)

// hostHandler is the handler of serve's logger: slog's text or JSON
// handler on w, flushing a logBuffer after each record at Error or above
// so that a failure is written at once, plus a fast path for the two
// records every request writes, the access log and the audit event.
//
// Through slog.Record those two cost about 2.5 µs each, which under load
// was a tenth of the host's throughput: the attributes are copied into the
// record and walked back out one callback at a time. writeRecord appends
// them straight into one buffer, in the bytes slog's handler would write
// for the same record (TestFastRecordMatchesSlog, FuzzFastRecord), and
// hands the line to w in one Write, as slog does.
type hostHandler struct {
	flushOnError      // slog's TextHandler or JSONHandler on the process's writer
	json         bool // the handler is slog's JSONHandler
}

// flushOnError is slog's handler flushing buf, when it is not nil, after
// each record at Error or above. Handlers derived from a hostHandler with
// WithAttrs or WithGroup are flushOnErrors: the fast path knows no
// attributes or groups but a record's own.
type flushOnError struct {
	slog.Handler
	buf *logBuffer // nil: the writer is not a logBuffer, and there is no fast path
}

func (h flushOnError) Handle(ctx context.Context, r slog.Record) error {
	err := h.Handler.Handle(ctx, r)
	if h.buf != nil && r.Level >= slog.LevelError {
		h.buf.Flush()
	}
	return err
}

func (h flushOnError) WithAttrs(as []slog.Attr) slog.Handler {
	return flushOnError{h.Handler.WithAttrs(as), h.buf}
}

func (h flushOnError) WithGroup(name string) slog.Handler {
	return flushOnError{h.Handler.WithGroup(name), h.buf}
}

// logRecord hands a record to h, whose Enabled the caller has checked:
// through hostHandler's fast path when h is one and the attributes allow
// it, else as a slog.Record.
func logRecord(ctx context.Context, h slog.Handler, t time.Time, level slog.Level, msg string, attrs []slog.Attr) {
	if hh, ok := h.(hostHandler); ok && hh.writeRecord(t, level, msg, attrs) {
		return
	}
	r := slog.NewRecord(t, level, msg, 0)
	r.AddAttrs(attrs...)
	h.Handle(ctx, r)
}

// logLines holds writeRecord's buffers; one grown past maxPooledLine is
// left to the collector.
var logLines = sync.Pool{New: func() any { b := make([]byte, 0, 1024); return &b }}

const maxPooledLine = 8 << 10

// writeRecord writes the record as h's slog handler would and reports
// whether it did. It writes nothing and returns false when h has no fast
// path or when the record has what it does not write: an attribute that
// is not a string, an int or a duration, an empty key, a zero time, a
// year other than four digits, or a zone offset of a day or more (no
// real zone has one; only time.FixedZone makes them).
func (h hostHandler) writeRecord(t time.Time, level slog.Level, msg string, attrs []slog.Attr) bool {
	if h.buf == nil || t.IsZero() || t.Year() < 0 || t.Year() > 9999 {
		return false
	}
	if _, offset := t.Zone(); offset <= -86400 || offset >= 86400 {
		return false
	}
	for _, a := range attrs {
		switch a.Value.Kind() {
		case slog.KindString, slog.KindInt64, slog.KindDuration:
		default:
			return false
		}
		if a.Key == "" {
			return false
		}
	}
	bp := logLines.Get().(*[]byte)
	b := (*bp)[:0]
	t = t.Round(0) // as slog: no monotonic reading
	if h.json {
		b = append(b, `{"time":"`...)
		b = appendTime(b, t, false)
		b = append(b, `","level":`...)
		b = jsonstr.AppendNoHTML(b, level.String())
		b = append(b, `,"msg":`...)
		b = jsonstr.AppendNoHTML(b, msg)
		for _, a := range attrs {
			b = append(b, ',')
			b = jsonstr.AppendNoHTML(b, a.Key)
			b = append(b, ':')
			switch a.Value.Kind() {
			case slog.KindString:
				b = jsonstr.AppendNoHTML(b, a.Value.String())
			case slog.KindInt64:
				b = strconv.AppendInt(b, a.Value.Int64(), 10)
			case slog.KindDuration:
				b = strconv.AppendInt(b, int64(a.Value.Duration()), 10)
			}
		}
		b = append(b, "}\n"...)
	} else {
		b = append(b, "time="...)
		b = appendTime(b, t, true)
		b = append(b, " level="...)
		b = appendTextString(b, level.String())
		b = append(b, " msg="...)
		b = appendTextString(b, msg)
		for _, a := range attrs {
			b = append(b, ' ')
			b = appendTextString(b, a.Key)
			b = append(b, '=')
			switch a.Value.Kind() {
			case slog.KindString:
				b = appendTextString(b, a.Value.String())
			case slog.KindInt64:
				b = strconv.AppendInt(b, a.Value.Int64(), 10)
			case slog.KindDuration:
				b = append(b, a.Value.Duration().String()...)
			}
		}
		b = append(b, '\n')
	}
	h.buf.Write(b)
	if level >= slog.LevelError {
		h.buf.Flush()
	}
	if cap(b) <= maxPooledLine {
		*bp = b
		logLines.Put(bp)
	}
	return true
}

// appendTextString appends s as slog's text handler writes a key or a
// string value: as it is, or quoted by strconv when it is empty or holds
// a space, '=', '"', a byte below 0x20 (DEL is left as it is, as slog
// leaves it), invalid UTF-8 (or U+FFFD itself), or a Unicode space or
// non-printing character. Quoting is what keeps a value taken from a
// request from starting a line or an attribute of its own.
func appendTextString(b []byte, s string) []byte {
	if textNeedsQuotes(s) {
		return strconv.AppendQuote(b, s)
	}
	return append(b, s...)
}

// textQuoted marks the ASCII bytes that make slog quote a text value.
var textQuoted = func() (q [utf8.RuneSelf]bool) {
	for c := range q {
		q[c] = c <= ' ' || c == '=' || c == '"'
	}
	return q
}()

func textNeedsQuotes(s string) bool {
	if s == "" {
		return true
	}
	for i := 0; i < len(s); {
		if c := s[i]; c < utf8.RuneSelf {
			if textQuoted[c] {
				return true
			}
			i++
			continue
		}
		r, n := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError || unicode.IsSpace(r) || !unicode.IsPrint(r) {
			return true
		}
		i += n
	}
	return false
}

// appendTime appends t in RFC 3339 as slog's handlers write a record's
// time: to the millisecond (truncated) for text, with the nanoseconds
// and no trailing zeros (time.RFC3339Nano) for JSON; Z for UTC, else the
// offset. The year has four digits and the offset is under a day
// (writeRecord checks).
func appendTime(b []byte, t time.Time, millis bool) []byte {
	year, month, day := t.Date()
	hour, min, sec := t.Clock()
	b = appendDigits(b, year, 4)
	b = append(b, '-')
	b = appendDigits(b, int(month), 2)
	b = append(b, '-')
	b = appendDigits(b, day, 2)
	b = append(b, 'T')
	b = appendDigits(b, hour, 2)
	b = append(b, ':')
	b = appendDigits(b, min, 2)
	b = append(b, ':')
	b = appendDigits(b, sec, 2)
	if ns := t.Nanosecond(); millis {
		b = append(b, '.')
		b = appendDigits(b, ns/1e6, 3)
	} else if ns != 0 {
		b = append(b, '.')
		digits := 9
		for ns%10 == 0 {
			ns /= 10
			digits--
		}
		b = appendDigits(b, ns, digits)
	}
	_, offset := t.Zone()
	if offset == 0 {
		return append(b, 'Z')
	}
	// RFC 3339 offsets are minutes: the seconds of an offset are dropped
	// (toward zero, sign and all), as by time.Format.
	zone, sign := offset/60, byte('+')
	if zone < 0 {
		zone, sign = -zone, '-'
	}
	b = append(b, sign)
	b = appendDigits(b, zone/60, 2)
	b = append(b, ':')
	return appendDigits(b, zone%60, 2)
}

// appendDigits appends n >= 0 in decimal, zero-padded to width digits.
func appendDigits(b []byte, n, width int) []byte {
	var d [9]byte
	i := len(d)
	for n > 0 || i > len(d)-width {
		i--
		d[i] = byte('0' + n%10)
		n /= 10
	}
	return append(b, d[i:]...)
}
