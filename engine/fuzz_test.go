package engine_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/json"
	"errors"
	"io"
	"maps"
	"math"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

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

// Targets the fuzz world adds to the standard one.
const (
	// openTarget allows every source.
	openTarget = "open"
	// uriTarget is an API named by a URI, as a token-exchange resource
	// names it: EdDSA, every source, a 600 s lifetime, and only some
	// scopes.
	uriTarget = "https://api.example.com/"
)

// Token-exchange vocabulary as DESIGN spells it. The oracle does not use
// the engine's constants, so that a wrong constant shows.
const (
	grantTokenExchange = "urn:ietf:params:oauth:grant-type:token-exchange"
	tokenTypePrefix    = "urn:ietf:params:oauth:token-type:"
	ttIDToken          = tokenTypePrefix + "id_token"
	ttAccessToken      = tokenTypePrefix + "access_token"
	ttJWT              = tokenTypePrefix + "jwt"
	ttRefreshToken     = tokenTypePrefix + "refresh_token"
)

// fuzzTokenTypes are the subject and actor token types FuzzExchange
// chooses from (three bits each): the four DESIGN takes, and values it
// refuses.
var fuzzTokenTypes = [8]string{
	"", ttIDToken, ttAccessToken, ttJWT, ttRefreshToken,
	tokenTypePrefix + "saml2", tokenTypePrefix + "ID_TOKEN", "id_token",
}

// fuzzRequestedTypes are the requested_token_type values (two bits).
var fuzzRequestedTypes = [4]string{"", ttAccessToken, ttIDToken, ttJWT}

// teTypes packs indexes into fuzzTokenTypes (subject, actor) and
// fuzzRequestedTypes into FuzzExchange's types argument.
func teTypes(subject, actor, requested int) uint8 {
	return uint8(subject | actor<<3 | requested<<6)
}

// Bits of FuzzExchange's grant argument.
const (
	grantBitExchange = 1 << iota // token exchange; else delegation
	grantBitTarget               // token exchange with target (delegation-only) set
	grantBitRefresh              // token exchange with refresh_token (delegation-only) set
	// Bits 3-4 and 5-6 sign the token (id_token or subject_token) and the
	// actor token as the requester would, taking the argument as the
	// payload (signMode), so that the fuzzer can reach every claim rule
	// with a good signature. Bit 7 adds deputy's mark to what is signed.
	grantShiftSign      = 3
	grantShiftSignActor = 5
	grantBitMark        = 1 << 7
)

// signMode values: the argument as it is, or signed with typ JWT, typ
// at+jwt, or no typ.
const (
	signNone uint8 = iota
	signJWT
	signAT
	signNoTyp
)

// signGrant packs sign modes for the subject (or id_token) and the actor.
func signGrant(subject, actor uint8) uint8 {
	return subject<<grantShiftSign | actor<<grantShiftSignActor
}

// fuzzSign signs payload with client's registered algorithm and current
// key (kid set), as mode says; an unknown client leaves it as it is.
func fuzzSign(w *world, client, payload string, mode uint8, mark bool) string {
	if mode == signNone {
		return payload
	}
	ctx := context.Background()
	c, err := w.st.Client(ctx, client)
	if err != nil {
		return payload
	}
	key := jose.SigningKey{Algorithm: jose.SignatureAlgorithm(c.SigningAlg)}
	if store.IsHMAC(c.SigningAlg) {
		if len(c.Secrets) == 0 {
			return payload
		}
		key.Key = jose.JSONWebKey{Key: c.Secrets[0].Value, KeyID: c.Secrets[0].ID}
	} else {
		k, err := w.st.SigningKey(ctx, c.SigningAlg)
		if err != nil {
			return payload
		}
		key.Key = *k
	}
	opts := &jose.SignerOptions{}
	switch mode {
	case signJWT:
		opts = opts.WithType("JWT")
	case signAT:
		opts = opts.WithType("at+jwt")
	}
	if mark {
		opts = opts.WithHeader("deputy", 1)
	}
	s, err := jose.NewSigner(key, opts)
	if err != nil {
		panic(err)
	}
	jws, err := s.Sign([]byte(payload))
	if err != nil {
		panic(err)
	}
	tok, err := jws.CompactSerialize()
	if err != nil {
		panic(err)
	}
	return tok
}

// The fuzz world's refresh tokens and profiles, known to the oracle by
// token rather than through the store.
var (
	fuzzUser          = "auth0|ada"
	fuzzRefreshGrants = map[string]store.RefreshGrant{
		"rt-ada":       {ClientID: appHS, Subject: fuzzUser, Scope: []string{"openid", "profile", "email", "offline_access"}, ExpiresAt: fixedNow.Add(2 * time.Hour)},
		"rt-ada-noexp": {ClientID: appHS, Subject: fuzzUser, Scope: []string{"openid", "email"}},
		"rt-ada-soon":  {ClientID: appHS, Subject: fuzzUser, Scope: []string{"openid"}, ExpiresAt: fixedNow.Add(500 * time.Millisecond)},
		"rt-no-scope":  {ClientID: appHS, Subject: fuzzUser, ExpiresAt: fixedNow.Add(time.Hour)},
		"rt-revoked":   {ClientID: appHS, Subject: fuzzUser, Scope: []string{"openid"}, Revoked: true},
		"rt-expired":   {ClientID: appHS, Subject: fuzzUser, Scope: []string{"openid"}, ExpiresAt: fixedNow},
		"rt-ghost":     {ClientID: appHS, Subject: "auth0|ghost", Scope: []string{"openid"}},
		"rt-api":       {ClientID: apiHS, Subject: fuzzUser, Scope: []string{"openid", "email", "phone"}, ExpiresAt: fixedNow.Add(time.Hour)},
	}
)

// fuzzProfile is the profile of fuzzUser: the id_token claims, plus an
// owned claim that must never be copied.
func fuzzProfile() claims.Set {
	c := userClaims()
	c["nonce"] = "profile-nonce"
	return c
}

// exchangeRequesters may use the token-exchange grant in the fuzz world;
// app-es may not.
var exchangeRequesters = []string{appHS, apiHS, appRS, appEd}

// newFuzzWorld is the standard world with fixed HMAC secrets, a fixed
// EdDSA signing key, refresh tokens and profiles, the token-exchange grant
// for exchangeRequesters, and the targets open and uriTarget.
func newFuzzWorld(tb testing.TB) *world {
	tb.Helper()
	st := store.NewMemory()
	w := newWorldOn(tb, st, func(c *engine.Config) { c.RefreshTokens, c.Profiles = st, st })
	for _, id := range []string{appHS, apiHS, lonely, offline, appRS, appEd} {
		c, err := w.st.Client(context.Background(), id)
		if err != nil {
			tb.Fatal(err)
		}
		n := *c
		if store.IsHMAC(n.SigningAlg) {
			n.Secrets = []store.Secret{{ID: id + "-s1", Value: fuzzSecret(id)}}
			w.secrets[id] = fuzzSecret(id)
		}
		if slices.Contains(exchangeRequesters, id) {
			n.Grants = []string{engine.GrantTypeJWTBearer, grantTokenExchange}
		}
		putClient(tb, w.st, n)
	}
	if err := w.st.AddKey(jose.JSONWebKey{Key: fuzzEdKey(), KeyID: "ed-fuzz", Algorithm: "EdDSA"}); err != nil {
		tb.Fatal(err)
	}
	putClient(tb, w.st, store.Client{ID: openTarget, SigningAlg: "HS256", AllowedSources: []string{"*"},
		Secrets: []store.Secret{{ID: openTarget + "-s1", Value: fuzzSecret(openTarget)}}})
	w.secrets[openTarget] = fuzzSecret(openTarget)
	putClient(tb, w.st, store.Client{ID: uriTarget, SigningAlg: "EdDSA", AllowedSources: []string{"*"},
		Lifetime: 600 * time.Second, Scopes: []string{"openid", "email", "profile"}})
	for tok, g := range fuzzRefreshGrants {
		w.st.PutRefreshToken(tok, g)
	}
	w.st.PutProfile(fuzzUser, fuzzProfile())
	return w
}

// fuzzRequest builds the request FuzzExchange sends. In the token-exchange
// dialect, target holds space-separated names: each is an audience, or a
// resource when it starts with "~"; empty names are dropped, as
// ParseRequest drops empty values.
func fuzzRequest(w *world, token, clientID, target, scopeStr, apiType string, grant, types uint8, actor string) *engine.Request {
	token = fuzzSign(w, clientID, token, grant>>grantShiftSign&3, grant&grantBitMark != 0)
	if grant&grantBitExchange == 0 {
		return &engine.Request{
			GrantType: engine.GrantTypeJWTBearer, ClientID: clientID, IDToken: token,
			Target: target, Scope: scopeStr, APIType: apiType,
		}
	}
	req := &engine.Request{
		GrantType: grantTokenExchange, ClientID: clientID, Scope: scopeStr, APIType: apiType,
		SubjectToken: token, SubjectTokenType: fuzzTokenTypes[types&7],
		ActorTokenType:     fuzzTokenTypes[types>>3&7],
		RequestedTokenType: fuzzRequestedTypes[types>>6],
	}
	if req.ActorTokenType != "" || actor != "" {
		req.ActorToken = fuzzSign(w, clientID, actor, grant>>grantShiftSignActor&3, grant&grantBitMark != 0)
	}
	for _, n := range strings.Split(target, " ") {
		if r, ok := strings.CutPrefix(n, "~"); ok {
			if r != "" {
				req.Resource = append(req.Resource, r)
			}
		} else if n != "" {
			req.Audience = append(req.Audience, n)
		}
	}
	if grant&grantBitTarget != 0 {
		req.Target = target
	}
	if grant&grantBitRefresh != 0 {
		req.RefreshToken = token
	}
	return req
}

// FuzzExchange runs delegation and token-exchange requests against a
// seeded world. Whatever the input, a refusal is an *engine.Error with a
// known code, no response, and no echo of a token.
//
// Delegation: a response only ever comes back when an independent oracle
// agrees that it should: the presented token verifies with go-jose under
// the requester's registered key and algorithm and carries valid claims
// for it, the target exists, is enabled and lists the requester, and the
// minted token verifies under the target's key with iss = issuer, aud =
// target, azp = requester and no claim the source did not have.
//
// Token exchange: the oracle (oracleExchange) re-derives from DESIGN's
// rules, with go-jose and the world's data only, whether a token may be
// minted and exactly what it holds, or which codes a refusal may carry;
// any disagreement fails.
func FuzzExchange(f *testing.F) {
	w := newFuzzWorld(f)
	for _, s := range exchangeSeeds(f, w) {
		f.Add(s.token, s.client, s.target, s.scope, s.apiType, s.grant, s.types, s.actor)
	}
	ctx := context.Background()
	f.Fuzz(func(t *testing.T, token, clientID, target, scopeStr, apiType string, grant, types uint8, actor string) {
		req := fuzzRequest(w, token, clientID, target, scopeStr, apiType, grant, types, actor)
		res, err := w.x.Exchange(ctx, req)
		if err != nil {
			xe := engineError(t, err)
			if res != nil {
				t.Fatalf("response %+v returned with error %v", res, err)
			}
			msg := err.Error() + " " + xe.Description
			// Descriptions hold no dot, so a dotted input found in one was echoed.
			for _, tok := range []string{req.IDToken, req.SubjectToken, req.ActorToken} {
				if len(tok) >= 8 && strings.Contains(tok, ".") && strings.Contains(msg, tok) {
					t.Fatalf("error text %q echoes a token", msg)
				}
			}
			for id, s := range w.secrets {
				if strings.Contains(msg, string(s)) {
					t.Fatalf("error text holds %s's secret", id)
				}
			}
		} else if res == nil {
			t.Fatal("no response and no error")
		}
		if req.GrantType == grantTokenExchange {
			checkTokenExchange(t, w, req, res, err)
			return
		}
		if err == nil {
			checkGranted(t, w, req, res)
		}
	})
}

// checkGranted is FuzzExchange's oracle for a delegation that succeeded.
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
	src, why := oracleJWS(w, req.IDToken, requester, kindID, false)
	if why != "" {
		t.Fatalf("granted a source token the oracle refuses: %s", why)
	}

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
	h, out := oracleMinted(t, w, res.IDToken, target)
	if h.Algorithm != target.SigningAlg {
		t.Fatalf("minted with %s, target registered %s", h.Algorithm, target.SigningAlg)
	}
	if out["iss"] != issuer || out["aud"] != req.Target || out["azp"] != req.ClientID || out["sub"] != src.sub {
		t.Fatalf("minted iss=%v aud=%v azp=%v sub=%v for requester %q target %q", out["iss"], out["aud"], out["azp"], out["sub"], req.ClientID, req.Target)
	}
	iat, _ := oracleNumber(out["iat"])
	exp, _ := oracleNumber(out["exp"])
	if iat != float64(fixedNow.Unix()) || int64(exp-iat) != res.ExpiresIn || res.ExpiresIn <= 0 {
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
		if sv, ok := src.claims[k]; !ok || !cmp.Equal(oracleCanon(sv), oracleCanon(v)) {
			t.Fatalf("minted claim %q = %v; source has %v", k, v, sv)
		}
	}
}

// Limits of DESIGN and the engine's documented defaults, as the oracle
// applies them (skew 0 in the fuzz world).
const (
	oracleMaxTokenSize    = 8 << 10
	oracleMaxSourceExpiry = 48 * 60 * 60
	oracleMaxActDepth     = 5
	oracleDefaultLifetime = 36000
	oracleMaxNumericDate  = 253402300799 // claims: nothing after the year 9999
	oracleMaxKIDOrJTI     = 256
)

// oracleOwned are the claims DESIGN says the engine owns.
var oracleOwned = map[string]bool{
	"iss": true, "sub": true, "aud": true, "exp": true, "nbf": true, "iat": true, "jti": true,
	"azp": true, "act": true, "may_act": true, "scope": true, "client_id": true, "nonce": true,
	"at_hash": true, "c_hash": true, "auth_time": true, "sid": true, "cnf": true,
}

// oracleMapping is DESIGN's standard mapping (OIDC Core §5.4).
var oracleMapping = map[string][]string{
	"openid": nil, "offline_access": nil,
	"profile": {"name", "family_name", "given_name", "middle_name", "nickname", "preferred_username",
		"profile", "picture", "website", "gender", "birthdate", "zoneinfo", "locale", "updated_at"},
	"email":   {"email", "email_verified"},
	"address": {"address"},
	"phone":   {"phone_number", "phone_number_verified"},
}

// oracleKind is the rule set a presented JWS is checked by.
type oracleKind int

const (
	kindID     oracleKind = iota // an id_token
	kindAccess                   // an RFC 9068 access token
	kindEither                   // DESIGN's jwt: the typ header decides
)

// oracleSource is a presented token the oracle accepts.
type oracleSource struct {
	claims  claims.Set
	sub     string
	cap     time.Time // exp, or the refresh grant's ExpiresAt; zero: none
	bounded bool      // an access token's scope claim or a refresh grant's scope
	bound   []string
	act     any // the token's act; nil when absent
}

// oracleJWS verifies token as go-jose alone would for client under the
// rules of kind: its one algorithm, its unexpired secrets or the
// KeyStore's keys declared for that algorithm, the kid honoured, no header
// parameter the design refuses, typ as the kind requires, and the claim
// rules; in the token-exchange dialect (exchange) also the act chain and
// an access token's scope claim. It returns why it refuses, or "".
func oracleJWS(w *world, token string, client *store.Client, kind oracleKind, exchange bool) (*oracleSource, string) {
	if len(token) > oracleMaxTokenSize {
		return nil, "token larger than MaxTokenSize"
	}
	if strings.Count(token, ".") != 2 || strings.ContainsAny(token, "\r\n") {
		return nil, "not a plain compact JWS"
	}
	jws, err := jose.ParseSignedCompact(token, []jose.SignatureAlgorithm{jose.SignatureAlgorithm(client.SigningAlg)})
	if err != nil {
		return nil, "go-jose does not parse it for " + client.SigningAlg
	}
	hd := jws.Signatures[0].Header
	if hd.JSONWebKey != nil {
		return nil, "embedded jwk"
	}
	// Key references, crit/b64, nested JWTs and JWE-only parameters.
	for _, k := range []jose.HeaderKey{"jku", "x5u", "crit", "b64", "cty", "zip", "enc", "epk", "p2s", "p2c", "iv", "tag"} {
		if _, ok := hd.ExtraHeaders[k]; ok {
			return nil, "header " + string(k)
		}
	}
	if _, err := hd.Certificates(x509.VerifyOptions{Roots: x509.NewCertPool()}); !errors.Is(err, jose.ErrMissingX5cHeader) {
		return nil, "header x5c"
	}
	typ, hasTyp := "", false
	if v, ok := hd.ExtraHeaders["typ"]; ok {
		if typ, hasTyp = v.(string); !hasTyp {
			return nil, "typ not a string"
		}
		if len(typ) > len("application/") && strings.EqualFold(typ[:len("application/")], "application/") {
			typ = typ[len("application/"):]
		}
	}
	isAT := hasTyp && strings.EqualFold(typ, "at+jwt")
	if kind == kindEither {
		kind = kindID
		if isAT {
			kind = kindAccess
		}
	}
	switch kind {
	case kindAccess:
		if !isAT {
			return nil, "access token without typ at+jwt"
		}
	case kindID:
		if hasTyp && !strings.EqualFold(typ, "JWT") {
			return nil, "id_token with typ " + typ
		}
		if _, ok := hd.ExtraHeaders["deputy"]; ok {
			return nil, "id_token minted by deputy"
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
	var payload []byte
	for _, k := range keys {
		if p, err := jws.Verify(k); err == nil {
			payload = p
			break
		}
	}
	if payload == nil {
		return nil, "no key of " + client.ID + " verifies it"
	}
	c, ok := oracleDecode(payload)
	if !ok {
		return nil, "payload not one UTF-8 JSON object"
	}
	src := &oracleSource{claims: c}
	if why := oracleClaims(c, client.ID, kind == kindID, src); why != "" {
		return nil, why
	}
	if !exchange {
		return src, "" // delegation mints no act and has no bound from a token
	}
	if act, ok := c["act"]; ok {
		if d := oracleActDepth(act); d == 0 || d > oracleMaxActDepth {
			return nil, "act malformed or deeper than 5"
		}
		src.act = act
	}
	if kind == kindAccess {
		src.bounded, src.bound = true, []string{"openid"}
		if v, ok := c["scope"]; ok {
			s, ok := v.(string)
			if !ok {
				return nil, "scope claim not a string"
			}
			// RFC 6749 §3.3: a scope has at least one token.
			if src.bound, ok = oracleParseScope(s); !ok || s == "" {
				return nil, "scope claim malformed"
			}
		}
	}
	return src, ""
}

// oracleNumericDate is a JSON number within 1970..9999.
func oracleNumericDate(v any) (float64, bool) {
	f, ok := oracleNumber(v)
	return f, ok && f >= 0 && f <= oracleMaxNumericDate
}

// oracleNumber is the value of a decoded JSON number; one beyond float64
// is ±Inf.
func oracleNumber(v any) (float64, bool) {
	switch n := v.(type) {
	case float64:
		return n, true
	case josejson.Number:
		f, err := strconv.ParseFloat(string(n), 64)
		return f, err == nil || math.IsInf(f, 0)
	}
	return 0, false
}

// oracleDecode decodes a JWT payload as RFC 7519 §7.2 and RFC 8259 have
// it: one JSON object, UTF-8, decoded by go-jose with no repeated member,
// numbers kept as their text (any JSON number is valid).
func oracleDecode(payload []byte) (claims.Set, bool) {
	if !utf8.Valid(payload) {
		return nil, false
	}
	dec := josejson.NewDecoder(bytes.NewReader(payload))
	dec.SetNumberType(josejson.UnmarshalJSONNumber)
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, false
	}
	m, ok := v.(map[string]any)
	if !ok {
		return nil, false
	}
	if err := dec.Decode(new(josejson.RawMessage)); err != io.EOF {
		return nil, false
	}
	return claims.Set(m), true
}

// oracleCanon is a decoded JSON value with every number as text: a number
// from a token as it was written, a Go float64 (a profile's) as
// encoding/json writes it. Comparing canonical values checks that claims
// pass through byte for byte.
func oracleCanon(v any) any {
	switch t := v.(type) {
	case float64:
		b, err := json.Marshal(t)
		if err != nil {
			return t
		}
		return josejson.Number(b)
	case json.Number:
		return josejson.Number(t)
	case map[string]any:
		m := make(map[string]any, len(t))
		for k, e := range t {
			m[k] = oracleCanon(e)
		}
		return m
	case claims.Set:
		return oracleCanon(map[string]any(t))
	case []any:
		a := make([]any, len(t))
		for i, e := range t {
			a[i] = oracleCanon(e)
		}
		return a
	}
	return v
}

// oracleMinted verifies a minted token with go-jose under target's key
// (by its kid) and decodes it as oracleDecode does.
func oracleMinted(t *testing.T, w *world, token string, target *store.Client) (jose.Header, claims.Set) {
	t.Helper()
	jws, err := jose.ParseSignedCompact(token, []jose.SignatureAlgorithm{jose.SignatureAlgorithm(target.SigningAlg)})
	if err != nil {
		t.Fatalf("minted token does not parse for %s: %v", target.SigningAlg, err)
	}
	h := jws.Signatures[0].Header
	var key any
	if store.IsHMAC(target.SigningAlg) {
		for _, s := range target.Secrets {
			if s.ID == h.KeyID {
				key = s.Value
			}
		}
	} else if ks, err := w.st.VerificationKeys(context.Background(), h.KeyID); err == nil && len(ks) == 1 && ks[0].Algorithm == target.SigningAlg {
		key = ks[0].Key
	}
	if key == nil {
		t.Fatalf("minted token's kid %q names no key of %s", h.KeyID, target.ID)
	}
	payload, err := jws.Verify(key)
	if err != nil {
		t.Fatalf("minted token does not verify under %s's key: %v", target.ID, err)
	}
	c, ok := oracleDecode(payload)
	if !ok {
		t.Fatalf("minted payload %q is not one JSON object", payload)
	}
	return h, c
}

// oracleClaims applies DESIGN's claim rules with skew 0 and fills src's
// sub and cap.
func oracleClaims(c claims.Set, clientID string, idToken bool, src *oracleSource) string {
	now := float64(fixedNow.Unix())
	if c["iss"] != issuer {
		return "iss is not the issuer"
	}
	sub, ok := c["sub"].(string)
	if !ok || sub == "" {
		return "sub missing"
	}
	exp, ok := oracleNumericDate(c["exp"])
	switch {
	case !ok:
		return "exp missing or invalid"
	case !(now < exp):
		return "expired"
	case exp > now+oracleMaxSourceExpiry:
		return "exp beyond MaxSourceExpiry"
	}
	for _, n := range []string{"nbf", "iat"} {
		if v, present := c[n]; present {
			if f, ok := oracleNumericDate(v); !ok || f > now {
				return n + " invalid or in the future"
			}
		}
	}
	var aud []string
	switch a := c["aud"].(type) {
	case string:
		if a != "" {
			aud = []string{a}
		}
	case []any:
		for _, m := range a {
			s, ok := m.(string)
			if !ok || s == "" {
				return "aud member invalid"
			}
			aud = append(aud, s)
		}
	}
	if !slices.Contains(aud, clientID) {
		return "aud does not name the requester"
	}
	if _, has := c["azp"]; idToken && (has || len(aud) > 1) && c["azp"] != clientID {
		return "azp does not name the requester"
	}
	if v, has := c["jti"]; has {
		if s, ok := v.(string); !ok || s == "" || len(s) > oracleMaxKIDOrJTI {
			return "jti invalid"
		}
	}
	sec, frac := math.Modf(exp)
	src.sub, src.cap = sub, time.Unix(int64(sec), int64(frac*1e9))
	return ""
}

// oracleActDepth is the number of act levels of v, or 0 when a level is
// not an object with a non-empty string sub.
func oracleActDepth(v any) int {
	m, ok := v.(map[string]any)
	if !ok {
		return 0
	}
	if s, ok := m["sub"].(string); !ok || s == "" {
		return 0
	}
	next, ok := m["act"]
	if !ok {
		return 1
	}
	if d := oracleActDepth(next); d > 0 {
		return d + 1
	}
	return 0
}

// oracleParseScope parses RFC 6749 §3.3 scope (NQCHAR tokens, single
// spaces) within the scope package's documented limits (4096 bytes, 256
// raw tokens, 64 distinct), returning the canonical set.
func oracleParseScope(s string) ([]string, bool) {
	if s == "" {
		return nil, true
	}
	if len(s) > 4096 {
		return nil, false
	}
	toks := strings.Split(s, " ")
	if len(toks) > 256 {
		return nil, false
	}
	for _, t := range toks {
		if t == "" {
			return nil, false
		}
		for i := 0; i < len(t); i++ {
			if c := t[i]; !(c == 0x21 || c >= 0x23 && c <= 0x5B || c >= 0x5D && c <= 0x7E) {
				return nil, false
			}
		}
	}
	out := oracleCanonical(toks)
	return out, len(out) <= 64
}

// oracleCanonical is DESIGN's canonical scope: openid first, then the
// rest sorted, without repeats.
func oracleCanonical(toks []string) []string {
	var out []string
	rest := slices.Clone(toks)
	if slices.Contains(rest, "openid") {
		out = append(out, "openid")
		rest = slices.DeleteFunc(rest, func(t string) bool { return t == "openid" })
	}
	slices.Sort(rest)
	return append(out, slices.Compact(rest)...)
}

// oracleAbsoluteURI reports whether r is an absolute URI (RFC 3986 §4.3:
// a scheme, then ":") without a fragment.
func oracleAbsoluteURI(r string) bool {
	scheme, _, ok := strings.Cut(r, ":")
	if !ok || scheme == "" || strings.Contains(r, "#") {
		return false
	}
	for i, c := range scheme {
		alpha := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z'
		if !alpha && (i == 0 || !(c >= '0' && c <= '9' || c == '+' || c == '-' || c == '.')) {
			return false
		}
	}
	return true
}

// exchangeWant is what the oracle expects of a token-exchange request:
// either the codes a refusal may carry (one per failed rule; the order in
// which the engine checks is not the oracle's business), or, when there
// are none, the token that must be minted.
type exchangeWant struct {
	codes map[string][]string // code → the rules that failed with it

	requester, target *store.Client
	src               *oracleSource
	access            bool     // an access token is requested, else an id_token
	act               any      // the act the minted token must carry; nil: none
	mayAct            any      // the may_act the minted token must carry (the subject's, when no actor acted); nil: none
	scope             []string // granted, canonical
	lifetime          int64    // seconds
}

func (w *exchangeWant) refuse(code, why string) {
	w.codes[code] = append(w.codes[code], why)
}

// oracleExchange decides a token-exchange request by DESIGN's rules.
func oracleExchange(w *world, req *engine.Request) *exchangeWant {
	ctx := context.Background()
	want := &exchangeWant{codes: map[string][]string{}}
	ir := func(why string) { want.refuse(engine.CodeInvalidRequest, why) }

	// Shape.
	if req.ClientID == "" {
		ir("client_id missing")
	}
	if req.IDToken != "" || req.RefreshToken != "" || req.Target != "" || req.APIType != "" {
		ir("delegation-only parameter")
	}
	if req.SubjectToken == "" || req.SubjectTokenType == "" {
		ir("subject_token or subject_token_type missing")
	}
	if (req.ActorToken == "") != (req.ActorTokenType == "") {
		ir("actor_token and actor_token_type not together")
	}
	switch req.RequestedTokenType {
	case "", ttAccessToken:
		want.access = true
	case ttIDToken:
	default:
		ir("requested_token_type not supported")
	}

	// Requester.
	if req.ClientID == "" {
		return want
	}
	requester, err := w.st.Client(ctx, req.ClientID)
	if err != nil || requester.Disabled {
		want.refuse(engine.CodeInvalidClient, "requester unknown or disabled")
		return want
	}
	want.requester = requester
	if !slices.Contains(requester.Grants, grantTokenExchange) {
		want.refuse(engine.CodeUnauthorizedClient, "requester lacks the grant")
	}

	// Subject and actor: every refusal is invalid_request.
	src := oracleSubject(w, req, requester, ir)
	if src != nil && req.ActorToken != "" && req.ActorTokenType != "" {
		want.act = oracleActor(w, req, requester, src, ir)
		if want.act == nil {
			src = nil
		}
	} else if src != nil {
		want.act = src.act
		// Without an actor, the subject's may_act still binds whoever acts
		// later, so it travels unchanged.
		want.mayAct = src.claims["may_act"]
	}
	want.src = src

	// Target.
	var names []string
	for _, n := range slices.Concat(req.Audience, req.Resource) {
		if !slices.Contains(names, n) {
			names = append(names, n)
		}
	}
	it := func(why string) { want.refuse(engine.CodeInvalidTarget, why) }
	for _, r := range req.Resource {
		if !oracleAbsoluteURI(r) {
			it("resource not an absolute URI without fragment")
		}
	}
	switch len(names) {
	case 0:
		names = []string{requester.ID}
	case 1:
	default:
		it("several targets")
		return want
	}
	target, err := w.st.Client(ctx, names[0])
	if err != nil || target.Disabled || !(slices.Contains(target.AllowedSources, "*") || slices.Contains(target.AllowedSources, requester.ID)) {
		it("target unknown, disabled or not allowing the requester")
		return want
	}
	want.target = target
	if src == nil {
		return want
	}

	// Scope.
	want.scope = oracleScope(req, target, src, !want.access, func(why string) { want.refuse(engine.CodeInvalidScope, why) })

	// Lifetime: the target's or the default, never beyond the subject.
	want.lifetime = oracleDefaultLifetime
	if lt := int64(target.Lifetime / time.Second); lt > 0 {
		want.lifetime = lt
	}
	if !src.cap.IsZero() {
		if left := int64(src.cap.Sub(fixedNow) / time.Second); left < want.lifetime {
			if left < 1 {
				ir("less than one second of the subject left")
			}
			want.lifetime = left
		}
	}
	return want
}

// oracleSubject checks the subject token by its declared type.
func oracleSubject(w *world, req *engine.Request, requester *store.Client, refuse func(string)) *oracleSource {
	if req.SubjectToken == "" || req.SubjectTokenType == "" {
		return nil
	}
	if len(req.SubjectToken) > oracleMaxTokenSize || len(req.ActorToken) > oracleMaxTokenSize {
		refuse("token larger than MaxTokenSize")
		return nil
	}
	var kind oracleKind
	switch req.SubjectTokenType {
	case ttRefreshToken:
		g, ok := fuzzRefreshGrants[req.SubjectToken]
		switch {
		case !ok || g.ClientID != requester.ID:
			refuse("refresh token not the requester's")
		case g.Revoked:
			refuse("refresh token revoked")
		case !g.ExpiresAt.IsZero() && !fixedNow.Before(g.ExpiresAt):
			refuse("refresh token expired")
		case g.Subject != fuzzUser:
			refuse("no profile for the refresh token's subject")
		default:
			return &oracleSource{claims: fuzzProfile(), sub: g.Subject, cap: g.ExpiresAt, bounded: true, bound: oracleCanonical(g.Scope)}
		}
		return nil
	case ttIDToken:
		kind = kindID
	case ttAccessToken:
		kind = kindAccess
	case ttJWT:
		kind = kindEither
	default:
		refuse("subject_token_type not supported")
		return nil
	}
	src, why := oracleJWS(w, req.SubjectToken, requester, kind, true)
	if why != "" {
		refuse("subject: " + why)
	}
	return src
}

// oracleActor checks the actor token and returns the act the minted token
// must carry, or nil after a refusal.
func oracleActor(w *world, req *engine.Request, requester *store.Client, subject *oracleSource, refuse func(string)) any {
	var kind oracleKind
	switch req.ActorTokenType {
	case ttIDToken:
		kind = kindID
	case ttAccessToken:
		kind = kindAccess
	case ttJWT:
		kind = kindEither
	default:
		refuse("actor_token_type not supported")
		return nil
	}
	actor, why := oracleJWS(w, req.ActorToken, requester, kind, true)
	if why != "" {
		refuse("actor: " + why)
		return nil
	}
	if may, ok := subject.claims["may_act"]; ok {
		m, _ := may.(map[string]any)
		iss, hasIss := m["iss"]
		if m == nil || m["sub"] != actor.sub || hasIss && iss != issuer {
			refuse("actor does not match may_act")
			return nil
		}
	}
	act := map[string]any{"sub": actor.sub}
	if subject.act != nil {
		act["act"] = subject.act
	}
	if oracleActDepth(act) > oracleMaxActDepth {
		refuse("act chain deeper than 5")
		return nil
	}
	return act
}

// oracleScope settles the granted scope by DESIGN's token-exchange rules.
func oracleScope(req *engine.Request, target *store.Client, src *oracleSource, idToken bool, refuse func(string)) []string {
	allowed := func(t string) bool {
		return len(target.Scopes) == 0 || slices.Contains(target.Scopes, t)
	}
	var s []string
	if req.Scope == "" {
		if !src.bounded {
			s = []string{"openid"}
		} else {
			for _, t := range src.bound {
				if _, known := oracleMapping[t]; known && allowed(t) {
					s = append(s, t)
				}
			}
		}
		if len(s) == 0 || !allowed(s[0]) {
			refuse("nothing of the bound is allowed here")
			return nil
		}
	} else {
		var ok bool
		if s, ok = oracleParseScope(req.Scope); !ok {
			refuse("scope malformed")
			return nil
		}
		for _, t := range s {
			_, known := oracleMapping[t]
			if !known || !allowed(t) || src.bounded && !slices.Contains(src.bound, t) {
				refuse("scope " + t + " unknown, not allowed or beyond the bound")
				return nil
			}
		}
	}
	if idToken && !slices.Contains(s, "openid") {
		refuse("openid required for an id_token")
		return nil
	}
	return s
}

// checkTokenExchange compares the engine's answer with the oracle's.
func checkTokenExchange(t *testing.T, w *world, req *engine.Request, res *engine.Response, err error) {
	t.Helper()
	want := oracleExchange(w, req)
	if err != nil {
		xe := engineError(t, err)
		if len(want.codes) == 0 {
			t.Fatalf("refused with %s (%s); the oracle grants scope %q for %d s", xe.Code, xe.Description, want.scope, want.lifetime)
		}
		if _, ok := want.codes[xe.Code]; !ok {
			t.Fatalf("refused with %s (%s); DESIGN's codes for this request: %v", xe.Code, xe.Description, want.codes)
		}
		return
	}
	if len(want.codes) > 0 {
		t.Fatalf("granted %+v; the oracle refuses: %v", res, want.codes)
	}

	// The answer.
	wantType, tokenType, typ := ttIDToken, "N_A", "JWT"
	if want.access {
		wantType, tokenType, typ = ttAccessToken, "Bearer", "at+jwt"
	}
	if res.AccessToken == "" || res.IDToken != "" || res.IssuedTokenType != wantType || res.TokenType != tokenType ||
		res.ExpiresIn != want.lifetime || res.Scope != strings.Join(want.scope, " ") || res.Extra != nil {
		t.Fatalf("response %+v; want %s, %s, expires_in %d, scope %q", res, wantType, tokenType, want.lifetime, want.scope)
	}

	// The minted token: verified with go-jose under the target's key.
	h, out := oracleMinted(t, w, res.AccessToken, want.target)
	if h.Algorithm != want.target.SigningAlg || h.KeyID == "" || h.ExtraHeaders["typ"] != typ {
		t.Fatalf("minted header alg=%s kid=%q typ=%v; want %s, a kid, %s", h.Algorithm, h.KeyID, h.ExtraHeaders["typ"], want.target.SigningAlg, typ)
	}
	if _, ok := h.ExtraHeaders["deputy"]; !ok {
		t.Fatal("minted token lacks the deputy mark")
	}
	iat := fixedNow.Unix()
	exp := iat + want.lifetime
	expect := claims.Set{"iss": issuer, "sub": want.src.sub, "aud": want.target.ID,
		"iat": josejson.Number(strconv.FormatInt(iat, 10)), "exp": josejson.Number(strconv.FormatInt(exp, 10))}
	if want.access {
		expect["client_id"], expect["scope"] = want.requester.ID, strings.Join(want.scope, " ")
	} else {
		expect["azp"] = want.requester.ID
	}
	if want.act != nil {
		expect["act"] = want.act
	}
	if want.mayAct != nil {
		expect["may_act"] = want.mayAct
	}
	for _, sc := range want.scope {
		for _, n := range oracleMapping[sc] {
			if v, ok := want.src.claims[n]; ok && !oracleOwned[n] {
				expect[n] = v
			}
		}
	}
	jti, _ := out["jti"].(string)
	if jti == "" {
		t.Fatalf("minted token has jti %v", out["jti"])
	}
	got := maps.Clone(out)
	delete(got, "jti")
	if diff := cmp.Diff(oracleCanon(expect), oracleCanon(got)); diff != "" {
		t.Fatalf("minted claims (-oracle +engine):\n%s", diff)
	}
	if !want.src.cap.IsZero() && time.Unix(exp, 0).After(want.src.cap) {
		t.Fatalf("minted exp %v outlives the subject (%v)", exp, want.src.cap)
	}
	if d := oracleActDepth(out["act"]); out["act"] != nil && (d == 0 || d > oracleMaxActDepth) {
		t.Fatalf("minted act %v is malformed or deeper than 5", out["act"])
	}
}

type exchangeSeed struct {
	token, client, target, scope, apiType string
	grant, types                          uint8
	actor                                 string
}

// exchangeSeeds are good delegation requests for every algorithm pair, the
// attack tokens of security_test.go, a delegated token presented onward,
// and the token-exchange seeds.
func exchangeSeeds(tb testing.TB, w *world) []exchangeSeed {
	tb.Helper()
	var seeds []exchangeSeed
	add := func(token, client, target, scope, apiType string) {
		seeds = append(seeds, exchangeSeed{token: token, client: client, target: target, scope: scope, apiType: apiType})
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
	return append(seeds, tokenExchangeSeeds(tb, w)...)
}

// Indexes into fuzzTokenTypes and fuzzRequestedTypes.
const (
	tiNone, tiID, tiAccess, tiJWT, tiRefresh, tiSAML = 0, 1, 2, 3, 4, 5
	rqDefault, rqAccess, rqID, rqJWT                 = 0, 1, 2, 3
)

// accessToken signs an RFC 9068 access token issued to client (typ
// at+jwt, aud client, scope sc unless "-"); mod edits the claims.
func (w *world) accessToken(tb testing.TB, client, sc string, mod func(claims.Set)) string {
	tb.Helper()
	c := claims.Set{
		"iss": issuer, "sub": fuzzUser, "aud": client, "client_id": "spa",
		"iat": float64(fixedNow.Add(-time.Minute).Unix()), "exp": float64(fixedNow.Add(time.Hour).Unix()),
		"jti": "at-" + rand.Text(), "email": "ada@example.com", "email_verified": true, "name": "Ada Lovelace",
	}
	if sc != "-" {
		c["scope"] = sc
	}
	if mod != nil {
		mod(c)
	}
	return w.sign(tb, client, c, (&jose.SignerOptions{}).WithType("at+jwt"))
}

// actChain is an act claim of depth n.
func actChain(n int) any {
	var act any
	for i := n; i >= 1; i-- {
		m := map[string]any{"sub": "svc-" + strconv.Itoa(i)}
		if act != nil {
			m["act"] = act
		}
		act = m
	}
	return act
}

// tokenExchangeSeeds are token-exchange requests: every subject type, with
// and without actors, act chains and may_act, every target form, scope
// bounds, lifetime caps, minted tokens presented onward, and the shape
// refusals.
func tokenExchangeSeeds(tb testing.TB, w *world) []exchangeSeed {
	tb.Helper()
	var seeds []exchangeSeed
	te := func(token, client, target, sc string, types uint8, actor string) {
		seeds = append(seeds, exchangeSeed{token: token, client: client, target: target, scope: sc, grant: grantBitExchange, types: types, actor: actor})
	}
	idt := w.idToken(tb, appHS, nil)
	at := w.accessToken(tb, appHS, "openid profile email", nil)
	actorID := w.idToken(tb, appHS, func(c claims.Set) { c["sub"] = "svc|worker" })
	actorAT := w.accessToken(tb, appHS, "openid", func(c claims.Set) { c["sub"] = "svc|worker" })

	// Each subject type, to each kind of target, for each requested type.
	for _, rq := range []int{rqDefault, rqAccess, rqID} {
		te(idt, appHS, apiHS, "openid email", teTypes(tiID, tiNone, rq), "")
		te(idt, appHS, "", "", teTypes(tiJWT, tiNone, rq), "")
		te(at, appHS, apiHS, "", teTypes(tiAccess, tiNone, rq), "")
		te(at, appHS, "~"+uriTarget, "email", teTypes(tiJWT, tiNone, rq), "")
		te("rt-ada", appHS, apiEd, "", teTypes(tiRefresh, tiNone, rq), "")
	}
	te(w.idToken(tb, appRS, nil), appRS, apiEd, "openid profile", teTypes(tiID, tiNone, rqDefault), "")
	te(w.idToken(tb, appEd, nil), appEd, uriTarget, "", teTypes(tiID, tiNone, rqID), "")
	te(w.accessToken(tb, appEd, "openid email", nil), appEd, uriTarget+" ~"+uriTarget, "", teTypes(tiAccess, tiNone, rqDefault), "")

	// Type mismatches and unsupported types.
	te(idt, appHS, apiHS, "", teTypes(tiAccess, tiNone, rqDefault), "")
	te(at, appHS, apiHS, "", teTypes(tiID, tiNone, rqDefault), "")
	te(idt, appHS, apiHS, "", teTypes(tiSAML, tiNone, rqDefault), "")
	te(idt, appHS, apiHS, "", teTypes(6, tiNone, rqDefault), "")
	te(idt, appHS, apiHS, "", teTypes(tiID, tiNone, rqJWT), "")
	te("rt-ada", appHS, apiHS, "", teTypes(tiID, tiNone, rqDefault), "")

	// Access token scope bounds.
	te(w.accessToken(tb, appHS, "-", nil), appHS, apiHS, "", teTypes(tiAccess, tiNone, rqDefault), "")
	te(w.accessToken(tb, appHS, "-", nil), appHS, apiHS, "email", teTypes(tiAccess, tiNone, rqDefault), "")
	te(w.accessToken(tb, appHS, "", nil), appHS, apiHS, "", teTypes(tiAccess, tiNone, rqDefault), "")
	te(w.accessToken(tb, appHS, "openid  email", nil), appHS, apiHS, "", teTypes(tiAccess, tiNone, rqDefault), "")
	te(w.accessToken(tb, appHS, "read:mail email", nil), appHS, apiHS, "", teTypes(tiAccess, tiNone, rqID), "")
	te(w.accessToken(tb, appHS, "openid phone", nil), appHS, uriTarget, "", teTypes(tiAccess, tiNone, rqDefault), "")
	te(at, appHS, apiHS, "openid address", teTypes(tiAccess, tiNone, rqDefault), "")
	te(at, appHS, apiHS, "passthrough", teTypes(tiAccess, tiNone, rqDefault), "")
	te(idt, appHS, apiHS, "profile", teTypes(tiID, tiNone, rqID), "")

	// Refresh tokens.
	for _, rt := range []string{"rt-ada-noexp", "rt-ada-soon", "rt-no-scope", "rt-revoked", "rt-expired", "rt-ghost", "rt-api", "rt-nobody"} {
		te(rt, appHS, apiHS, "", teTypes(tiRefresh, tiNone, rqDefault), "")
	}
	apiActor := w.idToken(tb, apiHS, func(c claims.Set) { c["sub"] = "svc|api" })
	te("rt-api", apiHS, openTarget, "openid phone", teTypes(tiRefresh, tiID, rqID), apiActor)
	te("rt-api", apiHS, openTarget, "openid phone", teTypes(tiRefresh, tiID, rqID), actorID)
	te("rt-ada", appHS, apiHS, "", teTypes(tiRefresh, tiRefresh, rqDefault), "rt-ada")

	// Actors, act chains and may_act.
	te(idt, appHS, apiHS, "", teTypes(tiID, tiID, rqDefault), actorID)
	te(at, appHS, apiHS, "", teTypes(tiAccess, tiAccess, rqID), actorAT)
	te(at, appHS, apiHS, "", teTypes(tiAccess, tiJWT, rqDefault), actorAT)
	te(idt, appHS, apiHS, "", teTypes(tiID, tiNone, rqDefault), actorID)
	te(idt, appHS, apiHS, "", teTypes(tiID, tiID, rqDefault), "")
	te(idt, appHS, apiHS, "", teTypes(tiID, tiID, rqDefault), w.idToken(tb, appRS, nil))
	for _, n := range []int{1, 4, 5, 6} {
		chained := w.accessToken(tb, appHS, "openid email", func(c claims.Set) { c["act"] = actChain(n) })
		te(chained, appHS, apiHS, "", teTypes(tiAccess, tiNone, rqDefault), "")
		te(chained, appHS, apiHS, "", teTypes(tiAccess, tiID, rqDefault), actorID)
	}
	for _, act := range []any{"svc", nil, map[string]any{"sub": ""}, map[string]any{"sub": "a", "act": []any{"b"}}} {
		te(w.idToken(tb, appHS, func(c claims.Set) { c["act"] = act }), appHS, apiHS, "", teTypes(tiID, tiNone, rqDefault), "")
	}
	te(idt, appHS, apiHS, "", teTypes(tiID, tiID, rqDefault), w.idToken(tb, appHS, func(c claims.Set) { c["sub"], c["act"] = "svc|worker", actChain(6) }))
	for _, may := range []any{
		map[string]any{"sub": "svc|worker"},
		map[string]any{"sub": "svc|worker", "iss": issuer},
		map[string]any{"sub": "svc|worker", "iss": "https://evil.example/"},
		map[string]any{"sub": "svc|other"},
		"svc|worker",
	} {
		mayTok := w.idToken(tb, appHS, func(c claims.Set) { c["may_act"] = may })
		te(mayTok, appHS, apiHS, "", teTypes(tiID, tiID, rqDefault), actorID)
		te(mayTok, appHS, apiHS, "", teTypes(tiID, tiNone, rqDefault), "")
	}

	// Lifetime caps: the subject's exp, less than a second left, too far.
	for _, exp := range []time.Duration{10 * time.Second, 1500 * time.Millisecond, 500 * time.Millisecond, 48 * time.Hour, 49 * time.Hour} {
		tok := w.idToken(tb, appHS, func(c claims.Set) { c["exp"] = float64(fixedNow.Add(exp).UnixMilli()) / 1000 })
		te(tok, appHS, apiHS, "", teTypes(tiID, tiNone, rqDefault), "")
	}

	// Targets: audience and resource, several, unknown, not a URI.
	for _, tgt := range []string{"~" + apiHS, apiHS + " " + openTarget, apiHS + " ~" + uriTarget, uriTarget + "#frag", "~" + uriTarget + "#frag",
		lonely, offline, "nobody", appHS + " " + appHS, "~urn:x:" + apiHS} {
		te(idt, appHS, tgt, "", teTypes(tiID, tiNone, rqDefault), "")
	}

	// Minted tokens presented onward: an access token chains, with and
	// without an actor; a minted id_token is never a source.
	ctx := context.Background()
	first, err := w.x.Exchange(ctx, &engine.Request{GrantType: grantTokenExchange, ClientID: appHS,
		SubjectToken: idt, SubjectTokenType: ttIDToken, Audience: []string{apiHS}, Scope: "openid email"})
	if err != nil {
		tb.Fatal(err)
	}
	te(first.AccessToken, apiHS, openTarget, "", teTypes(tiAccess, tiNone, rqDefault), "")
	te(first.AccessToken, apiHS, "~"+uriTarget, "", teTypes(tiJWT, tiNone, rqID), "")
	te(first.AccessToken, apiHS, openTarget, "", teTypes(tiJWT, tiID, rqDefault), apiActor)
	te(first.AccessToken, appHS, openTarget, "", teTypes(tiAccess, tiNone, rqDefault), "")
	minted, err := w.x.Exchange(ctx, &engine.Request{GrantType: grantTokenExchange, ClientID: appHS,
		SubjectToken: idt, SubjectTokenType: ttIDToken, Audience: []string{apiHS}, RequestedTokenType: ttIDToken})
	if err != nil {
		tb.Fatal(err)
	}
	te(minted.AccessToken, apiHS, openTarget, "", teTypes(tiID, tiNone, rqDefault), "")
	te(minted.AccessToken, apiHS, openTarget, "", teTypes(tiJWT, tiNone, rqDefault), "")

	// Payloads the harness signs as the requester, so that their mutations
	// keep a good signature.
	payload := func(client string, mod func(claims.Set)) string {
		c := userClaims()
		c["iss"], c["sub"], c["aud"], c["jti"] = issuer, fuzzUser, client, "seed-jti"
		c["iat"], c["exp"] = float64(fixedNow.Add(-time.Minute).Unix()), float64(fixedNow.Add(time.Hour).Unix())
		if mod != nil {
			mod(c)
		}
		b, err := json.Marshal(c)
		if err != nil {
			tb.Fatal(err)
		}
		return string(b)
	}
	signed := func(token, client, target, sc string, types, subject, actorMode uint8, actor string) {
		seeds = append(seeds, exchangeSeed{token: token, client: client, target: target, scope: sc,
			grant: grantBitExchange | signGrant(subject, actorMode), types: types, actor: actor})
	}
	workerPayload := payload(appHS, func(c claims.Set) { c["sub"] = "svc|worker" })
	accessPayload := func(sc string, mod func(claims.Set)) string {
		return payload(appHS, func(c claims.Set) {
			c["scope"], c["client_id"] = sc, "spa"
			if mod != nil {
				mod(c)
			}
		})
	}
	signed(payload(appHS, nil), appHS, apiHS, "openid email", teTypes(tiID, tiNone, rqDefault), signJWT, signNone, "")
	signed(payload(appHS, nil), appHS, uriTarget, "", teTypes(tiJWT, tiNone, rqID), signNoTyp, signNone, "")
	signed(accessPayload("openid profile email", nil), appHS, apiHS, "", teTypes(tiAccess, tiNone, rqDefault), signAT, signNone, "")
	signed(accessPayload("openid profile email", nil), appHS, apiHS, "", teTypes(tiJWT, tiJWT, rqID), signAT, signAT, workerPayload)
	signed(accessPayload("openid email", func(c claims.Set) { c["act"] = actChain(4) }), appHS, apiHS, "",
		teTypes(tiAccess, tiID, rqDefault), signAT, signJWT, workerPayload)
	signed(payload(appHS, func(c claims.Set) { c["may_act"] = map[string]any{"sub": "svc|worker", "iss": issuer} }), appHS, apiHS, "",
		teTypes(tiID, tiID, rqDefault), signJWT, signJWT, workerPayload)
	signed(payload(appHS, func(c claims.Set) { c["exp"] = float64(fixedNow.Add(1500*time.Millisecond).UnixMilli()) / 1000 }), appHS, apiHS, "",
		teTypes(tiID, tiNone, rqDefault), signJWT, signNone, "")
	signed(payload(appRS, nil), appRS, apiEd, "openid profile", teTypes(tiID, tiNone, rqDefault), signJWT, signNone, "")
	signed(payload(appEd, nil), appEd, "~"+uriTarget, "openid", teTypes(tiID, tiNone, rqID), signJWT, signNone, "")
	// Every claim rule, broken once, in an id_token and in an access token.
	now := float64(fixedNow.Unix())
	for _, mod := range []func(claims.Set){
		func(c claims.Set) { c["iss"] = "https://evil.example/" },
		func(c claims.Set) { delete(c, "sub") },
		func(c claims.Set) { c["sub"] = "" },
		func(c claims.Set) { c["sub"] = 5.0 },
		func(c claims.Set) { delete(c, "exp") },
		func(c claims.Set) { c["exp"] = "soon" },
		func(c claims.Set) { c["exp"] = -1.0 },
		func(c claims.Set) { c["exp"] = 1e12 },
		func(c claims.Set) { c["exp"] = now - 1 },
		func(c claims.Set) { c["exp"] = now },
		func(c claims.Set) { c["exp"] = now + 48*3600 },
		func(c claims.Set) { c["exp"] = now + 48*3600 + 1 },
		func(c claims.Set) { c["nbf"] = now + 1 },
		func(c claims.Set) { c["nbf"] = now },
		func(c claims.Set) { c["nbf"] = nil },
		func(c claims.Set) { c["iat"] = now + 1 },
		func(c claims.Set) { c["iat"] = "now" },
		func(c claims.Set) { delete(c, "aud") },
		func(c claims.Set) { c["aud"] = []any{} },
		func(c claims.Set) { c["aud"] = []any{appHS, ""} },
		func(c claims.Set) { c["aud"] = []any{appHS, apiHS} },
		func(c claims.Set) { c["aud"], c["azp"] = []any{appHS, apiHS}, appHS },
		func(c claims.Set) { c["azp"] = apiHS },
		func(c claims.Set) { c["jti"] = "" },
		func(c claims.Set) { c["jti"] = strings.Repeat("j", 257) },
		func(c claims.Set) { c["jti"] = 7.0 },
		func(c claims.Set) { c["act"] = actChain(5) },
		func(c claims.Set) { c["act"] = map[string]any{"sub": "a", "act": map[string]any{"sub": 1.0}} },
		func(c claims.Set) { c["scope"] = 5.0 },
		func(c claims.Set) { c["scope"] = "openid\x00" },
		func(c claims.Set) { c["scope"] = "openid read:mail" },
	} {
		signed(payload(appHS, mod), appHS, apiHS, "", teTypes(tiID, tiNone, rqDefault), signJWT, signNone, "")
		signed(accessPayload("openid email", mod), appHS, apiHS, "", teTypes(tiAccess, tiNone, rqDefault), signAT, signNone, "")
	}
	signed(strings.Replace(payload(appHS, nil), "Ada Lovelace", "Ada \xff", 1), appHS, apiHS, "openid profile", teTypes(tiID, tiNone, rqDefault), signJWT, signNone, "")
	// Numbers pass through as their text, whatever float64 makes of them.
	for _, n := range []string{"1e400", "-0", "12345678901234567891", "1.0E+9", "0.10"} {
		p := strings.Replace(payload(appHS, nil), `"updated_at":1700000000`, `"updated_at":`+n, 1)
		signed(p, appHS, apiHS, "openid profile", teTypes(tiID, tiNone, rqDefault), signJWT, signNone, "")
		signed(strings.Replace(p, `"aud":`, `"act":{"sub":"svc","n":`+n+`},"aud":`, 1), appHS, apiHS, "openid profile", teTypes(tiID, tiID, rqID), signJWT, signJWT, workerPayload)
	}
	seeds = append(seeds,
		exchangeSeed{token: payload(appHS, nil), client: appHS, target: apiHS, scope: "openid email", grant: signGrant(signJWT, signNone)},
		exchangeSeed{token: payload(appHS, nil), client: appHS, target: apiHS, grant: grantBitExchange | grantBitMark | signGrant(signJWT, signNone),
			types: teTypes(tiID, tiNone, rqDefault)},
		exchangeSeed{token: accessPayload("openid email", nil), client: appHS, target: apiHS, grant: grantBitExchange | grantBitMark | signGrant(signAT, signNone),
			types: teTypes(tiAccess, tiNone, rqDefault)},
	)

	// Requesters and shape.
	te(w.idToken(tb, appES, nil), appES, appES, "", teTypes(tiID, tiNone, rqDefault), "")
	te(idt, "", apiHS, "", teTypes(tiID, tiNone, rqDefault), "")
	te(idt, "nobody", apiHS, "", teTypes(tiID, tiNone, rqDefault), "")
	te("", appHS, apiHS, "", teTypes(tiID, tiNone, rqDefault), "")
	te(idt, appHS, apiHS, "", teTypes(tiNone, tiNone, rqDefault), "")
	seeds = append(seeds,
		exchangeSeed{token: idt, client: appHS, target: apiHS, grant: grantBitExchange | grantBitTarget, types: teTypes(tiID, tiNone, rqDefault)},
		exchangeSeed{token: idt, client: appHS, target: apiHS, grant: grantBitExchange | grantBitRefresh, types: teTypes(tiID, tiNone, rqDefault)},
		exchangeSeed{token: idt, client: appHS, target: apiHS, apiType: "app", grant: grantBitExchange, types: teTypes(tiID, tiNone, rqDefault)},
	)
	return seeds
}
