package engine_test

import (
	"context"
	"encoding/json"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/deputyauth/deputy/claims"
	"github.com/deputyauth/deputy/engine"
	"github.com/deputyauth/deputy/store"
)

// TestPolicy: what a Policy may do (refuse, narrow the scope, add and
// change claims) takes effect in both dialects; what it may not do (widen
// the scope, add an owned claim or one a scope not granted releases, fail
// or panic) mints nothing, burns nothing, and is server_error.
func TestPolicy(t *testing.T) {
	type policy = func(context.Context, *engine.Grant) error
	for _, tc := range []struct {
		name   string
		policy policy
		scope  string
		code   string     // refusal, or "" for a token
		want   claims.Set // released claims (beyond the engine's own), when minted
		wantSc string     // granted scope, when minted
	}{
		{name: "allow, unchanged", scope: "openid email",
			policy: func(context.Context, *engine.Grant) error { return nil },
			want:   claims.Set{"email": "ada@example.com", "email_verified": true}, wantSc: "openid email"},
		{name: "refuse with invalid_grant", scope: "openid email", code: engine.CodeInvalidGrant,
			policy: func(context.Context, *engine.Grant) error {
				return &engine.Error{Code: engine.CodeInvalidGrant, Description: "user blocked"}
			}},
		{name: "refuse with invalid_scope", scope: "openid email", code: engine.CodeInvalidScope,
			policy: func(context.Context, *engine.Grant) error {
				return &engine.Error{Code: engine.CodeInvalidScope, Description: "not for this target"}
			}},
		{name: "refuse with a code that does not fit", scope: "openid", code: engine.CodeServerError,
			policy: func(context.Context, *engine.Grant) error { return engine.ErrInvalidClient }},
		{name: "plain error", scope: "openid", code: engine.CodeServerError,
			policy: func(context.Context, *engine.Grant) error { return errors.New("database down") }},
		{name: "panic", scope: "openid", code: engine.CodeServerError,
			policy: func(context.Context, *engine.Grant) error { panic("boom") }},
		{name: "add a namespaced claim", scope: "openid email",
			policy: func(_ context.Context, g *engine.Grant) error {
				g.Claims["https://example.com/roles"] = []string{"admin", "billing"}
				return nil
			},
			want: claims.Set{"email": "ada@example.com", "email_verified": true, "https://example.com/roles": []any{"admin", "billing"}}, wantSc: "openid email"},
		{name: "add a claim of a granted scope the source lacked", scope: "openid phone",
			policy: func(_ context.Context, g *engine.Grant) error {
				g.Claims["phone_number_verified"] = true
				return nil
			},
			want: claims.Set{"phone_number": "+1 555 0100", "phone_number_verified": true}, wantSc: "openid phone"},
		{name: "change and delete given claims", scope: "openid email",
			policy: func(_ context.Context, g *engine.Grant) error {
				g.Claims["email"] = "ADA@EXAMPLE.COM"
				delete(g.Claims, "email_verified")
				return nil
			},
			want: claims.Set{"email": "ADA@EXAMPLE.COM"}, wantSc: "openid email"},
		{name: "narrow the scope: its claims go", scope: "openid email profile",
			policy: func(_ context.Context, g *engine.Grant) error {
				g.Scope = []string{"openid", "email"}
				return nil
			},
			want: claims.Set{"email": "ada@example.com", "email_verified": true}, wantSc: "openid email"},
		{name: "widen the scope", scope: "openid", code: engine.CodeServerError,
			policy: func(_ context.Context, g *engine.Grant) error {
				g.Scope = append(g.Scope, "email")
				return nil
			}},
		{name: "scope replaced by an unknown one", scope: "openid", code: engine.CodeServerError,
			policy: func(_ context.Context, g *engine.Grant) error {
				g.Scope = []string{"bad scope"}
				return nil
			}},
		{name: "add a claim JSON cannot carry", scope: "openid", code: engine.CodeServerError,
			policy: func(_ context.Context, g *engine.Grant) error {
				g.Claims["https://example.com/ch"] = make(chan int)
				return nil
			}},
		{name: "add an owned claim", scope: "openid", code: engine.CodeServerError,
			policy: func(_ context.Context, g *engine.Grant) error {
				g.Claims["aud"] = "someone-else"
				return nil
			}},
		{name: "add an owned claim in another case", scope: "openid", code: engine.CodeServerError,
			policy: func(_ context.Context, g *engine.Grant) error {
				g.Claims["ſub"] = "admin"
				return nil
			}},
		{name: "add a claim of a scope not granted", scope: "openid", code: engine.CodeServerError,
			policy: func(_ context.Context, g *engine.Grant) error {
				g.Claims["email"] = "ada@example.com"
				return nil
			}},
		{name: "changes to the rest of the grant are ignored", scope: "openid",
			policy: func(_ context.Context, g *engine.Grant) error {
				g.Subject, g.Target.ID, g.Requester.ID = "admin", "elsewhere", "someone"
				g.Target.AllowedSources[0] = "mutated"
				g.Lifetime *= 100
				return nil
			},
			want: claims.Set{}, wantSc: "openid"},
	} {
		for _, dialect := range []string{"delegation", "token exchange"} {
			t.Run(tc.name+"/"+dialect, func(t *testing.T) {
				var consumed atomic.Int32
				w := newXWorld(t, func(c *engine.Config) {
					c.Policy = tc.policy
					c.Replay = replayFunc(func(context.Context, string, time.Duration) (bool, error) {
						consumed.Add(1)
						return true, nil
					})
				})
				tok := w.idToken(t, svcA, nil)
				req := &engine.Request{GrantType: engine.GrantTypeJWTBearer, ClientID: svcA, IDToken: tok, Target: svcB, Scope: tc.scope}
				if dialect != "delegation" {
					req = withScope(tx(svcA, tok, engine.TokenTypeIDToken, svcB), tc.scope)
				}
				res, err := w.x.Exchange(context.Background(), req)
				if tc.code != "" {
					assertRefused(t, res, err, tc.code, tok)
					if n := consumed.Load(); n != 0 {
						t.Errorf("a refused exchange consumed the token (%d uses)", n)
					}
					return
				}
				if err != nil {
					t.Fatal(err)
				}
				var got claims.Set
				if dialect == "delegation" {
					_, got = w.decode(t, res.IDToken, svcB)
				} else {
					got = w.checkAccessToken(t, res, svcB)
					if got["scope"] != tc.wantSc || res.Scope != tc.wantSc {
						t.Errorf("scope claim %v, answer %q; want %q", got["scope"], res.Scope, tc.wantSc)
					}
				}
				if got["sub"] != "auth0|ada" || got["aud"] != svcB {
					t.Errorf("sub %v, aud %v: the policy's changes to the grant took effect", got["sub"], got["aud"])
				}
				for _, k := range []string{"iss", "sub", "aud", "azp", "client_id", "iat", "exp", "jti", "scope"} {
					delete(got, k)
				}
				if diff := cmp.Diff(tc.want, got); diff != "" {
					t.Errorf("released claims (-want +got):\n%s", diff)
				}
				if target, _ := w.st.Client(context.Background(), svcB); target.AllowedSources[0] != svcA {
					t.Error("the policy changed the store's record")
				}
			})
		}
	}
}

// TestPolicyEvent: the event reports the scope the policy left.
func TestPolicyEvent(t *testing.T) {
	var ev engine.Event
	w := newXWorld(t, func(c *engine.Config) {
		c.Policy = func(_ context.Context, g *engine.Grant) error { g.Scope = []string{"openid"}; return nil }
		c.OnExchange = func(_ context.Context, e engine.Event) { ev = e }
	})
	mustExchange(t, w, withScope(tx(svcA, w.idToken(t, svcA, nil), engine.TokenTypeIDToken, svcB), "openid email"))
	if ev.Scope != "openid" {
		t.Errorf("event scope %q, want openid", ev.Scope)
	}
}

// TestDefaultAPIType: a delegation request without api_type is answered
// by the target's default add-on; app and auth0 still mean the id_token;
// token exchange never uses add-ons; a default without a minter is the
// server's misconfiguration.
func TestDefaultAPIType(t *testing.T) {
	minted := engine.MinterFunc(func(_ context.Context, g *engine.Grant) (*engine.Response, error) {
		return &engine.Response{Extra: map[string]any{"addon_token": "for " + g.Subject}}, nil
	})
	w := newXWorld(t, func(c *engine.Config) { c.Minters = map[string]engine.Minter{"custom": minted} })
	for _, c := range []store.Client{
		{ID: "with-default", SigningAlg: "HS256", AllowedSources: []string{svcA}, Grants: bothGrants,
			APITypes: map[string]json.RawMessage{"custom": json.RawMessage(`{}`)}, DefaultAPIType: "custom"},
		{ID: "unminted-default", SigningAlg: "HS256", AllowedSources: []string{svcA}, Grants: bothGrants,
			APITypes: map[string]json.RawMessage{"ghost": json.RawMessage(`{}`)}, DefaultAPIType: "ghost"},
	} {
		putClient(t, w.st, c)
	}
	deleg := func(target, apiType string) *engine.Request {
		return &engine.Request{GrantType: engine.GrantTypeJWTBearer, ClientID: svcA, IDToken: w.idToken(t, svcA, nil), Target: target, APIType: apiType}
	}
	res := mustExchange(t, w, deleg("with-default", ""))
	if res.Extra["addon_token"] != "for auth0|ada" || res.IDToken != "" {
		t.Errorf("no api_type: %+v, want the default add-on's answer", res)
	}
	for _, apiType := range []string{"app", "auth0"} {
		if res := mustExchange(t, w, deleg("with-default", apiType)); res.IDToken == "" || res.Extra != nil {
			t.Errorf("api_type %s: %+v, want the id_token", apiType, res)
		}
	}
	if res := mustExchange(t, w, tx(svcA, w.idToken(t, svcA, nil), engine.TokenTypeIDToken, "with-default")); res.AccessToken == "" {
		t.Errorf("token exchange: %+v, want an access token", res)
	}
	res, err := w.x.Exchange(context.Background(), deleg("unminted-default", ""))
	assertRefused(t, res, err, engine.CodeServerError)
	res, err = w.x.Exchange(context.Background(), deleg("unminted-default", "ghost"))
	assertRefused(t, res, err, engine.CodeInvalidRequest)
}
