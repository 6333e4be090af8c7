package otel_test

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
	"github.com/google/go-cmp/cmp"
	"go.opentelemetry.io/otel/codes"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/deputyauth/deputy/engine"
	deputyotel "github.com/deputyauth/deputy/instrument/otel"
	"github.com/deputyauth/deputy/store"
)

var fixedNow = time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)

// world is an engine over an app and an API that allows it, both HS256,
// traced into rec.
type world struct {
	x          *engine.Exchanger
	appSecret  []byte
	apiSecret  []byte
	rec        *tracetest.SpanRecorder
	tp         *sdktrace.TracerProvider
	clientsErr error // when set, the client store fails with it
	st         *store.Memory
}

func (w *world) Client(ctx context.Context, id string) (*store.Client, error) {
	if w.clientsErr != nil {
		return nil, w.clientsErr
	}
	return w.st.Client(ctx, id)
}

func newWorld(t testing.TB, opts deputyotel.Options) *world {
	t.Helper()
	w := &world{appSecret: make([]byte, 32), apiSecret: make([]byte, 32), rec: tracetest.NewSpanRecorder(), st: store.NewMemory()}
	rand.Read(w.appSecret)
	rand.Read(w.apiSecret)
	w.tp = sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(w.rec))
	t.Cleanup(func() { w.tp.Shutdown(context.Background()) })
	for _, c := range []store.Client{
		{ID: "app", SigningAlg: "HS256", Secrets: []store.Secret{{ID: "app-s1", Value: w.appSecret}}, Grants: []string{engine.GrantTypeJWTBearer}},
		{ID: "api", SigningAlg: "HS256", Secrets: []store.Secret{{ID: "api-s1", Value: w.apiSecret}}, AllowedSources: []string{"app"}},
	} {
		if err := w.st.PutClient(c); err != nil {
			t.Fatal(err)
		}
	}
	opts.TracerProvider = w.tp
	x, err := engine.New(engine.Config{
		Issuer: "https://id.example.com/", Clients: w, Keys: w.st,
		Now:        func() time.Time { return fixedNow },
		OnExchange: deputyotel.New(opts).OnExchange,
	})
	if err != nil {
		t.Fatal(err)
	}
	w.x = x
	return w
}

func (w *world) idToken(t testing.TB) string {
	t.Helper()
	s, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.HS256, Key: jose.JSONWebKey{Key: w.appSecret, KeyID: "app-s1"}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	tok, err := jwt.Signed(s).Claims(jwt.Claims{
		Issuer: "https://id.example.com/", Subject: "auth0|ada", Audience: jwt.Audience{"app"},
		IssuedAt: jwt.NewNumericDate(fixedNow), Expiry: jwt.NewNumericDate(fixedNow.Add(time.Hour)), ID: rand.Text(),
	}).Serialize()
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func attrs(s sdktrace.ReadOnlySpan) map[string]any {
	m := map[string]any{}
	for _, kv := range s.Attributes() {
		m[string(kv.Key)] = kv.Value.AsInterface()
	}
	return m
}

// TestSpans runs a success, refusals and a server error through a real
// engine and compares each span's attributes and status.
func TestSpans(t *testing.T) {
	w := newWorld(t, deputyotel.Options{})
	tok := w.idToken(t)
	res, err := w.x.Exchange(context.Background(), &engine.Request{GrantType: engine.GrantTypeJWTBearer, ClientID: "app", IDToken: tok, Target: "api", Scope: "openid"})
	if err != nil {
		t.Fatal(err)
	}
	secretText := "not-the-secret-" + rand.Text()
	refusals := []*engine.Request{
		{GrantType: engine.GrantTypeJWTBearer, ClientID: "app", IDToken: w.idToken(t), Target: "ghost"},
		{GrantType: engine.GrantTypeJWTBearer, ClientID: "app", IDToken: w.idToken(t), Target: "api", ClientSecret: secretText},
		{GrantType: "password", ClientID: "app"},
		// A token pasted where an ID goes reaches the span only as
		// engine.LogValue shows it.
		{GrantType: engine.GrantTypeJWTBearer, ClientID: tok, IDToken: w.idToken(t), Target: "api"},
	}
	for _, req := range refusals {
		if _, err := w.x.Exchange(context.Background(), req); err == nil {
			t.Fatalf("%+v: want a refusal", req)
		}
	}
	w.clientsErr = errors.New("db down at 10.0.0.7: relation clients " + tok)
	if _, err := w.x.Exchange(context.Background(), &engine.Request{GrantType: engine.GrantTypeJWTBearer, ClientID: "app", IDToken: w.idToken(t), Target: "api"}); err == nil {
		t.Fatal("want a server error")
	}

	spans := w.rec.Ended()
	if len(spans) != 6 {
		t.Fatalf("got %d spans, want 6", len(spans))
	}
	minted, err := jwt.ParseSigned(res.IDToken, []jose.SignatureAlgorithm{jose.HS256})
	if err != nil {
		t.Fatal(err)
	}
	var mc jwt.Claims
	if err := minted.Claims(w.apiSecret, &mc); err != nil {
		t.Fatal(err)
	}
	base := func(outcome, dialect, grantType, requester string, rk bool, target string, tk bool) map[string]any {
		m := map[string]any{
			"deputy.outcome": outcome, "deputy.dialect": dialect, "deputy.grant_type": grantType,
			"deputy.requester": requester, "deputy.requester.known": rk, "deputy.target": target, "deputy.target.known": tk,
		}
		if outcome != "ok" {
			m["error.type"] = outcome
		}
		return m
	}
	with := func(m map[string]any, kv ...any) map[string]any {
		for i := 0; i < len(kv); i += 2 {
			m[kv[i].(string)] = kv[i+1]
		}
		return m
	}
	want := []struct {
		attrs  map[string]any
		status sdktrace.Status
	}{
		{with(base("ok", "delegation", engine.GrantTypeJWTBearer, "app", true, "api", true),
			"deputy.scope", "openid", "deputy.kid", "api-s1", "deputy.jti", mc.ID), sdktrace.Status{Code: codes.Unset}},
		{with(base(engine.CodeInvalidTarget, "delegation", engine.GrantTypeJWTBearer, "app", true, "ghost", false),
			"deputy.reason", "target unknown"), sdktrace.Status{Code: codes.Unset}},
		{with(base(engine.CodeInvalidClient, "delegation", engine.GrantTypeJWTBearer, "app", false, "api", false),
			"deputy.reason", "requester secret mismatch"), sdktrace.Status{Code: codes.Unset}},
		{with(base(engine.CodeUnsupportedGrantType, "unknown", "password", "app", false, "", false),
			"deputy.reason", "grant_type not supported"), sdktrace.Status{Code: codes.Unset}},
		{with(base(engine.CodeInvalidClient, "delegation", engine.GrantTypeJWTBearer, engine.LogValue(tok), false, "api", false),
			"deputy.reason", "requester unknown"), sdktrace.Status{Code: codes.Unset}},
		{with(base(engine.CodeServerError, "delegation", engine.GrantTypeJWTBearer, "app", false, "api", false),
			"deputy.reason", "client store failed"), sdktrace.Status{Code: codes.Error, Description: "client store failed"}},
	}
	for i, s := range spans {
		if s.Name() != deputyotel.SpanName || s.SpanKind() != trace.SpanKindInternal {
			t.Errorf("span %d: name %q kind %v", i, s.Name(), s.SpanKind())
		}
		if diff := cmp.Diff(want[i].attrs, attrs(s)); diff != "" {
			t.Errorf("span %d attributes (-want +got):\n%s", i, diff)
		}
		if diff := cmp.Diff(want[i].status, s.Status()); diff != "" {
			t.Errorf("span %d status (-want +got):\n%s", i, diff)
		}
		if got := s.InstrumentationScope().Name; got != deputyotel.ScopeName {
			t.Errorf("span %d scope %q", i, got)
		}
	}

	// Nothing secret anywhere in what was recorded.
	var all strings.Builder
	for _, s := range spans {
		fmt.Fprintf(&all, "%s %v %v %v %v\n", s.Name(), s.Attributes(), s.Status(), s.Events(), s.Links())
	}
	secrets := []string{tok, res.IDToken, string(w.appSecret), string(w.apiSecret), secretText, "db down", "10.0.0.7"}
	for _, part := range strings.Split(tok, ".") {
		secrets = append(secrets, part)
	}
	for _, part := range strings.Split(res.IDToken, ".") {
		secrets = append(secrets, part)
	}
	for _, req := range refusals {
		secrets = append(secrets, req.IDToken)
	}
	for _, sec := range secrets {
		if sec != "" && strings.Contains(all.String(), sec) {
			t.Errorf("a recorded span holds %.20q…:\n%s", sec, all.String())
		}
	}
}

// TestSpanTimingAndParent: the span is a child of the span in the
// exchange's context and lasts Event.Latency, ending when the hook ran.
func TestSpanTimingAndParent(t *testing.T) {
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	defer tp.Shutdown(context.Background())
	end := time.Date(2026, 12, 2, 13, 0, 0, 0, time.UTC)
	tr := deputyotel.New(deputyotel.Options{TracerProvider: tp, Subject: true, Now: func() time.Time { return end }})
	ctx, parent := tp.Tracer("host").Start(context.Background(), "POST /oauth/token")
	tr.OnExchange(ctx, engine.Event{
		Time: time.Unix(0, 0), Outcome: "ok", Dialect: engine.DialectTokenExchange, GrantType: engine.GrantTypeTokenExchange,
		Requester: "svc", RequesterKnown: true, Target: "api", TargetKnown: true, Subject: "auth0|ada",
		APIType: "", Scope: "openid", Latency: 1500 * time.Microsecond,
	})
	parent.End()
	spans := rec.Ended()
	if len(spans) != 2 {
		t.Fatalf("got %d spans, want 2", len(spans))
	}
	s := spans[0]
	if s.Parent().SpanID() != parent.SpanContext().SpanID() || s.SpanContext().TraceID() != parent.SpanContext().TraceID() {
		t.Errorf("span's parent %v, want %v", s.Parent(), parent.SpanContext())
	}
	if !s.EndTime().Equal(end) || s.EndTime().Sub(s.StartTime()) != 1500*time.Microsecond {
		t.Errorf("span runs %v to %v, want %v for 1.5ms", s.StartTime(), s.EndTime(), end)
	}
	if got := attrs(s)["deputy.subject"]; got != "auth0|ada" {
		t.Errorf("deputy.subject = %v with Options.Subject", got)
	}
	if _, ok := attrs(s)["deputy.api_type"]; ok {
		t.Error("an empty api_type was recorded")
	}
}

func TestSubjectOffByDefault(t *testing.T) {
	w := newWorld(t, deputyotel.Options{})
	if _, err := w.x.Exchange(context.Background(), &engine.Request{GrantType: engine.GrantTypeJWTBearer, ClientID: "app", IDToken: w.idToken(t), Target: "api"}); err != nil {
		t.Fatal(err)
	}
	for _, s := range w.rec.Ended() {
		for _, kv := range s.Attributes() {
			if kv.Key == deputyotel.KeySubject || kv.Value.String() == "auth0|ada" {
				t.Errorf("span holds the subject: %v", kv)
			}
		}
	}
}

func BenchmarkOnExchange(b *testing.B) {
	e := engine.Event{
		Outcome: "ok", Dialect: engine.DialectDelegation, GrantType: engine.GrantTypeJWTBearer,
		Requester: "app", RequesterKnown: true, Target: "api", TargetKnown: true,
		Scope: "openid email", KeyID: "api-s1", JTI: "0123456789abcdef0123456789", Latency: time.Millisecond,
	}
	for _, bc := range []struct {
		name string
		tp   trace.TracerProvider
	}{
		{"sampled", sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(discard{}))},
		{"not sampled", sdktrace.NewTracerProvider(sdktrace.WithSampler(sdktrace.NeverSample()))},
	} {
		b.Run(bc.name, func(b *testing.B) {
			tr := deputyotel.New(deputyotel.Options{TracerProvider: bc.tp})
			ctx := context.Background()
			b.ReportAllocs()
			for b.Loop() {
				tr.OnExchange(ctx, e)
			}
		})
	}
}

// discard is a span processor that drops every span, so the benchmark
// measures the hook and the SDK rather than an exporter.
type discard struct{}

func (discard) OnStart(context.Context, sdktrace.ReadWriteSpan) {}
func (discard) OnEnd(sdktrace.ReadOnlySpan)                     {}
func (discard) Shutdown(context.Context) error                  { return nil }
func (discard) ForceFlush(context.Context) error                { return nil }
