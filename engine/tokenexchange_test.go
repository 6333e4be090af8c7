package engine_test

import (
	"context"
	"encoding/json"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/google/go-cmp/cmp"

	"github.com/deputyauth/deputy/claims"
	"github.com/deputyauth/deputy/engine"
	"github.com/deputyauth/deputy/store"
)

// Clients of the token-exchange world, a chain of services: the user signs
// in at A; A calls B, B calls C, C calls D.
const (
	svcA   = "svc-a"                       // HS256 front end; the user's id_token is issued to it
	svcB   = "svc-b"                       // HS256 API behind A; may exchange for itself
	svcC   = "svc-c"                       // EdDSA API behind B
	svcD   = "svc-d"                       // RS256 API behind C
	orders = "https://orders.example.com/" // ES256 API named by a URI, behind A and B
	narrow = "narrow"                      // HS256 API behind A and B allowing only openid and profile
)

var bothGrants = []string{engine.GrantTypeJWTBearer, engine.GrantTypeTokenExchange}

// xworld is the standard world plus the service chain, with a clock the
// test can move.
type xworld struct {
	*world
	now time.Time
}

func newXWorld(t testing.TB, mod func(*engine.Config)) *xworld {
	t.Helper()
	xw := &xworld{now: fixedNow}
	xw.world = newWorld(t, func(c *engine.Config) {
		c.Now = func() time.Time { return xw.now }
		if mod != nil {
			mod(c)
		}
	})
	for _, c := range []store.Client{
		{ID: svcA, SigningAlg: "HS256"},
		{ID: svcB, SigningAlg: "HS256", AllowedSources: []string{svcA, svcB}},
		{ID: svcC, SigningAlg: "EdDSA", AllowedSources: []string{svcB, svcC}},
		{ID: svcD, SigningAlg: "RS256", AllowedSources: []string{svcC}},
		{ID: orders, SigningAlg: "ES256", AllowedSources: []string{svcA, svcB}},
		{ID: narrow, SigningAlg: "HS256", AllowedSources: []string{svcA, svcB}, Scopes: []string{"openid", "profile"}},
	} {
		c.Grants = bothGrants
		if store.IsHMAC(c.SigningAlg) {
			sec := randomSecret(t, 32)
			xw.secrets[c.ID] = sec
			c.Secrets = []store.Secret{{ID: c.ID + "-s1", Value: sec}}
		}
		putClient(t, xw.st, c)
	}
	return xw
}

// accessToken signs an RFC 9068 access token as the issuer would for
// client, with scope "openid email" and the user's claims; mod edits the
// claims.
func (w *xworld) accessToken(t testing.TB, client string, mod func(claims.Set)) string {
	t.Helper()
	c := userClaims()
	c["iss"], c["sub"], c["aud"], c["client_id"] = issuer, "auth0|ada", client, svcA
	c["iat"], c["exp"] = float64(w.now.Add(-time.Minute).Unix()), float64(w.now.Add(time.Hour).Unix())
	c["jti"], c["scope"] = "at-"+strings.Repeat("x", 8)+randomJTI(t), "openid email"
	if mod != nil {
		mod(c)
	}
	return w.sign(t, client, c, (&jose.SignerOptions{}).WithType("at+jwt"))
}

// serviceToken is an id_token issued to client for the service itself,
// for use as an actor token.
func (w *xworld) serviceToken(t testing.TB, client string, mod func(claims.Set)) string {
	t.Helper()
	return w.idToken(t, client, func(c claims.Set) {
		c["sub"] = "service:" + client
		c["iat"], c["exp"] = float64(w.now.Add(-time.Minute).Unix()), float64(w.now.Add(time.Hour).Unix())
		if mod != nil {
			mod(c)
		}
	})
}

func randomJTI(t testing.TB) string { return string(randomSecretText(t)) }

func randomSecretText(t testing.TB) []byte {
	b := randomSecret(t, 12)
	const hex = "0123456789abcdef"
	out := make([]byte, 0, 24)
	for _, c := range b {
		out = append(out, hex[c>>4], hex[c&15])
	}
	return out
}

// tx builds a token-exchange request.
func tx(client, subject, subjectType string, audience ...string) *engine.Request {
	return &engine.Request{
		GrantType: engine.GrantTypeTokenExchange, ClientID: client,
		SubjectToken: subject, SubjectTokenType: subjectType, Audience: audience,
	}
}

func withActor(r *engine.Request, actor, actorType string) *engine.Request {
	r.ActorToken, r.ActorTokenType = actor, actorType
	return r
}

func withScope(r *engine.Request, s string) *engine.Request { r.Scope = s; return r }

// checkAccessToken verifies res as an RFC 8693 answer carrying an access
// token for target and returns the token's claims without jti. The header
// must be exactly alg, kid, typ at+jwt and the deputy mark.
func (w *xworld) checkAccessToken(t *testing.T, res *engine.Response, target string) claims.Set {
	t.Helper()
	return w.checkIssued(t, res, target, engine.TokenTypeAccessToken, "Bearer", "at+jwt")
}

func (w *xworld) checkIssued(t *testing.T, res *engine.Response, target, issuedType, tokenType, typ string) claims.Set {
	t.Helper()
	if res == nil {
		t.Fatal("no response")
	}
	if res.IssuedTokenType != issuedType || res.TokenType != tokenType || res.IDToken != "" || res.AccessToken == "" {
		t.Errorf("response fields = %+v, want access_token, issued_token_type %s, token_type %s", res, issuedType, tokenType)
	}
	h, c := w.decode(t, res.AccessToken, target)
	wantHeader := map[string]any{"typ": typ, "deputy": float64(1)}
	if diff := cmp.Diff(wantHeader, map[string]any{"typ": h.ExtraHeaders["typ"], "deputy": h.ExtraHeaders["deputy"]}); diff != "" {
		t.Errorf("header (-want +got):\n%s", diff)
	}
	if h.KeyID == "" || len(h.ExtraHeaders) != 2 {
		t.Errorf("header kid %q, extra %v: want a kid and only typ and deputy besides", h.KeyID, h.ExtraHeaders)
	}
	exp, _ := c.NumericDate("exp")
	iat, _ := c.NumericDate("iat")
	if got := int64(exp.Sub(iat) / time.Second); got != res.ExpiresIn || got <= 0 {
		t.Errorf("expires_in = %d, exp-iat = %d", res.ExpiresIn, got)
	}
	if jti, err := c.StringValue("jti"); err != nil || len(jti) != 22 {
		t.Errorf("jti = %q (%v), want 22 base64url characters", jti, err)
	}
	delete(c, "jti")
	return c
}

// atWant is what deputy sets on an access token for target requested by
// requester, issued at the world's clock.
func (w *xworld) atWant(requester, target, scope string, lifetime time.Duration) claims.Set {
	iat := float64(w.now.Unix())
	return claims.Set{
		"iss": issuer, "sub": "auth0|ada", "aud": target, "client_id": requester,
		"iat": iat, "exp": iat + lifetime.Seconds(), "scope": scope,
	}
}

func TestTokenExchangeAccessToken(t *testing.T) {
	w := newXWorld(t, nil)
	res, err := w.x.Exchange(context.Background(), withScope(tx(svcA, w.idToken(t, svcA, nil), engine.TokenTypeIDToken, svcB), "openid email"))
	if err != nil {
		t.Fatal(err)
	}
	got := w.checkAccessToken(t, res, svcB)
	// The id_token's exp (an hour away) caps the default 10 hours.
	want := w.atWant(svcA, svcB, "openid email", time.Hour)
	want["email"], want["email_verified"] = "ada@example.com", true
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("claims (-want +got):\n%s", diff)
	}
	if res.Scope != "openid email" || res.ExpiresIn != 3600 {
		t.Errorf("scope %q, expires_in %d; want openid email, 3600", res.Scope, res.ExpiresIn)
	}
	wire, err := json.Marshal(res)
	if err != nil {
		t.Fatal(err)
	}
	var fields map[string]any
	if err := json.Unmarshal(wire, &fields); err != nil {
		t.Fatal(err)
	}
	wantWire := map[string]any{
		"access_token": res.AccessToken, "issued_token_type": "urn:ietf:params:oauth:token-type:access_token",
		"token_type": "Bearer", "expires_in": float64(3600), "scope": "openid email",
	}
	if diff := cmp.Diff(wantWire, fields); diff != "" {
		t.Errorf("wire answer (-want +got):\n%s", diff)
	}
}

func TestTokenExchangeIDToken(t *testing.T) {
	w := newXWorld(t, nil)
	req := withScope(tx(svcA, w.idToken(t, svcA, nil), engine.TokenTypeIDToken, orders), "openid profile")
	req.RequestedTokenType = engine.TokenTypeIDToken
	res, err := w.x.Exchange(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	got := w.checkIssued(t, res, orders, engine.TokenTypeIDToken, "N_A", "JWT")
	iat := float64(w.now.Unix())
	want := claims.Set{
		"iss": issuer, "sub": "auth0|ada", "aud": orders, "azp": svcA, "iat": iat, "exp": iat + 3600,
		"name": "Ada Lovelace", "given_name": "Ada", "family_name": "Lovelace", "nickname": "ada",
		"picture": "https://example.com/ada.png", "updated_at": float64(1700000000),
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("claims (-want +got):\n%s", diff)
	}
	if res.Scope != "openid profile" {
		t.Errorf("scope = %q", res.Scope)
	}
}

// TestTokenExchangeShape: every shape rule of the dialect, refused with
// invalid_request before anything else is looked at.
func TestTokenExchangeShape(t *testing.T) {
	w := newXWorld(t, nil)
	good := func() *engine.Request { return tx(svcA, w.idToken(t, svcA, nil), engine.TokenTypeIDToken, svcB) }
	for _, tc := range []struct {
		name string
		mod  func(r *engine.Request)
	}{
		{"no client_id", func(r *engine.Request) { r.ClientID = "" }},
		{"no subject_token", func(r *engine.Request) { r.SubjectToken = "" }},
		{"no subject_token_type", func(r *engine.Request) { r.SubjectTokenType = "" }},
		{"actor_token without type", func(r *engine.Request) { r.ActorToken = w.serviceToken(t, svcA, nil) }},
		{"actor_token_type without token", func(r *engine.Request) { r.ActorTokenType = engine.TokenTypeIDToken }},
		{"id_token parameter", func(r *engine.Request) { r.IDToken = r.SubjectToken }},
		{"refresh_token parameter", func(r *engine.Request) { r.RefreshToken = "rt" }},
		{"target parameter", func(r *engine.Request) { r.Target = svcB }},
		{"api_type parameter", func(r *engine.Request) { r.APIType = "app" }},
		{"requested refresh_token", func(r *engine.Request) { r.RequestedTokenType = engine.TokenTypeRefreshToken }},
		{"requested jwt", func(r *engine.Request) { r.RequestedTokenType = engine.TokenTypeJWT }},
		{"requested saml2", func(r *engine.Request) { r.RequestedTokenType = "urn:ietf:params:oauth:token-type:saml2" }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req := good()
			tc.mod(req)
			res, err := w.x.Exchange(context.Background(), req)
			assertRefused(t, res, err, engine.CodeInvalidRequest, req.SubjectToken)
		})
	}
	t.Run("accepted", func(t *testing.T) {
		for _, rt := range []string{"", engine.TokenTypeAccessToken} {
			req := good()
			req.RequestedTokenType = rt
			if _, err := w.x.Exchange(context.Background(), req); err != nil {
				t.Errorf("requested_token_type %q: %v", rt, err)
			}
		}
	})
	t.Run("grant not allowed", func(t *testing.T) {
		// app-hs may use only the delegation grant.
		res, err := w.x.Exchange(context.Background(), tx(appHS, w.idToken(t, appHS, nil), engine.TokenTypeIDToken, apiHS))
		assertRefused(t, res, err, engine.CodeUnauthorizedClient)
	})
}

func TestTokenExchangeTarget(t *testing.T) {
	w := newXWorld(t, nil)
	for _, tc := range []struct {
		name               string
		audience, resource []string
		want               string // target, or "" when refused with invalid_target
	}{
		{"audience", []string{svcB}, nil, svcB},
		{"resource URI", nil, []string{orders}, orders},
		{"same name twice", []string{orders, orders}, []string{orders}, orders},
		{"empty values are not sent", []string{"", orders, ""}, []string{""}, orders},
		{"none: the requester", nil, nil, ""}, // svc-a does not allow itself
		{"two audiences", []string{svcB, orders}, nil, ""},
		{"audience and another resource", []string{svcB}, []string{orders}, ""},
		{"resource not absolute", nil, []string{"orders.example.com/"}, ""},
		{"resource with fragment", nil, []string{orders + "#x"}, ""},
		{"resource with empty fragment", nil, []string{orders + "#"}, ""},
		{"unknown", []string{"nobody"}, nil, ""},
		{"disabled", []string{offline}, nil, ""},
		{"not allowing the requester", []string{svcC}, nil, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req := tx(svcA, w.idToken(t, svcA, nil), engine.TokenTypeIDToken, tc.audience...)
			req.Resource = tc.resource
			res, err := w.x.Exchange(context.Background(), req)
			if tc.want == "" {
				assertRefused(t, res, err, engine.CodeInvalidTarget)
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := w.checkAccessToken(t, res, tc.want)["aud"]; got != tc.want {
				t.Errorf("aud = %v, want %s", got, tc.want)
			}
		})
	}
	t.Run("none: the requester itself", func(t *testing.T) {
		// svc-b lists itself in AllowedSources.
		res, err := w.x.Exchange(context.Background(), tx(svcB, w.idToken(t, svcB, nil), engine.TokenTypeIDToken))
		if err != nil {
			t.Fatal(err)
		}
		if got := w.checkAccessToken(t, res, svcB)["aud"]; got != svcB {
			t.Errorf("aud = %v", got)
		}
	})
}

// TestTokenExchangeSubjectTypes: the declared type decides the rules, and
// a token its typ contradicts is refused, in both directions.
func TestTokenExchangeSubjectTypes(t *testing.T) {
	w := newXWorld(t, nil)
	// A token deputy minted for B: an access token, and an id_token.
	mintedAT := mustExchange(t, w, tx(svcA, w.idToken(t, svcA, nil), engine.TokenTypeIDToken, svcB)).AccessToken
	idReq := tx(svcA, w.idToken(t, svcA, nil), engine.TokenTypeIDToken, svcB)
	idReq.RequestedTokenType = engine.TokenTypeIDToken
	mintedID := mustExchange(t, w, idReq).AccessToken
	delegated := mustExchange(t, w, delegation(appHS, w.idToken(t, appHS, nil), apiHS, "")).IDToken
	_ = delegated

	untyped := w.sign(t, svcB, sourceClaimsFor(w, svcB), &jose.SignerOptions{})
	at := w.accessToken(t, svcB, nil)
	appAT := w.sign(t, svcB, sourceClaimsFor(w, svcB), (&jose.SignerOptions{}).WithType("application/AT+JWT"))
	for _, tc := range []struct {
		name, token, typ string
		ok               bool
	}{
		{"id_token as id_token", w.idToken(t, svcB, nil), engine.TokenTypeIDToken, true},
		{"untyped as id_token", untyped, engine.TokenTypeIDToken, true},
		{"access token as access_token", at, engine.TokenTypeAccessToken, true},
		{"application/at+jwt in any case", appAT, engine.TokenTypeAccessToken, true},
		{"minted access token as access_token", mintedAT, engine.TokenTypeAccessToken, true},
		{"jwt: typ at+jwt", at, engine.TokenTypeJWT, true},
		{"jwt: typ JWT", w.idToken(t, svcB, nil), engine.TokenTypeJWT, true},
		{"jwt: no typ", untyped, engine.TokenTypeJWT, true},
		{"id_token as access_token", w.idToken(t, svcB, nil), engine.TokenTypeAccessToken, false},
		{"untyped as access_token", untyped, engine.TokenTypeAccessToken, false},
		{"access token as id_token", at, engine.TokenTypeIDToken, false},
		{"minted access token as id_token", mintedAT, engine.TokenTypeIDToken, false},
		{"minted id_token as id_token", mintedID, engine.TokenTypeIDToken, false},
		{"minted id_token as jwt", mintedID, engine.TokenTypeJWT, false},
		{"minted id_token as access_token", mintedID, engine.TokenTypeAccessToken, false},
		{"saml2", at, "urn:ietf:params:oauth:token-type:saml2", false},
		{"unknown urn", at, "urn:example:token", false},
		{"refresh_token type for a JWS", at, engine.TokenTypeRefreshToken, false}, // no RefreshTokens configured
		{"access token for another client", w.accessToken(t, svcA, nil), engine.TokenTypeAccessToken, false},
		{"access token without exp", w.accessToken(t, svcB, func(c claims.Set) { delete(c, "exp") }), engine.TokenTypeAccessToken, false},
		{"access token without sub", w.accessToken(t, svcB, func(c claims.Set) { delete(c, "sub") }), engine.TokenTypeAccessToken, false},
		{"access token of another issuer", w.accessToken(t, svcB, func(c claims.Set) { c["iss"] = "https://evil.example/" }), engine.TokenTypeAccessToken, false},
		{"access token scope not a string", w.accessToken(t, svcB, func(c claims.Set) { c["scope"] = []any{"openid"} }), engine.TokenTypeAccessToken, false},
		{"access token scope malformed", w.accessToken(t, svcB, func(c claims.Set) { c["scope"] = "openid  email" }), engine.TokenTypeAccessToken, false},
		{"access token scope empty", w.accessToken(t, svcB, func(c claims.Set) { c["scope"] = "" }), engine.TokenTypeAccessToken, false},
		{"typ other", w.sign(t, svcB, sourceClaimsFor(w, svcB), (&jose.SignerOptions{}).WithType("dpop+jwt")), engine.TokenTypeJWT, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res, err := w.x.Exchange(context.Background(), tx(svcB, tc.token, tc.typ, svcC))
			if !tc.ok {
				assertRefused(t, res, err, engine.CodeInvalidRequest, tc.token)
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := w.checkAccessToken(t, res, svcC)["sub"]; got != "auth0|ada" {
				t.Errorf("sub = %v", got)
			}
		})
	}
}

// sourceClaimsFor is an id_token's claims for client without typ rules.
func sourceClaimsFor(w *xworld, client string) claims.Set {
	c := userClaims()
	c["iss"], c["sub"], c["aud"] = issuer, "auth0|ada", client
	c["iat"], c["exp"] = float64(w.now.Add(-time.Minute).Unix()), float64(w.now.Add(time.Hour).Unix())
	c["scope"] = "openid email"
	return c
}

func mustExchange(t testing.TB, w *xworld, req *engine.Request) *engine.Response {
	t.Helper()
	res, err := w.x.Exchange(context.Background(), req)
	if err != nil {
		t.Fatalf("Exchange: %v", err)
	}
	return res
}

func TestTokenExchangeScope(t *testing.T) {
	w := newXWorld(t, nil)
	at := func(scope any) string {
		return w.accessToken(t, svcB, func(c claims.Set) {
			if scope == nil {
				delete(c, "scope")
			} else {
				c["scope"] = scope
			}
		})
	}
	for _, tc := range []struct {
		name, subject, subjectType, target, scope, requested string
		want                                                 string // granted scope, or an error code
	}{
		{"id_token, empty: openid", w.idToken(t, svcB, nil), engine.TokenTypeIDToken, svcC, "", "", "openid"},
		{"id_token, no bound", w.idToken(t, svcB, nil), engine.TokenTypeIDToken, svcC, "openid email phone address profile", "", "openid address email phone profile"},
		{"access token, empty: the bound", at("openid email"), engine.TokenTypeAccessToken, svcC, "", "", "openid email"},
		{"access token, within the bound", at("openid email profile"), engine.TokenTypeAccessToken, svcC, "email", "", "email"},
		{"access token, beyond the bound", at("openid email"), engine.TokenTypeAccessToken, svcC, "openid profile", "", engine.CodeInvalidScope},
		{"access token, no scope claim: openid", at(nil), engine.TokenTypeAccessToken, svcC, "", "", "openid"},
		{"access token, no scope claim, email asked", at(nil), engine.TokenTypeAccessToken, svcC, "email", "", engine.CodeInvalidScope},
		{"empty: the bound narrowed to the target", at("openid email profile"), engine.TokenTypeAccessToken, narrow, "", "", "openid profile"},
		{"empty: unknown scopes of the bound dropped", at("openid read:orders email"), engine.TokenTypeAccessToken, svcC, "", "", "openid email"},
		{"empty: nothing of the bound allowed", at("email"), engine.TokenTypeAccessToken, narrow, "", "", engine.CodeInvalidScope},
		{"sent, not allowed by the target", at("openid email"), engine.TokenTypeAccessToken, narrow, "email", "", engine.CodeInvalidScope},
		{"sent, unknown", w.idToken(t, svcB, nil), engine.TokenTypeIDToken, svcC, "openid read:orders", "", engine.CodeInvalidScope},
		{"sent, malformed", w.idToken(t, svcB, nil), engine.TokenTypeIDToken, svcC, "openid\temail", "", engine.CodeInvalidScope},
		{"passthrough is no scope here", w.idToken(t, svcB, nil), engine.TokenTypeIDToken, svcC, "passthrough", "", engine.CodeInvalidScope},
		{"access token needs no openid", w.idToken(t, svcB, nil), engine.TokenTypeIDToken, svcC, "email", "", "email"},
		{"id_token needs openid", w.idToken(t, svcB, nil), engine.TokenTypeIDToken, svcC, "email", engine.TokenTypeIDToken, engine.CodeInvalidScope},
		{"id_token, bound without openid", at("email"), engine.TokenTypeAccessToken, svcC, "", engine.TokenTypeIDToken, engine.CodeInvalidScope},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req := withScope(tx(svcB, tc.subject, tc.subjectType, tc.target), tc.scope)
			req.RequestedTokenType = tc.requested
			res, err := w.x.Exchange(context.Background(), req)
			if strings.Contains(tc.want, "_") {
				assertRefused(t, res, err, tc.want, tc.subject)
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if res.Scope != tc.want {
				t.Errorf("scope = %q, want %q", res.Scope, tc.want)
			}
			if tc.requested == "" {
				if got := w.checkAccessToken(t, res, tc.target)["scope"]; got != tc.want {
					t.Errorf("scope claim = %v, want %q", got, tc.want)
				}
			}
		})
	}
}

// TestTokenExchangeChain: A → B → C → D, each hop presenting the access
// token minted for it; lifetimes never pass the first token's exp and run
// down with the clock.
func TestTokenExchangeChain(t *testing.T) {
	w := newXWorld(t, func(c *engine.Config) { c.Lifetime = 2 * time.Hour })
	start := w.now
	idt := w.idToken(t, svcA, func(c claims.Set) { c["exp"] = float64(start.Add(90 * time.Minute).Unix()) })

	ab := mustExchange(t, w, withScope(tx(svcA, idt, engine.TokenTypeIDToken, svcB), "openid email profile"))
	if ab.ExpiresIn != 90*60 {
		t.Errorf("A→B expires_in = %d, want 5400 (the id_token's exp)", ab.ExpiresIn)
	}
	w.now = start.Add(30 * time.Minute)
	bc := mustExchange(t, w, withScope(tx(svcB, ab.AccessToken, engine.TokenTypeAccessToken, svcC), "openid email"))
	if bc.ExpiresIn != 60*60 {
		t.Errorf("B→C expires_in = %d, want 3600", bc.ExpiresIn)
	}
	got := w.checkAccessToken(t, bc, svcC)
	want := w.atWant(svcB, svcC, "openid email", time.Hour)
	want["email"], want["email_verified"] = "ada@example.com", true
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("B→C claims (-want +got):\n%s", diff)
	}
	w.now = start.Add(80 * time.Minute)
	cd := mustExchange(t, w, tx(svcC, bc.AccessToken, engine.TokenTypeAccessToken, svcD))
	if cd.ExpiresIn != 10*60 || cd.Scope != "openid email" {
		t.Errorf("C→D expires_in = %d, scope %q; want 600, the bound openid email", cd.ExpiresIn, cd.Scope)
	}
	if got := w.checkAccessToken(t, cd, svcD)["exp"]; got != float64(start.Add(90*time.Minute).Unix()) {
		t.Errorf("C→D exp = %v, want the id_token's", got)
	}
	// The scope narrowed at B→C cannot widen again at C→D.
	res, err := w.x.Exchange(context.Background(), withScope(tx(svcC, bc.AccessToken, engine.TokenTypeAccessToken, svcD), "openid profile"))
	assertRefused(t, res, err, engine.CodeInvalidScope)
	// A hop may not skip the chain: B's token is not C's to present.
	res, err = w.x.Exchange(context.Background(), tx(svcC, ab.AccessToken, engine.TokenTypeAccessToken, svcD))
	assertRefused(t, res, err, engine.CodeInvalidRequest, ab.AccessToken)
}

// TestTokenExchangeSelfRenewalRunsDown: a service renewing its own access
// token gets tokens that end when the first one did, and then nothing.
func TestTokenExchangeSelfRenewalRunsDown(t *testing.T) {
	w := newXWorld(t, nil)
	start := w.now
	tok := mustExchange(t, w, tx(svcA, w.idToken(t, svcA, nil), engine.TokenTypeIDToken, svcB)).AccessToken
	end := float64(start.Add(time.Hour).Unix())
	for _, step := range []time.Duration{10 * time.Minute, 40 * time.Minute, 59*time.Minute + 58*time.Second} {
		w.now = start.Add(step)
		res := mustExchange(t, w, tx(svcB, tok, engine.TokenTypeAccessToken))
		if got := w.checkAccessToken(t, res, svcB)["exp"]; got != end {
			t.Fatalf("at +%v: exp = %v, want %v", step, got, end)
		}
		if want := int64(time.Hour-step) / int64(time.Second); res.ExpiresIn != want {
			t.Errorf("at +%v: expires_in = %d, want %d", step, res.ExpiresIn, want)
		}
		tok = res.AccessToken
	}
	for _, at := range []time.Duration{time.Hour - 500*time.Millisecond, time.Hour, 2 * time.Hour} {
		w.now = start.Add(at)
		res, err := w.x.Exchange(context.Background(), tx(svcB, tok, engine.TokenTypeAccessToken))
		assertRefused(t, res, err, engine.CodeInvalidRequest, tok)
	}
}

// nestAct builds an act chain of depth n whose outermost actor is
// "actor-n".
func nestAct(n int) any {
	var act any
	for i := 1; i <= n; i++ {
		m := map[string]any{"sub": "actor-" + string(rune('0'+i))}
		if act != nil {
			m["act"] = act
		}
		act = m
	}
	return act
}

func TestTokenExchangeAct(t *testing.T) {
	w := newXWorld(t, nil)
	subjectWithAct := func(act any) string {
		return w.accessToken(t, svcB, func(c claims.Set) {
			if act != nil {
				c["act"] = act
			}
		})
	}
	actor := w.serviceToken(t, svcB, nil)
	for _, tc := range []struct {
		name     string
		subject  string
		actor    string
		wantAct  any // nil: no act claim; "" : refused with invalid_request
		extraMod func(r *engine.Request)
	}{
		{"no act, no actor", subjectWithAct(nil), "", nil, nil},
		{"actor", subjectWithAct(nil), actor, map[string]any{"sub": "service:svc-b"}, nil},
		{"actor nests the subject's act", subjectWithAct(nestAct(1)), actor,
			map[string]any{"sub": "service:svc-b", "act": nestAct(1)}, nil},
		{"act carried unchanged without actor", subjectWithAct(map[string]any{"sub": "x", "iss": "https://other/", "act": map[string]any{"sub": "y"}}), "",
			map[string]any{"sub": "x", "iss": "https://other/", "act": map[string]any{"sub": "y"}}, nil},
		{"depth 5 carried", subjectWithAct(nestAct(5)), "", nestAct(5), nil},
		{"depth 4 plus actor: 5", subjectWithAct(nestAct(4)), actor, map[string]any{"sub": "service:svc-b", "act": nestAct(4)}, nil},
		{"depth 5 plus actor: 6", subjectWithAct(nestAct(5)), actor, "", nil},
		{"depth 6 in the subject", subjectWithAct(nestAct(6)), "", "", nil},
		{"act not an object", subjectWithAct("actor-1"), "", "", nil},
		{"act without sub", subjectWithAct(map[string]any{"client_id": "x"}), "", "", nil},
		{"act with empty sub", subjectWithAct(map[string]any{"sub": ""}), "", "", nil},
		{"act with numeric sub", subjectWithAct(map[string]any{"sub": float64(7)}), "", "", nil},
		{"nested act null", subjectWithAct(map[string]any{"sub": "x", "act": nil}), "", "", nil},
		{"nested act malformed", subjectWithAct(map[string]any{"sub": "x", "act": map[string]any{"sub": "y", "act": []any{}}}), "", "", nil},
		{"act null", subjectWithAct(nil), "", "", func(r *engine.Request) {
			r.SubjectToken = w.accessToken(t, svcB, func(c claims.Set) { c["act"] = nil })
		}},
		{"actor's own act checked", subjectWithAct(nil), w.serviceToken(t, svcB, func(c claims.Set) { c["act"] = "bad" }), "", nil},
		{"actor's own act not carried", subjectWithAct(nil), w.serviceToken(t, svcB, func(c claims.Set) { c["act"] = nestAct(5) }),
			map[string]any{"sub": "service:svc-b"}, nil},
		{"actor issued to another client", subjectWithAct(nil), w.serviceToken(t, svcA, nil), "", nil},
		{"actor expired", subjectWithAct(nil), w.serviceToken(t, svcB, func(c claims.Set) { c["exp"] = float64(fixedNow.Add(-time.Second).Unix()) }), "", nil},
		{"minted id_token as actor", subjectWithAct(nil), "", "", func(r *engine.Request) {
			idReq := tx(svcA, w.idToken(t, svcA, nil), engine.TokenTypeIDToken, svcB)
			idReq.RequestedTokenType = engine.TokenTypeIDToken
			r.ActorToken, r.ActorTokenType = mustExchange(t, w, idReq).AccessToken, engine.TokenTypeJWT
		}},
		{"refresh token as actor type", subjectWithAct(nil), "", "", func(r *engine.Request) {
			r.ActorToken, r.ActorTokenType = "refresh-token-of-svc-b", engine.TokenTypeRefreshToken
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req := tx(svcB, tc.subject, engine.TokenTypeAccessToken, svcC)
			if tc.actor != "" {
				withActor(req, tc.actor, engine.TokenTypeIDToken)
			}
			if tc.extraMod != nil {
				tc.extraMod(req)
			}
			res, err := w.x.Exchange(context.Background(), req)
			if tc.wantAct == "" {
				assertRefused(t, res, err, engine.CodeInvalidRequest, req.SubjectToken, req.ActorToken)
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			got := w.checkAccessToken(t, res, svcC)
			if diff := cmp.Diff(tc.wantAct, got["act"]); diff != "" {
				t.Errorf("act (-want +got):\n%s", diff)
			}
			if tc.wantAct == nil && got.Has("act") {
				t.Errorf("act = %v, want none", got["act"])
			}
		})
	}
}

// TestTokenExchangeActorChain: B acts for the user at C, then C at D; each
// actor wraps the chain it was given.
func TestTokenExchangeActorChain(t *testing.T) {
	w := newXWorld(t, nil)
	ab := mustExchange(t, w, tx(svcA, w.idToken(t, svcA, nil), engine.TokenTypeIDToken, svcB))
	bc := mustExchange(t, w, withActor(tx(svcB, ab.AccessToken, engine.TokenTypeAccessToken, svcC), w.serviceToken(t, svcB, nil), engine.TokenTypeJWT))
	actorC := mustExchange(t, w, tx(svcB, w.serviceToken(t, svcB, nil), engine.TokenTypeIDToken, svcC)).AccessToken // an access token of C's own
	cd := mustExchange(t, w, withActor(tx(svcC, bc.AccessToken, engine.TokenTypeAccessToken, svcD), actorC, engine.TokenTypeAccessToken))
	got := w.checkAccessToken(t, cd, svcD)
	want := map[string]any{"sub": "service:svc-b", "act": map[string]any{"sub": "service:svc-b"}}
	if diff := cmp.Diff(want, got["act"]); diff != "" {
		t.Errorf("act (-want +got):\n%s", diff)
	}
	if got["sub"] != "auth0|ada" || got["client_id"] != svcC {
		t.Errorf("sub %v, client_id %v", got["sub"], got["client_id"])
	}
}

func TestTokenExchangeMayAct(t *testing.T) {
	w := newXWorld(t, nil)
	subject := func(may any) string {
		return w.accessToken(t, svcB, func(c claims.Set) { c["may_act"] = may })
	}
	actor := w.serviceToken(t, svcB, nil)
	for _, tc := range []struct {
		name  string
		may   any
		actor string
		ok    bool
	}{
		{"sub matches", map[string]any{"sub": "service:svc-b"}, actor, true},
		{"sub and iss match", map[string]any{"sub": "service:svc-b", "iss": issuer}, actor, true},
		{"sub differs", map[string]any{"sub": "service:svc-x"}, actor, false},
		{"iss differs", map[string]any{"sub": "service:svc-b", "iss": "https://other.example/"}, actor, false},
		{"iss not a string", map[string]any{"sub": "service:svc-b", "iss": float64(1)}, actor, false},
		{"no sub", map[string]any{"iss": issuer}, actor, false},
		{"not an object", "service:svc-b", actor, false},
		{"null", nil, actor, false},
		{"no actor: may_act checks nothing, travels on", map[string]any{"sub": "service:svc-x"}, "", true},
		{"no actor, malformed may_act travels on", "whatever", "", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req := tx(svcB, subject(tc.may), engine.TokenTypeAccessToken, svcC)
			if tc.actor != "" {
				withActor(req, tc.actor, engine.TokenTypeIDToken)
			}
			res, err := w.x.Exchange(context.Background(), req)
			if !tc.ok {
				assertRefused(t, res, err, engine.CodeInvalidRequest, req.SubjectToken, req.ActorToken)
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			// An actor that may_act named has acted: the restriction is
			// spent. Without an actor it travels on unchanged, so that a
			// requester cannot shed it by exchanging the token first.
			got := w.checkAccessToken(t, res, svcC)
			if tc.actor != "" && got.Has("may_act") {
				t.Errorf("may_act carried past the actor: %v", got["may_act"])
			}
			if tc.actor == "" && !cmp.Equal(got["may_act"], tc.may) {
				t.Errorf("may_act = %v, want %v carried unchanged", got["may_act"], tc.may)
			}
		})
	}
}

func TestTokenExchangeRefreshTokenSubject(t *testing.T) {
	w := newXWorld(t, func(c *engine.Config) {
		st := c.Clients.(*store.Memory)
		c.RefreshTokens, c.Profiles = st, st
	})
	w.st.PutProfile("auth0|ada", userClaims())
	w.st.PutRefreshToken("rt-b", store.RefreshGrant{ClientID: svcB, Subject: "auth0|ada", Scope: []string{"openid", "email"}, ExpiresAt: fixedNow.Add(20 * time.Minute)})
	w.st.PutRefreshToken("rt-b-open", store.RefreshGrant{ClientID: svcB, Subject: "auth0|ada", Scope: []string{"openid", "email", "profile"}})
	w.st.PutRefreshToken("rt-a", store.RefreshGrant{ClientID: svcA, Subject: "auth0|ada", Scope: []string{"openid"}})
	w.st.PutRefreshToken("rt-revoked", store.RefreshGrant{ClientID: svcB, Subject: "auth0|ada", Scope: []string{"openid"}, Revoked: true})
	w.st.PutRefreshToken("rt-expired", store.RefreshGrant{ClientID: svcB, Subject: "auth0|ada", Scope: []string{"openid"}, ExpiresAt: fixedNow})

	res := mustExchange(t, w, tx(svcB, "rt-b", engine.TokenTypeRefreshToken, svcC))
	got := w.checkAccessToken(t, res, svcC)
	// The grant's ExpiresAt caps the lifetime; its scope is the bound.
	want := w.atWant(svcB, svcC, "openid email", 20*time.Minute)
	want["email"], want["email_verified"] = "ada@example.com", true
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("claims (-want +got):\n%s", diff)
	}
	res = mustExchange(t, w, withActor(tx(svcB, "rt-b-open", engine.TokenTypeRefreshToken, svcC), w.serviceToken(t, svcB, nil), engine.TokenTypeIDToken))
	if res.ExpiresIn != int64(engine.DefaultLifetime/time.Second) {
		t.Errorf("expires_in = %d, want the default lifetime", res.ExpiresIn)
	}
	if act := w.checkAccessToken(t, res, svcC)["act"]; !cmp.Equal(act, map[string]any{"sub": "service:svc-b"}) {
		t.Errorf("act = %v", act)
	}
	for _, tc := range []struct{ name, token, scope string }{
		{"another client's", "rt-a", ""},
		{"revoked", "rt-revoked", ""},
		{"expired", "rt-expired", ""},
		{"unknown", "rt-nope", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res, err := w.x.Exchange(context.Background(), tx(svcB, tc.token, engine.TokenTypeRefreshToken, svcC))
			assertRefused(t, res, err, engine.CodeInvalidRequest, tc.token)
		})
	}
	res2, err := w.x.Exchange(context.Background(), withScope(tx(svcB, "rt-b", engine.TokenTypeRefreshToken, svcC), "openid profile"))
	assertRefused(t, res2, err, engine.CodeInvalidScope)
}

// TestTokenExchangeReplay: with Replay the subject is consumed, the actor
// is not, and a refused request burns nothing.
func TestTokenExchangeReplay(t *testing.T) {
	w := newXWorld(t, func(c *engine.Config) { c.Replay = c.Clients.(*store.Memory) })
	actor := w.serviceToken(t, svcB, nil)
	subject := w.accessToken(t, svcB, nil)
	// Refused first (scope beyond the bound, unknown target): nothing burnt.
	res, err := w.x.Exchange(context.Background(), withScope(withActor(tx(svcB, subject, engine.TokenTypeAccessToken, svcC), actor, engine.TokenTypeIDToken), "openid profile"))
	assertRefused(t, res, err, engine.CodeInvalidScope)
	res, err = w.x.Exchange(context.Background(), tx(svcB, subject, engine.TokenTypeAccessToken, "nobody"))
	assertRefused(t, res, err, engine.CodeInvalidTarget)

	mustExchange(t, w, withActor(tx(svcB, subject, engine.TokenTypeAccessToken, svcC), actor, engine.TokenTypeIDToken))
	res, err = w.x.Exchange(context.Background(), withActor(tx(svcB, subject, engine.TokenTypeAccessToken, svcC), actor, engine.TokenTypeIDToken))
	assertRefused(t, res, err, engine.CodeInvalidRequest, subject)
	// The same actor token serves another subject.
	mustExchange(t, w, withActor(tx(svcB, w.accessToken(t, svcB, nil), engine.TokenTypeAccessToken, svcC), actor, engine.TokenTypeIDToken))
	// A subject without jti cannot be tracked, an actor without one can.
	noJTI := w.accessToken(t, svcB, func(c claims.Set) { delete(c, "jti") })
	res, err = w.x.Exchange(context.Background(), tx(svcB, noJTI, engine.TokenTypeAccessToken, svcC))
	assertRefused(t, res, err, engine.CodeInvalidRequest, noJTI)
	mustExchange(t, w, withActor(tx(svcB, w.accessToken(t, svcB, nil), engine.TokenTypeAccessToken, svcC),
		w.serviceToken(t, svcB, func(c claims.Set) { delete(c, "jti") }), engine.TokenTypeIDToken))
	// One subject token across both dialects is still one use.
	idt := w.idToken(t, svcA, nil)
	mustExchange(t, w, tx(svcA, idt, engine.TokenTypeIDToken, svcB))
	res, err = w.x.Exchange(context.Background(), &engine.Request{GrantType: engine.GrantTypeJWTBearer, ClientID: svcA, IDToken: idt, Target: svcB})
	assertRefused(t, res, err, engine.CodeInvalidGrant, idt)
}

func TestTokenExchangeConcurrentReplay(t *testing.T) {
	w := newXWorld(t, func(c *engine.Config) { c.Replay = c.Clients.(*store.Memory) })
	subject := w.accessToken(t, svcB, nil)
	const n = 32
	var (
		wg     sync.WaitGroup
		mu     sync.Mutex
		tokens []string
		codes  = map[string]int{}
	)
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			res, err := w.x.Exchange(context.Background(), tx(svcB, subject, engine.TokenTypeAccessToken, svcC))
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				if res != nil {
					t.Errorf("response with error %v", err)
				}
				codes[err.(*engine.Error).Code]++
				return
			}
			tokens = append(tokens, res.AccessToken)
		}()
	}
	wg.Wait()
	if len(tokens) != 1 || codes[engine.CodeInvalidRequest] != n-1 {
		t.Errorf("%d tokens, refusals %v; want exactly one token and %d invalid_request", len(tokens), codes, n-1)
	}
}

// TestDelegationRefusesTokenExchangeParameters: a delegation request
// carrying RFC 8693 parameters is refused rather than answered as if they
// had not been sent (an actor_token dropped silently would yield a token
// its sender believes records the actor).
func TestDelegationRefusesTokenExchangeParameters(t *testing.T) {
	w := newXWorld(t, nil)
	for name, mod := range map[string]func(*engine.Request){
		"subject_token":        func(r *engine.Request) { r.SubjectToken = r.IDToken },
		"subject_token_type":   func(r *engine.Request) { r.SubjectTokenType = engine.TokenTypeIDToken },
		"actor_token":          func(r *engine.Request) { r.ActorToken = w.serviceToken(t, svcA, nil) },
		"actor_token_type":     func(r *engine.Request) { r.ActorTokenType = engine.TokenTypeIDToken },
		"requested_token_type": func(r *engine.Request) { r.RequestedTokenType = engine.TokenTypeAccessToken },
	} {
		t.Run(name, func(t *testing.T) {
			req := &engine.Request{GrantType: engine.GrantTypeJWTBearer, ClientID: svcA, IDToken: w.idToken(t, svcA, nil), Target: svcB}
			mod(req)
			res, err := w.x.Exchange(context.Background(), req)
			assertRefused(t, res, err, engine.CodeInvalidRequest, req.IDToken)
		})
	}
}
