package main

import (
	"context"
	"log/slog"
	"time"

	"github.com/deputyauth/deputy/engine"
)

// auditHook is engine.SlogHook for the host: the same "deputy exchange"
// record, attribute for attribute and level for level
// (TestAuditHookMatchesSlogHook), with the request id last, as
// requestIDHandler adds it. It hands the record to h (requestIDHandler is
// unwrapped, and logRecord takes hostHandler's fast path) instead of going
// through slog.Logger, and checks the level
// before building anything: slog.Logger captures the caller's program
// counter with runtime.Callers, which no deputy handler uses, and adding
// the request id to a record whose attributes were sized for the event
// copies them all. Together they were a large part of the audit event's
// cost per request.
func auditHook(h slog.Handler) func(context.Context, engine.Event) {
	h = baseHandler(h)
	return func(ctx context.Context, e engine.Event) {
		level := engine.EventLevel(e)
		if !h.Enabled(ctx, level) {
			return
		}
		// Room for every attribute and the request id, so that none is
		// copied on the way.
		var buf [15]slog.Attr
		attrs := engine.AppendEventAttrs(buf[:0], e)
		if info := infoFrom(ctx); info != nil {
			attrs = append(attrs, slog.String("request_id", info.id))
		}
		logRecord(ctx, h, time.Now(), level, "deputy exchange", attrs)
	}
}
