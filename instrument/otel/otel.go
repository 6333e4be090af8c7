// Package otel traces deputy's exchanges with OpenTelemetry: an
// engine.Config.OnExchange hook that records one span per exchange.
//
// The engine reports an exchange once it is decided, so the span is
// recorded after the fact: it ends when the hook runs and starts
// Event.Latency earlier, which is when Exchange was entered, measured by
// the monotonic clock rather than Event.Time (Config.Now may be a test
// clock). Its parent is the span in the context passed to Exchange — an
// HTTP server span, say — so it sits where the exchange happened in the
// request's trace.
//
// Attributes (all strings unless noted):
//
//	deputy.outcome          "ok" or the OAuth error code
//	deputy.dialect          "delegation", "token-exchange" or "unknown"
//	deputy.grant_type       as requested (unknown values as engine.LogValue shows them)
//	deputy.requester        registered client ID, or the request's value as engine.LogValue shows it
//	deputy.requester.known  bool: Event.RequesterKnown
//	deputy.target           as deputy.requester
//	deputy.target.known     bool: Event.TargetKnown
//	deputy.api_type         when one was requested
//	deputy.scope            the granted scope, once decided
//	deputy.kid              the minted token's kid, on success
//	deputy.jti              the minted token's jti, on success
//	deputy.reason           on a refusal or failure: Event.Reason
//	deputy.subject          the user, only with Options.Subject
//	error.type              the OAuth error code, when not "ok"
//
// A span never carries a presented or minted token, a secret, nor the
// cause of an error (which may quote a request); server_error sets the
// span's status to Error with the reason as description, while refusals
// leave it unset, as an HTTP server leaves 4xx answers.
//
// The package is a nested module so that deputy's core does not depend
// on OpenTelemetry.
package otel

import (
	"context"
	"time"

	otelapi "go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"github.com/deputyauth/deputy/engine"
)

// SpanName is the name of every exchange span.
const SpanName = "deputy.exchange"

// ScopeName is the instrumentation scope the tracer is created with.
const ScopeName = "github.com/deputyauth/deputy/instrument/otel"

// Attribute keys, for queries and tests.
const (
	KeyOutcome        = attribute.Key("deputy.outcome")
	KeyDialect        = attribute.Key("deputy.dialect")
	KeyGrantType      = attribute.Key("deputy.grant_type")
	KeyRequester      = attribute.Key("deputy.requester")
	KeyRequesterKnown = attribute.Key("deputy.requester.known")
	KeyTarget         = attribute.Key("deputy.target")
	KeyTargetKnown    = attribute.Key("deputy.target.known")
	KeyAPIType        = attribute.Key("deputy.api_type")
	KeyScope          = attribute.Key("deputy.scope")
	KeyKeyID          = attribute.Key("deputy.kid")
	KeyJTI            = attribute.Key("deputy.jti")
	KeyReason         = attribute.Key("deputy.reason")
	KeySubject        = attribute.Key("deputy.subject")
	KeyErrorType      = attribute.Key("error.type")
)

// Options configure a Tracer. The zero value traces with the global
// TracerProvider and leaves the subject out.
type Options struct {
	// TracerProvider creates the tracer; nil means otel.GetTracerProvider()
	// as it is when New is called.
	TracerProvider trace.TracerProvider
	// Subject adds deputy.subject, the user's identifier, to spans. It is
	// personal data that a tracing backend may keep longer and show more
	// widely than the audit log does, hence off by default.
	Subject bool
	// Now returns the current time, the end of every span; nil means
	// time.Now. For tests.
	Now func() time.Time
}

// Tracer records exchange spans. Its OnExchange method is the hook; it is
// safe for concurrent use.
type Tracer struct {
	tracer  trace.Tracer
	subject bool
	now     func() time.Time
}

// New returns a Tracer.
func New(opts Options) *Tracer {
	tp := opts.TracerProvider
	if tp == nil {
		tp = otelapi.GetTracerProvider()
	}
	now := opts.Now
	if now == nil {
		now = time.Now
	}
	return &Tracer{tracer: tp.Tracer(ScopeName), subject: opts.Subject, now: now}
}

// OnExchange records the span of one exchange. Set it as (or fan it out
// with engine.Hooks into) engine.Config.OnExchange.
func (t *Tracer) OnExchange(ctx context.Context, e engine.Event) {
	end := t.now()
	// Attributes are set after Start rather than passed to it, so that an
	// exchange the sampler drops costs no attribute building; a sampler
	// therefore sees none of them.
	_, span := t.tracer.Start(ctx, SpanName,
		trace.WithTimestamp(end.Add(-e.Latency)),
		trace.WithSpanKind(trace.SpanKindInternal))
	if !span.IsRecording() {
		return
	}
	dialect := e.Dialect
	if dialect == "" {
		dialect = "unknown"
	}
	attrs := make([]attribute.KeyValue, 0, 14)
	attrs = append(attrs,
		KeyOutcome.String(e.Outcome),
		KeyDialect.String(dialect),
		KeyGrantType.String(e.GrantType),
		KeyRequester.String(e.Requester),
		KeyRequesterKnown.Bool(e.RequesterKnown),
		KeyTarget.String(e.Target),
		KeyTargetKnown.Bool(e.TargetKnown),
	)
	optional := [...]struct {
		k attribute.Key
		v string
	}{
		{KeyAPIType, e.APIType}, {KeyScope, e.Scope}, {KeyKeyID, e.KeyID}, {KeyJTI, e.JTI}, {KeyReason, e.Reason},
	}
	for _, o := range optional {
		if o.v != "" {
			attrs = append(attrs, o.k.String(o.v))
		}
	}
	if t.subject && e.Subject != "" {
		attrs = append(attrs, KeySubject.String(e.Subject))
	}
	if e.Outcome != "ok" {
		attrs = append(attrs, KeyErrorType.String(e.Outcome))
	}
	span.SetAttributes(attrs...)
	if e.Outcome == engine.CodeServerError {
		// Reason is a fixed phrase; the error's cause is left out, as it
		// may quote what a request sent.
		span.SetStatus(codes.Error, e.Reason)
	}
	span.End(trace.WithTimestamp(end))
}
