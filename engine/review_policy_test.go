package engine_test

// Review of issue 10 (policy hook, default add-on): attacks the engine
// refuses. Every test here passes; findings live in
// review_policy_findings_test.go.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/deputyauth/deputy/claims"
	"github.com/deputyauth/deputy/engine"
	"github.com/deputyauth/deputy/store"
)

// policyWorldCounting is an xworld with policy p and a replay cache that
// counts uses.
func policyWorldCounting(t *testing.T, p func(context.Context, *engine.Grant) error, mod func(*engine.Config)) (*xworld, *atomic.Int32) {
	t.Helper()
	var used atomic.Int32
	w := newXWorld(t, func(c *engine.Config) {
		c.Policy = p
		c.Replay = replayFunc(func(context.Context, string, time.Duration) (bool, error) {
			used.Add(1)
			return true, nil
		})
		if mod != nil {
			mod(c)
		}
	})
	return w, &used
}

func bothDialects(t *testing.T, w *xworld, scope string) map[string]*engine.Request {
	return map[string]*engine.Request{
		"delegation": {GrantType: engine.GrantTypeJWTBearer, ClientID: svcA, IDToken: w.idToken(t, svcA, nil), Target: svcB, Scope: scope},
		"exchange":   withScope(tx(svcA, w.idToken(t, svcA, nil), engine.TokenTypeIDToken, svcB), scope),
	}
}

// foldVariants returns spellings of name that case-insensitive JSON
// decoders read as name: upper case, title case, and s → ſ (U+017F).
func foldVariants(name string) []string {
	out := []string{strings.ToUpper(name), strings.ToUpper(name[:1]) + name[1:]}
	if strings.Contains(name, "s") {
		out = append(out, strings.ReplaceAll(name, "s", "ſ"), strings.ReplaceAll(strings.ToUpper(name), "S", "ſ"))
	}
	return out
}

// TestReviewPolicyOwnedClaimAnySpelling: a Policy adding any owned claim,
// as written or in any spelling that folds to it, is server_error, mints
// nothing and burns nothing, in both dialects.
func TestReviewPolicyOwnedClaimAnySpelling(t *testing.T) {
	for _, owned := range claims.OwnedNames() {
		for _, name := range append([]string{owned}, foldVariants(owned)...) {
			w, used := policyWorldCounting(t, func(_ context.Context, g *engine.Grant) error {
				g.Claims[name] = "attacker"
				return nil
			}, nil)
			for dialect, req := range bothDialects(t, w, "openid email") {
				res, err := w.x.Exchange(context.Background(), req)
				if res != nil || err == nil {
					t.Errorf("%s %q: minted %+v", dialect, name, res)
					continue
				}
				assertRefused(t, res, err, engine.CodeServerError)
			}
			if n := used.Load(); n != 0 {
				t.Errorf("%q: a refused exchange consumed %d tokens", name, n)
			}
		}
	}
}

// TestReviewPolicyOwnedClaimWithMinter: the same refusal holds when an
// add-on (here the target's default) would mint, and the minter is never
// called.
func TestReviewPolicyOwnedClaimWithMinter(t *testing.T) {
	var called atomic.Int32
	m := engine.MinterFunc(func(context.Context, *engine.Grant) (*engine.Response, error) {
		called.Add(1)
		return &engine.Response{Extra: map[string]any{"x": "y"}}, nil
	})
	w, used := policyWorldCounting(t, func(_ context.Context, g *engine.Grant) error {
		g.Claims["Aud"] = "elsewhere"
		return nil
	}, func(c *engine.Config) { c.Minters = map[string]engine.Minter{"custom": m} })
	putClient(t, w.st, store.Client{ID: "fb", SigningAlg: "HS256", AllowedSources: []string{svcA}, Grants: bothGrants,
		APITypes: map[string]json.RawMessage{"custom": json.RawMessage(`{}`)}, DefaultAPIType: "custom"})
	for _, apiType := range []string{"", "custom"} {
		res, err := w.x.Exchange(context.Background(), &engine.Request{GrantType: engine.GrantTypeJWTBearer,
			ClientID: svcA, IDToken: w.idToken(t, svcA, nil), Target: "fb", APIType: apiType})
		assertRefused(t, res, err, engine.CodeServerError)
	}
	if called.Load() != 0 || used.Load() != 0 {
		t.Errorf("minter called %d times, %d tokens consumed; want 0, 0", called.Load(), used.Load())
	}
}

// TestReviewPolicyScopeShapes: duplicates and any order narrow to the
// canonical set; a token that is not one valid scope token, or a scope not
// granted (in another case, as passthrough, or joined by a space), is
// server_error.
func TestReviewPolicyScopeShapes(t *testing.T) {
	for _, tc := range []struct {
		name  string
		scope []string
		want  string // "" → refused with server_error
	}{
		{"duplicates", []string{"email", "openid", "email", "openid"}, "openid email"},
		{"reversed", []string{"email", "openid"}, "openid email"},
		{"narrowed with duplicates", []string{"openid", "openid"}, "openid"},
		{"empty token", []string{"openid", ""}, ""},
		{"two tokens in one", []string{"openid email"}, ""},
		{"two tokens in one, widening", []string{"openid phone"}, ""},
		{"not granted", []string{"openid", "phone"}, ""},
		{"upper case", []string{"OPENID", "EMAIL"}, ""},
		{"passthrough", []string{"passthrough"}, ""},
		{"quote", []string{`openid"`}, ""},
		{"backslash", []string{`openid\`}, ""},
		{"non-ASCII", []string{"openid", "émail"}, ""},
		{"NUL", []string{"openid\x00"}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w, used := policyWorldCounting(t, func(_ context.Context, g *engine.Grant) error {
				g.Scope = append([]string(nil), tc.scope...)
				return nil
			}, nil)
			req := withScope(tx(svcA, w.idToken(t, svcA, nil), engine.TokenTypeIDToken, svcB), "openid email")
			res, err := w.x.Exchange(context.Background(), req)
			if tc.want == "" {
				assertRefused(t, res, err, engine.CodeServerError)
				if used.Load() != 0 {
					t.Error("a refused exchange consumed the token")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			got := w.checkAccessToken(t, res, svcB)
			if got["scope"] != tc.want || res.Scope != tc.want {
				t.Errorf("scope claim %v, answer %q; want %q", got["scope"], res.Scope, tc.want)
			}
			if tc.want == "openid" && got["email"] != nil {
				t.Errorf("email released after the policy removed its scope: %v", got["email"])
			}
		})
	}
}

// TestReviewPolicyScopedClaimNotGranted: a Policy cannot bring back a claim
// whose scope it removed, nor add one a scope not granted maps, even when
// the source had it; changing a claim's value under a removed scope drops
// it silently.
func TestReviewPolicyScopedClaimNotGranted(t *testing.T) {
	t.Run("re-add after narrowing", func(t *testing.T) {
		w, _ := policyWorldCounting(t, func(_ context.Context, g *engine.Grant) error {
			g.Scope = []string{"openid"}
			g.Claims["email"] = "other@example.com" // was the source's, now not released
			return nil
		}, nil)
		res := mustExchange(t, w, withScope(tx(svcA, w.idToken(t, svcA, nil), engine.TokenTypeIDToken, svcB), "openid email"))
		if got := w.checkAccessToken(t, res, svcB); got["email"] != nil {
			t.Errorf("email = %v after its scope was removed", got["email"])
		}
	})
	t.Run("claim of a scope not requested", func(t *testing.T) {
		w, used := policyWorldCounting(t, func(_ context.Context, g *engine.Grant) error {
			g.Claims["address"] = map[string]any{"country": "UK"}
			return nil
		}, nil)
		for dialect, req := range bothDialects(t, w, "openid email") {
			res, err := w.x.Exchange(context.Background(), req)
			assertRefused(t, res, err, engine.CodeServerError)
			_ = dialect
		}
		if used.Load() != 0 {
			t.Error("consumed")
		}
	})
}

// sharedClients hands out the very same *store.Client on every lookup, as
// a store keeping immutable records may; the engine must never change them.
type sharedClients map[string]*store.Client

func (s sharedClients) Client(_ context.Context, id string) (*store.Client, error) {
	if c, ok := s[id]; ok {
		return c, nil
	}
	return nil, fmt.Errorf("no %q: %w", id, store.ErrNotFound)
}

// sharedProfiles hands out the very same claim set on every lookup.
type sharedProfiles map[string]claims.Set

func (s sharedProfiles) Profile(_ context.Context, sub string) (claims.Set, error) {
	if c, ok := s[sub]; ok {
		return c, nil
	}
	return nil, store.ErrNotFound
}

// TestReviewPolicyCannotReachStoreRecords: a Policy that scribbles over
// everything reachable from its Grant (client records, secrets, settings,
// nested profile values, the request) changes nothing the stores handed
// out, nothing a Minter sees, and nothing a later exchange uses.
func TestReviewPolicyCannotReachStoreRecords(t *testing.T) {
	mem := store.NewMemory()
	w := &xworld{now: fixedNow}
	var seen []*engine.Grant
	minter := engine.MinterFunc(func(_ context.Context, g *engine.Grant) (*engine.Response, error) {
		seen = append(seen, g)
		return &engine.Response{Extra: map[string]any{"ok": true}}, nil
	})
	profile := claims.Set{"address": map[string]any{"country": "UK", "lines": []any{"1 Main St"}}, "email": "ada@example.com"}
	profiles := sharedProfiles{"auth0|ada": profile}
	secretA := randomSecret(t, 32)
	secretB := randomSecret(t, 32)
	clients := sharedClients{
		appHS: {ID: appHS, SigningAlg: "HS256", Secrets: []store.Secret{{ID: "a1", Value: secretA}},
			Grants: []string{engine.GrantTypeJWTBearer}, AllowedSources: []string{appHS}, Scopes: []string{"openid", "address", "email"}},
		apiHS: {ID: apiHS, SigningAlg: "HS256", Secrets: []store.Secret{{ID: "b1", Value: secretB}},
			Grants: []string{engine.GrantTypeJWTBearer}, AllowedSources: []string{appHS},
			APITypes: map[string]json.RawMessage{"custom": json.RawMessage(`{"k":"v"}`)}},
	}
	snapshot := func() string {
		b, err := json.Marshal(struct {
			C sharedClients
			P sharedProfiles
		}{clients, profiles})
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	before := snapshot()
	mem.PutRefreshToken("rt-1", store.RefreshGrant{ClientID: appHS, Subject: "auth0|ada", Scope: []string{"openid", "address", "email"}})
	x, err := engine.New(engine.Config{
		Issuer: issuer, Clients: clients, RefreshTokens: mem, Profiles: profiles,
		Now:     func() time.Time { return w.now },
		Minters: map[string]engine.Minter{"custom": minter},
		Policy: func(_ context.Context, g *engine.Grant) error {
			if g.Request.RefreshToken != "" || g.Request.ClientSecret != "" {
				t.Error("the policy's copy carries the refresh token or client secret")
			}
			for _, c := range []*store.Client{g.Target, g.Requester} {
				for i := range c.Secrets {
					for j := range c.Secrets[i].Value {
						c.Secrets[i].Value[j] ^= 0xff
					}
				}
				c.AllowedSources = append(c.AllowedSources[:0], "*")
				c.Scopes = append(c.Scopes[:0], "everything")
				for k := range c.APITypes {
					copy(c.APITypes[k], "XXXXXXXX")
				}
			}
			copy(g.Settings, "ZZZZZZZZZ")
			if a, ok := g.Claims["address"].(map[string]any); ok {
				a["country"] = "Narnia"
				a["lines"].([]any)[0] = "mutated"
			}
			g.Claims["email"] = "changed@example.com"
			g.Scope[0] = "openid" // in place, no widening
			return nil
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	for i, apiType := range []string{"", "custom", "custom"} {
		res, err := x.Exchange(context.Background(), &engine.Request{GrantType: engine.GrantTypeJWTBearer,
			ClientID: appHS, ClientSecret: string(secretA), RefreshToken: "rt-1", Target: apiHS, APIType: apiType, Scope: "openid address email"})
		if err != nil {
			t.Fatalf("exchange %d: %v", i, err)
		}
		if apiType == "" {
			payload, err := parseVerify(res.IDToken, "HS256", secretB)
			if err != nil {
				t.Fatalf("minted token does not verify with the target's original secret: %v", err)
			}
			var c map[string]any
			json.Unmarshal(payload, &c)
			if a, _ := c["address"].(map[string]any); a["country"] != "Narnia" || c["email"] != "changed@example.com" {
				t.Errorf("policy's claim changes not minted: %v", c)
			}
		}
	}
	if after := snapshot(); after != before {
		t.Errorf("the policy changed the stores' records:\nbefore %s\nafter  %s", before, after)
	}
	for _, g := range seen {
		if string(g.Settings) != `{"k":"v"}` || string(g.Target.APITypes["custom"]) != `{"k":"v"}` {
			t.Errorf("minter saw settings %s / %s changed by the policy", g.Settings, g.Target.APITypes["custom"])
		}
		if g.Target.AllowedSources[0] != appHS || string(g.Target.Secrets[0].Value) != string(secretB) {
			t.Error("minter saw the target as the policy changed it")
		}
		if a := g.Claims["address"].(map[string]any); a["country"] != "Narnia" {
			t.Errorf("minter claims %v, want the policy's", g.Claims)
		}
	}
	if len(seen) != 2 {
		t.Errorf("minter called %d times, want 2", len(seen))
	}
}

// TestReviewPolicyIgnoredGrantFields: what a Policy changes outside Scope
// and Claims (subject, times, lifetime, settings, clients, request) does
// not reach the Minter or the minted token.
func TestReviewPolicyIgnoredGrantFields(t *testing.T) {
	var got *engine.Grant
	m := engine.MinterFunc(func(_ context.Context, g *engine.Grant) (*engine.Response, error) {
		got = g
		return &engine.Response{ExpiresIn: int64(g.Lifetime / time.Second)}, nil
	})
	other := &store.Client{ID: "evil", APITypes: map[string]json.RawMessage{"custom": json.RawMessage(`{"evil":true}`)}}
	w, _ := policyWorldCounting(t, func(_ context.Context, g *engine.Grant) error {
		g.Subject = "admin"
		g.IssuedAt = g.IssuedAt.Add(365 * 24 * time.Hour)
		g.Lifetime = 1000 * time.Hour
		g.Settings = json.RawMessage(`{"evil":true}`)
		g.Target, g.Requester = other, other
		g.Request.APIType, g.Request.Target = "app", "evil"
		g.Request.Extra = map[string]string{"x": "y"}
		return nil
	}, func(c *engine.Config) { c.Minters = map[string]engine.Minter{"custom": m} })
	putClient(t, w.st, store.Client{ID: "addon", SigningAlg: "HS256", AllowedSources: []string{svcA}, Grants: bothGrants,
		Lifetime: 60 * time.Second, APITypes: map[string]json.RawMessage{"custom": json.RawMessage(`{"good":true}`)}})
	res := mustExchange(t, w, &engine.Request{GrantType: engine.GrantTypeJWTBearer, ClientID: svcA,
		IDToken: w.idToken(t, svcA, nil), Target: "addon", APIType: "custom"})
	if res.ExpiresIn != 60 {
		t.Errorf("expires_in %d, want 60", res.ExpiresIn)
	}
	switch {
	case got.Subject != "auth0|ada", !got.IssuedAt.Equal(w.now.Truncate(time.Second)), got.Lifetime != 60*time.Second,
		string(got.Settings) != `{"good":true}`, got.Target.ID != "addon", got.Requester.ID != svcA,
		got.Request.APIType != "custom", got.Request.Target != "addon", got.Request.Extra != nil:
		t.Errorf("minter saw the policy's changes: %+v / %+v", got, got.Request)
	}
}

// TestReviewPolicyErrorShapes: only an *Error at the top with a fitting
// code is answered as it is; a typed nil, a wrapped *Error, or a code
// that does not fit is server_error; nothing is minted or consumed.
func TestReviewPolicyErrorShapes(t *testing.T) {
	for _, tc := range []struct {
		name string
		err  func() error
		code string
	}{
		{"typed nil", func() error { var e *engine.Error; return e }, engine.CodeServerError},
		{"wrapped invalid_grant", func() error {
			return fmt.Errorf("policy: %w", &engine.Error{Code: engine.CodeInvalidGrant, Description: "no"})
		}, engine.CodeServerError},
		{"joined", func() error { return errors.Join(engine.ErrInvalidScope) }, engine.CodeServerError},
		{"invalid_client", func() error { return &engine.Error{Code: engine.CodeInvalidClient} }, engine.CodeServerError},
		{"server_error", func() error { return &engine.Error{Code: engine.CodeServerError, Description: "x"} }, engine.CodeServerError},
		{"unsupported_grant_type", func() error { return &engine.Error{Code: engine.CodeUnsupportedGrantType} }, engine.CodeServerError},
		{"access_denied (not an engine code)", func() error { return &engine.Error{Code: "access_denied"} }, engine.CodeServerError},
		{"empty code", func() error { return &engine.Error{} }, engine.CodeServerError},
		{"sentinel invalid_target", func() error { return engine.ErrInvalidTarget }, engine.CodeInvalidTarget},
		{"unauthorized_client", func() error { return &engine.Error{Code: engine.CodeUnauthorizedClient, Description: "blocked"} }, engine.CodeUnauthorizedClient},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var events []engine.Event
			w, used := policyWorldCounting(t, func(context.Context, *engine.Grant) error { return tc.err() },
				func(c *engine.Config) {
					c.OnExchange = func(_ context.Context, e engine.Event) { events = append(events, e) }
				})
			for dialect, req := range bothDialects(t, w, "openid") {
				res, err := w.x.Exchange(context.Background(), req)
				assertRefused(t, res, err, tc.code)
				_ = dialect
			}
			if used.Load() != 0 {
				t.Error("consumed")
			}
			for _, e := range events {
				if e.Outcome != tc.code {
					t.Errorf("event outcome %s, want %s", e.Outcome, tc.code)
				}
			}
		})
	}
}

// TestReviewPolicyUnencodableClaims: values JSON cannot carry (a cycle,
// NaN, a bad json.Number, a func) are server_error before one-time use;
// the cycle does not overflow the stack.
func TestReviewPolicyUnencodableClaims(t *testing.T) {
	cyc := map[string]any{}
	cyc["self"] = cyc
	for name, v := range map[string]any{
		"cycle":      cyc,
		"NaN":        []any{nanValue()},
		"bad number": json.Number("1e"),
		"func":       func() {},
	} {
		t.Run(name, func(t *testing.T) {
			var called atomic.Int32
			m := engine.MinterFunc(func(context.Context, *engine.Grant) (*engine.Response, error) {
				called.Add(1)
				return &engine.Response{}, nil
			})
			w, used := policyWorldCounting(t, func(_ context.Context, g *engine.Grant) error {
				g.Claims["https://example.com/x"] = v
				return nil
			}, func(c *engine.Config) { c.Minters = map[string]engine.Minter{"custom": m} })
			putClient(t, w.st, store.Client{ID: "addon", SigningAlg: "HS256", AllowedSources: []string{svcA}, Grants: bothGrants,
				APITypes: map[string]json.RawMessage{"custom": json.RawMessage(`{}`)}})
			for _, req := range []*engine.Request{
				{GrantType: engine.GrantTypeJWTBearer, ClientID: svcA, IDToken: w.idToken(t, svcA, nil), Target: svcB},
				{GrantType: engine.GrantTypeJWTBearer, ClientID: svcA, IDToken: w.idToken(t, svcA, nil), Target: "addon", APIType: "custom"},
			} {
				res, err := w.x.Exchange(context.Background(), req)
				assertRefused(t, res, err, engine.CodeServerError)
			}
			if used.Load() != 0 || called.Load() != 0 {
				t.Errorf("consumed %d, minter called %d", used.Load(), called.Load())
			}
		})
	}
}

func nanValue() float64 { z := 0.0; return z / z }

// TestReviewDefaultAPITypeRefusals: a default naming an add-on that is not
// enabled (Validate refuses it) or not registered is server_error and
// burns nothing; token exchange ignores the default; an explicit unknown
// or not-enabled api_type is invalid_request.
func TestReviewDefaultAPITypeRefusals(t *testing.T) {
	m := engine.MinterFunc(func(context.Context, *engine.Grant) (*engine.Response, error) {
		return &engine.Response{Extra: map[string]any{"addon": 1}}, nil
	})
	st := store.NewMemory()
	var used atomic.Int32
	w := &xworld{now: fixedNow}
	w.world = newWorldOn(t, st, func(c *engine.Config) {
		c.Now = func() time.Time { return w.now }
		c.Minters = map[string]engine.Minter{"custom": m, "other": m}
		c.Replay = replayFunc(func(context.Context, string, time.Duration) (bool, error) { used.Add(1); return true, nil })
	})
	// Validate refuses a default that is not enabled; a store that skips
	// Validate must still not get a token out of it.
	bad := store.Client{ID: "not-enabled", SigningAlg: "HS256", Secrets: []store.Secret{{ID: "s", Value: randomSecret(t, 32)}},
		AllowedSources: []string{appHS}, Grants: bothGrants,
		APITypes: map[string]json.RawMessage{"other": json.RawMessage(`{}`)}, DefaultAPIType: "custom"}
	if err := bad.Validate(); err == nil || !errors.Is(err, store.ErrInvalidClient) {
		t.Errorf("Validate = %v, want a refusal of the default", err)
	}
	shared := sharedClients{}
	for _, id := range []string{appHS} {
		c, _ := st.Client(context.Background(), id)
		shared[id] = c
	}
	shared["not-enabled"] = &bad
	shared["unregistered"] = &store.Client{ID: "unregistered", SigningAlg: "HS256", Secrets: bad.Secrets,
		AllowedSources: []string{appHS}, APITypes: map[string]json.RawMessage{"ghost": nil}, DefaultAPIType: "ghost"}
	x, err := engine.New(engine.Config{Issuer: issuer, Clients: shared, Now: func() time.Time { return fixedNow },
		Minters: map[string]engine.Minter{"custom": m, "other": m},
		Replay:  replayFunc(func(context.Context, string, time.Duration) (bool, error) { used.Add(1); return true, nil })})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ target, apiType, code string }{
		{"not-enabled", "", engine.CodeServerError},
		{"not-enabled", "custom", engine.CodeInvalidRequest},
		{"unregistered", "", engine.CodeServerError},
		{"unregistered", "ghost", engine.CodeInvalidRequest},
		{"unregistered", "APP", engine.CodeInvalidRequest},
		{"unregistered", "Auth0", engine.CodeInvalidRequest},
	} {
		res, err := x.Exchange(context.Background(), &engine.Request{GrantType: engine.GrantTypeJWTBearer,
			ClientID: appHS, IDToken: w.idToken(t, appHS, nil), Target: tc.target, APIType: tc.apiType})
		assertRefused(t, res, err, tc.code)
	}
	if used.Load() != 0 {
		t.Errorf("refused exchanges consumed %d tokens", used.Load())
	}
	// token exchange: delegation-only api_type refused; the default is not used.
	r := tx(appHS, w.idToken(t, appHS, nil), engine.TokenTypeIDToken, "not-enabled")
	r.APIType = "custom"
	res, err := x.Exchange(context.Background(), r)
	assertRefused(t, res, err, engine.CodeInvalidRequest)
}
