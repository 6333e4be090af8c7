package engine

import (
	"context"
	"encoding/hex"
	"errors"
	"log/slog"
	"time"
)

// Event describes one decided exchange, for audit logs and metrics. It
// never holds a presented or minted token, nor a secret.
type Event struct {
	// Time is when the exchange started (Config.Now).
	Time time.Time
	// Outcome is "ok" or the error code.
	Outcome string
	// Err is the refusal or failure, nil on success. Its Error() is safe to
	// log; the causes it wraps come from go-jose and the stores.
	Err error
	// GrantType as requested.
	GrantType string
	// Requester and Target are client IDs as requested (not necessarily
	// registered ones), cut to 128 bytes, as are GrantType and APIType.
	Requester, Target string
	// Subject is the user, once the source token has been verified.
	Subject string
	// Scope is the granted scope, once decided.
	Scope string
	// APIType as requested.
	APIType string
	// JTI is the minted token's jti, on success with the built-in minter.
	JTI string
	// SourceHash is the SHA-256 of the presented token (id_token or
	// refresh_token); zero when none was presented.
	SourceHash [32]byte
	// Latency is how long Exchange took.
	Latency time.Duration
}

// SlogHook returns an OnExchange hook that logs each event to l: successes
// and cancellations by the caller at Info, refusals at Warn, other server
// errors at Error.
func SlogHook(l *slog.Logger) func(context.Context, Event) {
	return func(ctx context.Context, e Event) {
		level := slog.LevelInfo
		switch {
		case e.Outcome == "ok":
		case errors.Is(e.Err, context.Canceled):
			// The caller went away: routine, not a server failure.
		case e.Outcome == CodeServerError:
			level = slog.LevelError
		default:
			level = slog.LevelWarn
		}
		attrs := []slog.Attr{
			slog.String("outcome", e.Outcome),
			slog.String("grant_type", e.GrantType),
			slog.String("requester", e.Requester),
			slog.String("target", e.Target),
			slog.String("subject", e.Subject),
			slog.String("scope", e.Scope),
			slog.String("api_type", e.APIType),
			slog.Duration("latency", e.Latency),
		}
		if e.JTI != "" {
			attrs = append(attrs, slog.String("jti", e.JTI))
		}
		if e.SourceHash != ([32]byte{}) {
			attrs = append(attrs, slog.String("source_sha256", hex.EncodeToString(e.SourceHash[:])))
		}
		if e.Err != nil {
			attrs = append(attrs, slog.String("error", e.Err.Error()))
			if cause := unwrapCause(e.Err); cause != nil {
				// Causes come from go-jose and the stores, which may
				// quote what a request sent.
				attrs = append(attrs, slog.String("cause", clip(cause.Error(), 256)))
			}
		}
		l.LogAttrs(ctx, level, "deputy exchange", attrs...)
	}
}

func unwrapCause(err error) error {
	var e *Error
	if errors.As(err, &e) {
		return e.Err
	}
	return nil
}
