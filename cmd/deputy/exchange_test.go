package main

import (
	"crypto/ed25519"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/google/go-cmp/cmp"

	"github.com/deputyauth/deputy/engine"
)

const formType = "application/x-www-form-urlencoded"

// ordersAPI is a target whose client ID is a URI, as Auth0's API
// identifiers are, so that RFC 8707 resource can name it.
const ordersAPI = "https://orders.example.test/api"

// exchangeConfig is the demo world plus ordersAPI, an HS256 target allowing
// demo-app.
func exchangeConfig(t *testing.T) *fileConfig {
	t.Helper()
	fc := testConfig(t)
	sec := fc.Clients[1].Secrets[0] // demo-api's secret material, under another ID
	sec.ID = "orders-1"
	fc.Clients = append(fc.Clients, clientConfig{
		ID: ordersAPI, SigningAlg: "HS256", AllowedSources: []string{demoApp}, Secrets: secretList{sec},
	})
	return fc
}

// exchangeForm is a token-exchange request body; pairs add parameters,
// repeated names included.
func exchangeForm(subject, subjectType string, pairs ...string) string {
	v := url.Values{
		"grant_type":         {engine.GrantTypeTokenExchange},
		"subject_token":      {subject},
		"subject_token_type": {subjectType},
	}
	for i := 0; i+1 < len(pairs); i += 2 {
		v.Add(pairs[i], pairs[i+1])
	}
	return v.Encode()
}

// wantExchangeKeys are the members of a token-exchange answer.
var wantExchangeKeys = []string{"access_token", "expires_in", "issued_token_type", "scope", "token_type"}

// checkExchanged checks a successful token-exchange answer carrying an
// access token and returns the token.
func checkExchanged(t *testing.T, r reply, scope string) string {
	t.Helper()
	checkTokenAnswer(t, r)
	m := r.members(t)
	if diff := cmp.Diff(wantExchangeKeys, slices.Sorted(maps.Keys(m))); diff != "" {
		t.Fatalf("response members (-want +got):\n%s", diff)
	}
	want := map[string]any{
		"issued_token_type": engine.TokenTypeAccessToken, "token_type": "Bearer", "scope": scope,
	}
	got := map[string]any{"issued_token_type": m["issued_token_type"], "token_type": m["token_type"], "scope": m["scope"]}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("response (-want +got):\n%s", diff)
	}
	tok, _ := m["access_token"].(string)
	return tok
}

// accessClaims verifies an access token with key under alg and returns its
// claims with iat, exp and jti checked and removed: expires_in of the
// answer must be exp − iat, exp no later than notAfter.
func accessClaims(t *testing.T, r reply, tok string, alg jose.SignatureAlgorithm, key any, wantKID string, notAfter time.Time) map[string]any {
	t.Helper()
	jws, err := jose.ParseSignedCompact(tok, []jose.SignatureAlgorithm{alg})
	if err != nil {
		t.Fatalf("access token does not parse as %s: %v", alg, err)
	}
	h := jws.Signatures[0].Header
	if typ, _ := h.ExtraHeaders["typ"].(string); typ != "at+jwt" || h.KeyID != wantKID {
		t.Errorf("header typ %q, kid %q; want at+jwt, %q", typ, h.KeyID, wantKID)
	}
	_, claims := verifyToken(t, tok, alg, key)
	iat, _ := claims["iat"].(float64)
	exp, _ := claims["exp"].(float64)
	if time.Since(time.Unix(int64(iat), 0)).Abs() > time.Minute || exp > float64(notAfter.Unix()) || exp <= iat {
		t.Errorf("iat %v, exp %v: want iat now and exp after it, by %v", iat, exp, notAfter.Unix())
	}
	if in := r.members(t)["expires_in"]; in != exp-iat {
		t.Errorf("expires_in %v, want exp − iat = %v", in, exp-iat)
	}
	if jti, _ := claims["jti"].(string); jti == "" {
		t.Error("no jti")
	}
	delete(claims, "iat")
	delete(claims, "exp")
	delete(claims, "jti")
	return claims
}

// TestTokenExchange exchanges the demo user's id_token for an access token
// over POST /oauth/token, with each client authentication and each way of
// naming the target, and checks the answer and the token.
func TestTokenExchange(t *testing.T) {
	fc := exchangeConfig(t)
	e := newTestEnv(t, fc, nil)
	subjectTTL := time.Hour
	for _, tc := range []struct {
		name   string
		pairs  []string
		auth   string
		target string
	}{
		{"client_id, audience", []string{"client_id", demoApp, "audience", demoAPI}, "", demoAPI},
		{"HTTP Basic, audience", []string{"audience", demoAPI}, basicSecret(t, e, demoApp), demoAPI},
		{"client_secret in the body", []string{"client_id", demoApp, "client_secret", string(e.secret(t, demoApp)), "audience", demoAPI}, "", demoAPI},
		{"audience repeated", []string{"client_id", demoApp, "audience", demoAPI, "audience", demoAPI}, "", demoAPI},
		{"resource", []string{"client_id", demoApp, "resource", ordersAPI}, "", ordersAPI},
		{"audience and resource naming one client", []string{"client_id", demoApp, "audience", ordersAPI, "resource", ordersAPI}, "", ordersAPI},
		{"no target: the requester itself", []string{"client_id", demoApp}, "", demoApp},
	} {
		t.Run(tc.name, func(t *testing.T) {
			start := time.Now()
			src := e.mint(t, demoApp, demoSubject, nil, subjectTTL)
			var h map[string]string
			if tc.auth != "" {
				h = map[string]string{"Authorization": tc.auth}
			}
			body := exchangeForm(src, engine.TokenTypeIDToken, append(tc.pairs, "scope", "email openid profile")...)
			r := do(t, http.MethodPost, e.srv.URL+pathToken, formType, body, h)
			tok := checkExchanged(t, r, "openid email profile")
			keyOwner := tc.target
			if keyOwner == ordersAPI {
				keyOwner = demoAPI // same secret material
			}
			kid := "orders-1"
			for _, c := range fc.Clients {
				if c.ID == tc.target && c.ID != ordersAPI {
					kid = c.Secrets[0].ID
				}
			}
			got := accessClaims(t, r, tok, jose.HS256, e.secret(t, keyOwner), kid, start.Add(subjectTTL+time.Second))
			want := map[string]any{
				"iss": testIssuer, "sub": demoSubject, "aud": tc.target, "client_id": demoApp,
				"scope": "openid email profile",
				"name":  "Demo User", "email": "demo-user@example.com", "email_verified": true,
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("claims (-want +got):\n%s", diff)
			}
		})
	}
}

// basicSecret is HTTP Basic for client with its first configured secret.
func basicSecret(t *testing.T, e *testEnv, client string) string {
	t.Helper()
	return basic(client, string(e.secret(t, client)))
}

// TestTokenExchangeChain passes the user along A → B → C: demo-app
// exchanges the user's id_token for an access token for demo-api, which
// presents it as the subject, with an actor token of its own, to reach
// demo-ed-api. The last token names demo-api as the actor.
func TestTokenExchangeChain(t *testing.T) {
	e := newTestEnv(t, nil, nil)
	start := time.Now()
	src := e.mint(t, demoApp, demoSubject, nil, time.Hour)

	// A → B.
	r := do(t, http.MethodPost, e.srv.URL+pathToken, formType,
		exchangeForm(src, engine.TokenTypeIDToken, "client_id", demoApp, "audience", demoAPI, "scope", "openid email"), nil)
	toB := checkExchanged(t, r, "openid email")

	// B → C, B authenticating with its secret and acting for the user.
	actor := e.mint(t, demoAPI, demoAPI, map[string]any{}, 10*time.Minute)
	jwks, _ := fetchJWKS(t, e.srv.URL)
	edKey := jwksKeys(t, jwks, "EdDSA")[0]
	pub, ok := edKey.Key.(ed25519.PublicKey)
	if !ok {
		t.Fatalf("JWKS EdDSA key is %T", edKey.Key)
	}
	for _, tc := range []struct {
		name  string
		pairs []string
		act   any
	}{
		{"with an actor", []string{"actor_token", actor, "actor_token_type", engine.TokenTypeIDToken}, map[string]any{"sub": demoAPI}},
		{"without an actor", nil, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			body := exchangeForm(toB, engine.TokenTypeAccessToken, append(tc.pairs, "audience", demoEdAPI)...)
			r := do(t, http.MethodPost, e.srv.URL+pathToken, formType, body,
				map[string]string{"Authorization": basicSecret(t, e, demoAPI)})
			toC := checkExchanged(t, r, "openid email")
			got := accessClaims(t, r, toC, jose.EdDSA, pub, edKey.KeyID, start.Add(time.Hour+time.Second))
			want := map[string]any{
				"iss": testIssuer, "sub": demoSubject, "aud": demoEdAPI, "client_id": demoAPI,
				"scope": "openid email", "email": "demo-user@example.com", "email_verified": true,
			}
			if tc.act != nil {
				want["act"] = tc.act
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("claims (-want +got):\n%s", diff)
			}
		})
	}
}

// TestTokenExchangeRefusals checks that refused exchanges get their exact
// RFC 6749 §5.2 / RFC 8693 §2.2.2 error, with no token in the answer or the
// log.
func TestTokenExchangeRefusals(t *testing.T) {
	e := newTestEnv(t, exchangeConfig(t), nil)
	src := e.mint(t, demoApp, demoSubject, nil, time.Hour)
	r := do(t, http.MethodPost, e.srv.URL+pathToken, formType,
		exchangeForm(src, engine.TokenTypeIDToken, "client_id", demoApp, "audience", demoAPI), nil)
	access := checkExchanged(t, r, "openid")
	edToken := e.mint(t, demoEdAPI, demoSubject, nil, time.Hour) // issued to a client without grants
	idType, atType := engine.TokenTypeIDToken, engine.TokenTypeAccessToken
	for _, tc := range []struct {
		name, path, body string
		status           int
		code             string
	}{
		{"no subject_token_type", pathToken, exchangeForm(src, "", "client_id", demoApp), 400, "invalid_request"},
		{"no subject_token", pathToken, exchangeForm("", idType, "client_id", demoApp), 400, "invalid_request"},
		{"delegation parameter", pathToken, exchangeForm(src, idType, "client_id", demoApp, "target", demoAPI), 400, "invalid_request"},
		{"actor_token without its type", pathToken, exchangeForm(src, idType, "client_id", demoApp, "actor_token", src), 400, "invalid_request"},
		{"requested_token_type saml", pathToken, exchangeForm(src, idType, "client_id", demoApp, "requested_token_type", "urn:ietf:params:oauth:token-type:saml2"), 400, "invalid_request"},
		{"unsupported subject type", pathToken, exchangeForm(src, "urn:ietf:params:oauth:token-type:saml2", "client_id", demoApp), 400, "invalid_request"},
		{"id_token declared as access token", pathToken, exchangeForm(src, atType, "client_id", demoApp, "audience", demoAPI), 400, "invalid_request"},
		{"access token declared as id_token", pathToken, exchangeForm(access, idType, "client_id", demoAPI, "audience", demoEdAPI), 400, "invalid_request"},
		{"garbage subject", pathToken, exchangeForm("not.a.token", idType, "client_id", demoApp), 400, "invalid_request"},
		{"subject of another client", pathToken, exchangeForm(src, idType, "client_id", demoRSApp, "audience", demoAPI), 400, "invalid_request"},
		{"unknown audience", pathToken, exchangeForm(src, idType, "client_id", demoApp, "audience", "nowhere"), 400, "invalid_target"},
		{"two audiences", pathToken, exchangeForm(src, idType, "client_id", demoApp, "audience", demoAPI, "audience", demoEdAPI), 400, "invalid_target"},
		{"audience and resource differ", pathToken, exchangeForm(src, idType, "client_id", demoApp, "audience", demoAPI, "resource", ordersAPI), 400, "invalid_target"},
		{"resource not absolute", pathToken, exchangeForm(src, idType, "client_id", demoApp, "resource", demoAPI), 400, "invalid_target"},
		{"target not allowing the requester", pathToken, exchangeForm(src, idType, "client_id", demoApp, "audience", demoRSApp), 400, "invalid_target"},
		{"scope beyond the target", pathToken, exchangeForm(src, idType, "client_id", demoApp, "audience", demoAPI, "scope", "openid wallet"), 400, "invalid_scope"},
		{"scope beyond the access token", pathToken, exchangeForm(access, atType, "client_id", demoAPI, "audience", demoEdAPI, "scope", "openid email"), 400, "invalid_scope"},
		{"requester without the grant", pathToken, exchangeForm(edToken, idType, "client_id", demoEdAPI, "audience", demoAPI), 400, "unauthorized_client"},
		{"unknown requester", pathToken, exchangeForm(src, idType, "client_id", "nobody"), 401, "invalid_client"},
		{"wrong secret", pathToken, exchangeForm(src, idType, "client_id", demoApp, "client_secret", "wrong"), 401, "invalid_client"},
		{"token exchange on /delegation", pathDelegation, exchangeForm(src, idType, "client_id", demoApp, "audience", demoAPI), 400, "unsupported_grant_type"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := do(t, http.MethodPost, e.srv.URL+tc.path, formType, tc.body, nil)
			checkError(t, r, tc.status, tc.code)
			for _, tok := range []string{src, access, edToken} {
				if strings.Contains(string(r.body), tok) {
					t.Error("error answer echoes a presented token")
				}
			}
		})
	}
	if logs := e.log.String(); strings.Contains(logs, src) || strings.Contains(logs, access) {
		t.Error("log holds a presented token")
	}
}

// TestDelegationEndpointIsDelegationOnly: POST /delegation answers
// unsupported_grant_type to a token exchange, as JSON too, and mints
// nothing, while the engine behind it serves the grant on /oauth/token.
func TestDelegationEndpointIsDelegationOnly(t *testing.T) {
	e := newTestEnv(t, nil, nil)
	src := e.mint(t, demoApp, demoSubject, nil, time.Hour)
	body := `{"grant_type":"` + engine.GrantTypeTokenExchange + `","client_id":"demo-app","subject_token":"` + src +
		`","subject_token_type":"` + engine.TokenTypeIDToken + `","audience":"demo-api"}`
	r := do(t, http.MethodPost, e.srv.URL+pathDelegation, "application/json", body, nil)
	checkError(t, r, 400, "unsupported_grant_type")
	if strings.Contains(e.log.String(), "outcome=ok") {
		t.Error("an exchange ran")
	}
}
