package clientauth_test

import (
	"context"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"

	"github.com/deputyauth/deputy/clientauth"
	"github.com/deputyauth/deputy/engine"
	"github.com/deputyauth/deputy/store"
)

// registered are svc's public keys as its registration lists them.
func registered(t testing.TB) []jose.JSONWebKey {
	keys(t)
	return []jose.JSONWebKey{
		{Key: svcKey.Public(), KeyID: "svc-ec", Algorithm: "ES256", Use: "sig"},
		{Key: svcRSA.Public(), KeyID: "svc-rsa"},
	}
}

func jwtAuth(t testing.TB, mod func(*clientauth.JWTConfig)) engine.ClientAuthenticator {
	t.Helper()
	cfg := clientauth.JWTConfig{
		Audience: []string{endpoint, issuer},
		Keys: func(_ context.Context, id string) ([]jose.JSONWebKey, error) {
			if id != svc {
				return nil, fmt.Errorf("no keys for %q: %w", id, store.ErrNotFound)
			}
			return registered(t), nil
		},
		Replay:    nil, // set below: the engine's store
		ClockSkew: 5 * time.Second,
		Now:       func() time.Time { return now },
	}
	cfg.Replay = store.NewMemory()
	if mod != nil {
		mod(&cfg)
	}
	a, err := clientauth.PrivateKeyJWT(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// assertion signs claims (registered ones first) for svc with key under
// alg and kid, with extra header fields.
type assertionSpec struct {
	alg     jose.SignatureAlgorithm
	key     any
	kid     string
	claims  map[string]any
	headers map[jose.HeaderKey]any
}

func goodClaims() map[string]any {
	return map[string]any{
		"iss": svc, "sub": svc, "aud": endpoint, "jti": "a-" + fmt.Sprint(time.Now().UnixNano()),
		"exp": now.Add(time.Minute).Unix(), "iat": now.Unix(),
	}
}

func sign(t testing.TB, s assertionSpec) string {
	t.Helper()
	if s.alg == "" {
		s.alg, s.key, s.kid = jose.ES256, svcKey, "svc-ec"
	}
	if s.claims == nil {
		s.claims = goodClaims()
	}
	opts := &jose.SignerOptions{}
	for k, v := range s.headers {
		opts = opts.WithHeader(k, v)
	}
	key := s.key
	if s.kid != "" {
		key = jose.JSONWebKey{Key: s.key, KeyID: s.kid}
	}
	sg, err := jose.NewSigner(jose.SigningKey{Algorithm: s.alg, Key: key}, opts)
	if err != nil {
		t.Fatal(err)
	}
	tok, err := jwt.Signed(sg).Claims(s.claims).Serialize()
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func withAssertion(t testing.TB, assertion string) *engine.Request {
	req := request(t)
	req.ClientAssertion, req.ClientAssertionType = assertion, engine.ClientAssertionTypeJWT
	return req
}

func TestPrivateKeyJWTAccepts(t *testing.T) {
	keys(t)
	for _, tc := range []struct {
		name string
		spec assertionSpec
	}{
		{"ES256 by kid", assertionSpec{}},
		{"ES256 without kid", assertionSpec{alg: jose.ES256, key: svcKey}},
		{"RS256", assertionSpec{alg: jose.RS256, key: svcRSA, kid: "svc-rsa"}},
		{"PS256 without kid", assertionSpec{alg: jose.PS256, key: svcRSA}},
		{"aud array with the issuer", assertionSpec{claims: func() map[string]any {
			c := goodClaims()
			c["aud"] = []string{"https://elsewhere.example/", issuer}
			return c
		}()}},
		{"typ JWT", assertionSpec{headers: map[jose.HeaderKey]any{"typ": "JWT"}}},
		{"typ client-authentication+jwt", assertionSpec{headers: map[jose.HeaderKey]any{"typ": "client-authentication+jwt"}}},
		{"exp within skew", assertionSpec{claims: func() map[string]any { c := goodClaims(); c["exp"] = now.Add(-3 * time.Second).Unix(); return c }()}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := newWorld(t, jwtAuth(t, nil), nil)
			res, err := w.x.Exchange(context.Background(), withAssertion(t, sign(t, tc.spec)))
			mustOK(t, res, err)
		})
	}
}

// TestPrivateKeyJWTRefuses: every bad assertion is invalid_client and no
// token comes back.
func TestPrivateKeyJWTRefuses(t *testing.T) {
	keys(t)
	claims := func(mod func(map[string]any)) map[string]any {
		c := goodClaims()
		mod(c)
		return c
	}
	pubDER, err := x509.MarshalPKIXPublicKey(svcKey.Public())
	if err != nil {
		t.Fatal(err)
	}
	pubJWK, err := (&jose.JSONWebKey{Key: svcKey.Public()}).MarshalJSON()
	if err != nil {
		t.Fatal(err)
	}
	b64 := base64.RawURLEncoding.EncodeToString
	good := sign(t, assertionSpec{})
	goodParts := strings.Split(good, ".")
	for _, tc := range []struct {
		name      string
		assertion string
		mod       func(*engine.Request)
	}{
		{name: "wrong key", assertion: sign(t, assertionSpec{alg: jose.ES256, key: otherKey, kid: "svc-ec"})},
		{name: "wrong key, no kid", assertion: sign(t, assertionSpec{alg: jose.ES256, key: otherKey})},
		{name: "unknown kid", assertion: sign(t, assertionSpec{alg: jose.ES256, key: svcKey, kid: "nope"})},
		{name: "key registered for another alg", assertion: sign(t, assertionSpec{alg: jose.RS256, key: svcRSA, kid: "svc-ec"})},
		{name: "expired", assertion: sign(t, assertionSpec{claims: claims(func(c map[string]any) { c["exp"] = now.Add(-6 * time.Second).Unix() })})},
		{name: "exp too far ahead", assertion: sign(t, assertionSpec{claims: claims(func(c map[string]any) { c["exp"] = now.Add(time.Hour).Unix() })})},
		{name: "no exp", assertion: sign(t, assertionSpec{claims: claims(func(c map[string]any) { delete(c, "exp") })})},
		{name: "exp not a number", assertion: sign(t, assertionSpec{claims: claims(func(c map[string]any) { c["exp"] = "soon" })})},
		{name: "nbf in the future", assertion: sign(t, assertionSpec{claims: claims(func(c map[string]any) { c["nbf"] = now.Add(time.Minute).Unix() })})},
		{name: "iat in the future", assertion: sign(t, assertionSpec{claims: claims(func(c map[string]any) { c["iat"] = now.Add(time.Minute).Unix() })})},
		{name: "wrong aud", assertion: sign(t, assertionSpec{claims: claims(func(c map[string]any) { c["aud"] = "https://other.example/token" })})},
		{name: "no aud", assertion: sign(t, assertionSpec{claims: claims(func(c map[string]any) { delete(c, "aud") })})},
		{name: "iss != sub", assertion: sign(t, assertionSpec{claims: claims(func(c map[string]any) { c["iss"] = "someone" })})},
		{name: "sub another client", assertion: sign(t, assertionSpec{claims: claims(func(c map[string]any) { c["sub"] = api })})},
		{name: "iss not a string", assertion: sign(t, assertionSpec{claims: claims(func(c map[string]any) { c["iss"] = []string{svc} })})},
		{name: "no jti", assertion: sign(t, assertionSpec{claims: claims(func(c map[string]any) { delete(c, "jti") })})},
		{name: "alg none", assertion: b64([]byte(`{"alg":"none"}`)) + "." + goodParts[1] + "."},
		{name: "HS256 keyed with the public key (DER)", assertion: sign(t, assertionSpec{alg: jose.HS256, key: pubDER})},
		{name: "HS256 keyed with the public key (JWK)", assertion: sign(t, assertionSpec{alg: jose.HS256, key: pubJWK})},
		{name: "embedded jwk", assertion: sign(t, assertionSpec{alg: jose.ES256, key: otherKey, headers: map[jose.HeaderKey]any{"jwk": jose.JSONWebKey{Key: otherKey.Public()}}})},
		{name: "jku", assertion: sign(t, assertionSpec{headers: map[jose.HeaderKey]any{"jku": "https://evil.example/jwks"}})},
		{name: "crit", assertion: sign(t, assertionSpec{headers: map[jose.HeaderKey]any{"crit": []string{"exp"}, "exp": 1}})},
		{name: "b64", assertion: sign(t, assertionSpec{headers: map[jose.HeaderKey]any{"b64": true}})},
		{name: "typ at+jwt", assertion: sign(t, assertionSpec{headers: map[jose.HeaderKey]any{"typ": "at+jwt"}})},
		{name: "deputy-minted mark", assertion: sign(t, assertionSpec{headers: map[jose.HeaderKey]any{"deputy": 1}})},
		{name: "tampered payload", assertion: goodParts[0] + "." + b64([]byte(`{"iss":"svc","sub":"svc","aud":"`+endpoint+`","exp":9999999999,"jti":"x"}`)) + "." + goodParts[2]},
		{name: "oversized", assertion: sign(t, assertionSpec{claims: claims(func(c map[string]any) { c["pad"] = strings.Repeat("x", 9000) })})},
		{name: "not a JWS", assertion: "not-a-jws"},
		{name: "missing", mod: func(r *engine.Request) { r.ClientAssertion, r.ClientAssertionType = "", "" }},
		{name: "wrong assertion type", mod: func(r *engine.Request) {
			r.ClientAssertion, r.ClientAssertionType = good, "urn:ietf:params:oauth:client-assertion-type:saml2-bearer"
		}},
		{name: "secret instead", mod: func(r *engine.Request) {
			r.ClientAssertion, r.ClientAssertionType = "", ""
			r.ClientSecret = strings.Repeat("s", 40)
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := newWorld(t, jwtAuth(t, nil), nil)
			req := withAssertion(t, tc.assertion)
			if tc.mod != nil {
				tc.mod(req)
			}
			res, err := w.x.Exchange(context.Background(), req)
			assertRefused(t, res, err, engine.CodeInvalidClient)
		})
	}
}

// TestPrivateKeyJWTReplay: an assertion is single-use; Authenticate
// checks without consuming; a source token with the same jti string is
// not affected (separate namespaces in one cache).
func TestPrivateKeyJWTReplay(t *testing.T) {
	keys(t)
	st := store.NewMemory()
	st.SetClock(func() time.Time { return now })
	auth := jwtAuth(t, func(c *clientauth.JWTConfig) { c.Replay = st })
	w := newWorld(t, auth, nil)
	c := goodClaims()
	c["jti"] = "shared-jti"
	assertion := sign(t, assertionSpec{claims: c})
	ctx := context.Background()
	req := withAssertion(t, assertion)
	req.IDToken = idToken(t, "shared-jti")
	if err := w.x.Authenticate(ctx, req); err != nil {
		t.Fatalf("Authenticate: %v", err)
	}
	if err := w.x.Authenticate(ctx, req); err != nil {
		t.Fatalf("Authenticate again: %v", err)
	}
	res, err := w.x.Exchange(ctx, req)
	mustOK(t, res, err)

	again := withAssertion(t, assertion)
	res, err = w.x.Exchange(ctx, again)
	assertRefused(t, res, err, engine.CodeInvalidClient)

	// The engine's replay cache is shared: the assertion's jti did not
	// spend a source token with the same jti, nor the other way round.
	c2 := goodClaims()
	c2["jti"] = "src-shared"
	req = withAssertion(t, sign(t, assertionSpec{claims: c2}))
	req.IDToken = idToken(t, "src-shared")
	res, err = newWorld(t, jwtAuth(t, func(c *clientauth.JWTConfig) { c.Replay = w.st }), nil).x.Exchange(ctx, req)
	mustOK(t, res, err)
}

// TestPrivateKeyJWTOutages: a key lookup or replay cache failure is
// server_error, never a bad credential; a client without keys is
// invalid_client.
func TestPrivateKeyJWTOutages(t *testing.T) {
	keys(t)
	outage := errors.New("jwks endpoint unreachable")
	for _, tc := range []struct {
		name string
		mod  func(*clientauth.JWTConfig)
		code string
	}{
		{"keys fail", func(c *clientauth.JWTConfig) {
			c.Keys = func(context.Context, string) ([]jose.JSONWebKey, error) { return nil, outage }
		}, engine.CodeServerError},
		{"no keys registered", func(c *clientauth.JWTConfig) {
			c.Keys = func(context.Context, string) ([]jose.JSONWebKey, error) { return nil, store.ErrNotFound }
		}, engine.CodeInvalidClient},
		{"only private and symmetric keys registered", func(c *clientauth.JWTConfig) {
			c.Keys = func(context.Context, string) ([]jose.JSONWebKey, error) {
				return []jose.JSONWebKey{{Key: svcKey, KeyID: "svc-ec"}, {Key: []byte("0123456789abcdef0123456789abcdef"), KeyID: "svc-ec"}}, nil
			}
		}, engine.CodeInvalidClient},
		{"replay cache fails", func(c *clientauth.JWTConfig) { c.Replay = failingCache{} }, engine.CodeServerError},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := newWorld(t, jwtAuth(t, tc.mod), nil)
			res, err := w.x.Exchange(context.Background(), withAssertion(t, sign(t, assertionSpec{})))
			assertRefused(t, res, err, tc.code)
		})
	}
}

// TestPrivateKeyJWTAlgorithms: an allowlist narrows what is accepted, and
// HMAC or none can never be configured.
func TestPrivateKeyJWTAlgorithms(t *testing.T) {
	keys(t)
	w := newWorld(t, jwtAuth(t, func(c *clientauth.JWTConfig) { c.Algorithms = []string{"ES256"} }), nil)
	res, err := w.x.Exchange(context.Background(), withAssertion(t, sign(t, assertionSpec{alg: jose.RS256, key: svcRSA, kid: "svc-rsa"})))
	assertRefused(t, res, err, engine.CodeInvalidClient)
	for _, algs := range [][]string{{"HS256"}, {"none"}, {}, {"ES256", "HS512"}} {
		if _, err := clientauth.PrivateKeyJWT(clientauth.JWTConfig{
			Audience: []string{endpoint}, Replay: store.NewMemory(), Algorithms: algs,
			Keys: func(context.Context, string) ([]jose.JSONWebKey, error) { return nil, nil },
		}); err == nil {
			t.Errorf("PrivateKeyJWT accepted Algorithms %q", algs)
		}
	}
}

func TestPrivateKeyJWTConfig(t *testing.T) {
	_, err := clientauth.PrivateKeyJWT(clientauth.JWTConfig{MaxLifetime: -1})
	if err == nil {
		t.Fatal("empty config accepted")
	}
	for _, want := range []string{"Audience", "Keys", "Replay", "negative"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("config error %q does not name %s", err, want)
		}
	}
}

// TestAssertionWithoutClientID: a private_key_jwt client may leave
// client_id out (RFC 7521 §4.2): the form's assertion names it.
func TestAssertionWithoutClientID(t *testing.T) {
	keys(t)
	w := newWorld(t, jwtAuth(t, nil), nil)
	req, err := engine.ParseRequest(map[string][]string{
		"grant_type": {engine.GrantTypeJWTBearer}, "id_token": {idToken(t, "src-1")}, "target": {api}, "scope": {"openid"},
		"client_assertion": {sign(t, assertionSpec{})}, "client_assertion_type": {engine.ClientAssertionTypeJWT},
	})
	if err != nil {
		t.Fatal(err)
	}
	res, err := w.x.Exchange(context.Background(), req)
	mustOK(t, res, err)
}

// alwaysFirst is a ReplayCache that remembers nothing, so a benchmark can
// present one assertion repeatedly.
type alwaysFirst struct{}

func (alwaysFirst) Use(context.Context, string, time.Duration) (bool, error) { return true, nil }

// BenchmarkPrivateKeyJWT is what checking one ES256 assertion adds to an
// exchange (the replay cache aside).
func BenchmarkPrivateKeyJWT(b *testing.B) {
	keys(b)
	a := jwtAuth(b, func(c *clientauth.JWTConfig) { c.Replay = alwaysFirst{} })
	c := &store.Client{ID: svc}
	req := &engine.Request{ClientAssertion: sign(b, assertionSpec{}), ClientAssertionType: engine.ClientAssertionTypeJWT}
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if err := a.AuthenticateClient(ctx, c, req); err != nil {
			b.Fatal(err)
		}
	}
}
