package engine

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"log/slog"
	"strconv"
	"strings"
	"time"
)

// Event describes one decided exchange, for audit logs and metrics. It
// never holds a presented or minted token, nor a secret.
type Event struct {
	// Time is when the exchange started (Config.Now).
	Time time.Time
	// Outcome is "ok" or the error code: one of the Code* constants.
	Outcome string
	// Err is the refusal or failure, nil on success. Its Error() is safe to
	// log; the causes it wraps come from go-jose and the stores.
	Err error
	// Reason says which check refused or what failed, for logs only: the
	// answer on the wire stays Err's code and description, which are the
	// same for checks a client must not tell apart (an unknown, a disabled
	// and a not-allowing target, say). It is a fixed phrase, naming at
	// most registered names (a scope, a minter) or a request value as
	// LogValue shows it, never a token or a secret: "target disabled",
	// "target does not allow requester", "scope not allowed by target:
	// email", "token signature is invalid", "token expired", "token already
	// used", "requester secret mismatch", "policy refused: …". Empty on
	// success.
	Reason string
	// Dialect is DialectDelegation or DialectTokenExchange, as GrantType
	// chose; empty when the grant type is not supported.
	Dialect string
	// GrantType as requested.
	GrantType string
	// Requester and Target are the registered client IDs once resolved;
	// before that, what the request named (Target: target, else the first
	// audience, else the first resource) as LogValue shows it, as are an
	// unknown GrantType and APIType.
	Requester, Target string
	// RequesterKnown reports that Requester is a registered client that
	// authenticated, TargetKnown that Target is a registered client that
	// accepted the requester. Only then is the ID a value callers cannot
	// choose: a metric label uses an ID only when it is known (see
	// package instrument/prometheus), so that requests cannot create
	// series.
	RequesterKnown, TargetKnown bool
	// Subject is the user, once the source token has been verified.
	Subject string
	// Scope is the granted scope, once decided.
	Scope string
	// APIType as requested.
	APIType string
	// JTI is the minted token's jti, on success with the built-in minter.
	JTI string
	// KeyID is the kid the minted token names, on success with the
	// built-in minter: the key's kid for asymmetric algorithms, the
	// secret's ID for HS*.
	KeyID string
	// SourceHash is the SHA-256 of the presented token (id_token or
	// refresh_token); zero when none was presented.
	SourceHash [32]byte
	// Latency is how long Exchange took.
	Latency time.Duration
}

// Dialects as Event.Dialect names them.
const (
	DialectDelegation    = "delegation"     // GrantTypeJWTBearer, Auth0's /delegation
	DialectTokenExchange = "token-exchange" // GrantTypeTokenExchange, RFC 8693
)

// because sets e's log-only reason (Event.Reason) and returns e.
func (e *Error) because(reason string) *Error {
	e.reason = reason
	return e
}

// Hooks returns one OnExchange hook that calls each non-nil hook in
// order, or nil when there is none, so that an Exchanger without hooks
// skips the work events cost.
func Hooks(hooks ...func(context.Context, Event)) func(context.Context, Event) {
	var hs []func(context.Context, Event)
	for _, h := range hooks {
		if h != nil {
			hs = append(hs, h)
		}
	}
	switch len(hs) {
	case 0:
		return nil
	case 1:
		return hs[0]
	}
	return func(ctx context.Context, e Event) {
		for _, h := range hs {
			h(ctx, e)
		}
	}
}

// SlogHook returns an OnExchange hook that logs each event to l: successes
// and cancellations by the caller at Info, refusals at Warn, other server
// errors at Error (EventLevel). A refusal's line carries its reason, a
// success's the minted token's kid (AppendEventAttrs).
func SlogHook(l *slog.Logger) func(context.Context, Event) {
	return func(ctx context.Context, e Event) {
		level := EventLevel(e)
		if !l.Enabled(ctx, level) {
			return
		}
		// Room for every attribute: appending past the first eight would
		// copy them all.
		var attrs [14]slog.Attr
		l.LogAttrs(ctx, level, "deputy exchange", AppendEventAttrs(attrs[:0], e)...)
	}
}

// EventLevel is the level SlogHook logs e at: Info for a success or a
// cancellation by the caller, Error for any other server_error, Warn for
// a refusal.
func EventLevel(e Event) slog.Level {
	switch {
	case e.Outcome == "ok":
	case errors.Is(e.Err, context.Canceled):
		// The caller went away: routine, not a server failure.
	case e.Outcome == CodeServerError:
		return slog.LevelError
	default:
		return slog.LevelWarn
	}
	return slog.LevelInfo
}

// AppendEventAttrs appends to attrs the attributes SlogHook logs for e, in
// its order, for a host that writes the audit record its own way:
// outcome, grant_type, requester, target, subject, scope, api_type and
// latency always; jti, kid, reason, source_sha256, error and cause when
// set. None holds a token or a secret; cause is clipped to 256 bytes.
func AppendEventAttrs(attrs []slog.Attr, e Event) []slog.Attr {
	attrs = append(attrs,
		slog.String("outcome", e.Outcome),
		slog.String("grant_type", e.GrantType),
		slog.String("requester", e.Requester),
		slog.String("target", e.Target),
		slog.String("subject", e.Subject),
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
		if cause := unwrapCause(e.Err); cause != nil {
			// Causes come from go-jose and the stores, which may quote
			// what a request sent.
			attrs = append(attrs, slog.String("cause", clip(cause.Error(), 256)))
		}
	}
	return attrs
}

func unwrapCause(err error) error {
	var e *Error
	if errors.As(err, &e) {
		return e.Err
	}
	return nil
}

// maxLoggedIdentifier is the longest request value LogValue writes as it
// is. Client IDs are short (Auth0's have 32 characters), while secrets are
// at least 32 bytes and tokens far longer; a registered ID is logged whole
// by whoever has resolved it, so only values nobody has vouched for go
// through LogValue.
const maxLoggedIdentifier = 31

// LogValue returns a request value the way it may appear in a log or an
// Event when nothing has shown it to be a registered identifier: itself
// when it looks like one (at most 31 bytes of letters, digits and
// ".-_:/@|~+"), else "len=N sha256=XXXXXXXX", its length and the first
// four bytes of its SHA-256 in hex. A token or secret pasted into client_id
// or target never reaches a log, yet equal values still correlate.
func LogValue(s string) string {
	if looksLikeIdentifier(s) {
		return s
	}
	d := sha256.Sum256([]byte(s))
	return "len=" + strconv.Itoa(len(s)) + " sha256=" + hex.EncodeToString(d[:4])
}

func looksLikeIdentifier(s string) bool {
	if len(s) > maxLoggedIdentifier {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		case strings.IndexByte(".-_:/@|~+", c) >= 0:
		default:
			return false
		}
	}
	return true
}
