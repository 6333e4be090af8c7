package engine_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	josejson "github.com/go-jose/go-jose/v4/json"
	"github.com/google/go-cmp/cmp"

	"github.com/deputyauth/deputy/claims"
	"github.com/deputyauth/deputy/engine"
	"github.com/deputyauth/deputy/store"
)

// Fuzz targets. Each keeps its per-input work small: one parse, or one
// Exchange against an in-memory world built once per process.
//
//	go test -run='^$' -fuzz=FuzzParseRequest -fuzztime=10m ./engine
//	go test -run='^$' -fuzz=FuzzParseJSON    -fuzztime=10m ./engine
//	go test -run='^$' -fuzz=FuzzExchange     -fuzztime=10m ./engine
//
// The files under testdata/fuzz/<target>/ are seeds that must keep
// passing as ordinary tests.

// knownCodes are the only error codes Exchange and the parsers may answer.
var knownCodes = map[string]bool{
	engine.CodeInvalidRequest: true, engine.CodeInvalidClient: true, engine.CodeInvalidGrant: true,
	engine.CodeUnauthorizedClient: true, engine.CodeUnsupportedGrantType: true, engine.CodeInvalidScope: true,
	engine.CodeInvalidTarget: true, engine.CodeServerError: true,
}

// engineError checks that err is an *engine.Error with a known code.
func engineError(t *testing.T, err error) *engine.Error {
	t.Helper()
	var xe *engine.Error
	if !errors.As(err, &xe) {
		t.Fatalf("error %v (%T) is not an *engine.Error", err, err)
	}
	if xe.Code == "" || !knownCodes[xe.Code] {
		t.Fatalf("error %v has code %q", err, xe.Code)
	}
	return xe
}

// stringParams are the single-valued wire parameters and their fields.
var stringParams = map[string]func(*engine.Request) string{
	"grant_type":           func(r *engine.Request) string { return r.GrantType },
	"client_id":            func(r *engine.Request) string { return r.ClientID },
	"client_secret":        func(r *engine.Request) string { return r.ClientSecret },
	"id_token":             func(r *engine.Request) string { return r.IDToken },
	"refresh_token":        func(r *engine.Request) string { return r.RefreshToken },
	"target":               func(r *engine.Request) string { return r.Target },
	"api_type":             func(r *engine.Request) string { return r.APIType },
	"subject_token":        func(r *engine.Request) string { return r.SubjectToken },
	"subject_token_type":   func(r *engine.Request) string { return r.SubjectTokenType },
	"actor_token":          func(r *engine.Request) string { return r.ActorToken },
	"actor_token_type":     func(r *engine.Request) string { return r.ActorTokenType },
	"requested_token_type": func(r *engine.Request) string { return r.RequestedTokenType },
	"scope":                func(r *engine.Request) string { return r.Scope },
}

var listParams = map[string]func(*engine.Request) []string{
	"audience": func(r *engine.Request) []string { return r.Audience },
	"resource": func(r *engine.Request) []string { return r.Resource },
}

// formSeeds are raw query strings seeding FuzzParseRequest.
var formSeeds = []string{
	"",
	"client_id=app&grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Ajwt-bearer&id_token=a.b.c&target=api&scope=openid+profile&api_type=app",
	"client_id=a&client_id=b",
	"client_id=a&client_id=",
	"id_token=a.b.c&id_token=a.b.c",
	"audience=a&audience=b&resource=r&resource=",
	"x=1&x=2",
	"scope=openid%00admin",
	"client_id=app;target=api",
	"%zz=1",
	"client%5Fid=a&client_id=b",
	"client_id=" + strings.Repeat("a", 70000),
	strings.Repeat("z", 40) + "=1&" + strings.Repeat("z", 40) + "=2",
	"\xff\xfe=1&\xff\xfe=2",
}

// FuzzParseRequest: ParseRequest never panics; it refuses only with
// invalid_request and a description that is fixed or names a duplicated
// parameter (shortened); on success no single-valued parameter was sent
// twice, every field holds exactly what was sent, Extra holds only names
// that were sent, and the values fit MaxRequestSize.
func FuzzParseRequest(f *testing.F) {
	for _, s := range formSeeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		form, _ := url.ParseQuery(raw) // a partial parse is still a form a host could pass
		size := 0
		for name, vals := range form {
			for _, v := range vals {
				size += len(name) + len(v)
			}
		}
		req, err := engine.ParseRequest(form)
		if err != nil {
			xe := engineError(t, err)
			if req != nil {
				t.Fatalf("request %+v returned with error %v", req, err)
			}
			if xe.Code != engine.CodeInvalidRequest {
				t.Fatalf("code %s, want invalid_request", xe.Code)
			}
			checkParseDescription(t, xe.Description, form)
			return
		}
		if req == nil {
			t.Fatal("no request and no error")
		}
		if size > engine.MaxRequestSize {
			t.Fatalf("accepted %d bytes of values, over MaxRequestSize", size)
		}
		for name, vals := range form {
			if get, ok := stringParams[name]; ok {
				if len(vals) > 1 {
					t.Fatalf("single-valued %q sent %d times was accepted", name, len(vals))
				}
				if got := get(req); got != vals[0] {
					t.Fatalf("%s = %q, sent %q", name, got, vals[0])
				}
				continue
			}
			if get, ok := listParams[name]; ok {
				want := slices.DeleteFunc(slices.Clone(vals), func(v string) bool { return v == "" })
				if got := get(req); !slices.Equal(got, want) {
					t.Fatalf("%s = %q, sent %q", name, got, vals)
				}
				continue
			}
			if len(vals) > 1 {
				t.Fatalf("unknown %q sent %d times was accepted", name, len(vals))
			}
			if got, ok := req.Extra[name]; vals[0] != "" && (!ok || got != vals[0]) {
				t.Fatalf("Extra[%q] = %q, sent %q", name, got, vals[0])
			}
		}
		for name := range req.Extra {
			if _, sent := form[name]; !sent {
				t.Fatalf("Extra holds %q, never sent", name)
			}
		}
		for name, get := range stringParams {
			if _, sent := form[name]; !sent && get(req) != "" {
				t.Fatalf("%s set without being sent", name)
			}
		}
	})
}

// checkParseDescription: a parser's description is one of its fixed
// sentences, or names a parameter that was sent more than once, shortened
// to 32 bytes, so that a token sent as a parameter name is never echoed.
func checkParseDescription(t *testing.T, desc string, form url.Values) {
	t.Helper()
	if desc == "request too large" {
		return
	}
	const pre, post = "parameter ", " sent more than once"
	if !strings.HasPrefix(desc, pre) || !strings.HasSuffix(desc, post) {
		t.Fatalf("unexpected description %q", desc)
	}
	quoted := strings.TrimSuffix(strings.TrimPrefix(desc, pre), post)
	name, err := strconv.Unquote(quoted)
	if err != nil {
		t.Fatalf("description %q: parameter name not quoted", desc)
	}
	short := strings.TrimSuffix(name, "…")
	if len(short) > 32 {
		t.Fatalf("description %q echoes %d bytes of a parameter name", desc, len(short))
	}
	for n, vals := range form {
		if len(vals) > 1 && strings.HasPrefix(n, short) && (short == n || len(n) > 32) {
			return
		}
	}
	t.Fatalf("description %q names no duplicated parameter", desc)
}

var jsonSeeds = []string{
	`{"client_id":"app","grant_type":"urn:ietf:params:oauth:grant-type:jwt-bearer","id_token":"a.b.c","target":"api","scope":"openid","api_type":"app"}`,
	`{"client_id":"a","client_id":"b"}`,
	`{"client_id":"a","client\u005fid":"b"}`,
	`{"Client_ID":"a","client_id":"b"}`,
	`{"client_id":null,"scope":null,"x":5,"y":"z"}`,
	`{"audience":["a","b",""],"resource":"r"}`,
	`{"audience":[1]}`,
	`{"id_token":["a","b"]}`,
	`[]`, `"x"`, `5`, `null`, ``, ` `, `{`, `{}x`, `{}{}`,
	`{"x":` + strings.Repeat("[", 20000) + strings.Repeat("]", 20000) + `}`,
	`{"x":"\ud800"}`,
	"\xef\xbb\xbf{}",
	"\u00a0{}",
	`{"client_id":"a\u0000b"}`,
}

// FuzzParseJSON: ParseJSON never panics; it refuses only with
// invalid_request; on success the body (after the same trimming) is one
// JSON object that encoding/json also reads, with no repeated key, and the
// Request holds exactly its string members: known ones in their fields,
// unknown non-empty ones in Extra.
func FuzzParseJSON(f *testing.F) {
	for _, s := range jsonSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		req, err := engine.ParseJSON(body)
		if err != nil {
			xe := engineError(t, err)
			if req != nil {
				t.Fatalf("request %+v returned with error %v", req, err)
			}
			if xe.Code != engine.CodeInvalidRequest {
				t.Fatalf("code %s, want invalid_request", xe.Code)
			}
			return
		}
		if req == nil {
			t.Fatal("no request and no error")
		}
		if len(body) > engine.MaxRequestSize {
			t.Fatalf("accepted a %d-byte body", len(body))
		}
		// ParseJSON trims with bytes.TrimSpace, which also removes Unicode
		// spaces such as U+00A0 and U+0085 that JSON does not allow; the
		// oracle trims the same way and checks the rest.
		trimmed := bytes.TrimSpace(body)
		keys, ok := topLevelKeys(trimmed)
		if !ok {
			t.Fatalf("accepted %q, which encoding/json does not read as one object", trimmed)
		}
		seen := map[string]bool{}
		for _, k := range keys {
			if seen[k] {
				t.Fatalf("accepted a body repeating key %q", k)
			}
			seen[k] = true
		}
		var raw map[string]any
		if err := json.Unmarshal(trimmed, &raw); err != nil {
			t.Fatalf("accepted %q, which encoding/json refuses: %v", trimmed, err)
		}
		for name, get := range stringParams {
			want, _ := raw[name].(string)
			if got := get(req); got != want {
				t.Fatalf("%s = %q, body has %q", name, got, raw[name])
			}
		}
		for name, get := range listParams {
			var want []string
			switch v := raw[name].(type) {
			case string:
				if v != "" {
					want = []string{v}
				}
			case []any:
				for _, e := range v {
					s, ok := e.(string)
					if !ok {
						t.Fatalf("%s accepted with a member %v that is not a string", name, e)
					}
					if s != "" {
						want = append(want, s)
					}
				}
			}
			if got := get(req); len(got) != len(want) || (len(want) > 0 && !slices.Equal(got, want)) {
				t.Fatalf("%s = %q, body has %v", name, got, raw[name])
			}
		}
		for name, v := range req.Extra {
			if _, known := stringParams[name]; known {
				t.Fatalf("known parameter %q in Extra", name)
			}
			if s, ok := raw[name].(string); !ok || s != v || v == "" {
				t.Fatalf("Extra[%q] = %q, body has %v", name, v, raw[name])
			}
		}
		for name, v := range raw {
			_, known := stringParams[name]
			_, list := listParams[name]
			if s, ok := v.(string); ok && s != "" && !known && !list && req.Extra[name] != s {
				t.Fatalf("string member %q not kept in Extra", name)
			}
		}
	})
}

// topLevelKeys returns the member names of the one JSON object in b, as
// encoding/json's tokenizer decodes them, and whether b is exactly one
// object.
func topLevelKeys(b []byte) ([]string, bool) {
	dec := json.NewDecoder(bytes.NewReader(b))
	tok, err := dec.Token()
	if err != nil || tok != json.Delim('{') {
		return nil, false
	}
	var keys []string
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, false
		}
		k, ok := tok.(string)
		if !ok {
			return nil, false
		}
		keys = append(keys, k)
		var skip json.RawMessage
		if err := dec.Decode(&skip); err != nil {
			return nil, false
		}
	}
	if tok, err := dec.Token(); err != nil || tok != json.Delim('}') {
		return nil, false
	}
	if _, err := dec.Token(); err == nil {
		return nil, false // trailing data
	}
	return keys, true
}

// fuzzSecret is a fixed HMAC secret for client id, so that seed files
// holding HS256 tokens stay valid across processes.
func fuzzSecret(id string) []byte {
	s := sha256.Sum256([]byte("deputy fuzz secret " + id))
	return s[:]
}

// fuzzEdKey is a fixed Ed25519 key, kid "ed-fuzz", for the same reason.
func fuzzEdKey() ed25519.PrivateKey {
	seed := sha256.Sum256([]byte("deputy fuzz ed25519"))
	return ed25519.NewKeyFromSeed(seed[:])
}

// openTarget is a target of the fuzz world that allows every source.
const openTarget = "open"

// newFuzzWorld is the standard world with fixed HMAC secrets, a fixed
// EdDSA signing key, and a target allowing "*".
func newFuzzWorld(tb testing.TB) *world {
	tb.Helper()
	w := newWorld(tb, nil)
	for _, id := range []string{appHS, apiHS, lonely, offline} {
		c, err := w.st.Client(context.Background(), id)
		if err != nil {
			tb.Fatal(err)
		}
		n := *c
		n.Secrets = []store.Secret{{ID: id + "-s1", Value: fuzzSecret(id)}}
		putClient(tb, w.st, n)
		w.secrets[id] = fuzzSecret(id)
	}
	if err := w.st.AddKey(jose.JSONWebKey{Key: fuzzEdKey(), KeyID: "ed-fuzz", Algorithm: "EdDSA"}); err != nil {
		tb.Fatal(err)
	}
	putClient(tb, w.st, store.Client{ID: openTarget, SigningAlg: "HS256", AllowedSources: []string{"*"},
		Secrets: []store.Secret{{ID: openTarget + "-s1", Value: fuzzSecret(openTarget)}}})
	w.secrets[openTarget] = fuzzSecret(openTarget)
	return w
}

// FuzzExchange runs delegation requests against a seeded world. Whatever
// the input, a refusal is an *engine.Error with a known code, no response,
// and no echo of the token; and a response only ever comes back when an
// independent oracle agrees that it should: the presented token verifies
// with go-jose under the requester's registered key and algorithm and
// carries valid claims for it, the target exists, is enabled and lists the
// requester, and the minted token verifies under the target's key with
// iss = issuer, aud = target, azp = requester and no claim the source did
// not have.
func FuzzExchange(f *testing.F) {
	w := newFuzzWorld(f)
	for _, s := range exchangeSeeds(f, w) {
		f.Add(s.token, s.client, s.target, s.scope, s.apiType)
	}
	ctx := context.Background()
	f.Fuzz(func(t *testing.T, token, clientID, target, scopeStr, apiType string) {
		req := &engine.Request{
			GrantType: engine.GrantTypeJWTBearer, ClientID: clientID, IDToken: token,
			Target: target, Scope: scopeStr, APIType: apiType,
		}
		res, err := w.x.Exchange(ctx, req)
		if err != nil {
			xe := engineError(t, err)
			if res != nil {
				t.Fatalf("response %+v returned with error %v", res, err)
			}
			msg := err.Error() + " " + xe.Description
			// Descriptions hold no dot, so a dotted input found in one was echoed.
			if len(token) >= 8 && strings.Contains(token, ".") && strings.Contains(msg, token) {
				t.Fatalf("error text %q echoes the token", msg)
			}
			for id, s := range w.secrets {
				if strings.Contains(msg, string(s)) {
					t.Fatalf("error text holds %s's secret", id)
				}
			}
			return
		}
		if res == nil {
			t.Fatal("no response and no error")
		}
		checkGranted(t, w, req, res)
	})
}

// checkGranted is FuzzExchange's oracle for a request that succeeded.
func checkGranted(t *testing.T, w *world, req *engine.Request, res *engine.Response) {
	t.Helper()
	ctx := context.Background()
	switch req.APIType {
	case "", "app", "auth0":
	default:
		t.Fatalf("api_type %q succeeded; the fuzz world registers no minter", req.APIType)
	}

	// (a) The requester exists, is enabled, may use the grant, and the
	// presented token verifies under its key with its algorithm only.
	requester, err := w.st.Client(ctx, req.ClientID)
	if err != nil || requester.Disabled || !slices.Contains(requester.Grants, engine.GrantTypeJWTBearer) {
		t.Fatalf("granted to requester %q (%v)", req.ClientID, err)
	}
	src := oracleVerify(t, w, req.IDToken, requester)
	oracleSourceClaims(t, src, req.ClientID)

	// (b) The target exists, is enabled and lists the requester.
	target, err := w.st.Client(ctx, req.Target)
	if err != nil || target.Disabled || !(slices.Contains(target.AllowedSources, req.ClientID) || slices.Contains(target.AllowedSources, "*")) {
		t.Fatalf("granted for target %q that does not allow %q (%v)", req.Target, req.ClientID, err)
	}

	// (c), (d) The minted token verifies under the target's key, with the
	// engine's claims and nothing the source did not carry.
	if res.IDToken == "" || res.TokenType != "Bearer" || res.AccessToken != "" {
		t.Fatalf("response %+v", res)
	}
	h, out := w.decode(t, res.IDToken, req.Target)
	if h.Algorithm != target.SigningAlg {
		t.Fatalf("minted with %s, target registered %s", h.Algorithm, target.SigningAlg)
	}
	if out["iss"] != issuer || out["aud"] != req.Target || out["azp"] != req.ClientID || out["sub"] != src["sub"] {
		t.Fatalf("minted iss=%v aud=%v azp=%v sub=%v for requester %q target %q", out["iss"], out["aud"], out["azp"], out["sub"], req.ClientID, req.Target)
	}
	iat, _ := out.NumericDate("iat")
	exp, _ := out.NumericDate("exp")
	if !iat.Equal(fixedNow) || int64(exp.Sub(iat)/time.Second) != res.ExpiresIn || res.ExpiresIn <= 0 {
		t.Fatalf("iat %v exp %v expires_in %d", iat, exp, res.ExpiresIn)
	}
	for k, v := range out {
		switch k {
		case "iss", "sub", "aud", "azp", "iat", "exp", "jti":
			continue
		}
		if claims.IsOwned(k) {
			t.Fatalf("minted token carries owned claim %q", k)
		}
		if sv, ok := src[k]; !ok || !cmp.Equal(sv, v) {
			t.Fatalf("minted claim %q = %v; source has %v", k, v, sv)
		}
	}
}

// oracleVerify verifies token as go-jose alone would for client: its one
// algorithm, its unexpired secrets or the KeyStore's keys declared for that
// algorithm, the kid honoured, no header parameter the design refuses.
func oracleVerify(t *testing.T, w *world, token string, client *store.Client) claims.Set {
	t.Helper()
	jws, err := jose.ParseSignedCompact(token, []jose.SignatureAlgorithm{jose.SignatureAlgorithm(client.SigningAlg)})
	if err != nil {
		t.Fatalf("granted a token go-jose does not parse for %s: %v", client.SigningAlg, err)
	}
	if strings.Count(token, ".") != 2 || strings.ContainsAny(token, "\r\n") {
		t.Fatal("granted a token that is not a plain compact JWS")
	}
	hd := jws.Signatures[0].Header
	if hd.JSONWebKey != nil {
		t.Fatal("granted a token with an embedded jwk")
	}
	for _, k := range []jose.HeaderKey{"jku", "x5u", "x5c", "crit", "b64", "cty", "zip", "enc"} {
		if _, ok := hd.ExtraHeaders[k]; ok {
			t.Fatalf("granted a token with header %s", k)
		}
	}
	if typ, ok := hd.ExtraHeaders["typ"]; ok {
		if s, _ := typ.(string); !strings.EqualFold(s, "JWT") {
			t.Fatalf("granted a token with typ %v", typ)
		}
	}
	var keys []any
	if store.IsHMAC(client.SigningAlg) {
		for _, s := range client.Secrets {
			if s.Active(fixedNow) && (hd.KeyID == "" || hd.KeyID == s.ID) {
				keys = append(keys, s.Value)
			}
		}
	} else {
		all, _ := w.st.VerificationKeys(context.Background(), "")
		for _, k := range all {
			if k.Algorithm == client.SigningAlg && (hd.KeyID == "" || hd.KeyID == k.KeyID) {
				keys = append(keys, k.Key)
			}
		}
	}
	for _, k := range keys {
		if payload, err := jws.Verify(k); err == nil {
			var c claims.Set
			if err := josejson.Unmarshal(payload, &c); err != nil || c == nil {
				t.Fatalf("granted a token whose payload is not a JSON object: %v", err)
			}
			return c
		}
	}
	t.Fatalf("granted a token that no key of %s (%s) verifies", client.ID, client.SigningAlg)
	return nil
}

// oracleSourceClaims re-checks the delegation claim rules with skew 0.
func oracleSourceClaims(t *testing.T, c claims.Set, clientID string) {
	t.Helper()
	if c["iss"] != issuer {
		t.Fatalf("granted a token with iss %v", c["iss"])
	}
	if sub, ok := c["sub"].(string); !ok || sub == "" {
		t.Fatalf("granted a token with sub %v", c["sub"])
	}
	exp, ok := c["exp"].(float64)
	if !ok || !(float64(fixedNow.Unix()) < exp) {
		t.Fatalf("granted a token with exp %v at %d", c["exp"], fixedNow.Unix())
	}
	for _, n := range []string{"nbf", "iat"} {
		if v, present := c[n]; present {
			f, ok := v.(float64)
			if !ok || f > float64(fixedNow.Unix()) {
				t.Fatalf("granted a token with %s %v", n, v)
			}
		}
	}
	var aud []string
	switch a := c["aud"].(type) {
	case string:
		aud = []string{a}
	case []any:
		for _, m := range a {
			s, ok := m.(string)
			if !ok || s == "" {
				t.Fatalf("granted a token with aud %v", c["aud"])
			}
			aud = append(aud, s)
		}
	}
	if !slices.Contains(aud, clientID) {
		t.Fatalf("granted a token with aud %v to %q", c["aud"], clientID)
	}
	if _, has := c["azp"]; has || len(aud) > 1 {
		if c["azp"] != clientID {
			t.Fatalf("granted a token with azp %v and aud %v to %q", c["azp"], aud, clientID)
		}
	}
}

type exchangeSeed struct{ token, client, target, scope, apiType string }

// exchangeSeeds are good requests for every algorithm pair, the attack
// tokens of security_test.go, and a delegated token presented onward.
func exchangeSeeds(tb testing.TB, w *world) []exchangeSeed {
	tb.Helper()
	var seeds []exchangeSeed
	add := func(token, client, target, scope, apiType string) {
		seeds = append(seeds, exchangeSeed{token, client, target, scope, apiType})
	}
	for _, p := range []struct{ src, dst string }{
		{appHS, apiHS}, {appHS, apiEd}, {appHS, openTarget}, {appRS, apiHS}, {appEd, apiEd}, {appES, appES}, {appHS, appHS},
	} {
		add(w.idToken(tb, p.src, nil), p.src, p.dst, "openid email", "")
	}
	good := w.idToken(tb, appHS, nil)
	for _, sc := range []string{"", "passthrough", "openid profile email address phone", "openid openid", "openid\x00", "email"} {
		add(good, appHS, apiHS, sc, "")
	}
	for _, at := range []string{"app", "auth0", "firebase"} {
		add(good, appHS, apiHS, "", at)
	}
	for _, tgt := range []string{lonely, offline, "API-HS", "nobody", ""} {
		add(good, appHS, tgt, "", "")
	}
	for _, cl := range []string{appRS, apiHS, offline, "", "nobody"} {
		add(good, cl, apiHS, "", "")
	}
	// A delegated token presented onward by its target: refused (azp).
	if res, err := w.x.Exchange(context.Background(), delegation(appHS, good, apiHS, "openid email")); err == nil {
		add(res.IDToken, apiHS, openTarget, "", "")
		add(res.IDToken, appHS, openTarget, "", "")
	}
	for _, a := range attackTokens(tb, w) {
		if len(a.token) <= 16<<10 { // the megabyte inputs stay in the unit tests: mutating them is slow
			add(a.token, a.client, openTarget, "", "")
		}
	}
	return seeds
}
