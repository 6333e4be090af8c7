package engine_test

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/deputyauth/deputy/claims"
	"github.com/deputyauth/deputy/engine"
	"github.com/deputyauth/deputy/store"
)

// Clients of the reason world, beside the standard ones.
const (
	confApp  = "conf-app"  // confidential HS256 source
	txApp    = "tx-app"    // HS256, token exchange, may target itself
	narrowed = "narrowed"  // HS256 target allowing only openid and profile
	policed  = "policed"   // target the policy refuses
	txOnly   = "tx-only-a" // may use token exchange only
)

// reasonWorld is the standard world with refresh tokens, one-time use, a
// policy, an add-on minter and the clients above; every event lands in
// *events.
func reasonWorld(t *testing.T, events *[]engine.Event) *world {
	t.Helper()
	st := store.NewMemory()
	w := newWorldOn(t, st, func(c *engine.Config) {
		c.RefreshTokens, c.Profiles, c.Replay = st, st, st
		c.OnExchange = func(_ context.Context, e engine.Event) { *events = append(*events, e) }
		c.Policy = func(_ context.Context, g *engine.Grant) error {
			if g.Target.ID == policed {
				return &engine.Error{Code: engine.CodeInvalidGrant, Description: "user blocked"}
			}
			return nil
		}
		c.Minters = map[string]engine.Minter{"firebase": engine.MinterFunc(func(context.Context, *engine.Grant) (*engine.Response, error) {
			return &engine.Response{TokenType: "Bearer"}, nil
		})}
	})
	st.PutProfile("auth0|ada", userClaims())
	st.PutRefreshToken("rt-ada", store.RefreshGrant{ClientID: appHS, Subject: "auth0|ada", Scope: []string{"openid", "email"}})
	st.PutRefreshToken("rt-other", store.RefreshGrant{ClientID: appRS, Subject: "auth0|ada", Scope: []string{"openid"}})
	for _, c := range []store.Client{
		{ID: confApp, SigningAlg: "HS256", Confidential: true},
		{ID: txApp, SigningAlg: "HS256", Grants: bothGrants, AllowedSources: []string{txApp}},
		{ID: narrowed, SigningAlg: "HS256", AllowedSources: []string{appHS}, Scopes: []string{"openid", "profile"}},
		{ID: policed, SigningAlg: "HS256", AllowedSources: []string{appHS}},
		{ID: txOnly, SigningAlg: "HS256", Grants: []string{engine.GrantTypeTokenExchange}},
	} {
		putClient(t, st, c)
	}
	return w
}

// TestEventReason runs one request per check and compares the event and
// the answer: each check has its own Reason, while the wire says only
// what it said before, the same for checks a client must not tell apart.
func TestEventReason(t *testing.T) {
	var events []engine.Event
	w := reasonWorld(t, &events)
	tok := func(client string) string { return w.idToken(t, client, nil) }
	forged := func() string {
		a, b := strings.Split(tok(appHS), "."), strings.Split(tok(appHS), ".")
		return a[0] + "." + a[1] + "." + b[2]
	}()
	expired := w.idToken(t, appHS, func(c claims.Set) { c["exp"] = float64(fixedNow.Add(-time.Hour).Unix()) })
	replayed := tok(appHS)
	if _, err := w.x.Exchange(context.Background(), delegation(appHS, replayed, apiHS, "")); err != nil {
		t.Fatal(err)
	}
	longScope := "openid " + strings.Repeat("s", 200)
	// withKID is an id_token issued to client, signed with key under a
	// kid of the test's choosing.
	withKID := func(client string, alg jose.SignatureAlgorithm, key any, kid string) string {
		c := userClaims()
		c["iss"], c["sub"], c["aud"], c["jti"] = issuer, "auth0|ada", client, "jti-"+rand.Text()
		c["iat"], c["exp"] = float64(fixedNow.Add(-time.Minute).Unix()), float64(fixedNow.Add(time.Hour).Unix())
		// go-jose leaves a symmetric JSONWebKey's kid out of the header.
		signer, err := jose.NewSigner(jose.SigningKey{Algorithm: alg, Key: key}, (&jose.SignerOptions{}).WithHeader("kid", kid))
		if err != nil {
			t.Fatal(err)
		}
		payload, err := json.Marshal(c)
		if err != nil {
			t.Fatal(err)
		}
		jws, err := signer.Sign(payload)
		if err != nil {
			t.Fatal(err)
		}
		tok, err := jws.CompactSerialize()
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	withSecret := func(r *engine.Request, s string) *engine.Request { r.ClientSecret = s; return r }
	withAPIType := func(r *engine.Request, a string) *engine.Request { r.APIType = a; return r }

	// ev is the event expected for a delegation from appHS to apiHS;
	// cases change what differs.
	ev := func(mod func(*engine.Event)) engine.Event {
		e := engine.Event{
			Dialect: engine.DialectDelegation, GrantType: engine.GrantTypeJWTBearer,
			Requester: appHS, RequesterKnown: true, Target: apiHS, Subject: "auth0|ada",
		}
		mod(&e)
		return e
	}
	const (
		clientFailed  = "deputy: invalid_client: client authentication failed"
		targetFailed  = "deputy: invalid_target: target not available to this client"
		scopeRefused  = "deputy: invalid_scope: scope not allowed"
		apiTypeFailed = "deputy: invalid_request: api_type not available for this target"
		keyUnknown    = "deputy: invalid_grant: token key not known for the client"
	)
	for _, tc := range []struct {
		name string
		req  *engine.Request
		wire string // Error(); "" for success
		want engine.Event
	}{
		{"ok HS256", delegation(appHS, tok(appHS), apiHS, "openid email"), "", ev(func(e *engine.Event) {
			e.Outcome, e.TargetKnown, e.Scope, e.KeyID = "ok", true, "openid email", apiHS+"-s1"
		})},
		{"ok RS256", delegation(appHS, tok(appHS), apiRS, ""), "", ev(func(e *engine.Event) {
			e.Outcome, e.Target, e.TargetKnown, e.Scope, e.KeyID = "ok", apiRS, true, "openid", "rsa-1"
		})},
		{"ok token exchange", tx(txApp, tok(txApp), engine.TokenTypeIDToken), "", ev(func(e *engine.Event) {
			e.Dialect, e.GrantType, e.Outcome = engine.DialectTokenExchange, engine.GrantTypeTokenExchange, "ok"
			e.Requester, e.Target, e.TargetKnown, e.Scope, e.KeyID = txApp, txApp, true, "openid", txApp+"-s1"
		})},
		{"unsupported grant type", &engine.Request{GrantType: "password", ClientID: appHS, Target: apiHS},
			"deputy: unsupported_grant_type: grant_type not supported", ev(func(e *engine.Event) {
				e.Dialect, e.GrantType, e.RequesterKnown, e.Subject = "", "password", false, ""
				e.Outcome, e.Reason = engine.CodeUnsupportedGrantType, "grant_type not supported"
			})},
		{"requester unknown", delegation("ghost-app", tok(appHS), apiHS, ""), clientFailed, ev(func(e *engine.Event) {
			e.Requester, e.RequesterKnown, e.Subject = "ghost-app", false, ""
			e.Outcome, e.Reason = engine.CodeInvalidClient, "requester unknown"
		})},
		{"requester disabled", delegation(offline, tok(appHS), apiHS, ""), clientFailed, ev(func(e *engine.Event) {
			e.Requester, e.RequesterKnown, e.Subject = offline, false, ""
			e.Outcome, e.Reason = engine.CodeInvalidClient, "requester disabled"
		})},
		{"requester secret mismatch", withSecret(delegation(appHS, tok(appHS), apiHS, ""), "not-the-secret"), clientFailed, ev(func(e *engine.Event) {
			e.RequesterKnown, e.Subject = false, ""
			e.Outcome, e.Reason = engine.CodeInvalidClient, "requester secret mismatch"
		})},
		{"requester secret missing", delegation(confApp, tok(appHS), apiHS, ""), clientFailed, ev(func(e *engine.Event) {
			e.Requester, e.RequesterKnown, e.Subject = confApp, false, ""
			e.Outcome, e.Reason = engine.CodeInvalidClient, "requester secret missing (confidential client)"
		})},
		{"grant type not allowed", delegation(txOnly, tok(appHS), apiHS, ""),
			"deputy: unauthorized_client: client may not use this grant type", ev(func(e *engine.Event) {
				e.Requester, e.RequesterKnown, e.Subject = txOnly, false, ""
				e.Outcome, e.Reason = engine.CodeUnauthorizedClient, "client may not use this grant type"
			})},
		{"signature", delegation(appHS, forged, apiHS, ""),
			"deputy: invalid_grant: token signature is invalid", ev(func(e *engine.Event) {
				e.Subject, e.Outcome, e.Reason = "", engine.CodeInvalidGrant, "token signature is invalid"
			})},
		{"secret kid unknown", delegation(appHS, withKID(appHS, jose.HS256, w.secrets[appHS], "app-hs-s9"), apiHS, ""), keyUnknown, ev(func(e *engine.Event) {
			e.Subject, e.Outcome, e.Reason = "", engine.CodeInvalidGrant, "no active secret of the client matches the token kid"
		})},
		{"kid unknown to the key store", delegation(appRS, withKID(appRS, jose.RS256, rsaKey, "rsa-9"), apiHS, ""), keyUnknown, ev(func(e *engine.Event) {
			e.Requester, e.Subject, e.Outcome, e.Reason = appRS, "", engine.CodeInvalidGrant, "token kid unknown to the key store"
		})},
		{"kid of a key of another algorithm", delegation(appRS, withKID(appRS, jose.RS256, rsaKey, "ec-1"), apiHS, ""), keyUnknown, ev(func(e *engine.Event) {
			e.Requester, e.Subject, e.Outcome, e.Reason = appRS, "", engine.CodeInvalidGrant, "no key of the client's algorithm matches the token kid"
		})},
		{"expired", delegation(appHS, expired, apiHS, ""), "deputy: invalid_grant: token expired", ev(func(e *engine.Event) {
			e.Subject, e.Outcome, e.Reason = "", engine.CodeInvalidGrant, "token expired"
		})},
		{"refresh token unknown", refreshReq(appHS, "rt-nope", apiHS, ""),
			"deputy: invalid_grant: refresh token not known", ev(func(e *engine.Event) {
				e.Subject, e.Outcome, e.Reason = "", engine.CodeInvalidGrant, "refresh token unknown"
			})},
		{"refresh token of another client", refreshReq(appHS, "rt-other", apiHS, ""),
			"deputy: invalid_grant: refresh token not known", ev(func(e *engine.Event) {
				e.Subject, e.Outcome, e.Reason = "", engine.CodeInvalidGrant, "refresh token issued to another client"
			})},
		{"target unknown", delegation(appHS, tok(appHS), "ghost-api", ""), targetFailed, ev(func(e *engine.Event) {
			e.Target, e.Outcome, e.Reason = "ghost-api", engine.CodeInvalidTarget, "target unknown"
		})},
		{"target disabled", delegation(appHS, tok(appHS), offline, ""), targetFailed, ev(func(e *engine.Event) {
			e.Target, e.Outcome, e.Reason = offline, engine.CodeInvalidTarget, "target disabled"
		})},
		{"target does not allow requester", delegation(appHS, tok(appHS), lonely, ""), targetFailed, ev(func(e *engine.Event) {
			e.Target, e.Outcome, e.Reason = lonely, engine.CodeInvalidTarget, "target does not allow requester"
		})},
		{"refresh token of another client, token exchange", tx(txApp, "rt-ada", engine.TokenTypeRefreshToken),
			"deputy: invalid_request: refresh token not known", ev(func(e *engine.Event) {
				e.Dialect, e.GrantType, e.Requester, e.Target = engine.DialectTokenExchange, engine.GrantTypeTokenExchange, txApp, ""
				e.Subject, e.Outcome, e.Reason = "", engine.CodeInvalidRequest, "refresh token issued to another client"
			})},
		{"target unknown, token exchange", tx(txApp, tok(txApp), engine.TokenTypeIDToken, "ghost-api"), targetFailed, ev(func(e *engine.Event) {
			e.Dialect, e.GrantType, e.Requester = engine.DialectTokenExchange, engine.GrantTypeTokenExchange, txApp
			e.Target, e.Outcome, e.Reason = "ghost-api", engine.CodeInvalidTarget, "target unknown"
		})},
		{"api_type unknown", withAPIType(delegation(appHS, tok(appHS), apiHS, ""), "nope"), apiTypeFailed, ev(func(e *engine.Event) {
			e.APIType, e.TargetKnown, e.Outcome, e.Reason = "nope", true, engine.CodeInvalidRequest, "api_type unknown: nope"
		})},
		{"api_type not enabled", withAPIType(delegation(appHS, tok(appHS), apiHS, ""), "firebase"), apiTypeFailed, ev(func(e *engine.Event) {
			e.APIType, e.TargetKnown, e.Outcome, e.Reason = "firebase", true, engine.CodeInvalidRequest, "api_type not enabled for target: firebase"
		})},
		{"scope not known", delegation(appHS, tok(appHS), apiHS, "openid bogus"), "deputy: invalid_scope: scope not known", ev(func(e *engine.Event) {
			e.TargetKnown, e.Outcome, e.Reason = true, engine.CodeInvalidScope, "scope not known: bogus"
		})},
		{"scope not known, long", delegation(appHS, tok(appHS), apiHS, longScope), "deputy: invalid_scope: scope not known", ev(func(e *engine.Event) {
			e.TargetKnown, e.Outcome = true, engine.CodeInvalidScope
			e.Reason = "scope not known: " + engine.LogValue(strings.Repeat("s", 200))
		})},
		{"scope not allowed by target", delegation(appHS, tok(appHS), narrowed, "openid email"), scopeRefused, ev(func(e *engine.Event) {
			e.Target, e.TargetKnown, e.Outcome, e.Reason = narrowed, true, engine.CodeInvalidScope, "scope not allowed by target: email"
		})},
		{"scope beyond the source's bound", refreshReq(appHS, "rt-ada", apiHS, "openid profile"), scopeRefused, ev(func(e *engine.Event) {
			e.TargetKnown, e.Outcome, e.Reason = true, engine.CodeInvalidScope, "scope beyond the source's bound: profile"
		})},
		{"policy", delegation(appHS, tok(appHS), policed, ""), "deputy: invalid_grant: user blocked", ev(func(e *engine.Event) {
			e.Target, e.TargetKnown, e.Scope = policed, true, "openid"
			e.Outcome, e.Reason = engine.CodeInvalidGrant, "policy refused: user blocked"
		})},
		{"replayed", delegation(appHS, replayed, apiHS, ""), "deputy: invalid_grant: token already used", ev(func(e *engine.Event) {
			e.TargetKnown, e.Scope, e.Outcome, e.Reason = true, "openid", engine.CodeInvalidGrant, "token already used"
		})},
	} {
		t.Run(tc.name, func(t *testing.T) {
			events = events[:0]
			res, err := w.x.Exchange(context.Background(), tc.req)
			if len(events) != 1 {
				t.Fatalf("got %d events, want 1", len(events))
			}
			got := events[0]
			if diff := cmp.Diff(tc.want, got, cmpopts.IgnoreFields(engine.Event{}, "Time", "Err", "SourceHash", "Latency", "JTI")); diff != "" {
				t.Errorf("event (-want +got):\n%s", diff)
			}
			if tc.wire == "" {
				if err != nil || res == nil || got.JTI == "" || got.Err != nil {
					t.Fatalf("Exchange = %v, %v; event JTI %q, Err %v", res, err, got.JTI, got.Err)
				}
				return
			}
			assertRefused(t, res, err, tc.want.Outcome, tc.req.IDToken, tc.req.SubjectToken, tc.req.RefreshToken, tc.req.ClientSecret)
			if got.Err != err || got.JTI != "" {
				t.Errorf("event Err %v, JTI %q; want the returned error and no jti", got.Err, got.JTI)
			}
			if diff := cmp.Diff(tc.wire, err.Error()); diff != "" {
				t.Errorf("Error() (-want +got):\n%s", diff)
			}
			// What a host sends: only code and description, never the reason.
			body, jerr := json.Marshal(engine.AsError(err))
			if jerr != nil {
				t.Fatal(jerr)
			}
			if strings.Contains(string(body), got.Reason) && got.Reason != engine.AsError(err).Description {
				t.Errorf("answer %s carries the reason %q", body, got.Reason)
			}
			for _, secret := range []string{tc.req.IDToken, tc.req.SubjectToken, tc.req.RefreshToken, tc.req.ClientSecret, longScope} {
				if secret != "" && strings.Contains(got.Reason, secret) {
					t.Errorf("reason %q holds a request secret or an unbounded value", got.Reason)
				}
			}
		})
	}
}

// TestEventReasonsDistinct checks the table above did what it claims:
// every refusal reason differs, while the answers of the groups clients
// must not tell apart are one answer each.
func TestEventReasonsDistinct(t *testing.T) {
	var events []engine.Event
	w := reasonWorld(t, &events)
	reqs := map[string]*engine.Request{
		"requester unknown":  delegation("ghost-app", "x.y.z", apiHS, ""),
		"requester disabled": delegation(offline, "x.y.z", apiHS, ""),
		"requester secret":   func() *engine.Request { r := delegation(appHS, "x.y.z", apiHS, ""); r.ClientSecret = "nope"; return r }(),
		"requester missing":  delegation(confApp, "x.y.z", apiHS, ""),
		"target unknown":     delegation(appHS, w.idToken(t, appHS, nil), "ghost-api", ""),
		"target disabled":    delegation(appHS, w.idToken(t, appHS, nil), offline, ""),
		"target not allowed": delegation(appHS, w.idToken(t, appHS, nil), lonely, ""),
	}
	answers := map[string]map[string]bool{}
	reasons := map[string]string{}
	for name, req := range reqs {
		events = events[:0]
		_, err := w.x.Exchange(context.Background(), req)
		body, _ := json.Marshal(engine.AsError(err))
		group := name[:strings.IndexByte(name, ' ')]
		if answers[group] == nil {
			answers[group] = map[string]bool{}
		}
		answers[group][err.Error()+" "+string(body)] = true
		if other, dup := reasons[events[0].Reason]; dup {
			t.Errorf("%s and %s share the reason %q", name, other, events[0].Reason)
		}
		reasons[events[0].Reason] = name
	}
	for group, a := range answers {
		if len(a) != 1 {
			t.Errorf("%s refusals answer differently: %v", group, a)
		}
	}
}

func TestHooks(t *testing.T) {
	if engine.Hooks() != nil || engine.Hooks(nil, nil) != nil {
		t.Error("Hooks without a hook is not nil")
	}
	var got []string
	hook := func(name string) func(context.Context, engine.Event) {
		return func(_ context.Context, e engine.Event) { got = append(got, name+":"+e.Outcome) }
	}
	engine.Hooks(hook("a"), nil, hook("b"))(context.Background(), engine.Event{Outcome: "ok"})
	engine.Hooks(nil, hook("c"))(context.Background(), engine.Event{Outcome: engine.CodeInvalidGrant})
	if diff := cmp.Diff([]string{"a:ok", "b:ok", "c:invalid_grant"}, got); diff != "" {
		t.Errorf("calls (-want +got):\n%s", diff)
	}
}
