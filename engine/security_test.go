package engine_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net/url"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/google/go-cmp/cmp"

	"github.com/deputyauth/deputy/claims"
	"github.com/deputyauth/deputy/engine"
	"github.com/deputyauth/deputy/scope"
	"github.com/deputyauth/deputy/store"
)

// This file is deputy's adversarial suite: requests an attacker on the
// network can send, grouped by class. Every refusal row checks the exact
// error code, that no response came back, and that the error text holds
// no token, token segment, secret or key. SECURITY.md maps attack classes
// and peer CVEs to the tests here.

// Clients the security world adds to the standard one.
const (
	appPS    = "app-ps"    // PS256 source: the store's RS256-declared key must not verify for it
	chainEnd = "chain-end" // EdDSA target allowing every source ("*")
	globby   = "globby"    // target whose AllowedSources holds "app-*", which is no pattern
	casey    = "casey"     // target allowing "APP-HS", a case variant of appHS
	offAllow = "off-allow" // disabled target listing appHS explicitly
	teOnly   = "te-only"   // HS256 client that may only use token exchange
)

// newSecurityWorld is the standard world plus the clients above and a
// second RSA key declared PS256 (kid rsa-ps).
func newSecurityWorld(t testing.TB, mod func(*engine.Config)) *world {
	t.Helper()
	w := newWorld(t, mod)
	putClient(t, w.st, store.Client{ID: appPS, SigningAlg: "PS256"})
	if err := w.st.AddKey(jose.JSONWebKey{Key: rsaKey2, KeyID: "rsa-ps", Algorithm: "PS256"}); err != nil {
		t.Fatal(err)
	}
	putClient(t, w.st, store.Client{ID: chainEnd, SigningAlg: "EdDSA", AllowedSources: []string{"*"}})
	putClient(t, w.st, store.Client{ID: globby, SigningAlg: "EdDSA", AllowedSources: []string{"app-*"}})
	putClient(t, w.st, store.Client{ID: casey, SigningAlg: "EdDSA", AllowedSources: []string{"APP-HS"}})
	putClient(t, w.st, store.Client{ID: offAllow, SigningAlg: "EdDSA", AllowedSources: []string{appHS}, Disabled: true})
	te := randomSecret(t, 32)
	putClient(t, w.st, store.Client{ID: teOnly, SigningAlg: "HS256", Grants: []string{engine.GrantTypeTokenExchange},
		Secrets: []store.Secret{{ID: teOnly + "-s1", Value: te}}})
	w.secrets[teOnly] = te
	return w
}

// secretsOf lists what must never appear in an error's text for req in w:
// the presented tokens and their segments, the client secret, and every
// HMAC secret of the world, raw and base64url.
func secretsOf(w *world, req *engine.Request) []string {
	var out []string
	for _, tok := range []string{req.IDToken, req.RefreshToken} {
		if tok == "" {
			continue
		}
		out = append(out, tok)
		for _, seg := range strings.Split(tok, ".") {
			if len(seg) >= 16 {
				out = append(out, seg)
			}
		}
	}
	out = append(out, req.ClientSecret)
	for _, s := range w.secrets {
		out = append(out, string(s), b64.EncodeToString(s))
	}
	return out
}

// secRow is one refusal: req sent to w (the class's world when nil) must
// be refused with code.
type secRow struct {
	name string
	w    *world
	req  *engine.Request
	code string
}

func runRows(t *testing.T, def *world, rows []secRow) {
	t.Helper()
	for _, r := range rows {
		t.Run(r.name, func(t *testing.T) {
			w := r.w
			if w == nil {
				w = def
			}
			res, err := w.x.Exchange(context.Background(), r.req)
			assertRefused(t, res, err, r.code, secretsOf(w, r.req)...)
		})
	}
}

// rawCompact is rawJWS with the header given as literal JSON, so that it
// can repeat keys.
func rawCompact(header string, payload any, sign func([]byte) []byte) string {
	var p []byte
	switch v := payload.(type) {
	case string:
		p = []byte(v)
	default:
		var err error
		if p, err = json.Marshal(v); err != nil {
			panic(err)
		}
	}
	input := b64.EncodeToString([]byte(header)) + "." + b64.EncodeToString(p)
	return input + "." + b64.EncodeToString(sign([]byte(input)))
}

// signAs signs c with key under alg through go-jose, with typ JWT and kid.
func signAs(tb testing.TB, alg jose.SignatureAlgorithm, key any, kid string, c claims.Set, opts *jose.SignerOptions) string {
	tb.Helper()
	if opts == nil {
		opts = &jose.SignerOptions{}
	}
	opts = opts.WithType("JWT")
	s, err := jose.NewSigner(jose.SigningKey{Algorithm: alg, Key: jose.JSONWebKey{Key: key, KeyID: kid}}, opts)
	if err != nil {
		tb.Fatal(err)
	}
	p, err := json.Marshal(c)
	if err != nil {
		tb.Fatal(err)
	}
	obj, err := s.Sign(p)
	if err != nil {
		tb.Fatal(err)
	}
	tok, err := obj.CompactSerialize()
	if err != nil {
		tb.Fatal(err)
	}
	return tok
}

func claimsFor(client string) claims.Set {
	return sourceClaims(func(c claims.Set) { c["aud"] = client })
}

// payloadWith is the JSON of sourceClaims(nil) with extra members appended.
func payloadWith(extra string) string {
	b, err := json.Marshal(sourceClaims(nil))
	if err != nil {
		panic(err)
	}
	return string(b[:len(b)-1]) + "," + extra + "}"
}

// reencode rewrites each segment of a compact token with enc.
func reencode(tok string, enc *base64.Encoding) string {
	parts := strings.Split(tok, ".")
	for i, p := range parts {
		raw, err := b64.DecodeString(p)
		if err != nil {
			panic(err)
		}
		parts[i] = enc.EncodeToString(raw)
	}
	return strings.Join(parts, ".")
}

// urlSafeSensitive returns a good appHS token that holds '-' or '_', so that
// its standard-alphabet form differs from it.
func urlSafeSensitive(tb testing.TB, secret []byte) string {
	tb.Helper()
	for i := range 1000 {
		tok := rawJWS(tb, map[string]any{"alg": "HS256", "typ": "JWT"},
			sourceClaims(func(c claims.Set) { c["jti"] = fmt.Sprint("j-", i) }), hs256(secret))
		if strings.ContainsAny(tok, "-_") {
			return tok
		}
	}
	tb.Fatal("no token with '-' or '_'")
	return ""
}

// nested is depth nested JSON arrays.
func nested(depth int) string {
	return strings.Repeat("[", depth) + strings.Repeat("]", depth)
}

// selfSignedCert makes a certificate for key, as an attacker would to fill
// an x5c header.
func selfSignedCert(tb testing.TB, key *ecdsa.PrivateKey) []byte {
	tb.Helper()
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "id.example.com"},
		NotBefore: fixedNow.Add(-time.Hour), NotAfter: fixedNow.Add(time.Hour),
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		tb.Fatal(err)
	}
	return der
}

// attack is a source token crafted to be refused, and the client that
// presents it. Every attack is refused with invalid_grant.
type attack struct{ name, client, token string }

// attackTokens builds the JOSE attacks against w's keys and secrets. They
// are rows of TestSecurityRefusals and seeds of FuzzExchange.
func attackTokens(tb testing.TB, w *world) []attack {
	tb.Helper()
	testKeys(tb)
	appSecret, apiSecret := w.secrets[appHS], w.secrets[apiHS]
	hsHdr := map[string]any{"alg": "HS256", "typ": "JWT"}

	// The issuer's public keys in every form an HMAC key confusion would use.
	rsaJWK, err := json.Marshal(jose.JSONWebKey{Key: &rsaKey.PublicKey, KeyID: "rsa-1", Algorithm: "RS256", Use: "sig"})
	if err != nil {
		tb.Fatal(err)
	}
	ecJWK, err := json.Marshal(jose.JSONWebKey{Key: &ecKey.PublicKey, KeyID: "ec-1", Algorithm: "ES256", Use: "sig"})
	if err != nil {
		tb.Fatal(err)
	}
	rsaDER, err := x509.MarshalPKIXPublicKey(&rsaKey.PublicKey)
	if err != nil {
		tb.Fatal(err)
	}
	rsaPEM := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: rsaDER})
	edPub := []byte(edKey.Public().(ed25519.PublicKey))

	// ECDSA signatures built by hand (R || S, 32 bytes each).
	fixed := func(sig []byte) func([]byte) []byte { return func([]byte) []byte { return sig } }
	n := elliptic.P256().Params().N.FillBytes(make([]byte, 32))
	one := make([]byte, 32)
	one[31] = 1
	esHdr := map[string]any{"alg": "ES256", "typ": "JWT", "kid": "ec-1"}
	goodES := signAs(tb, jose.ES256, ecKey, "ec-1", claimsFor(appES), nil)
	goodESSig, err := b64.DecodeString(strings.Split(goodES, ".")[2])
	if err != nil {
		tb.Fatal(err)
	}
	esDER, err := asn1.Marshal(struct{ R, S *big.Int }{new(big.Int).SetBytes(goodESSig[:32]), new(big.Int).SetBytes(goodESSig[32:])})
	if err != nil {
		tb.Fatal(err)
	}
	esWith := func(sig []byte) string {
		return rawJWS(tb, esHdr, claimsFor(appES), fixed(sig))
	}

	// HMAC signatures off by one byte.
	good := hs256(appSecret)
	truncated := func(in []byte) []byte { s := good(in); return s[:len(s)-1] }
	extended := func(in []byte) []byte { return append(good(in), 0) }

	// A good token, and forms of it no compact parser should accept.
	canon := urlSafeSensitive(tb, appSecret)
	seg := strings.Split(canon, ".")
	flattened := func(header string) string {
		return `{"protected":"` + seg[0] + `",` + header + `"payload":"` + seg[1] + `","signature":"` + seg[2] + `"}`
	}
	noneHdr := b64.EncodeToString([]byte(`{"alg":"none"}`))
	general := `{"payload":"` + seg[1] + `","signatures":[{"protected":"` + seg[0] + `","signature":"` + seg[2] +
		`"},{"protected":"` + noneHdr + `","signature":""}]}`

	// An attacker's own key, offered through the header.
	evil, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		tb.Fatal(err)
	}
	evilCert := selfSignedCert(tb, evil)
	evilJWK := signAs(tb, jose.ES256, evil, "", claimsFor(appES), &jose.SignerOptions{EmbedJWK: true})
	evilX5C := signAs(tb, jose.ES256, evil, "", claimsFor(appES),
		(&jose.SignerOptions{}).WithHeader("x5c", []string{base64.StdEncoding.EncodeToString(evilCert)}))
	octKey := randomSecret(tb, 32)
	octJWK := map[string]any{"kty": "oct", "k": b64.EncodeToString(octKey)}

	hsWith := func(extra map[string]any, key []byte) string {
		h := map[string]any{"alg": "HS256", "typ": "JWT"}
		for k, v := range extra {
			h[k] = v
		}
		return rawJWS(tb, h, claimsFor(appHS), hs256(key))
	}
	hsPayload := func(payload string) string { return rawJWS(tb, hsHdr, payload, good) }

	return []attack{
		// Algorithm and key confusion.
		{"HS256 keyed with the issuer's public JWK JSON, HS256 client", appHS, hsWith(nil, rsaJWK)},
		{"HS256 keyed with the issuer's public JWK JSON, RS256 client", appRS, rawJWS(tb, hsHdr, claimsFor(appRS), hs256(rsaJWK))},
		{"HS256 keyed with the issuer's public JWK JSON and its kid, RS256 client", appRS,
			rawJWS(tb, map[string]any{"alg": "HS256", "typ": "JWT", "kid": "rsa-1"}, claimsFor(appRS), hs256(rsaJWK))},
		{"HS256 keyed with the RSA public key PEM, RS256 client", appRS, rawJWS(tb, hsHdr, claimsFor(appRS), hs256(rsaPEM))},
		{"HS256 keyed with the RSA public key DER, RS256 client", appRS, rawJWS(tb, hsHdr, claimsFor(appRS), hs256(rsaDER))},
		{"HS256 keyed with the EC public JWK JSON, ES256 client", appES, rawJWS(tb, hsHdr, claimsFor(appES), hs256(ecJWK))},
		{"HS256 keyed with the Ed25519 public key bytes, EdDSA client", appEd,
			rawJWS(tb, map[string]any{"alg": "HS256", "typ": "JWT", "kid": "ed-1"}, claimsFor(appEd), hs256(edPub))},
		{"ES256 token with a real store key for an RS256 client", appRS, signAs(tb, jose.ES256, ecKey, "ec-1", claimsFor(appRS), nil)},
		{"EdDSA token with a real store key for an ES256 client", appES, signAs(tb, jose.EdDSA, edKey, "ed-1", claimsFor(appES), nil)},
		{"RS256 token with a real store key for an EdDSA client", appEd, signAs(tb, jose.RS256, rsaKey, "rsa-1", claimsFor(appEd), nil)},
		{"RS256 token naming the ES256 key's kid", appRS, signAs(tb, jose.RS256, rsaKey, "ec-1", claimsFor(appRS), nil)},
		{"PS256 token with the RS256-declared key, PS256 client", appPS, signAs(tb, jose.PS256, rsaKey, "rsa-1", claimsFor(appPS), nil)},
		{"PS256 token with the RS256-declared key and no kid, PS256 client", appPS, signAs(tb, jose.PS256, rsaKey, "", claimsFor(appPS), nil)},
		{"RS256 token with the PS256-declared key, RS256 client", appRS, signAs(tb, jose.RS256, rsaKey2, "rsa-ps", claimsFor(appRS), nil)},
		{"RS256 token with the PS256-declared key and no kid, RS256 client", appRS, signAs(tb, jose.RS256, rsaKey2, "", claimsFor(appRS), nil)},
		{"kid of another client's secret, signed with that secret", appHS, hsWith(map[string]any{"kid": apiHS + "-s1"}, apiSecret)},
		{"another client's secret without kid", appHS, hsWith(nil, apiSecret)},

		// Keys offered by the token itself.
		{"embedded jwk of the attacker's key, ES256 client", appES, evilJWK},
		{"x5c with the attacker's certificate, signed by its key", appES, evilX5C},
		{"embedded oct jwk, HMAC'd with its k", appHS, hsWith(map[string]any{"jwk": octJWK}, octKey)},
		{"embedded oct jwk, HMAC'd with the client's secret", appHS, hsWith(map[string]any{"jwk": octJWK}, appSecret)},

		// crit and friends.
		{"crit naming an unknown extension", appHS, hsWith(map[string]any{"crit": []string{"x-deputy"}, "x-deputy": true}, appSecret)},
		{"crit empty list (go-jose accepts it)", appHS, hsWith(map[string]any{"crit": []string{}}, appSecret)},
		{"crit as a string", appHS, hsWith(map[string]any{"crit": "b64"}, appSecret)},
		{"crit in an unprotected header (JSON serialization)", appHS, flattened(`"header":{"crit":["b64"],"b64":false},`)},
		{"zip DEF in a JWS header", appHS, hsWith(map[string]any{"zip": "DEF"}, appSecret)},
		{"enc in a JWS header", appHS, hsWith(map[string]any{"enc": "A128GCM"}, appSecret)},

		// Header JSON that parses two ways.
		{"duplicate alg: HS256 then none", appHS, rawCompact(`{"alg":"HS256","alg":"none"}`, claimsFor(appHS), good)},
		{"duplicate alg: none then HS256", appHS, rawCompact(`{"alg":"none","alg":"HS256"}`, claimsFor(appHS), good)},
		{"duplicate alg through an escape", appHS, rawCompact(`{"alg":"none","\u0061lg":"HS256"}`, claimsFor(appHS), good)},
		{"duplicate typ", appHS, rawCompact(`{"alg":"HS256","typ":"JWT","typ":"at+jwt"}`, claimsFor(appHS), good)},
		{"duplicate kid", appHS, rawCompact(`{"alg":"HS256","kid":"`+appHS+`-s1","kid":"`+apiHS+`-s1"}`, claimsFor(appHS), good)},
		{"header is an array", appHS, rawCompact(`["HS256"]`, claimsFor(appHS), good)},
		{"header is null", appHS, rawCompact(`null`, claimsFor(appHS), good)},
		{"header is empty", appHS, rawCompact(``, claimsFor(appHS), good)},
		{"header with trailing data", appHS, rawCompact(`{"alg":"HS256"}{}`, claimsFor(appHS), good)},

		// typ variants.
		{"typ JWT with a trailing space", appHS, hsWith(map[string]any{"typ": "JWT "}, appSecret)},
		{"typ JWT with NUL", appHS, hsWith(map[string]any{"typ": "JWT\x00"}, appSecret)},
		{"typ as an array", appHS, hsWith(map[string]any{"typ": []string{"JWT"}}, appSecret)},
		{"typ empty", appHS, hsWith(map[string]any{"typ": ""}, appSecret)},
		{"typ secevent+jwt", appHS, hsWith(map[string]any{"typ": "secevent+jwt"}, appSecret)},
		{"typ logout+jwt", appHS, hsWith(map[string]any{"typ": "logout+jwt"}, appSecret)},
		{"typ JOSE", appHS, hsWith(map[string]any{"typ": "JOSE"}, appSecret)},

		// Encodings of a good token.
		{"standard base64 alphabet, padded", appHS, reencode(canon, base64.StdEncoding)},
		{"standard base64 alphabet, unpadded", appHS, reencode(canon, base64.RawStdEncoding)},
		{"URL alphabet, padded", appHS, reencode(canon, base64.URLEncoding)},
		{"padding on the header only", appHS, seg[0] + "==." + seg[1] + "." + seg[2]},
		{"space inside the payload", appHS, seg[0] + "." + seg[1][:10] + " " + seg[1][10:] + "." + seg[2]},
		{"tab inside the signature", appHS, seg[0] + "." + seg[1] + "." + seg[2][:5] + "\t" + seg[2][5:]},
		{"NBSP inside the header", appHS, seg[0][:4] + "\u00a0" + seg[0][4:] + "." + seg[1] + "." + seg[2]},
		{"leading space", appHS, " " + canon},
		{"trailing space", appHS, canon + " "},
		{"trailing tab", appHS, canon + "\t"},
		{"trailing NUL", appHS, canon + "\x00"},
		{"leading CRLF", appHS, "\r\n" + canon},

		// Shapes.
		{"two dots only", appHS, ".."},
		{"empty segments around a good payload", appHS, "." + seg[1] + "."},
		{"8000 dots within MaxTokenSize", appHS, strings.Repeat(".", 8000)},
		{"10^6 dots", appHS, strings.Repeat(".", 1_000_000)},
		{"1 MB of garbage", appHS, strings.Repeat("A", 1<<20)},
		{"one byte over MaxTokenSize", appHS, canon + strings.Repeat("A", engine.DefaultMaxTokenSize-len(canon)+1)},
		{"JWS JSON serialization, flattened, two dots smuggled in a header value", appHS, flattened(`"header":{"kid":"x.y"},`)},
		{"JWS JSON serialization, general, with a second alg none signature", appHS, general},
		{"JWS JSON serialization, general, one signature", appHS,
			`{"payload":"` + seg[1] + `","signatures":[{"protected":"` + seg[0] + `","signature":"` + seg[2] + `"}]}`},

		// Payloads.
		{"payload a string", appHS, hsPayload(`"x"`)},
		{"payload a number", appHS, hsPayload(`5`)},
		{"payload true", appHS, hsPayload(`true`)},
		{"payload empty", appHS, hsPayload(``)},
		{"payload empty object", appHS, hsPayload(`{}`)},
		{"payload with trailing data", appHS, hsPayload(payloadWith(`"x":1`) + `x`)},
		{"payload of two objects", appHS, hsPayload(payloadWith(`"x":1`) + `{}`)},
		{"payload with a BOM", appHS, hsPayload("\ufeff" + payloadWith(`"x":1`))},
		{"payload with exp 1e400", appHS, rawJWS(tb, hsHdr, strings.Replace(payloadWith(`"x":1`), `"exp":`, `"exp":1e400,"x-old-exp":`, 1), good)},
		{"payload with 5000 nested arrays (over MaxTokenSize)", appHS, hsPayload(payloadWith(`"https://x/deep":` + nested(5000)))},

		// Signatures.
		{"ES256 signature r=s=0", appES, esWith(make([]byte, 64))},
		{"ES256 signature r=s=n", appES, esWith(append(append([]byte{}, n...), n...))},
		{"ES256 signature r=s=1", appES, esWith(append(append([]byte{}, one...), one...))},
		{"ES256 signature of 65 bytes", appES, esWith(append(append([]byte{}, goodESSig...), 0))},
		{"ES256 signature DER-encoded", appES, esWith(esDER)},
		{"ES256 signature empty", appES, esWith(nil)},
		{"HMAC truncated by one byte", appHS, rawJWS(tb, hsHdr, claimsFor(appHS), truncated)},
		{"HMAC extended by one byte", appHS, rawJWS(tb, hsHdr, claimsFor(appHS), extended)},
		{"HMAC empty", appHS, rawJWS(tb, hsHdr, claimsFor(appHS), nil)},
		{"HMAC computed over another header", appHS, b64.EncodeToString([]byte(`{"alg":"HS256","typ":"jwt"}`)) + "." + seg[1] + "." + seg[2]},
	}
}

// TestSecurityRefusals is the adversarial table, one subtest per class and
// one per row.
func TestSecurityRefusals(t *testing.T) {
	w := newSecurityWorld(t, nil)
	appSecret := w.secrets[appHS]
	good := w.idToken(t, appHS, nil)

	t.Run("JOSE", func(t *testing.T) {
		var rows []secRow
		for _, a := range attackTokens(t, w) {
			rows = append(rows, secRow{name: a.name, req: delegation(a.client, a.token, chainEnd, ""), code: engine.CodeInvalidGrant})
		}
		// With a MaxTokenSize that lets them through to the shape checks.
		big := newSecurityWorld(t, func(c *engine.Config) { c.MaxTokenSize = 4 << 20 })
		bigGood := hs256(big.secrets[appHS])
		rows = append(rows,
			secRow{name: "10^6 dots under a 4 MiB MaxTokenSize", w: big,
				req: delegation(appHS, strings.Repeat(".", 1_000_000), chainEnd, ""), code: engine.CodeInvalidGrant},
			secRow{name: "3 MB without dots under a 4 MiB MaxTokenSize", w: big,
				req: delegation(appHS, strings.Repeat("A", 3<<20), chainEnd, ""), code: engine.CodeInvalidGrant},
			secRow{name: "20000 nested arrays, signed, under a 4 MiB MaxTokenSize", w: big,
				req:  delegation(appHS, rawJWS(t, map[string]any{"alg": "HS256"}, payloadWith(`"https://x/deep":`+nested(20000)), bigGood), chainEnd, ""),
				code: engine.CodeInvalidGrant},
		)
		runRows(t, w, rows)
	})

	t.Run("Claims", func(t *testing.T) {
		hdr := map[string]any{"alg": "HS256", "typ": "JWT", "kid": appHS + "-s1"}
		with := func(mod func(claims.Set)) *engine.Request {
			return delegation(appHS, rawJWS(t, hdr, sourceClaims(mod), hs256(appSecret)), chainEnd, "")
		}
		set := func(k string, v any) *engine.Request { return with(func(c claims.Set) { c[k] = v }) }
		now := float64(fixedNow.Unix())
		g := engine.CodeInvalidGrant
		runRows(t, w, []secRow{
			{name: "exp 0", req: set("exp", 0), code: g},
			{name: "exp -1", req: set("exp", -1), code: g},
			{name: "exp -0.5", req: set("exp", -0.5), code: g},
			{name: "exp null", req: set("exp", nil), code: g},
			{name: "exp true", req: set("exp", true), code: g},
			{name: "exp array", req: set("exp", []any{now + 3600}), code: g},
			{name: "exp object", req: set("exp", map[string]any{"$date": now + 3600}), code: g},
			{name: "exp empty string", req: set("exp", ""), code: g},
			{name: "exp after the year 9999", req: set("exp", 253402300800), code: g},
			{name: "exp 1 second ago", req: set("exp", now-1), code: g},
			{name: "nbf string", req: set("nbf", "0"), code: g},
			{name: "nbf null", req: set("nbf", nil), code: g},
			{name: "nbf negative", req: set("nbf", -1), code: g},
			{name: "nbf 1e300", req: set("nbf", 1e300), code: g},
			{name: "iat string", req: set("iat", "0"), code: g},
			{name: "iat null", req: set("iat", nil), code: g},
			{name: "iat 1e300", req: set("iat", 1e300), code: g},
			{name: "iss with a trailing space", req: set("iss", issuer+" "), code: g},
			{name: "iss over http", req: set("iss", strings.Replace(issuer, "https://", "http://", 1)), code: g},
			{name: "iss with the default port", req: set("iss", "https://id.example.com:443/"), code: g},
			{name: "iss with a dot segment", req: set("iss", issuer+"./"), code: g},
			{name: "iss with a fragment", req: set("iss", issuer+"#"), code: g},
			{name: "iss with NUL", req: set("iss", issuer+"\x00"), code: g},
			{name: "iss as an array", req: set("iss", []any{issuer}), code: g},
			{name: "iss null", req: set("iss", nil), code: g},
			{name: "iss with a doubled trailing slash", req: set("iss", issuer+"/"), code: g},
			{name: "aud empty string", req: set("aud", ""), code: g},
			{name: "aud array with an empty member", req: set("aud", []any{appHS, ""}), code: g},
			{name: "aud object", req: set("aud", map[string]any{appHS: true}), code: g},
			{name: "aud number", req: set("aud", 5), code: g},
			{name: "aud case variant", req: set("aud", strings.ToUpper(appHS)), code: g},
			{name: "aud with a trailing space", req: set("aud", appHS+" "), code: g},
			{name: "aud array of case variants", req: set("aud", []any{strings.ToUpper(appHS), "App-Hs"}), code: g},
			{name: "aud naming the client twice, no azp", req: set("aud", []any{appHS, appHS}), code: g},
			{name: "aud array with null", req: set("aud", []any{appHS, nil}), code: g},
			{name: "several aud, azp naming the other", req: with(func(c claims.Set) { c["aud"] = []any{appHS, apiHS}; c["azp"] = apiHS }), code: g},
			{name: "azp empty", req: set("azp", ""), code: g},
			{name: "azp null", req: set("azp", nil), code: g},
			{name: "azp numeric", req: set("azp", 1), code: g},
			{name: "azp case variant", req: set("azp", strings.ToUpper(appHS)), code: g},
			{name: "azp as an array naming the client", req: set("azp", []any{appHS}), code: g},
			{name: "azp names the target", req: set("azp", chainEnd), code: g},
			{name: "sub null", req: set("sub", nil), code: g},
			{name: "sub array", req: set("sub", []any{"auth0|ada"}), code: g},
			{name: "sub object", req: set("sub", map[string]any{"id": "auth0|ada"}), code: g},
			{name: "jti empty", req: set("jti", ""), code: g},
			{name: "jti null", req: set("jti", nil), code: g},
			{name: "jti array", req: set("jti", []any{"j-1"}), code: g},
		})
	})

	t.Run("Delegation", func(t *testing.T) {
		// Tokens minted by deputy itself, presented onward.
		minted := func(target string) string {
			res, err := w.x.Exchange(context.Background(), delegation(appHS, w.idToken(t, appHS, nil), target, "openid email"))
			if err != nil {
				t.Fatal(err)
			}
			return res.IDToken
		}
		forAPI, forES := minted(apiHS), minted(appES)
		tgt := engine.CodeInvalidTarget
		runRows(t, w, []secRow{
			{name: "self-delegation, client not listing itself (RS256)", req: delegation(appRS, w.idToken(t, appRS, nil), appRS, ""), code: tgt},
			{name: "self-delegation, client not listing itself (EdDSA)", req: delegation(appEd, w.idToken(t, appEd, nil), appEd, ""), code: tgt},
			{name: "target with a leading space", req: delegation(appHS, good, " "+apiHS, ""), code: tgt},
			{name: "target with a trailing space", req: delegation(appHS, good, apiHS+" ", ""), code: tgt},
			{name: "target with NUL", req: delegation(appHS, good, apiHS+"\x00", ""), code: tgt},
			{name: "target URL-encoded", req: delegation(appHS, good, url.QueryEscape(apiHS+"/"), ""), code: tgt},
			{name: "target in fullwidth letters", req: delegation(appHS, good, "ａｐｉ-ｈｓ", ""), code: tgt},
			{name: "target named *", req: delegation(appHS, good, "*", ""), code: tgt},
			{name: "target whose AllowedSources holds a glob", req: delegation(appHS, good, globby, ""), code: tgt},
			{name: "target allowing a case variant of the requester", req: delegation(appHS, good, casey, ""), code: tgt},
			{name: "disabled target listing the requester", req: delegation(appHS, good, offAllow, ""), code: tgt},
			{name: "disabled requester with its own valid token", req: delegation(offline, w.idToken(t, offline, nil), chainEnd, ""), code: engine.CodeInvalidClient},
			{name: "requester allowed only token exchange, own valid token", req: delegation(teOnly, w.idToken(t, teOnly, nil), chainEnd, ""), code: engine.CodeUnauthorizedClient},
			{name: "requester with a case-variant client_id", req: delegation(strings.ToUpper(appHS), good, chainEnd, ""), code: engine.CodeInvalidClient},

			// Chain policy: a minted token names its target in aud and its
			// requester in azp, so nobody can present it as a source.
			{name: "chain: delegated token presented onward by its target", req: delegation(apiHS, forAPI, chainEnd, ""), code: engine.CodeInvalidGrant},
			{name: "chain: delegated token presented by its target for itself", req: delegation(apiHS, forAPI, apiHS, ""), code: engine.CodeInvalidGrant},
			{name: "chain: delegated token presented back by the original requester", req: delegation(appHS, forAPI, chainEnd, ""), code: engine.CodeInvalidGrant},
			{name: "chain: ES256 delegated token presented onward by its target", req: delegation(appES, forES, apiRS, ""), code: engine.CodeInvalidGrant},

			// Scope.
			{name: "scope with a leading NUL", req: delegation(appHS, good, chainEnd, "\x00openid"), code: engine.CodeInvalidScope},
			{name: "scope with a trailing NUL", req: delegation(appHS, good, chainEnd, "openid\x00"), code: engine.CodeInvalidScope},
			{name: "scope separated by a tab", req: delegation(appHS, good, chainEnd, "openid\temail"), code: engine.CodeInvalidScope},
			{name: "scope with a quote", req: delegation(appHS, good, chainEnd, `openid "email"`), code: engine.CodeInvalidScope},
			{name: "scope OPENID", req: delegation(appHS, good, chainEnd, "OPENID"), code: engine.CodeInvalidScope},
			{name: "scope passthrough with openid", req: delegation(appHS, good, chainEnd, "passthrough openid"), code: engine.CodeInvalidScope},
			{name: "scope PASSTHROUGH", req: delegation(appHS, good, chainEnd, "PASSTHROUGH"), code: engine.CodeInvalidScope},
			{name: "scope of 10000 duplicates (60 KB)", req: delegation(appHS, good, chainEnd, strings.TrimSpace(strings.Repeat("openid ", 10000))), code: engine.CodeInvalidScope},
			{name: "scope of 65 distinct tokens", req: delegation(appHS, good, chainEnd, "openid"+func() string {
				var b strings.Builder
				for i := range 64 {
					fmt.Fprintf(&b, " s%d", i)
				}
				return b.String()
			}()), code: engine.CodeInvalidScope},
		})
	})

	t.Run("Refresh", func(t *testing.T) {
		rw := newRefreshWorld(t)
		rw.st.PutProfile("auth0|gone-later", userClaims())
		rw.st.PutRefreshToken("rt-gone-later", store.RefreshGrant{ClientID: appHS, Subject: "auth0|gone-later", Scope: []string{"openid"}})
		rw.st.DeleteProfile("auth0|gone-later")
		rw.st.PutRefreshToken("rt-disabled", store.RefreshGrant{ClientID: offline, Subject: "auth0|ada", Scope: []string{"openid"}})
		rw.st.PutRefreshToken("rt-no-subject", store.RefreshGrant{ClientID: appHS, Scope: []string{"openid"}})
		rw.st.PutRefreshToken("rt-bad-scope", store.RefreshGrant{ClientID: appHS, Subject: "auth0|ada", Scope: []string{"open id\x00"}})
		putClient(t, rw.st, store.Client{ID: chainEnd, SigningAlg: "EdDSA", AllowedSources: []string{"*"}})
		idTok := rw.idToken(t, appHS, nil)
		runRows(t, rw, []secRow{
			{name: "user deleted after the grant was issued", req: refreshReq(appHS, "rt-gone-later", chainEnd, ""), code: engine.CodeInvalidGrant},
			{name: "grant of a disabled requester", req: refreshReq(offline, "rt-disabled", chainEnd, ""), code: engine.CodeInvalidClient},
			{name: "grant without subject (store inconsistency)", req: refreshReq(appHS, "rt-no-subject", chainEnd, ""), code: engine.CodeServerError},
			{name: "grant with an invalid scope (store inconsistency)", req: refreshReq(appHS, "rt-bad-scope", chainEnd, ""), code: engine.CodeServerError},
			{name: "id_token presented as a refresh token", req: refreshReq(appHS, idTok, chainEnd, ""), code: engine.CodeInvalidGrant},
			{name: "refresh token presented as an id_token", req: delegation(appHS, "rt-ada", chainEnd, ""), code: engine.CodeInvalidGrant},
			{name: "refresh token with a trailing space", req: refreshReq(appHS, "rt-ada ", chainEnd, ""), code: engine.CodeInvalidGrant},
			{name: "refresh token to a disabled target", req: refreshReq(appHS, "rt-ada", offline, ""), code: engine.CodeInvalidTarget},
		})
	})
}

// TestHeaderNullsCarryNothing documents a go-jose behaviour: a header
// parameter whose value is JSON null is dropped before the engine sees it,
// so it counts as absent. That is harmless — a null jwk, jku, x5u, x5c,
// crit, b64 or cty offers no key, no extension and no nesting, and a null
// typ is a token without typ — and the minted token is what it would be
// without the parameter.
func TestHeaderNullsCarryNothing(t *testing.T) {
	w := newSecurityWorld(t, nil)
	for _, k := range []string{"typ", "crit", "b64", "jwk", "jku", "x5u", "x5c", "cty"} {
		t.Run(k, func(t *testing.T) {
			tok := rawJWS(t, map[string]any{"alg": "HS256", k: nil}, claimsFor(appHS), hs256(w.secrets[appHS]))
			res, err := w.x.Exchange(context.Background(), delegation(appHS, tok, chainEnd, "openid email"))
			if err != nil {
				t.Fatalf("Exchange: %v", err)
			}
			want := ownedWant(appHS, chainEnd, engine.DefaultLifetime)
			want["email"] = "ada@example.com"
			if diff := cmp.Diff(want, w.checkMinted(t, res, chainEnd)); diff != "" {
				t.Errorf("claims (-want +got):\n%s", diff)
			}
		})
	}
}

// TestChainPolicy asserts the rule SECURITY.md states: a delegated token
// can never be a source. It carries aud = target and azp = requester; the
// target presenting it fails the azp check, anyone else fails the aud
// check. The minted token's claims are checked first, so the rule rests on
// what the engine writes.
func TestChainPolicy(t *testing.T) {
	w := newSecurityWorld(t, nil)
	res, err := w.x.Exchange(context.Background(), delegation(appHS, w.idToken(t, appHS, nil), apiHS, ""))
	if err != nil {
		t.Fatal(err)
	}
	h, c := w.decode(t, res.IDToken, apiHS)
	if c["aud"] != apiHS || c["azp"] != appHS || h.ExtraHeaders["typ"] != "JWT" || c["iss"] != issuer {
		t.Fatalf("minted header %v claims %v", h.ExtraHeaders, c)
	}
	for _, presenter := range []string{apiHS, appHS, appRS, appES} {
		for _, target := range []string{chainEnd, apiHS, appES} {
			t.Run(presenter+"→"+target, func(t *testing.T) {
				req := delegation(presenter, res.IDToken, target, "")
				out, err := w.x.Exchange(context.Background(), req)
				assertRefused(t, out, err, engine.CodeInvalidGrant, secretsOf(w, req)...)
			})
		}
	}
}

// TestChainPolicySelfDelegation: the chain policy must also hold when a
// client lists itself in AllowedSources and delegates to itself (Auth0's
// renewal pattern). The token minted then has aud = azp = the client and
// iss = Issuer, exactly the shape of an id_token the issuer gave it, so the
// azp rule alone does not stop it from being presented again — and every
// round would return a token valid for the target's full lifetime, however
// close to expiry the token presented was. A token deputy minted must not
// be a source.
func TestChainPolicySelfDelegation(t *testing.T) {
	w := newSecurityWorld(t, func(c *engine.Config) { c.Replay = store.NewMemory() })
	for _, client := range []string{appHS, appES} {
		t.Run(client, func(t *testing.T) {
			// A source with one minute left.
			src := w.idToken(t, client, func(c claims.Set) { c["exp"] = float64(fixedNow.Add(time.Minute).Unix()) })
			res, err := w.x.Exchange(context.Background(), delegation(client, src, client, ""))
			if err != nil {
				t.Fatalf("self-delegation: %v", err)
			}
			_, c := w.decode(t, res.IDToken, client)
			if c["aud"] != client || c["azp"] != client {
				t.Fatalf("minted aud %v azp %v", c["aud"], c["azp"])
			}
			req := delegation(client, res.IDToken, client, "")
			again, err := w.x.Exchange(context.Background(), req)
			if err == nil {
				_, c2 := w.decode(t, again.IDToken, client)
				t.Errorf("a deputy-minted token was accepted as a source: a token with 60s left became one valid until %v, and can be renewed again",
					time.Unix(int64(c2["exp"].(float64)), 0).UTC())
			}
			assertRefused(t, again, err, engine.CodeInvalidGrant, secretsOf(w, req)...)
		})
	}
}

// TestOwnedClaimsNeverSmuggled: owned claims in a source token or a profile
// never reach the output at the top level, and nested values that look
// like owned claims stay inside their mapped container. The output is
// compared whole.
func TestOwnedClaimsNeverSmuggled(t *testing.T) {
	const roles = "https://x/roles"
	smuggled := func(c claims.Set) {
		c[roles] = map[string]any{"aud": "evil", "exp": float64(1), "iss": "https://evil.example/"}
		c["address"] = map[string]any{"iss": "https://evil.example/", "country": "UK", "aud": []any{"evil"}}
		c["nonce"], c["auth_time"], c["sid"] = "n-1", float64(fixedNow.Unix()-60), "sid-1"
		c["at_hash"], c["c_hash"] = "abc", "def"
		c["act"] = map[string]any{"sub": "admin"}
		c["may_act"] = map[string]any{"sub": "admin"}
		c["cnf"] = map[string]any{"jkt": "thumb"}
		c["scope"], c["client_id"] = "admin", "evil"
		c["nbf"] = float64(fixedNow.Unix() - 60)
		c["aud"] = []any{appHS, "other"}
		c["azp"] = appHS
	}
	wantNested := func(want claims.Set) {
		want[roles] = map[string]any{"aud": "evil", "exp": float64(1), "iss": "https://evil.example/"}
		want["address"] = map[string]any{"iss": "https://evil.example/", "country": "UK", "aud": []any{"evil"}}
		want["email"], want["email_verified"] = "ada@example.com", true
	}

	t.Run("id_token", func(t *testing.T) {
		w := newSecurityWorld(t, func(c *engine.Config) { c.Scopes = scope.Standard.With("roles", roles) })
		tok := w.idToken(t, appHS, smuggled)
		res, err := w.x.Exchange(context.Background(), delegation(appHS, tok, chainEnd, "openid email address roles"))
		if err != nil {
			t.Fatal(err)
		}
		want := ownedWant(appHS, chainEnd, engine.DefaultLifetime)
		wantNested(want)
		if diff := cmp.Diff(want, w.checkMinted(t, res, chainEnd)); diff != "" {
			t.Errorf("claims (-want +got):\n%s", diff)
		}
	})

	t.Run("id_token passthrough", func(t *testing.T) {
		w := newSecurityWorld(t, func(c *engine.Config) { c.Scopes = scope.Standard.With("roles", roles) })
		tok := w.idToken(t, appHS, smuggled)
		res, err := w.x.Exchange(context.Background(), delegation(appHS, tok, chainEnd, "passthrough"))
		if err != nil {
			t.Fatal(err)
		}
		got := w.checkMinted(t, res, chainEnd)
		for k := range got {
			switch k {
			case "iss", "sub", "aud", "azp", "iat", "exp":
			default:
				if claims.IsOwned(k) {
					t.Errorf("owned claim %q copied from the source", k)
				}
			}
		}
		if diff := cmp.Diff(ownedWant(appHS, chainEnd, engine.DefaultLifetime)["aud"], got["aud"]); diff != "" {
			t.Errorf("aud (-want +got):\n%s", diff)
		}
		if got[roles] == nil || got["address"] == nil {
			t.Errorf("passthrough lost the mapped containers: %v", got)
		}
	})

	t.Run("refresh profile", func(t *testing.T) {
		w := newRefreshWorld(t)
		profile := userClaims()
		smuggled(profile)
		profile["iss"], profile["sub"], profile["exp"], profile["jti"] = "https://evil.example/", "admin", float64(1), "evil-jti"
		w.st.PutProfile("auth0|ada", profile)
		res, err := w.x.Exchange(context.Background(), refreshReq(appHS, "rt-ada", apiEd, "openid email"))
		if err != nil {
			t.Fatal(err)
		}
		want := ownedWant(appHS, apiEd, engine.DefaultLifetime)
		want["email"], want["email_verified"] = "ada@example.com", true
		if diff := cmp.Diff(want, w.checkMinted(t, res, apiEd)); diff != "" {
			t.Errorf("claims (-want +got):\n%s", diff)
		}
	})
}

// TestMappingNamingOwnedClaimRefused: New refuses a mapping that releases
// any owned claim, whether through a new scope or a standard one.
func TestMappingNamingOwnedClaimRefused(t *testing.T) {
	st := store.NewMemory()
	for _, name := range claims.OwnedNames() {
		for _, sc := range []string{"evil", "profile"} {
			t.Run(sc+"/"+name, func(t *testing.T) {
				x, err := engine.New(engine.Config{Issuer: issuer, Clients: st, Scopes: scope.Standard.With(sc, name)})
				if x != nil || !errors.Is(err, scope.ErrOwnedClaim) {
					t.Fatalf("New = %v, %v; want an error wrapping scope.ErrOwnedClaim", x, err)
				}
			})
		}
	}
}

// TestClockSkewEdges moves an injected clock across each time claim's edge,
// with ClockSkew 0 and 60s: a token is good strictly before exp+skew, and
// from nbf−skew and iat−skew on.
func TestClockSkewEdges(t *testing.T) {
	const lead = 10 * time.Second
	edge := fixedNow.Add(lead)
	for _, skew := range []time.Duration{0, 60 * time.Second} {
		t.Run(fmt.Sprintf("skew %v", skew), func(t *testing.T) {
			clock := fixedNow
			w := newWorld(t, func(c *engine.Config) {
				c.ClockSkew = skew
				c.Now = func() time.Time { return clock }
			})
			for _, tc := range []struct {
				claim string
				value float64
				at    time.Time
				ok    bool
				name  string
			}{
				{"exp", float64(edge.Unix()), edge.Add(skew - time.Second), true, "1s before the edge"},
				{"exp", float64(edge.Unix()), edge.Add(skew - time.Nanosecond), true, "1ns before the edge"},
				{"exp", float64(edge.Unix()), edge.Add(skew), false, "at the edge"},
				{"exp", float64(edge.Unix()), edge.Add(skew + time.Second), false, "1s after the edge"},
				{"exp", float64(edge.Unix()) + 0.5, edge.Add(skew + 499*time.Millisecond), true, "fractional, just before"},
				{"exp", float64(edge.Unix()) + 0.5, edge.Add(skew + 500*time.Millisecond), false, "fractional, at the edge"},
				{"nbf", float64(edge.Unix()), edge.Add(-skew - time.Second), false, "1s before the edge"},
				{"nbf", float64(edge.Unix()), edge.Add(-skew - time.Nanosecond), false, "1ns before the edge"},
				{"nbf", float64(edge.Unix()), edge.Add(-skew), true, "at the edge"},
				{"nbf", float64(edge.Unix()), edge.Add(-skew + time.Second), true, "1s after the edge"},
				{"nbf", float64(edge.Unix()) + 0.5, edge.Add(-skew + 499*time.Millisecond), false, "fractional, just before"},
				{"nbf", float64(edge.Unix()) + 0.5, edge.Add(-skew + 500*time.Millisecond), true, "fractional, at the edge"},
				{"iat", float64(edge.Unix()), edge.Add(-skew - time.Second), false, "1s before the edge"},
				{"iat", float64(edge.Unix()), edge.Add(-skew - time.Nanosecond), false, "1ns before the edge"},
				{"iat", float64(edge.Unix()), edge.Add(-skew), true, "at the edge"},
				{"iat", float64(edge.Unix()), edge.Add(-skew + time.Second), true, "1s after the edge"},
			} {
				t.Run(tc.claim+" "+tc.name, func(t *testing.T) {
					clock = fixedNow
					tok := w.idToken(t, appHS, func(c claims.Set) {
						c[tc.claim] = tc.value
						if tc.claim != "iat" {
							c["iat"] = float64(fixedNow.Add(-time.Hour).Unix())
						}
						if tc.claim != "exp" {
							c["exp"] = float64(fixedNow.Add(time.Hour).Unix())
						}
					})
					clock = tc.at
					res, err := w.x.Exchange(context.Background(), delegation(appHS, tok, apiHS, ""))
					if tc.ok {
						if err != nil {
							t.Fatalf("at %v: want success, got %v", tc.at, err)
						}
						return
					}
					assertRefused(t, res, err, engine.CodeInvalidGrant, tok)
				})
			}
		})
	}
}

// TestMaxTokenSizeEdge: a good token of exactly MaxTokenSize bytes is
// accepted, and refused one byte below.
func TestMaxTokenSizeEdge(t *testing.T) {
	base := newWorld(t, nil)
	tok := base.idToken(t, appHS, nil)
	for _, tc := range []struct {
		max int
		ok  bool
	}{{len(tok), true}, {len(tok) - 1, false}} {
		t.Run(fmt.Sprint(tc.max), func(t *testing.T) {
			x, err := engine.New(engine.Config{Issuer: issuer, Clients: base.st, Keys: base.st, MaxTokenSize: tc.max,
				Now: func() time.Time { return fixedNow }})
			if err != nil {
				t.Fatal(err)
			}
			res, err := x.Exchange(context.Background(), delegation(appHS, tok, apiHS, ""))
			if tc.ok {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			assertRefused(t, res, err, engine.CodeInvalidGrant, tok)
		})
	}
}

// TestDeepNestingAccepted: a signed token whose custom claim nests 5000
// arrays (within a raised MaxTokenSize) neither crashes nor leaks: unmapped,
// the claim is left out; mapped, it comes out whole and the output still
// verifies.
func TestDeepNestingAccepted(t *testing.T) {
	const deep = "https://x/deep"
	w := newWorld(t, func(c *engine.Config) {
		c.MaxTokenSize = 1 << 20
		c.Scopes = scope.Standard.With("deep", deep)
	})
	tok := rawJWS(t, map[string]any{"alg": "HS256", "typ": "JWT"}, payloadWith(`"`+deep+`":`+nested(5000)), hs256(w.secrets[appHS]))
	for _, tc := range []struct {
		scope  string
		mapped bool
	}{{"openid email", false}, {"passthrough", true}, {"openid deep", true}} {
		t.Run(tc.scope, func(t *testing.T) {
			res, err := w.x.Exchange(context.Background(), delegation(appHS, tok, apiHS, tc.scope))
			if err != nil {
				t.Fatalf("Exchange: %v", err)
			}
			got := w.checkMinted(t, res, apiHS)
			v, ok := got[deep]
			if ok != tc.mapped {
				t.Fatalf("nested claim present = %v, want %v", ok, tc.mapped)
			}
			if ok {
				depth := 0
				for a, isArr := v.([]any); isArr; a, isArr = a[0].([]any) {
					depth++
					if len(a) == 0 {
						break
					}
				}
				if depth != 5000 {
					t.Errorf("nested depth = %d, want 5000", depth)
				}
			}
		})
	}
}

// TestReplayByJTINotBytes: one-time use is keyed by iss+jti, not by the
// token's bytes. A token string has other spellings that verify — go-jose
// decodes base64url without checking the unused trailing bits, so a
// signature segment whose last character differs only in those bits is
// the same signature — and a re-signed token can repeat a jti. Each is
// still one use.
func TestReplayByJTINotBytes(t *testing.T) {
	w := newWorld(t, func(c *engine.Config) { c.Replay = store.NewMemory() })
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
	tok := w.idToken(t, appHS, nil)
	last := strings.IndexByte(alphabet, tok[len(tok)-1])
	variant := tok[:len(tok)-1] + string(alphabet[last^1]) // an unused low bit: 32-byte HMAC → 43 chars, 2 spare bits
	if variant == tok {
		t.Fatal("variant equals the token")
	}
	if _, err := parseVerify(variant, "HS256", w.secrets[appHS]); err != nil {
		t.Logf("go-jose refuses the non-canonical spelling (%v); the test still holds", err)
	}
	wins := 0
	for _, s := range []string{variant, tok, variant} {
		res, err := w.x.Exchange(context.Background(), delegation(appHS, s, apiHS, ""))
		if err == nil {
			wins++
			continue
		}
		assertRefused(t, res, err, engine.CodeInvalidGrant, s)
	}
	if wins != 1 {
		t.Errorf("%d uses of one jti succeeded, want 1", wins)
	}

	// Same jti, re-signed with other claims. (The same jti in a token
	// issued to another client is that client's own id: see
	// TestReplayCrossClientBurn.)
	jti := func(c claims.Set) { c["jti"] = "shared-jti" }
	first := w.idToken(t, appHS, jti)
	if _, err := w.x.Exchange(context.Background(), delegation(appHS, first, apiHS, "")); err != nil {
		t.Fatal(err)
	}
	for name, req := range map[string]*engine.Request{
		"re-signed": delegation(appHS, w.idToken(t, appHS, func(c claims.Set) { jti(c); c["iat"] = float64(fixedNow.Unix()) }), apiHS, ""),
	} {
		t.Run(name, func(t *testing.T) {
			res, err := w.x.Exchange(context.Background(), req)
			assertRefused(t, res, err, engine.CodeInvalidGrant, req.IDToken)
		})
	}
}

// TestScopeCanonicalDuplicates: repeated scope tokens are fine and fold to
// the canonical form (openid first, the rest sorted).
func TestScopeCanonicalDuplicates(t *testing.T) {
	var got string
	w := newWorld(t, func(c *engine.Config) {
		c.OnExchange = func(_ context.Context, e engine.Event) { got = e.Scope }
	})
	for in, want := range map[string]string{
		"openid openid":             "openid",
		"email openid email openid": "openid email",
		"profile email openid":      "openid email profile",
	} {
		t.Run(in, func(t *testing.T) {
			if _, err := w.x.Exchange(context.Background(), delegation(appHS, w.idToken(t, appHS, nil), apiHS, in)); err != nil {
				t.Fatal(err)
			}
			if got != want {
				t.Errorf("granted %q, want %q", got, want)
			}
		})
	}
}

// Misbehaving stores.

type nilClients struct{}

func (nilClients) Client(context.Context, string) (*store.Client, error) { return nil, nil }

type keysFunc struct {
	store.KeyStore
	sign   func(ctx context.Context, alg string) (*jose.JSONWebKey, error)
	verify func(ctx context.Context, kid string) ([]jose.JSONWebKey, error)
}

func (k keysFunc) SigningKey(ctx context.Context, alg string) (*jose.JSONWebKey, error) {
	if k.sign != nil {
		return k.sign(ctx, alg)
	}
	return k.KeyStore.SigningKey(ctx, alg)
}

func (k keysFunc) VerificationKeys(ctx context.Context, kid string) ([]jose.JSONWebKey, error) {
	if k.verify != nil {
		return k.verify(ctx, kid)
	}
	return k.KeyStore.VerificationKeys(ctx, kid)
}

type replayFunc func(ctx context.Context, id string, ttl time.Duration) (bool, error)

func (f replayFunc) Use(ctx context.Context, id string, ttl time.Duration) (bool, error) {
	return f(ctx, id, ttl)
}

// TestSecurityFaults: stores that answer wrongly never yield a token.
func TestSecurityFaults(t *testing.T) {
	testKeys(t)
	rsaDER, _ := x509.MarshalPKIXPublicKey(&rsaKey.PublicKey)
	rsaPEM := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: rsaDER})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	for _, tc := range []struct {
		name   string
		mod    func(c *engine.Config)
		client string
		target string
		ctx    context.Context
		code   string
	}{
		{"replay cache answers first together with an error", func(c *engine.Config) {
			c.Replay = replayFunc(func(context.Context, string, time.Duration) (bool, error) { return true, errBroken })
		}, appHS, apiHS, nil, engine.CodeServerError},
		{"replay cache never answers first", func(c *engine.Config) {
			c.Replay = replayFunc(func(context.Context, string, time.Duration) (bool, error) { return false, nil })
		}, appHS, apiHS, nil, engine.CodeInvalidGrant},
		{"client store answers nil and no error", func(c *engine.Config) { c.Clients = nilClients{} }, appHS, apiHS, nil, engine.CodeServerError},
		{"key store hands out PEM bytes labelled RS256", func(c *engine.Config) {
			c.Keys = keysFunc{KeyStore: c.Keys, verify: func(context.Context, string) ([]jose.JSONWebKey, error) {
				return []jose.JSONWebKey{{Key: rsaPEM, KeyID: "rsa-1", Algorithm: "RS256"}}, nil
			}}
		}, appRS, apiHS, nil, engine.CodeInvalidGrant},
		{"key store hands out a key without alg", func(c *engine.Config) {
			c.Keys = keysFunc{KeyStore: c.Keys, verify: func(context.Context, string) ([]jose.JSONWebKey, error) {
				return []jose.JSONWebKey{{Key: &rsaKey.PublicKey, KeyID: "rsa-1"}}, nil
			}}
		}, appRS, apiHS, nil, engine.CodeInvalidGrant},
		{"key store hands out a private key to verify", func(c *engine.Config) {
			c.Keys = keysFunc{KeyStore: c.Keys, verify: func(context.Context, string) ([]jose.JSONWebKey, error) {
				return []jose.JSONWebKey{{Key: rsaKey, KeyID: "rsa-1", Algorithm: "RS256"}}, nil
			}}
		}, appRS, apiHS, nil, engine.CodeInvalidGrant},
		{"key store signing key is public only", func(c *engine.Config) {
			c.Keys = keysFunc{KeyStore: c.Keys, sign: func(context.Context, string) (*jose.JSONWebKey, error) {
				return &jose.JSONWebKey{Key: edKey.Public(), KeyID: "ed-1", Algorithm: "EdDSA"}, nil
			}}
		}, appHS, apiEd, nil, engine.CodeServerError},
		{"key store signing key declared for another alg", func(c *engine.Config) {
			c.Keys = keysFunc{KeyStore: c.Keys, sign: func(context.Context, string) (*jose.JSONWebKey, error) {
				return &jose.JSONWebKey{Key: ecKey, KeyID: "ec-1", Algorithm: "ES256"}, nil
			}}
		}, appHS, apiEd, nil, engine.CodeServerError},
		{"key store signing key without kid", func(c *engine.Config) {
			c.Keys = keysFunc{KeyStore: c.Keys, sign: func(context.Context, string) (*jose.JSONWebKey, error) {
				return &jose.JSONWebKey{Key: edKey, Algorithm: "EdDSA"}, nil
			}}
		}, appHS, apiEd, nil, engine.CodeServerError},
		{"context cancelled after the built-in minter signed", func(c *engine.Config) {
			orig := c.Keys
			c.Keys = keysFunc{KeyStore: orig, sign: func(ctx context.Context, alg string) (*jose.JSONWebKey, error) {
				k, err := orig.SigningKey(ctx, alg)
				cancel()
				return k, err
			}}
		}, appHS, apiEd, ctx, engine.CodeServerError},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := newWorld(t, tc.mod)
			req := delegation(tc.client, w.idToken(t, tc.client, nil), tc.target, "")
			c := tc.ctx
			if c == nil {
				c = context.Background()
			}
			res, err := w.x.Exchange(c, req)
			assertRefused(t, res, err, tc.code, secretsOf(w, req)...)
		})
	}
}

// overrideClients answers one client from c and the rest from the store:
// a client store that does not validate what it hands out.
type overrideClients struct {
	store.ClientStore
	c *store.Client
}

func (o overrideClients) Client(ctx context.Context, id string) (*store.Client, error) {
	if id == o.c.ID {
		return o.c, nil
	}
	return o.ClientStore.Client(ctx, id)
}

// TestMisregisteredClients: client records that store.Client.Validate would
// refuse, handed out by a store that skips it, fail closed.
func TestMisregisteredClients(t *testing.T) {
	for _, tc := range []struct {
		name   string
		client store.Client
		target string
		code   string
	}{
		{"requester registered with alg none", store.Client{ID: appHS, SigningAlg: "none",
			Grants: []string{engine.GrantTypeJWTBearer}}, apiHS, engine.CodeServerError},
		{"requester registered with an empty alg", store.Client{ID: appHS,
			Grants: []string{engine.GrantTypeJWTBearer}}, apiHS, engine.CodeServerError},
		{"HS256 requester without secrets", store.Client{ID: appHS, SigningAlg: "HS256",
			Grants: []string{engine.GrantTypeJWTBearer}}, apiHS, engine.CodeInvalidGrant},
		{"HS256 target without secrets", store.Client{ID: "bare", SigningAlg: "HS256",
			AllowedSources: []string{appHS}}, "bare", engine.CodeServerError},
		{"target registered with alg none", store.Client{ID: "bare", SigningAlg: "none",
			AllowedSources: []string{appHS}}, "bare", engine.CodeServerError},
		{"HS256 target whose secrets all expired", store.Client{ID: "bare", SigningAlg: "HS256", AllowedSources: []string{appHS},
			Secrets: []store.Secret{{ID: "old", Value: make([]byte, 32), NotAfter: fixedNow}}}, "bare", engine.CodeServerError},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := tc.client
			w := newWorld(t, func(cfg *engine.Config) { cfg.Clients = overrideClients{cfg.Clients, &c} })
			tok := w.idToken(t, appHS, nil)
			req := delegation(appHS, tok, tc.target, "")
			res, err := w.x.Exchange(context.Background(), req)
			assertRefused(t, res, err, tc.code, secretsOf(w, req)...)
		})
	}
}

// TestRequestParsingAttacks: the parsers refuse smuggling and never echo
// what they were sent.
func TestRequestParsingAttacks(t *testing.T) {
	tok := newWorld(t, nil).idToken(t, appHS, nil)
	for _, tc := range []struct {
		name string
		body string
	}{
		{"JSON key repeated through an escape", `{"client_id":"a","client\u005fid":"b"}`},
		{"JSON key repeated after null", `{"client_id":null,"client_id":"b"}`},
		{"JSON id_token as an object", `{"id_token":{"a":"b"}}`},
		{"JSON 32000 nested arrays", `{"x":` + nested(32000) + `}`},
		{"JSON token as a repeated key", `{"` + tok + `":1,"` + tok + `":2}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := engine.ParseJSON([]byte(tc.body))
			assertParseRefused(t, got, err, engine.CodeInvalidRequest)
			if err != nil && strings.Contains(err.Error(), tok) {
				t.Errorf("error %q echoes the token", err)
			}
		})
	}
	for _, tc := range []struct {
		name string
		form url.Values
	}{
		{"form token as a repeated parameter name", url.Values{tok: {"1", "2"}}},
		{"form values over MaxRequestSize across parameters", url.Values{
			"a": {strings.Repeat("x", engine.MaxRequestSize/2)}, "b": {strings.Repeat("y", engine.MaxRequestSize/2)},
		}},
		{"form client_id sent twice with the same value", url.Values{"client_id": {appHS, appHS}}},
		{"form target sent twice, second empty", url.Values{"target": {apiHS, ""}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := engine.ParseRequest(tc.form)
			assertParseRefused(t, got, err, engine.CodeInvalidRequest)
			if err != nil && strings.Contains(err.Error(), tok) {
				t.Errorf("error %q echoes the token", err)
			}
		})
	}
}

// Oversize and many-dots inputs are refused before any parsing: the cost
// does not grow with the input.

func rejectExchanger(tb testing.TB, max int) *world {
	return newWorld(tb, func(c *engine.Config) { c.MaxTokenSize = max })
}

// TestRejectBeforeParsing bounds what refusing a 1 MB token costs: under
// 20 allocations and 4 KiB per exchange, whatever the MaxTokenSize.
func TestRejectBeforeParsing(t *testing.T) {
	dots := strings.Repeat(".", 1<<20)
	garbage := strings.Repeat("A", 1<<20)
	for _, tc := range []struct {
		name  string
		max   int
		token string
	}{
		{"1 MB of dots, default MaxTokenSize", 0, dots},
		{"1 MB of garbage, default MaxTokenSize", 0, garbage},
		{"1 MB of dots, 4 MiB MaxTokenSize", 4 << 20, dots},
		{"1 MB of garbage, 4 MiB MaxTokenSize", 4 << 20, garbage},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := rejectExchanger(t, tc.max)
			req := delegation(appHS, tc.token, apiHS, "")
			ctx := context.Background()
			run := func() {
				if res, err := w.x.Exchange(ctx, req); err == nil || res != nil {
					t.Fatal("accepted")
				}
			}
			allocs := testing.AllocsPerRun(100, run)
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			const n = 100
			for range n {
				run()
			}
			runtime.ReadMemStats(&after)
			bytes := (after.TotalAlloc - before.TotalAlloc) / n
			t.Logf("%.0f allocs, %d B per refused exchange", allocs, bytes)
			if allocs >= 20 {
				t.Errorf("%.0f allocations per refusal, want < 20", allocs)
			}
			if bytes >= 4<<10 {
				t.Errorf("%d bytes allocated per refusal, want < 4 KiB", bytes)
			}
		})
	}
}

func BenchmarkRejectOversize(b *testing.B) {
	w := rejectExchanger(b, 0)
	req := delegation(appHS, strings.Repeat("A", 1<<20), apiHS, "")
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := w.x.Exchange(ctx, req); err == nil {
			b.Fatal("accepted")
		}
	}
}

func BenchmarkRejectManyDots(b *testing.B) {
	for _, max := range []int{0, 4 << 20} {
		b.Run(fmt.Sprintf("MaxTokenSize=%d", max), func(b *testing.B) {
			w := rejectExchanger(b, max)
			req := delegation(appHS, strings.Repeat(".", 1_000_000), apiHS, "")
			ctx := context.Background()
			b.ReportAllocs()
			for b.Loop() {
				if _, err := w.x.Exchange(ctx, req); err == nil {
					b.Fatal("accepted")
				}
			}
		})
	}
}
