package engine_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"testing"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"

	"github.com/deputyauth/deputy/engine"
	"github.com/deputyauth/deputy/store"
)

// recordingAuth is a ClientAuthenticator that answers with err (or
// panics) and records what it was given.
type recordingAuth struct {
	err      error
	panics   bool
	calls    int
	client   string
	checking []bool
	mutate   bool
}

func (a *recordingAuth) AuthenticateClient(ctx context.Context, c *store.Client, req *engine.Request) error {
	a.calls++
	a.client = c.ID
	a.checking = append(a.checking, engine.CheckOnly(ctx))
	if a.mutate {
		req.Target, req.Scope = lonely, "openid profile"
	}
	if a.panics {
		panic("authenticator bug")
	}
	return a.err
}

// TestClientAuthHookAnswers: what the hook returns decides the answer; a
// store or KMS failure is never told to the client as bad credentials.
func TestClientAuthHookAnswers(t *testing.T) {
	outage := errors.New("jwks fetch: connection refused")
	for _, tc := range []struct {
		name   string
		auth   *recordingAuth
		code   string // "" means success
		reason string
	}{
		{name: "accepted", auth: &recordingAuth{}},
		{name: "bad credential", auth: &recordingAuth{err: fmt.Errorf("clientauth: wrong key: %w", engine.ErrInvalidClient)}, code: engine.CodeInvalidClient},
		{name: "sentinel itself", auth: &recordingAuth{err: engine.ErrInvalidClient}, code: engine.CodeInvalidClient},
		{name: "invalid_request", auth: &recordingAuth{err: &engine.Error{Code: engine.CodeInvalidRequest, Description: "assertion malformed"}}, code: engine.CodeInvalidRequest},
		{name: "outage", auth: &recordingAuth{err: outage}, code: engine.CodeServerError},
		{name: "other engine code is not passed on", auth: &recordingAuth{err: &engine.Error{Code: engine.CodeInvalidGrant}}, code: engine.CodeServerError},
		{name: "panic", auth: &recordingAuth{panics: true}, code: engine.CodeServerError},
		{name: "mutating the request changes nothing", auth: &recordingAuth{mutate: true}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := newWorld(t, func(c *engine.Config) { c.ClientAuth = tc.auth })
			req := delegation(appHS, w.idToken(t, appHS, nil), apiHS, "openid")
			res, err := w.x.Exchange(context.Background(), req)
			if tc.code == "" {
				if err != nil {
					t.Fatal(err)
				}
				if res.IDToken == "" {
					t.Fatal("no token")
				}
			} else {
				assertRefused(t, res, err, tc.code)
			}
			if tc.auth.calls != 1 || tc.auth.client != appHS {
				t.Errorf("hook called %d times for %q, want once for %s", tc.auth.calls, tc.auth.client, appHS)
			}
			if errors.Is(tc.auth.err, outage) && !errors.Is(err, outage) {
				t.Errorf("cause of %v lost the outage", err)
			}
			if req.Target != apiHS {
				t.Errorf("hook changed the caller's request")
			}
		})
	}
}

// TestClientAuthHookUnknownAndDisabled: unknown and disabled requesters
// are refused before the hook, with the same answer as bad credentials,
// and Grants are checked after it.
func TestClientAuthHookUnknownAndDisabled(t *testing.T) {
	a := &recordingAuth{}
	w := newWorld(t, func(c *engine.Config) { c.ClientAuth = a })
	putClient(t, w.st, store.Client{ID: "off", SigningAlg: "HS256", Disabled: true})
	putClient(t, w.st, store.Client{ID: "no-grants", SigningAlg: "HS256", Grants: []string{"other"}})
	ctx := context.Background()
	for id, code := range map[string]string{"nobody": engine.CodeInvalidClient, "off": engine.CodeInvalidClient, "no-grants": engine.CodeUnauthorizedClient} {
		res, err := w.x.Exchange(ctx, delegation(id, w.idToken(t, appHS, nil), apiHS, "openid"))
		assertRefused(t, res, err, code)
	}
	if a.calls != 1 {
		t.Errorf("hook called %d times, want once (for the enabled client)", a.calls)
	}
}

// TestClientAuthHookReplacesSecretCheck: with a hook, the engine does not
// compare client_secret itself — the hook alone decides.
func TestClientAuthHookReplacesSecretCheck(t *testing.T) {
	w := newWorld(t, func(c *engine.Config) {
		c.ClientAuth = engine.ClientAuthFunc(func(_ context.Context, c *store.Client, req *engine.Request) error {
			if req.ClientSecret != "hashed-ok" {
				return engine.ErrInvalidClient
			}
			return nil
		})
	})
	req := delegation(appHS, w.idToken(t, appHS, nil), apiHS, "openid")
	req.ClientSecret = "hashed-ok"
	if _, err := w.x.Exchange(context.Background(), req); err != nil {
		t.Fatal(err)
	}
	req.ClientSecret = string(w.secrets[appHS]) // the plaintext secret no longer counts
	res, err := w.x.Exchange(context.Background(), req)
	assertRefused(t, res, err, engine.CodeInvalidClient, req.ClientSecret)
}

// TestCredentialShape: both a secret and an assertion, or half of an
// assertion, is invalid_request (RFC 6749 §2.3, §5.2; RFC 7521 §4.2),
// with or without a hook, and the hook is not asked.
func TestCredentialShape(t *testing.T) {
	for _, hook := range []bool{false, true} {
		a := &recordingAuth{}
		w := newWorld(t, func(c *engine.Config) {
			if hook {
				c.ClientAuth = a
			}
		})
		for name, mod := range map[string]func(*engine.Request){
			"secret and assertion": func(r *engine.Request) {
				r.ClientSecret = string(w.secrets[appHS])
				r.ClientAssertion, r.ClientAssertionType = "a.b.c", engine.ClientAssertionTypeJWT
			},
			"assertion without type": func(r *engine.Request) { r.ClientAssertion = "a.b.c" },
			"type without assertion": func(r *engine.Request) { r.ClientAssertionType = engine.ClientAssertionTypeJWT },
		} {
			req := delegation(appHS, w.idToken(t, appHS, nil), apiHS, "openid")
			mod(req)
			res, err := w.x.Exchange(context.Background(), req)
			assertRefused(t, res, err, engine.CodeInvalidRequest, req.ClientSecret)
			if err := w.x.Authenticate(context.Background(), req); !errors.Is(err, engine.ErrInvalidRequest) {
				t.Errorf("hook=%v %s: Authenticate = %v, want invalid_request", hook, name, err)
			}
		}
		if a.calls != 0 {
			t.Errorf("hook asked %d times about malformed credentials", a.calls)
		}
	}
}

// TestDefaultRefusesAssertion: without a hook nothing can verify an
// assertion, so presenting one is invalid_client rather than ignored.
func TestDefaultRefusesAssertion(t *testing.T) {
	w := newWorld(t, nil)
	req := delegation(appHS, w.idToken(t, appHS, nil), apiHS, "openid")
	req.ClientAssertion, req.ClientAssertionType = "a.b.c", engine.ClientAssertionTypeJWT
	res, err := w.x.Exchange(context.Background(), req)
	assertRefused(t, res, err, engine.CodeInvalidClient)
}

// TestAssertionSizeCap: an assertion over MaxTokenSize is refused before
// the client is loaded or the hook asked.
func TestAssertionSizeCap(t *testing.T) {
	a := &recordingAuth{}
	w := newWorld(t, func(c *engine.Config) { c.ClientAuth = a; c.MaxTokenSize = 1024 })
	req := delegation(appHS, w.idToken(t, appHS, nil), apiHS, "openid")
	req.ClientAssertion, req.ClientAssertionType = string(make([]byte, 1025)), engine.ClientAssertionTypeJWT
	res, err := w.x.Exchange(context.Background(), req)
	assertRefused(t, res, err, engine.CodeInvalidClient)
	if a.calls != 0 {
		t.Errorf("hook asked about an oversized assertion")
	}
}

// TestAssertedClientID: without client_id, the parsers take the requester
// from the sub of a JWT assertion; the hook then decides. A non-JWT
// assertion names no client, so client_id is missing.
func TestAssertedClientID(t *testing.T) {
	a := &recordingAuth{}
	w := newWorld(t, func(c *engine.Config) { c.ClientAuth = a })
	s, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: ecKey}, nil)
	if err != nil {
		t.Fatal(err)
	}
	assertion := func(sub string) string {
		tok, err := jwt.Signed(s).Claims(jwt.Claims{Subject: sub, Issuer: sub}).Serialize()
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	raw := func(payload string) string {
		enc := base64.RawURLEncoding.EncodeToString
		return enc([]byte(`{"alg":"ES256"}`)) + "." + enc([]byte(payload)) + "." + enc([]byte("not a signature"))
	}
	for _, tc := range []struct {
		name, assertion, typ, code string
	}{
		{"sub names the client", assertion(appHS), engine.ClientAssertionTypeJWT, ""},
		{"sub unknown", assertion("nobody"), engine.ClientAssertionTypeJWT, engine.CodeInvalidClient},
		{"not a JWT: no client_id", "abc", engine.ClientAssertionTypeJWT, engine.CodeInvalidRequest},
		{"other assertion type: no client_id", assertion(appHS), "urn:ietf:params:oauth:client-assertion-type:saml2-bearer", engine.CodeInvalidRequest},
		// Read as go-jose reads claims: a duplicate member is no claim set,
		// and "SUB" is not sub.
		{"duplicate sub: no client_id", raw(`{"sub":"nobody","sub":"` + appHS + `"}`), engine.ClientAssertionTypeJWT, engine.CodeInvalidRequest},
		{"SUB is not sub: no client_id", raw(`{"SUB":"` + appHS + `"}`), engine.ClientAssertionTypeJWT, engine.CodeInvalidRequest},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a.calls = 0
			form := url.Values{
				"grant_type": {engine.GrantTypeJWTBearer}, "id_token": {w.idToken(t, appHS, nil)},
				"target": {apiHS}, "scope": {"openid"},
				"client_assertion": {tc.assertion}, "client_assertion_type": {tc.typ},
			}
			req, err := engine.ParseRequest(form)
			if err != nil {
				t.Fatal(err)
			}
			res, err := w.x.Exchange(context.Background(), req)
			if tc.code == "" {
				if err != nil {
					t.Fatal(err)
				}
				if a.client != appHS {
					t.Errorf("hook asked about %q, want %s", a.client, appHS)
				}
				return
			}
			assertRefused(t, res, err, tc.code)
			if a.calls != 0 {
				t.Errorf("hook asked about an unknown client")
			}
		})
	}
}

// TestAuthenticateIsCheckOnly: Authenticate runs the hook with
// CheckOnly(ctx) true; Exchange with it false.
func TestAuthenticateIsCheckOnly(t *testing.T) {
	a := &recordingAuth{}
	w := newWorld(t, func(c *engine.Config) { c.ClientAuth = a })
	req := delegation(appHS, w.idToken(t, appHS, nil), apiHS, "openid")
	ctx := context.Background()
	if err := w.x.Authenticate(ctx, req); err != nil {
		t.Fatal(err)
	}
	if _, err := w.x.Exchange(ctx, req); err != nil {
		t.Fatal(err)
	}
	if len(a.checking) != 2 || !a.checking[0] || a.checking[1] {
		t.Errorf("CheckOnly seen as %v, want [true false]", a.checking)
	}
	if engine.CheckOnly(ctx) {
		t.Error("CheckOnly(background) = true")
	}
	a.err = engine.ErrInvalidClient
	if err := w.x.Authenticate(ctx, req); !errors.Is(err, engine.ErrInvalidClient) {
		t.Errorf("Authenticate = %v, want invalid_client", err)
	}
	a.err, a.panics = nil, true
	if err := w.x.Authenticate(ctx, req); !errors.Is(err, engine.ErrServerError) {
		t.Errorf("Authenticate with a panicking hook = %v, want server_error", err)
	}
}

// TestPlaintextSecretsIsTheDefault: engine.PlaintextSecrets as the hook
// answers as a nil hook does.
func TestPlaintextSecretsIsTheDefault(t *testing.T) {
	for _, hook := range []engine.ClientAuthenticator{nil, engine.PlaintextSecrets} {
		w := newWorld(t, func(c *engine.Config) { c.ClientAuth = hook })
		putClient(t, w.st, store.Client{ID: "conf", SigningAlg: "HS256", Confidential: true, AllowedSources: nil})
		conf, _ := w.st.Client(context.Background(), "conf")
		for _, tc := range []struct {
			name, client, secret, code string
			assertion                  bool
		}{
			{"no secret, public", appHS, "", "", false},
			{"right secret", appHS, string(w.secrets[appHS]), "", false},
			{"wrong secret", appHS, "wrong-wrong-wrong-wrong-wrong-wrong", engine.CodeInvalidClient, false},
			{"confidential without secret", "conf", "", engine.CodeInvalidClient, false},
			{"confidential with secret", "conf", string(conf.Secrets[0].Value), "", false},
			{"assertion", appHS, "", engine.CodeInvalidClient, true},
		} {
			req := &engine.Request{GrantType: engine.GrantTypeJWTBearer, ClientID: tc.client, ClientSecret: tc.secret}
			if tc.assertion {
				req.ClientAssertion, req.ClientAssertionType = "a.b.c", engine.ClientAssertionTypeJWT
			}
			err := w.x.Authenticate(context.Background(), req)
			switch {
			case tc.code == "" && err != nil:
				t.Errorf("hook %v, %s: %v", hook, tc.name, err)
			case tc.code != "" && !errors.Is(err, &engine.Error{Code: tc.code}):
				t.Errorf("hook %v, %s: %v, want %s", hook, tc.name, err, tc.code)
			}
		}
	}
}

// TestParseClientAssertion: both parsers take client_assertion and
// client_assertion_type, once each.
func TestParseClientAssertion(t *testing.T) {
	form := url.Values{"grant_type": {engine.GrantTypeJWTBearer}, "client_assertion": {"a.b.c"}, "client_assertion_type": {engine.ClientAssertionTypeJWT}}
	r, err := engine.ParseRequest(form)
	if err != nil || r.ClientAssertion != "a.b.c" || r.ClientAssertionType != engine.ClientAssertionTypeJWT || r.Extra != nil {
		t.Errorf("ParseRequest = %+v, %v", r, err)
	}
	form["client_assertion"] = []string{"a.b.c", "d.e.f"}
	if _, err := engine.ParseRequest(form); !errors.Is(err, engine.ErrInvalidRequest) {
		t.Errorf("ParseRequest with two assertions = %v, want invalid_request", err)
	}
	r, err = engine.ParseJSON([]byte(`{"client_assertion":"a.b.c","client_assertion_type":"` + engine.ClientAssertionTypeJWT + `"}`))
	if err != nil || r.ClientAssertion != "a.b.c" || r.ClientAssertionType != engine.ClientAssertionTypeJWT {
		t.Errorf("ParseJSON = %+v, %v", r, err)
	}
	if _, err := engine.ParseJSON([]byte(`{"client_assertion":"a","client_assertion":"b"}`)); !errors.Is(err, engine.ErrInvalidRequest) {
		t.Errorf("ParseJSON with two assertions = %v, want invalid_request", err)
	}
}

// decoyAuth records decoy calls, and may panic in them.
type decoyAuth struct {
	recordingAuth
	decoys []string
	panics bool
}

func (d *decoyAuth) AuthenticateUnknown(_ context.Context, req *engine.Request) {
	d.decoys = append(d.decoys, req.ClientID)
	if d.panics {
		panic("decoy bug")
	}
}

// TestDecoyForUnknownRequesters: an authenticator that spends time on
// credentials is asked to spend it for unknown and disabled requesters
// too (AuthenticateUnknown), and the answer stays invalid_client even if
// that panics.
func TestDecoyForUnknownRequesters(t *testing.T) {
	for _, panics := range []bool{false, true} {
		a := &decoyAuth{panics: panics}
		w := newWorld(t, func(c *engine.Config) { c.ClientAuth = a })
		for _, id := range []string{"nobody", offline, appHS} {
			req := delegation(id, w.idToken(t, appHS, nil), apiHS, "openid")
			req.ClientSecret = "a-guess-a-guess-a-guess-a-guess-a-guess"
			res, err := w.x.Exchange(context.Background(), req)
			if id == appHS {
				mustSucceed(t, res, err)
				continue
			}
			assertRefused(t, res, err, engine.CodeInvalidClient, req.ClientSecret)
		}
		if want := []string{"nobody", offline}; !slices.Equal(a.decoys, want) {
			t.Errorf("panics=%v: decoys for %q, want %q", panics, a.decoys, want)
		}
		if a.calls != 1 {
			t.Errorf("panics=%v: AuthenticateClient called %d times, want once (the enabled client)", panics, a.calls)
		}
	}
}

func mustSucceed(t *testing.T, res *engine.Response, err error) {
	t.Helper()
	if err != nil || res == nil || res.IDToken == "" {
		t.Fatalf("Exchange = %+v, %v; want a token", res, err)
	}
}

// TestClientAuthHookGetsCopies: a hook that changes the client record it
// is given changes nothing in the store or the exchange.
func TestClientAuthHookGetsCopies(t *testing.T) {
	w := newWorld(t, func(c *engine.Config) {
		c.ClientAuth = engine.ClientAuthFunc(func(_ context.Context, c *store.Client, _ *engine.Request) error {
			c.Grants = nil
			c.Disabled = true
			c.Secrets[0].Value[0] ^= 1
			return nil
		})
	})
	before, _ := w.st.Client(context.Background(), appHS)
	secret := append([]byte(nil), before.Secrets[0].Value...)
	res, err := w.x.Exchange(context.Background(), delegation(appHS, w.idToken(t, appHS, nil), apiHS, "openid"))
	mustSucceed(t, res, err)
	after, _ := w.st.Client(context.Background(), appHS)
	if after.Disabled || len(after.Grants) == 0 || !bytes.Equal(after.Secrets[0].Value, secret) {
		t.Errorf("the hook changed the stored client: %+v", after)
	}
}
