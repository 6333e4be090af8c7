package engine_test

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/base64"
	"errors"
	"fmt"
	"hash"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"
	"unsafe"
	"weak"

	"github.com/go-jose/go-jose/v4"
	josejson "github.com/go-jose/go-jose/v4/json"

	"github.com/deputyauth/deputy/claims"
	"github.com/deputyauth/deputy/engine"
	"github.com/deputyauth/deputy/store"
)

// TestReviewPerfHeaderCacheKeepsNoRequest: the HS* header cache keeps its
// own copy of a header, not the token's text. A request parsed by
// url.ParseQuery hands the engine substrings of the request body (no
// escapes, no copy), so a header kept as it came pinned the whole body —
// up to MaxRequestSize, client_secret and tokens included — for the
// Exchanger's life, 64 of them: not the documented 64 × 512 bytes, and
// plaintext secrets kept reachable long after the request.
func TestReviewPerfHeaderCacheKeepsNoRequest(t *testing.T) {
	w := newFuzzWorld(t)
	for _, tc := range []struct {
		name string
		form func() url.Values
	}{
		{"delegation id_token", func() url.Values {
			return url.Values{
				"grant_type":    {engine.GrantTypeJWTBearer},
				"client_id":     {appHS},
				"client_secret": {string(w.secrets[appHS])},
				"id_token":      {w.idToken(t, appHS, nil)},
				"target":        {apiHS},
				"scope":         {"openid"},
			}
		}},
		{"token exchange subject_token", func() url.Values {
			return url.Values{
				"grant_type":         {grantTokenExchange},
				"client_id":          {appHS},
				"client_secret":      {string(w.secrets[appHS])},
				"subject_token":      {w.idToken(t, appHS, nil)},
				"subject_token_type": {ttIDToken},
				"audience":           {apiHS},
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			x, err := engine.New(engine.Config{Issuer: issuer, Clients: w.st, Keys: w.st, Now: func() time.Time { return fixedNow }})
			if err != nil {
				t.Fatal(err)
			}
			body := exchangeFromBody(t, x, tc.form().Encode())
			runtime.GC()
			if body.Value() != nil {
				t.Errorf("the request body is still reachable after the exchange: the Exchanger keeps a substring of it")
			}
			runtime.KeepAlive(x)
		})
	}
}

// exchangeFromBody parses body as oauthhttp does (url.ParseQuery over the
// body's bytes as one string), exchanges it with x, which must grant it,
// and returns a weak pointer to the body's bytes.
func exchangeFromBody(t *testing.T, x *engine.Exchanger, body string) weak.Pointer[byte] {
	t.Helper()
	buf := []byte(body)
	wp := weak.Make(&buf[0])
	form, err := url.ParseQuery(unsafe.String(&buf[0], len(buf)))
	if err != nil {
		t.Fatal(err)
	}
	req, err := engine.ParseRequest(form)
	if err != nil {
		t.Fatal(err)
	}
	if res, err := x.Exchange(context.Background(), req); err != nil || res == nil {
		t.Fatalf("exchange: %v", err)
	}
	return wp
}

// reviewStore serves the world's clients plus HS* clients whose secrets
// are shorter than their algorithm's hash output, which store.Memory (and
// Client.Validate) would refuse to hold but a host's ClientStore might
// return: the engine's own key-size rule must refuse their tokens.
type reviewStore struct {
	store.ClientStore
	short map[string]*store.Client
}

func (s reviewStore) Client(ctx context.Context, id string) (*store.Client, error) {
	if c, ok := s.short[id]; ok {
		return c, nil
	}
	return s.ClientStore.Client(ctx, id)
}

// diffCase is one request of the differential test. primer, when set, is
// a request that must succeed and whose source token has the same header
// text, so that a warm exchanger has that header cached.
type diffCase struct {
	name   string
	req    *engine.Request
	primer *engine.Request
	// strict: a delegation to openTarget with the default scope, whose
	// answer is ok exactly when go-jose and the oracle accept the token.
	strict bool
	// short: the requester's secret is too short; always refused.
	short bool
}

// TestReviewPerfCachedAndParsedAgree is a differential test of the HS*
// fast path (verifyHMAC, fc9f386; the header cache, 65d55b6): every
// request gets the same answer from an exchanger that never saw a token
// (everything parsed by go-jose), from one whose cache holds the
// request's header (primed by another token with that header text,
// signed by the same or another client of the algorithm), and from one
// shared exchanger that has seen every request before; and the answer
// agrees with FuzzExchange's go-jose oracles (jws.Verify for the MAC).
// The requests: FuzzExchange's corpus and seeds; hand-made headers with a
// valid MAC (crit, b64, jwk, jku, x5c, x5u, cty, zip, JWE members, typ
// and kid variants, case-variant and duplicate members, null values, the
// deputy mark, wrong alg) for HS256/384/512, presented by their client
// and by another client of the same algorithm, as an id_token and as a
// token-exchange subject of every type; and mutations of good tokens
// (every last-character spelling of each segment, padding, '+' and '/',
// whitespace, truncated and extended signatures, flipped characters).
func TestReviewPerfCachedAndParsedAgree(t *testing.T) {
	w := newFuzzWorld(t)
	ctx := context.Background()
	both := []string{engine.GrantTypeJWTBearer, grantTokenExchange}
	type hsClient struct{ id, alg, pair string }
	clients := []hsClient{
		{appHS, "HS256", "rv-hs256b"}, {"rv-hs256b", "HS256", appHS},
		{"rv-hs384", "HS384", "rv-hs384b"}, {"rv-hs384b", "HS384", "rv-hs384"},
		{"rv-hs512", "HS512", "rv-hs512b"}, {"rv-hs512b", "HS512", "rv-hs512"},
	}
	size := map[string]int{"HS256": 32, "HS384": 48, "HS512": 64}
	for _, c := range clients {
		if c.id != appHS {
			sec := randomSecret(t, size[c.alg])
			w.secrets[c.id] = sec
			putClient(t, w.st, store.Client{ID: c.id, SigningAlg: c.alg, Grants: both,
				Secrets: []store.Secret{{ID: c.id + "-s1", Value: sec}}})
		}
	}
	short := map[string]*store.Client{}
	for _, c := range []hsClient{{"rv-short256", "HS256", ""}, {"rv-short384", "HS384", ""}, {"rv-short512", "HS512", ""}} {
		sec := randomSecret(t, size[c.alg]-1)
		w.secrets[c.id] = sec
		short[c.id] = &store.Client{ID: c.id, SigningAlg: c.alg, Grants: both, Secrets: []store.Secret{{ID: c.id + "-s1", Value: sec}}}
		clients = append(clients, c)
	}
	cfg := engine.Config{Issuer: issuer, Clients: reviewStore{w.st, short}, Keys: w.st, RefreshTokens: w.st, Profiles: w.st,
		Now: func() time.Time { return fixedNow }}
	fresh := func() *engine.Exchanger {
		x, err := engine.New(cfg)
		if err != nil {
			t.Fatal(err)
		}
		return x
	}

	var cases []diffCase
	add := func(c diffCase) { cases = append(cases, c) }

	// FuzzExchange's checked-in corpus and its seeds.
	files, err := filepath.Glob("testdata/fuzz/FuzzExchange/*")
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		a := readCorpusFile(t, f)
		add(diffCase{name: "corpus/" + filepath.Base(f), req: fuzzRequest(w, a.token, a.client, a.target, a.scope, a.apiType, a.grant, a.types, a.actor)})
	}
	for i, s := range exchangeSeeds(t, w) {
		add(diffCase{name: fmt.Sprintf("seed/%d", i), req: fuzzRequest(w, s.token, s.client, s.target, s.scope, s.apiType, s.grant, s.types, s.actor)})
	}

	requests := reviewRequests
	// granted is the first of tok's requests that is granted, nil if
	// none: a header is cached whatever kind of token verified with it.
	granted := func(client, tok string) *engine.Request {
		for _, r := range requests(client, tok) {
			if res, err := fresh().Exchange(ctx, r); err == nil && res != nil {
				return r
			}
		}
		return nil
	}
	payload := func(client string) string {
		b, err := josejson.Marshal(claims.Set{"iss": issuer, "sub": fuzzUser, "aud": client, "email": "ada@example.com",
			"iat": fixedNow.Add(-time.Minute).Unix(), "exp": fixedNow.Add(time.Hour).Unix(), "jti": "rv-" + rand.Text()})
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	edPub, err := josejson.Marshal(jose.JSONWebKey{Key: fuzzEdKey().Public(), Algorithm: "EdDSA"})
	if err != nil {
		t.Fatal(err)
	}
	headers := []string{
		`{"alg":"ALG"}`, `{"alg":"ALG","typ":"JWT"}`, `{"typ":"JWT","alg":"ALG"}`, ` { "alg" : "ALG" } `,
		`{"alg":"ALG","typ":"jwt"}`, `{"alg":"ALG","typ":"application/JWT"}`, `{"alg":"ALG","typ":"at+jwt"}`,
		`{"alg":"ALG","typ":"application/at+jwt"}`, `{"alg":"ALG","typ":"AT+JWT"}`, `{"alg":"ALG","typ":"JOSE"}`,
		`{"alg":"ALG","typ":"application/"}`, `{"alg":"ALG","typ":1}`, `{"alg":"ALG","typ":null}`, `{"alg":"ALG","typ":["JWT"]}`,
		`{"alg":"ALG","typ":"JWT","typ":"at+jwt"}`, `{"alg":"ALG","typ":"at+jwt","typ":"JWT"}`,
		`{"alg":"ALG","Typ":"at+jwt"}`, `{"alg":"ALG","TYP":"JOSE"}`, `{"alg":"ALG","t\u0079p":"at+jwt"}`,
		`{"alg":"ALG","kid":"KID"}`, `{"alg":"ALG","kid":"OTHER"}`, `{"alg":"ALG","kid":""}`, `{"alg":"ALG","kid":null}`,
		`{"alg":"ALG","kid":"` + strings.Repeat("k", 257) + `"}`, `{"alg":"ALG","kid":"a\u0001b"}`, `{"alg":"ALG","kid":1}`,
		`{"alg":"ALG","KID":"OTHER"}`, `{"alg":"ALG","kid":"OTHER","kid":"KID"}`, `{"alg":"ALG","kid":"KID","kid":"OTHER"}`,
		`{"alg":"ALG","kid":"KID","typ":"at+jwt","deputy":1}`,
		`{"Alg":"ALG"}`, `{"alg":"none","alg":"ALG"}`, `{"alg":"ALG","alg":"none"}`, `{"alg":"ALG","alg":"HS256"}`,
		`{"alg":"HS256","alg":"ALG"}`, `{"alg":"OTHERALG"}`, `{"alg":"none"}`, `{"\u0061lg":"ALG"}`, `{"alg":"\u0048S` + "ALGNUM" + `"}`,
		`{"alg":"ALG","crit":["exp"],"exp":1}`, `{"alg":"ALG","crit":[]}`, `{"alg":"ALG","crit":null}`,
		`{"alg":"ALG","crit":["b64"],"b64":false}`, `{"alg":"ALG","b64":true}`, `{"alg":"ALG","b64":null}`,
		`{"alg":"ALG","jku":"https://evil.example/jwks"}`, `{"alg":"ALG","x5u":"https://evil.example/c"}`,
		`{"alg":"ALG","jwk":` + string(edPub) + `}`, `{"alg":"ALG","jwk":null}`, `{"alg":"ALG","x5c":[]}`, `{"alg":"ALG","x5c":["AAAA"]}`,
		`{"alg":"ALG","cty":"JWT"}`, `{"alg":"ALG","zip":"DEF"}`, `{"alg":"ALG","enc":"A128GCM"}`, `{"alg":"ALG","p2c":1}`,
		`{"alg":"ALG","deputy":1}`, `{"alg":"ALG","deputy":null}`, `{"alg":"ALG","Deputy":1}`, `{"alg":"ALG","typ":"at+jwt","deputy":true}`,
		`{"alg":"ALG","nonce":"n"}`, `{"alg":"ALG","x":"` + strings.Repeat("y", 600) + `"}`,
		`{"alg":"ALG"}x`, `{"alg":"ALG"}{}`, `["alg","ALG"]`, `null`, ``, "\xef\xbb\xbf{\"alg\":\"ALG\"}", "{\"alg\":\"ALG\",\"x\":\"\xff\"}",
	}
	for _, c := range clients {
		other := map[string]string{"HS256": "HS384", "HS384": "HS512", "HS512": "HS256"}[c.alg]
		for i, h := range headers {
			h = strings.NewReplacer("OTHERALG", other, "ALGNUM", c.alg[2:], "ALG", c.alg, "KID", c.id+"-s1", "OTHER", c.pair+"-s1").Replace(h)
			alg := c.alg
			if strings.Contains(h, `"alg":"`+other+`"`) {
				alg = other // a MAC of the header's algorithm, with the client's secret
			}
			tok := craftJWS(alg, w.secrets[c.id], h, payload(c.id))
			var primer *engine.Request
			if c.pair != "" {
				// The same header text, with the other client's kid
				// names swapped, signed by the other client.
				ph := strings.NewReplacer(c.id+"-s1", c.pair+"-s1", c.pair+"-s1", c.id+"-s1").Replace(h)
				if ph == h {
					primer = granted(c.pair, craftJWS(alg, w.secrets[c.pair], h, payload(c.pair)))
				}
			}
			for j, r := range requests(c.id, tok) {
				add(diffCase{name: fmt.Sprintf("header/%s/%d/%d", c.id, i, j), req: r, primer: primer, strict: j == 0 && short[c.id] == nil, short: short[c.id] != nil})
			}
			// Presented by the other client of the algorithm: its
			// audience and MAC are wrong.
			if c.pair != "" {
				add(diffCase{name: fmt.Sprintf("header/%s/%d/by-%s", c.id, i, c.pair), req: delegation(c.pair, tok, openTarget, ""), primer: primer})
			}
		}
	}

	// Mutations of good tokens, each primed with the token itself.
	for _, c := range clients {
		if short[c.id] != nil {
			continue
		}
		for _, base := range []string{
			craftJWS(c.alg, w.secrets[c.id], `{"alg":"`+c.alg+`","typ":"JWT"}`, payload(c.id)),
			craftJWS(c.alg, w.secrets[c.id], `{"alg":"`+c.alg+`","kid":"`+c.id+`-s1"}`, payload(c.id)+" "),
			craftJWS(c.alg, w.secrets[c.id], `{"alg":"`+c.alg+`","typ":"at+jwt"}`, payload(c.id)+"  "),
		} {
			primer := granted(c.id, base)
			if primer == nil {
				t.Fatalf("%s: %s refused", c.id, base)
			}
			for i, m := range mutations(base) {
				for j, r := range requests(c.id, m) {
					add(diffCase{name: fmt.Sprintf("mutation/%s/%d/%d", c.id, i, j), req: r, primer: primer, strict: j == 0})
				}
			}
		}
	}

	exchange := func(x *engine.Exchanger, req *engine.Request) (*engine.Response, error, string) {
		r := *req
		res, err := x.Exchange(ctx, &r)
		var xe *engine.Error
		switch {
		case err == nil && res != nil:
			return res, nil, "ok"
		case errors.As(err, &xe) && res == nil:
			return nil, err, xe.Code + ": " + xe.Description
		}
		return res, err, fmt.Sprintf("unexpected: response %v, error %v", res, err)
	}
	shared := fresh()
	for _, c := range cases {
		exchange(shared, c.req) // the shared exchanger has seen every request
		if c.primer != nil {
			exchange(shared, c.primer)
		}
	}
	var compared, cachedRuns, accepted int
	for _, c := range cases {
		res, err, cold := exchange(fresh(), c.req)
		if cold == "ok" {
			accepted++
		}
		warm := fresh()
		if c.primer != nil {
			if _, _, got := exchange(warm, c.primer); got != "ok" {
				t.Fatalf("%s: primer refused: %s", c.name, got)
			}
			ptok := c.primer.IDToken + c.primer.SubjectToken
			if h, _, _ := strings.Cut(ptok, "."); len(h) <= 512 && engine.CachedHeaders(warm) == 0 {
				t.Fatalf("%s: primer's header not cached", c.name)
			}
		}
		_, _, first := exchange(warm, c.req)
		n := engine.CachedHeaders(warm)
		_, _, second := exchange(warm, c.req) // its own header cached, if it verified
		_, _, sh := exchange(shared, c.req)
		if c.primer != nil || n > 0 {
			cachedRuns++
		}
		compared++
		if first != cold || second != cold || sh != cold {
			t.Errorf("%s: never cached: %s; primed: %s; again: %s; shared: %s", c.name, cold, first, second, sh)
		}
		if c.short && cold == "ok" {
			t.Errorf("%s: granted to a client whose secret is shorter than the hash output", c.name)
		}
		if c.short || strings.HasPrefix(cold, "unexpected") {
			if strings.HasPrefix(cold, "unexpected") {
				t.Errorf("%s: %s", c.name, cold)
			}
			continue
		}
		t.Run(c.name, func(t *testing.T) {
			if c.req.GrantType == grantTokenExchange {
				checkTokenExchange(t, w, c.req, res, err)
				return
			}
			if err == nil {
				checkGranted(t, w, c.req, res)
			}
			if c.strict {
				requester, lerr := w.st.Client(ctx, c.req.ClientID)
				if lerr != nil {
					t.Fatal(lerr)
				}
				_, why := oracleJWS(w, c.req.IDToken, requester, kindID, false)
				if (why == "") != (err == nil) {
					t.Errorf("engine: %s; go-jose oracle: %q", cold, why)
				}
			}
		})
	}
	t.Logf("%d requests compared never-cached, primed, again and shared (%d with a cached header); %d granted", compared, cachedRuns, accepted)
}

// reviewRequests presents tok from client as a delegation id_token and as
// a token-exchange subject of each JWS type, to openTarget.
func reviewRequests(client, tok string) []*engine.Request {
	out := []*engine.Request{delegation(client, tok, openTarget, "")}
	for _, tt := range []string{ttIDToken, ttAccessToken, ttJWT} {
		out = append(out, &engine.Request{GrantType: grantTokenExchange, ClientID: client,
			SubjectToken: tok, SubjectTokenType: tt, Audience: []string{openTarget}})
	}
	return out
}

// FuzzReviewPerfHeaderCache: whatever the header text, a token gets the
// same answer from an exchanger that never saw its header and from one
// that has cached it (primed with a good token under that exact header,
// when one verifies). The MAC is valid unless sig says otherwise, so the
// fuzzer explores headers and payloads past the signature check.
func FuzzReviewPerfHeaderCache(f *testing.F) {
	w := newFuzzWorld(f)
	secret := w.secrets[appHS]
	good := func() string {
		b, err := josejson.Marshal(claims.Set{"iss": issuer, "sub": fuzzUser, "aud": appHS,
			"iat": fixedNow.Add(-time.Minute).Unix(), "exp": fixedNow.Add(time.Hour).Unix(), "jti": "rv-primer"})
		if err != nil {
			f.Fatal(err)
		}
		return string(b)
	}()
	for _, h := range []string{`{"alg":"HS256"}`, `{"alg":"HS256","typ":"at+jwt"}`, `{"alg":"HS256","kid":"app-hs-s1","deputy":1}`,
		`{"alg":"HS256","typ":"JWT","typ":"x"}`, `{"alg":"HS256","crit":["exp"]}`, `{"alg":"HS256","jwk":null}`} {
		for k := range uint8(4) {
			f.Add(h, good, uint8(0), k)
		}
	}
	f.Add(`{"alg":"HS256"}`, `{"iss":"https://id.example.com/","sub":"x","aud":"app-hs","exp":1795611600}`, uint8(1), uint8(0))
	cfg := engine.Config{Issuer: issuer, Clients: w.st, Keys: w.st, RefreshTokens: w.st, Profiles: w.st,
		Now: func() time.Time { return fixedNow }}
	ctx := context.Background()
	f.Fuzz(func(t *testing.T, header, payload string, sig, kind uint8) {
		tok := craftJWS("HS256", secret, header, payload)
		switch sig % 4 {
		case 1:
			tok = tok[:len(tok)-1] + string(b64Alphabet[(strings.IndexByte(b64Alphabet, tok[len(tok)-1])+1)%64])
		case 2:
			tok = tok[:len(tok)-1]
		case 3:
			tok = tok[:strings.LastIndexByte(tok, '.')+1]
		}
		req := reviewRequests(appHS, tok)[kind%4]
		cold, err := engine.New(cfg)
		if err != nil {
			t.Fatal(err)
		}
		warm, err := engine.New(cfg)
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range reviewRequests(appHS, craftJWS("HS256", secret, header, good)) {
			if res, err := warm.Exchange(ctx, p); err == nil && res != nil {
				break
			}
		}
		want := outcome(cold, req)
		if got := outcome(warm, req); got != want {
			t.Fatalf("header %q: never cached: %s; cached: %s", header, want, got)
		}
		if again := outcome(warm, req); again != want {
			t.Fatalf("header %q: never cached: %s; asked again: %s", header, want, again)
		}
	})
}

// craftJWS signs header and payload, as given, with an HMAC of alg.
func craftJWS(alg string, secret []byte, header, payload string) string {
	in := base64.RawURLEncoding.EncodeToString([]byte(header)) + "." + base64.RawURLEncoding.EncodeToString([]byte(payload))
	h := map[string]func() hash.Hash{"HS256": sha256.New, "HS384": sha512.New384, "HS512": sha512.New}[alg]
	m := hmac.New(h, secret)
	m.Write([]byte(in))
	return in + "." + base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// mutations returns spellings of tok that base64url decoders, go-jose or
// deputy might treat differently: every last character of each segment,
// padding, the standard alphabet, whitespace and line breaks, signatures
// truncated, extended or taken from another alg, characters flipped, dots
// added or removed.
func mutations(tok string) []string {
	seg := strings.Split(tok, ".")
	var out []string
	with := func(i int, s string) {
		q := append([]string(nil), seg...)
		q[i] = s
		out = append(out, strings.Join(q, "."))
	}
	for i, p := range seg {
		for _, ch := range b64Alphabet {
			if p != "" && rune(p[len(p)-1]) != ch {
				with(i, p[:len(p)-1]+string(ch))
			}
		}
		for _, s := range []string{"=", "==", "===", " ", "\t", "\n", "\r\n", "%3D", "."} {
			with(i, p+s)
			with(i, s+p)
			with(i, p[:len(p)/2]+s+p[len(p)/2:])
		}
		with(i, strings.NewReplacer("-", "+", "_", "/").Replace(p))
		with(i, p[:len(p)/2]+"+"+p[len(p)/2+1:])
		with(i, p[:len(p)/2]+"/"+p[len(p)/2+1:])
		if dec, err := base64.RawURLEncoding.DecodeString(p); err == nil {
			with(i, base64.StdEncoding.EncodeToString(dec))
			with(i, base64.URLEncoding.EncodeToString(dec))
			with(i, base64.RawStdEncoding.EncodeToString(dec))
		}
		for k := 0; k < len(p); k += 3 {
			b := []byte(p)
			b[k] = b64Alphabet[(strings.IndexByte(b64Alphabet, b[k])+1)%64]
			with(i, string(b))
		}
		for _, n := range []int{1, 2, 3, 4, 8, len(p) / 2, len(p) - 1, len(p)} {
			if n <= len(p) {
				with(i, p[:len(p)-n])
			}
		}
		for _, s := range []string{"A", "AA", "AAA", "AAAA", "AAAAAAAAAAA"} {
			with(i, p+s)
		}
	}
	out = append(out, tok+".", "."+tok, seg[0]+"."+seg[1], seg[0]+".."+seg[2], strings.ToUpper(tok))
	return out
}

// corpusArgs are FuzzExchange's arguments as a corpus file holds them.
type corpusArgs struct {
	token, client, target, scope, apiType string
	grant, types                          uint8
	actor                                 string
}

func readCorpusFile(t *testing.T, path string) corpusArgs {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	if len(lines) != 9 || lines[0] != "go test fuzz v1" {
		t.Fatalf("%s: not a FuzzExchange corpus file", path)
	}
	var s []string
	var u []uint8
	for _, l := range lines[1:] {
		switch {
		case strings.HasPrefix(l, "string(") && strings.HasSuffix(l, ")"):
			v, err := strconv.Unquote(l[len("string(") : len(l)-1])
			if err != nil {
				t.Fatalf("%s: %v", path, err)
			}
			s = append(s, v)
		case strings.HasPrefix(l, "uint8(") && strings.HasSuffix(l, ")"):
			v, err := strconv.ParseUint(l[len("uint8("):len(l)-1], 0, 8)
			if err != nil {
				t.Fatalf("%s: %v", path, err)
			}
			u = append(u, uint8(v))
		case strings.HasPrefix(l, "byte(") && strings.HasSuffix(l, ")"):
			v, err := strconv.Unquote(l[len("byte(") : len(l)-1])
			if err != nil || len(v) != 1 {
				t.Fatalf("%s: %q", path, l)
			}
			u = append(u, v[0])
		default:
			t.Fatalf("%s: line %q", path, l)
		}
	}
	if len(s) != 6 || len(u) != 2 {
		t.Fatalf("%s: %d strings, %d bytes", path, len(s), len(u))
	}
	return corpusArgs{token: s[0], client: s[1], target: s[2], scope: s[3], apiType: s[4], grant: u[0], types: u[1], actor: s[5]}
}
