package main

import (
	"crypto/ed25519"
	"maps"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/google/go-cmp/cmp"
)

// wantResponseKeys is the delegation answer of the seed, exactly.
var wantResponseKeys = []string{"expires_in", "id_token", "token_type"}

// checkTokenAnswer checks the status and headers of a successful answer
// of a token endpoint (RFC 6749 §5.1: no caching).
func checkTokenAnswer(t *testing.T, r reply) {
	t.Helper()
	if r.status != http.StatusOK {
		t.Fatalf("status %d, body %s", r.status, r.body)
	}
	for k, want := range map[string]string{
		"Content-Type": "application/json", "Cache-Control": "no-store", "Pragma": "no-cache",
	} {
		if got := r.header.Get(k); got != want {
			t.Errorf("%s = %q, want %q", k, got, want)
		}
	}
}

// checkDelegated checks a successful delegation answer and returns the
// minted id_token.
func checkDelegated(t *testing.T, r reply) string {
	t.Helper()
	checkTokenAnswer(t, r)
	m := r.members(t)
	if diff := cmp.Diff(wantResponseKeys, slices.Sorted(maps.Keys(m))); diff != "" {
		t.Errorf("response members (-want +got):\n%s", diff)
	}
	if m["token_type"] != "Bearer" || m["expires_in"] != float64(36000) {
		t.Errorf("token_type %v, expires_in %v; want Bearer, 36000", m["token_type"], m["expires_in"])
	}
	tok, _ := m["id_token"].(string)
	return tok
}

// checkClaims compares a minted token's claims with what delegating the
// demo user's token from requester to target must give.
func checkClaims(t *testing.T, got map[string]any, requester, target string) {
	t.Helper()
	iat, _ := got["iat"].(float64)
	exp, _ := got["exp"].(float64)
	if exp-iat != 36000 || time.Since(time.Unix(int64(iat), 0)).Abs() > time.Minute {
		t.Errorf("iat %v, exp %v: want now and now+36000", iat, exp)
	}
	if jti, _ := got["jti"].(string); jti == "" {
		t.Error("no jti")
	}
	want := map[string]any{
		"iss": testIssuer, "sub": demoSubject, "aud": target, "azp": requester,
		"name": "Demo User", "email": "demo-user@example.com", "email_verified": true,
	}
	delete(got, "iat")
	delete(got, "exp")
	delete(got, "jti")
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("claims (-want +got):\n%s", diff)
	}
}

// TestSeedRequest sends the seed's request, as JSON (the Node SDK) and
// form-encoded (auth0-js), for the HS256 and the EdDSA target, and checks
// the answer's shape and the minted token with the target's key.
func TestSeedRequest(t *testing.T) {
	e := newTestEnv(t, nil, nil)
	jwks, _ := fetchJWKS(t, e.srv.URL)
	// SDK headers are accepted as they are.
	sdkHeaders := map[string]string{
		"Auth0-Client": "eyJuYW1lIjoibm9kZS1hdXRoMCIsInZlcnNpb24iOiIyLjQuMCJ9",
		"User-Agent":   "node-auth0/2.4.0",
	}
	for _, tc := range []struct {
		name, requester, target string
		form                    bool
	}{
		{"json/HS256", demoApp, demoAPI, false},
		{"form/HS256", demoApp, demoAPI, true},
		{"json/EdDSA", demoApp, demoEdAPI, false},
		{"form/EdDSA", demoApp, demoEdAPI, true},
		{"json/RS256 source", demoRSApp, demoAPI, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			src := e.mint(t, tc.requester, demoSubject, nil, time.Hour)
			var r reply
			if tc.form {
				r = do(t, http.MethodPost, e.srv.URL+pathDelegation, "application/x-www-form-urlencoded",
					seedForm(tc.requester, src, tc.target, "openid profile email", "app"), sdkHeaders)
			} else {
				r = do(t, http.MethodPost, e.srv.URL+pathDelegation, "application/json",
					seedBody(tc.requester, src, tc.target, "openid profile email", "app"), sdkHeaders)
			}
			tok := checkDelegated(t, r)
			var (
				kid    string
				claims map[string]any
			)
			if tc.target == demoAPI {
				kid, claims = verifyToken(t, tok, jose.HS256, e.secret(t, demoAPI))
				if want := e.fc.Clients[1].Secrets[0].ID; kid != want {
					t.Errorf("kid %q, want the target secret's ID %q", kid, want)
				}
			} else {
				keys := jwksKeys(t, jwks, "EdDSA")
				pub, ok := keys[0].Key.(ed25519.PublicKey)
				if !ok {
					t.Fatalf("JWKS EdDSA key is %T", keys[0].Key)
				}
				kid, claims = verifyToken(t, tok, jose.EdDSA, pub)
				if kid != keys[0].KeyID {
					t.Errorf("kid %q, want %q", kid, keys[0].KeyID)
				}
			}
			checkClaims(t, claims, tc.requester, tc.target)
		})
	}
}

func jwksKeys(t *testing.T, set jose.JSONWebKeySet, alg string) []jose.JSONWebKey {
	t.Helper()
	var out []jose.JSONWebKey
	for _, k := range set.Keys {
		if k.Algorithm == alg {
			out = append(out, k)
		}
	}
	if len(out) == 0 {
		t.Fatalf("JWKS has no %s key", alg)
	}
	return out
}

// TestAuth0JSRenewal sends what auth0-js v7 sends to renew a token: form
// encoded, api_type empty, scope passthrough, the client as its own target.
func TestAuth0JSRenewal(t *testing.T) {
	e := newTestEnv(t, nil, nil)
	src := e.mint(t, demoApp, demoSubject, nil, time.Hour)
	r := do(t, http.MethodPost, e.srv.URL+pathDelegation, "application/x-www-form-urlencoded; charset=UTF-8",
		seedForm(demoApp, src, demoApp, "passthrough", ""), map[string]string{"Auth0-Client": "eyJuYW1lIjoiYXV0aDAuanMifQ"})
	_, claims := verifyToken(t, checkDelegated(t, r), jose.HS256, e.secret(t, demoApp))
	checkClaims(t, claims, demoApp, demoApp)
}

// TestErrors checks that every error class gets its status and an RFC 6749
// §5.2 body, and that no error answer echoes the presented token.
func TestErrors(t *testing.T) {
	e := newTestEnv(t, nil, nil)
	good := e.mint(t, demoApp, demoSubject, nil, time.Hour)
	expired := e.mint(t, demoApp, demoSubject, nil, -time.Hour)
	apiToken := e.mint(t, demoAPI, demoSubject, nil, time.Hour) // issued to a client without grants
	const (
		form = "application/x-www-form-urlencoded"
		js   = "application/json"
	)
	for _, tc := range []struct {
		name, path, ctype, body string
		status                  int
		code                    string
	}{
		{"missing target", pathDelegation, js, seedBody(demoApp, good, "", "openid", "app"), 400, "invalid_request"},
		{"missing id_token", pathDelegation, form, seedForm(demoApp, "", demoAPI, "openid", ""), 400, "invalid_request"},
		{"not an object", pathDelegation, js, `["client_id"]`, 400, "invalid_request"},
		{"malformed JSON", pathDelegation, js, `{"client_id":`, 400, "invalid_request"},
		{"duplicate JSON key", pathDelegation, js, strings.Replace(seedBody(demoApp, good, demoAPI, "openid", "app"), `"target":`, `"target":"demo-api","target":`, 1), 400, "invalid_request"},
		{"duplicate form parameter", pathDelegation, form, seedForm(demoApp, good, demoAPI, "openid", "") + "&target=demo-ed-api", 400, "invalid_request"},
		{"malformed form", pathDelegation, form, "client_id=%zz", 400, "invalid_request"},
		{"unknown client", pathDelegation, js, seedBody("nobody", good, demoAPI, "openid", "app"), 401, "invalid_client"},
		{"expired token", pathDelegation, js, seedBody(demoApp, expired, demoAPI, "openid", "app"), 400, "invalid_grant"},
		{"token of another client", pathDelegation, js, seedBody(demoRSApp, good, demoAPI, "openid", "app"), 400, "invalid_grant"},
		{"garbage token", pathDelegation, form, seedForm(demoApp, "not.a.token", demoAPI, "openid", ""), 400, "invalid_grant"},
		{"unknown target", pathDelegation, js, seedBody(demoApp, good, "nowhere", "openid", "app"), 400, "invalid_target"},
		{"target not allowing the source", pathDelegation, js, seedBody(demoApp, good, demoRSApp, "openid", "app"), 400, "invalid_target"},
		{"scope without openid", pathDelegation, js, seedBody(demoApp, good, demoAPI, "profile", "app"), 400, "invalid_scope"},
		{"unknown scope", pathDelegation, js, seedBody(demoApp, good, demoAPI, "openid wallet", "app"), 400, "invalid_scope"},
		{"client without the grant", pathDelegation, js, seedBody(demoAPI, apiToken, demoEdAPI, "openid", "app"), 400, "unauthorized_client"},
		{"unknown api_type", pathDelegation, js, seedBody(demoApp, good, demoAPI, "openid", "firebase"), 400, "invalid_request"},
		{"unknown grant type", pathDelegation, js, `{"grant_type":"password","client_id":"demo-app"}`, 400, "unsupported_grant_type"},
		{"unknown grant type, token endpoint", pathToken, form, "grant_type=password&client_id=demo-app&username=u&password=p", 400, "unsupported_grant_type"},
		{"delegation on the token endpoint", pathToken, form, seedForm(demoApp, expired, demoAPI, "openid", ""), 400, "invalid_grant"},
		{"JSON on the token endpoint", pathToken, js, seedBody(demoApp, good, demoAPI, "openid", "app"), 415, "invalid_request"},
		{"text/plain", pathDelegation, "text/plain", seedBody(demoApp, good, demoAPI, "openid", "app"), 415, "invalid_request"},
		{"no content type", pathDelegation, "", seedBody(demoApp, good, demoAPI, "openid", "app"), 415, "invalid_request"},
		{"latin-1 form", pathDelegation, form + "; charset=ISO-8859-1", seedForm(demoApp, good, demoAPI, "openid", ""), 415, "invalid_request"},
		{"body too large", pathDelegation, form, seedForm(demoApp, good, demoAPI, "openid", "") + "&pad=" + strings.Repeat("x", 64<<10), 413, "invalid_request"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := do(t, http.MethodPost, e.srv.URL+tc.path, tc.ctype, tc.body, nil)
			checkError(t, r, tc.status, tc.code)
			for _, tok := range []string{good, expired, apiToken} {
				if strings.Contains(string(r.body), tok) {
					t.Error("error answer echoes the presented token")
				}
			}
			if tc.status == 415 && r.header.Get("Accept-Post") == "" {
				t.Error("415 without Accept-Post")
			}
		})
	}
	if strings.Contains(e.log.String(), good) || strings.Contains(e.log.String(), expired) {
		t.Error("log holds a presented token")
	}
}

// checkError checks an error answer: status, the exact members of the
// body, and that it is not cached.
func checkError(t *testing.T, r reply, status int, code string) {
	t.Helper()
	if r.status != status {
		t.Errorf("status %d, want %d (body %s)", r.status, status, r.body)
	}
	m := r.members(t)
	if diff := cmp.Diff([]string{"error", "error_description"}, slices.Sorted(maps.Keys(m))); diff != "" {
		t.Errorf("error members (-want +got):\n%s", diff)
	}
	if m["error"] != code {
		t.Errorf("error %v, want %s", m["error"], code)
	}
	if got := r.header.Get("Cache-Control"); got != "no-store" {
		t.Errorf("Cache-Control %q, want no-store", got)
	}
	if got := r.header.Get("Content-Type"); got != "application/json" {
		t.Errorf("Content-Type %q, want application/json", got)
	}
}

// TestMethods checks that token endpoints take POST only and the others
// GET only.
func TestMethods(t *testing.T) {
	e := newTestEnv(t, nil, nil)
	for _, tc := range []struct{ method, path, allow string }{
		{http.MethodGet, pathDelegation, "POST"},
		{http.MethodPut, pathDelegation, "POST"},
		{http.MethodOptions, pathDelegation, "POST"}, // no CORS configured
		{http.MethodGet, pathToken, "POST"},
		{http.MethodPost, pathJWKS, "GET, HEAD"},
		{http.MethodDelete, pathHealth, "GET, HEAD"},
	} {
		r := do(t, tc.method, e.srv.URL+tc.path, "", "", nil)
		if r.status != http.StatusMethodNotAllowed || r.header.Get("Allow") != tc.allow {
			t.Errorf("%s %s: status %d, Allow %q; want 405, %q", tc.method, tc.path, r.status, r.header.Get("Allow"), tc.allow)
		}
	}
	if r := do(t, http.MethodGet, e.srv.URL+"/nope", "", "", nil); r.status != http.StatusNotFound {
		t.Errorf("unknown path: status %d", r.status)
	}
	r := do(t, http.MethodGet, e.srv.URL+pathHealth, "", "", nil)
	if r.status != http.StatusOK || string(r.body) != "ok\n" {
		t.Errorf("healthz: %d %q", r.status, r.body)
	}
}

// TestJWKS checks that the key set is public, cacheable, and complete.
func TestJWKS(t *testing.T) {
	e := newTestEnv(t, nil, nil)
	set, r := fetchJWKS(t, e.srv.URL)
	if got := r.header.Get("Cache-Control"); got != "public, max-age=300" {
		t.Errorf("Cache-Control %q", got)
	}
	var raw struct {
		Keys []map[string]any `json:"keys"`
	}
	r.decode(t, &raw)
	var algs []string
	for _, k := range raw.Keys {
		for _, private := range []string{"d", "p", "q", "dp", "dq", "qi", "k"} {
			if _, ok := k[private]; ok {
				t.Errorf("key %v has private member %q", k["kid"], private)
			}
		}
		algs = append(algs, k["alg"].(string))
	}
	if diff := cmp.Diff([]string{"EdDSA", "RS256"}, slices.Sorted(slices.Values(algs))); diff != "" {
		t.Errorf("algs (-want +got):\n%s", diff)
	}
	for _, k := range set.Keys {
		if !k.IsPublic() {
			t.Errorf("key %s is not public", k.KeyID)
		}
	}
}
