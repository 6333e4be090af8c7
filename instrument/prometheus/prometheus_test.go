package prometheus_test

import (
	"context"
	"crypto/rand"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
	prom "github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/deputyauth/deputy/engine"
	deputyprom "github.com/deputyauth/deputy/instrument/prometheus"
	"github.com/deputyauth/deputy/store"
)

func newMetrics(t testing.TB, opts deputyprom.Options) (*prom.Registry, *deputyprom.Metrics) {
	t.Helper()
	reg := prom.NewPedanticRegistry()
	m, err := deputyprom.New(reg, opts)
	if err != nil {
		t.Fatal(err)
	}
	return reg, m
}

// events is a mix of outcomes, with requester and target values a caller
// chose (not known) as well as registered ones.
func events() []engine.Event {
	return []engine.Event{
		{Outcome: "ok", Dialect: engine.DialectDelegation, Requester: "app", RequesterKnown: true, Target: "api", TargetKnown: true, KeyID: "api-s1", Latency: 50 * time.Microsecond},
		{Outcome: "ok", Dialect: engine.DialectDelegation, Requester: "app", RequesterKnown: true, Target: "api", TargetKnown: true, KeyID: "api-s2", Latency: 2 * time.Millisecond},
		{Outcome: "ok", Dialect: engine.DialectTokenExchange, Requester: "svc", RequesterKnown: true, Target: "api", TargetKnown: true, KeyID: "rsa-1", Latency: 20 * time.Millisecond},
		{Outcome: engine.CodeInvalidTarget, Dialect: engine.DialectDelegation, Requester: "app", RequesterKnown: true, Target: "made-up-by-caller", Latency: time.Millisecond},
		{Outcome: engine.CodeInvalidClient, Dialect: engine.DialectTokenExchange, Requester: "len=4000 sha256=0badc0de", Target: "api", Latency: time.Millisecond},
		{Outcome: engine.CodeUnsupportedGrantType, GrantType: "password", Requester: "x", Latency: time.Microsecond},
		{Outcome: "not_an_engine_code", Dialect: "weird", Latency: time.Microsecond},
	}
}

func TestDefaultLabels(t *testing.T) {
	reg, m := newMetrics(t, deputyprom.Options{Buckets: []float64{0.001, 0.01}})
	for _, e := range events() {
		m.OnExchange(context.Background(), e)
	}
	const want = `
# HELP deputy_exchanges_total Token exchanges decided, by dialect and outcome (ok or the OAuth error code).
# TYPE deputy_exchanges_total counter
deputy_exchanges_total{dialect="delegation",outcome="invalid_target"} 1
deputy_exchanges_total{dialect="delegation",outcome="ok"} 2
deputy_exchanges_total{dialect="token-exchange",outcome="invalid_client"} 1
deputy_exchanges_total{dialect="token-exchange",outcome="ok"} 1
deputy_exchanges_total{dialect="unknown",outcome="other"} 1
deputy_exchanges_total{dialect="unknown",outcome="unsupported_grant_type"} 1
# HELP deputy_exchange_duration_seconds Time the engine took to decide a token exchange, by dialect and outcome.
# TYPE deputy_exchange_duration_seconds histogram
deputy_exchange_duration_seconds_bucket{dialect="delegation",outcome="invalid_target",le="0.001"} 1
deputy_exchange_duration_seconds_bucket{dialect="delegation",outcome="invalid_target",le="0.01"} 1
deputy_exchange_duration_seconds_bucket{dialect="delegation",outcome="invalid_target",le="+Inf"} 1
deputy_exchange_duration_seconds_sum{dialect="delegation",outcome="invalid_target"} 0.001
deputy_exchange_duration_seconds_count{dialect="delegation",outcome="invalid_target"} 1
deputy_exchange_duration_seconds_bucket{dialect="delegation",outcome="ok",le="0.001"} 1
deputy_exchange_duration_seconds_bucket{dialect="delegation",outcome="ok",le="0.01"} 2
deputy_exchange_duration_seconds_bucket{dialect="delegation",outcome="ok",le="+Inf"} 2
deputy_exchange_duration_seconds_sum{dialect="delegation",outcome="ok"} 0.00205
deputy_exchange_duration_seconds_count{dialect="delegation",outcome="ok"} 2
deputy_exchange_duration_seconds_bucket{dialect="token-exchange",outcome="invalid_client",le="0.001"} 1
deputy_exchange_duration_seconds_bucket{dialect="token-exchange",outcome="invalid_client",le="0.01"} 1
deputy_exchange_duration_seconds_bucket{dialect="token-exchange",outcome="invalid_client",le="+Inf"} 1
deputy_exchange_duration_seconds_sum{dialect="token-exchange",outcome="invalid_client"} 0.001
deputy_exchange_duration_seconds_count{dialect="token-exchange",outcome="invalid_client"} 1
deputy_exchange_duration_seconds_bucket{dialect="token-exchange",outcome="ok",le="0.001"} 0
deputy_exchange_duration_seconds_bucket{dialect="token-exchange",outcome="ok",le="0.01"} 0
deputy_exchange_duration_seconds_bucket{dialect="token-exchange",outcome="ok",le="+Inf"} 1
deputy_exchange_duration_seconds_sum{dialect="token-exchange",outcome="ok"} 0.02
deputy_exchange_duration_seconds_count{dialect="token-exchange",outcome="ok"} 1
deputy_exchange_duration_seconds_bucket{dialect="unknown",outcome="other",le="0.001"} 1
deputy_exchange_duration_seconds_bucket{dialect="unknown",outcome="other",le="0.01"} 1
deputy_exchange_duration_seconds_bucket{dialect="unknown",outcome="other",le="+Inf"} 1
deputy_exchange_duration_seconds_sum{dialect="unknown",outcome="other"} 1e-06
deputy_exchange_duration_seconds_count{dialect="unknown",outcome="other"} 1
deputy_exchange_duration_seconds_bucket{dialect="unknown",outcome="unsupported_grant_type",le="0.001"} 1
deputy_exchange_duration_seconds_bucket{dialect="unknown",outcome="unsupported_grant_type",le="0.01"} 1
deputy_exchange_duration_seconds_bucket{dialect="unknown",outcome="unsupported_grant_type",le="+Inf"} 1
deputy_exchange_duration_seconds_sum{dialect="unknown",outcome="unsupported_grant_type"} 1e-06
deputy_exchange_duration_seconds_count{dialect="unknown",outcome="unsupported_grant_type"} 1
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want)); err != nil {
		t.Error(err)
	}
}

func TestClientAndKeyIDLabels(t *testing.T) {
	reg, m := newMetrics(t, deputyprom.Options{ClientLabels: true, KeyIDLabel: true})
	for _, e := range events() {
		m.OnExchange(context.Background(), e)
	}
	const want = `
# HELP deputy_exchanges_total Token exchanges decided, by dialect and outcome (ok or the OAuth error code).
# TYPE deputy_exchanges_total counter
deputy_exchanges_total{dialect="delegation",outcome="invalid_target",requester="app",target="unknown"} 1
deputy_exchanges_total{dialect="delegation",outcome="ok",requester="app",target="api"} 2
deputy_exchanges_total{dialect="token-exchange",outcome="invalid_client",requester="unknown",target="unknown"} 1
deputy_exchanges_total{dialect="token-exchange",outcome="ok",requester="svc",target="api"} 1
deputy_exchanges_total{dialect="unknown",outcome="other",requester="unknown",target="unknown"} 1
deputy_exchanges_total{dialect="unknown",outcome="unsupported_grant_type",requester="unknown",target="unknown"} 1
# HELP deputy_minted_tokens_total Tokens the built-in minter signed, by the kid they name (for HS* the secret's ID).
# TYPE deputy_minted_tokens_total counter
deputy_minted_tokens_total{kid="api-s1"} 1
deputy_minted_tokens_total{kid="api-s2"} 1
deputy_minted_tokens_total{kid="rsa-1"} 1
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "deputy_exchanges_total", "deputy_minted_tokens_total"); err != nil {
		t.Error(err)
	}
}

func TestNewRefusesBadRegistration(t *testing.T) {
	if _, err := deputyprom.New(nil, deputyprom.Options{}); err == nil {
		t.Error("New(nil) succeeded")
	}
	reg, _ := newMetrics(t, deputyprom.Options{})
	_, err := deputyprom.New(reg, deputyprom.Options{KeyIDLabel: true})
	var are prom.AlreadyRegisteredError
	if !errors.As(err, &are) {
		t.Fatalf("second New = %v, want AlreadyRegisteredError", err)
	}
	// The failed New left nothing behind: a registry without deputy's
	// metrics takes them again.
	if n, err := testutil.GatherAndCount(reg); err != nil || n != 0 {
		t.Errorf("registry holds %d series (%v) after a failed New, want 0", n, err)
	}
}

// TestCallersCannotCreateSeries drives a real engine with client IDs,
// targets and grant types a caller makes up: they all land in "unknown".
func TestCallersCannotCreateSeries(t *testing.T) {
	reg, m := newMetrics(t, deputyprom.Options{ClientLabels: true})
	w := newWorld(t, m.OnExchange)
	ctx := context.Background()
	for i := range 50 {
		made := "caller-" + strings.Repeat("x", i)
		w.x.Exchange(ctx, &engine.Request{GrantType: engine.GrantTypeJWTBearer, ClientID: made, IDToken: w.idToken(t), Target: "api"})
		w.x.Exchange(ctx, &engine.Request{GrantType: engine.GrantTypeJWTBearer, ClientID: "app", IDToken: w.idToken(t), Target: made})
		w.x.Exchange(ctx, &engine.Request{GrantType: "urn:made:" + made, ClientID: made, Target: made})
	}
	if _, err := w.x.Exchange(ctx, &engine.Request{GrantType: engine.GrantTypeJWTBearer, ClientID: "app", IDToken: w.idToken(t), Target: "api"}); err != nil {
		t.Fatal(err)
	}
	const want = `
# HELP deputy_exchanges_total Token exchanges decided, by dialect and outcome (ok or the OAuth error code).
# TYPE deputy_exchanges_total counter
deputy_exchanges_total{dialect="delegation",outcome="invalid_client",requester="unknown",target="unknown"} 50
deputy_exchanges_total{dialect="delegation",outcome="invalid_target",requester="app",target="unknown"} 50
deputy_exchanges_total{dialect="delegation",outcome="ok",requester="app",target="api"} 1
deputy_exchanges_total{dialect="unknown",outcome="unsupported_grant_type",requester="unknown",target="unknown"} 50
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "deputy_exchanges_total"); err != nil {
		t.Error(err)
	}
	if n, err := testutil.GatherAndCount(reg, "deputy_exchange_duration_seconds"); err != nil || n != 4 {
		t.Errorf("latency series = %d (%v), want 4", n, err)
	}
}

func BenchmarkOnExchange(b *testing.B) {
	e := events()[0]
	for _, bc := range []struct {
		name string
		opts deputyprom.Options
	}{
		{"default", deputyprom.Options{}},
		{"client labels", deputyprom.Options{ClientLabels: true}},
		{"client and kid labels", deputyprom.Options{ClientLabels: true, KeyIDLabel: true}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			_, m := newMetrics(b, bc.opts)
			ctx := context.Background()
			b.ReportAllocs()
			for b.Loop() {
				m.OnExchange(ctx, e)
			}
		})
	}
}

func BenchmarkOnExchangeParallel(b *testing.B) {
	_, m := newMetrics(b, deputyprom.Options{})
	e := events()[0]
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		ctx := context.Background()
		for pb.Next() {
			m.OnExchange(ctx, e)
		}
	})
}

// world is an engine over an app and an API that allows it, both HS256.
type world struct {
	x         *engine.Exchanger
	appSecret []byte
	now       time.Time
}

func newWorld(t testing.TB, hook func(context.Context, engine.Event)) *world {
	t.Helper()
	w := &world{appSecret: make([]byte, 32), now: time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)}
	apiSecret := make([]byte, 32)
	rand.Read(w.appSecret)
	rand.Read(apiSecret)
	st := store.NewMemory()
	for _, c := range []store.Client{
		{ID: "app", SigningAlg: "HS256", Secrets: []store.Secret{{ID: "app-s1", Value: w.appSecret}}, Grants: []string{engine.GrantTypeJWTBearer}},
		{ID: "api", SigningAlg: "HS256", Secrets: []store.Secret{{ID: "api-s1", Value: apiSecret}}, AllowedSources: []string{"app"}},
	} {
		if err := st.PutClient(c); err != nil {
			t.Fatal(err)
		}
	}
	x, err := engine.New(engine.Config{
		Issuer: "https://id.example.com/", Clients: st, Keys: st,
		Now: func() time.Time { return w.now }, OnExchange: hook,
	})
	if err != nil {
		t.Fatal(err)
	}
	w.x = x
	return w
}

// idToken is a fresh id_token the issuer gave app.
func (w *world) idToken(t testing.TB) string {
	t.Helper()
	s, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.HS256, Key: jose.JSONWebKey{Key: w.appSecret, KeyID: "app-s1"}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	tok, err := jwt.Signed(s).Claims(jwt.Claims{
		Issuer: "https://id.example.com/", Subject: "auth0|ada", Audience: jwt.Audience{"app"},
		IssuedAt: jwt.NewNumericDate(w.now), Expiry: jwt.NewNumericDate(w.now.Add(time.Hour)), ID: rand.Text(),
	}).Serialize()
	if err != nil {
		t.Fatal(err)
	}
	return tok
}
