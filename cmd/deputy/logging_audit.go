package main

import (
	"context"
	"encoding/hex"
	"errors"
	"log/slog"
	"time"

	"github.com/deputyauth/deputy/engine"
)

// auditHook is engine.SlogHook for the host: the same "deputy exchange"
// record, attribute for attribute and level for level
// (TestAuditHookMatchesSlogHook), with the request id last, as
// requestIDHandler adds it. It hands the record to h (requestIDHandler is
// unwrapped) instead of going through slog.Logger, and checks the level
// before building anything: slog.Logger captures the caller's program
// counter with runtime.Callers, which no deputy handler uses, and adding
// the request id to a record whose attributes were sized for the event
// copies them all. Together they were a large part of the audit event's
// cost per request.
func auditHook(h slog.Handler) func(context.Context, engine.Event) {
	h = baseHandler(h)
	return func(ctx context.Context, e engine.Event) {
		level := auditLevel(e)
		if !h.Enabled(ctx, level) {
			return
		}
		r := slog.NewRecord(time.Now(), level, "deputy exchange", 0)
		// The first five attributes live in the record; the rest go in
		// one slice allocated once, with room for every optional one.
		r.AddAttrs(
			slog.String("outcome", e.Outcome),
			slog.String("grant_type", e.GrantType),
			slog.String("requester", e.Requester),
			slog.String("target", e.Target),
			slog.String("subject", e.Subject),
		)
		var more [10]slog.Attr
		attrs := append(more[:0],
			slog.String("scope", e.Scope),
			slog.String("api_type", e.APIType),
			slog.Duration("latency", e.Latency),
		)
		if e.JTI != "" {
			attrs = append(attrs, slog.String("jti", e.JTI))
		}
		if e.KeyID != "" {
			attrs = append(attrs, slog.String("kid", e.KeyID))
		}
		if e.Reason != "" {
			attrs = append(attrs, slog.String("reason", e.Reason))
		}
		if e.SourceHash != ([32]byte{}) {
			attrs = append(attrs, slog.String("source_sha256", hex.EncodeToString(e.SourceHash[:])))
		}
		if e.Err != nil {
			attrs = append(attrs, slog.String("error", e.Err.Error()))
			var ee *engine.Error
			if errors.As(e.Err, &ee) && ee.Err != nil {
				// Causes come from go-jose and the stores, which may
				// quote what a request sent.
				attrs = append(attrs, slog.String("cause", clip(ee.Err.Error(), 256)))
			}
		}
		if info := infoFrom(ctx); info != nil {
			attrs = append(attrs, slog.String("request_id", info.id))
		}
		r.AddAttrs(attrs...)
		h.Handle(ctx, r)
	}
}

// auditLevel is engine.SlogHook's level for e.
func auditLevel(e engine.Event) slog.Level {
	switch {
	case e.Outcome == "ok":
		return slog.LevelInfo
	case errors.Is(e.Err, context.Canceled):
		// The caller went away: routine, not a server failure.
		return slog.LevelInfo
	case e.Outcome == engine.CodeServerError:
		return slog.LevelError
	}
	return slog.LevelWarn
}
