package engine_test

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/deputyauth/deputy/claims"
	"github.com/deputyauth/deputy/engine"
)

var b64 = base64.RawURLEncoding

// rawJWS builds a compact JWS by hand from any header, so tests can send
// what go-jose would refuse to produce. sign is given the signing input.
func rawJWS(t testing.TB, header map[string]any, payload any, sign func([]byte) []byte) string {
	t.Helper()
	h, err := json.Marshal(header)
	if err != nil {
		t.Fatal(err)
	}
	var p []byte
	if s, ok := payload.(string); ok {
		p = []byte(s)
	} else if p, err = json.Marshal(payload); err != nil {
		t.Fatal(err)
	}
	input := b64.EncodeToString(h) + "." + b64.EncodeToString(p)
	var sig []byte
	if sign != nil {
		sig = sign([]byte(input))
	}
	return input + "." + b64.EncodeToString(sig)
}

func hs256(key []byte) func([]byte) []byte {
	return func(in []byte) []byte {
		m := hmac.New(sha256.New, key)
		m.Write(in)
		return m.Sum(nil)
	}
}

// sourceClaims are valid claims of an id_token issued to appHS.
func sourceClaims(mod func(claims.Set)) claims.Set {
	c := claims.Set{
		"iss": issuer, "sub": "auth0|ada", "aud": appHS, "email": "ada@example.com",
		"iat": float64(fixedNow.Add(-time.Minute).Unix()), "exp": float64(fixedNow.Add(time.Hour).Unix()),
		"jti": "j-1",
	}
	if mod != nil {
		mod(c)
	}
	return c
}

func TestExchangeRefusals(t *testing.T) {
	w := newWorld(t, nil)
	appSecret := w.secrets[appHS]
	hsHeader := map[string]any{"alg": "HS256", "typ": "JWT", "kid": appHS + "-s1"}
	withClaims := func(mod func(claims.Set)) string {
		return rawJWS(t, hsHeader, sourceClaims(mod), hs256(appSecret))
	}
	withHeader := func(extra map[string]any) string {
		h := map[string]any{"alg": "HS256", "typ": "JWT"}
		for k, v := range extra {
			h[k] = v
		}
		return rawJWS(t, h, sourceClaims(nil), hs256(appSecret))
	}
	pubDER, err := x509.MarshalPKIXPublicKey(&rsaKey.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	pubPEM := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pubDER})
	jwe := func() string {
		enc, err := jose.NewEncrypter(jose.A128GCM, jose.Recipient{Algorithm: jose.DIRECT, Key: appSecret[:16]}, nil)
		if err != nil {
			t.Fatal(err)
		}
		obj, err := enc.Encrypt([]byte(`{"sub":"x"}`))
		if err != nil {
			t.Fatal(err)
		}
		s, err := obj.CompactSerialize()
		if err != nil {
			t.Fatal(err)
		}
		return s
	}()
	embeddedJWK := func() string {
		s, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.RS256, Key: rsaKey}, (&jose.SignerOptions{EmbedJWK: true}).WithType("JWT"))
		if err != nil {
			t.Fatal(err)
		}
		p, _ := json.Marshal(sourceClaims(func(c claims.Set) { c["aud"] = appRS }))
		obj, err := s.Sign(p)
		if err != nil {
			t.Fatal(err)
		}
		tok, _ := obj.CompactSerialize()
		return tok
	}()
	good := w.idToken(t, appHS, nil)

	type row struct {
		name string
		req  *engine.Request
		code string
	}
	del := func(tok string) *engine.Request { return delegation(appHS, tok, apiHS, "") }
	rows := []row{
		// Request shape.
		{"no grant_type", &engine.Request{ClientID: appHS, IDToken: good, Target: apiHS}, engine.CodeInvalidRequest},
		{"unknown grant_type", &engine.Request{GrantType: "password", ClientID: appHS, IDToken: good, Target: apiHS}, engine.CodeUnsupportedGrantType},
		{"no client_id", delegation("", good, apiHS, ""), engine.CodeInvalidRequest},
		{"no target", delegation(appHS, good, "", ""), engine.CodeInvalidRequest},
		{"no source token", delegation(appHS, "", apiHS, ""), engine.CodeInvalidRequest},
		{"id_token and refresh_token", func() *engine.Request { r := del(good); r.RefreshToken = "rt"; return r }(), engine.CodeInvalidRequest},
		{"refresh_token without a refresh store", &engine.Request{GrantType: engine.GrantTypeJWTBearer, ClientID: appHS, RefreshToken: "rt", Target: apiHS}, engine.CodeInvalidRequest},
		{"unknown api_type", func() *engine.Request { r := del(good); r.APIType = "firebase"; return r }(), engine.CodeInvalidRequest},

		// Requester.
		{"unknown requester", delegation("nobody", good, apiHS, ""), engine.CodeInvalidClient},
		{"disabled requester", delegation(offline, good, apiHS, ""), engine.CodeInvalidClient},
		{"wrong client secret", func() *engine.Request { r := del(good); r.ClientSecret = "nope"; return r }(), engine.CodeInvalidClient},

		// JOSE.
		{"alg none", del(rawJWS(t, map[string]any{"alg": "none"}, sourceClaims(nil), nil)), ""},
		{"alg None", del(rawJWS(t, map[string]any{"alg": "None"}, sourceClaims(nil), nil)), ""},
		{"alg NONE", del(rawJWS(t, map[string]any{"alg": "NONE"}, sourceClaims(nil), nil)), ""},
		{"alg nOnE signed", del(rawJWS(t, map[string]any{"alg": "nOnE"}, sourceClaims(nil), hs256(appSecret))), ""},
		{"alg missing", del(rawJWS(t, map[string]any{"typ": "JWT"}, sourceClaims(nil), hs256(appSecret))), ""},
		{"alg empty", del(rawJWS(t, map[string]any{"alg": ""}, sourceClaims(nil), hs256(appSecret))), ""},
		{"alg numeric", del(rawJWS(t, map[string]any{"alg": 256}, sourceClaims(nil), hs256(appSecret))), ""},
		{"HS256 keyed with the issuer's RSA public key PEM", del(rawJWS(t, map[string]any{"alg": "HS256"}, sourceClaims(nil), hs256(pubPEM))), ""},
		{"HS256 keyed with the issuer's RSA public key DER", del(rawJWS(t, map[string]any{"alg": "HS256"}, sourceClaims(nil), hs256(pubDER))), ""},
		{"HS384 token for an HS256 client", del(rawJWS(t, map[string]any{"alg": "HS384"}, sourceClaims(nil), hs256(appSecret))), ""},
		{"RS256 token for an HS256 client", del(w.sign(t, appRS, sourceClaims(nil), nil)), ""},
		{"crit b64", del(withHeader(map[string]any{"crit": []string{"b64"}, "b64": false})), ""},
		{"crit b64 true (go-jose accepts it)", del(withHeader(map[string]any{"crit": []string{"b64"}, "b64": true})), ""},
		{"b64 false", del(withHeader(map[string]any{"b64": false})), ""},
		{"crit unknown", del(withHeader(map[string]any{"crit": []string{"exp"}, "exp": 1})), ""},
		{"jku", del(withHeader(map[string]any{"jku": "https://evil.example/jwks"})), ""},
		{"x5u", del(withHeader(map[string]any{"x5u": "https://evil.example/cert"})), ""},
		{"x5c", del(withHeader(map[string]any{"x5c": []string{"MIIB"}})), ""},
		{"cty JWT (nested)", del(withHeader(map[string]any{"cty": "JWT"})), ""},
		{"typ at+jwt", del(withHeader(map[string]any{"typ": "at+jwt"})), ""},
		{"typ numeric", del(withHeader(map[string]any{"typ": 1})), ""},
		{"kid of another client's secret", del(withHeader(map[string]any{"kid": apiHS + "-s1"})), ""},
		{"kid unknown", del(withHeader(map[string]any{"kid": "../../etc/passwd"})), ""},
		{"kid NUL", del(withHeader(map[string]any{"kid": "\x00"})), ""},
		{"kid 10 KB", del(withHeader(map[string]any{"kid": strings.Repeat("k", 10<<10)})), ""},
		{"JWE", del(jwe), ""},
		{"JSON serialization", del(`{"payload":"` + strings.Split(good, ".")[1] + `","protected":"` + strings.Split(good, ".")[0] + `","signature":"` + strings.Split(good, ".")[2] + `"}`), ""},
		{"embedded jwk", delegation(appRS, embeddedJWK, apiHS, ""), ""},
		{"trailing dot", del(good + "."), ""},
		{"line break", del(good[:20] + "\n" + good[20:]), ""},
		{"padding", del(good + "="), ""},
		{"oversize", del(good + strings.Repeat("A", 9<<10)), ""},
		{"bad signature", del(good[:len(good)-4] + "AAAA"), ""},
		{"truncated signature", del(good[:len(good)-10]), ""},
		{"payload array", del(rawJWS(t, hsHeader, `[1,2]`, hs256(appSecret))), ""},
		{"payload null", del(rawJWS(t, hsHeader, `null`, hs256(appSecret))), ""},
		{"payload not UTF-8", del(rawJWS(t, hsHeader, "{\"sub\":\"\xff\"}", hs256(appSecret))), ""},
		{"duplicate claim", del(rawJWS(t, hsHeader, `{"iss":"`+issuer+`","sub":"a","sub":"b","aud":"`+appHS+`","exp":9999999999}`, hs256(appSecret))), ""},

		// Claims.
		{"expired", del(withClaims(func(c claims.Set) { c["exp"] = float64(fixedNow.Unix()) })), ""},
		{"exp missing", del(withClaims(func(c claims.Set) { delete(c, "exp") })), ""},
		{"exp string", del(withClaims(func(c claims.Set) { c["exp"] = "9999999999" })), ""},
		{"exp 1e300", del(withClaims(func(c claims.Set) { c["exp"] = 1e300 })), ""},
		{"nbf in the future", del(withClaims(func(c claims.Set) { c["nbf"] = float64(fixedNow.Unix() + 1) })), ""},
		{"iat in the future", del(withClaims(func(c claims.Set) { c["iat"] = float64(fixedNow.Unix() + 1) })), ""},
		{"sub missing", del(withClaims(func(c claims.Set) { delete(c, "sub") })), ""},
		{"sub empty", del(withClaims(func(c claims.Set) { c["sub"] = "" })), ""},
		{"sub numeric", del(withClaims(func(c claims.Set) { c["sub"] = 7 })), ""},
		{"iss missing", del(withClaims(func(c claims.Set) { delete(c, "iss") })), ""},
		{"iss other", del(withClaims(func(c claims.Set) { c["iss"] = "https://evil.example/" })), ""},
		{"iss without trailing slash", del(withClaims(func(c claims.Set) { c["iss"] = strings.TrimSuffix(issuer, "/") })), ""},
		{"iss case variant", del(withClaims(func(c claims.Set) { c["iss"] = strings.ToUpper(issuer) })), ""},
		{"aud another client", del(withClaims(func(c claims.Set) { c["aud"] = apiHS })), ""},
		{"aud missing", del(withClaims(func(c claims.Set) { delete(c, "aud") })), ""},
		{"aud empty array", del(withClaims(func(c claims.Set) { c["aud"] = []any{} })), ""},
		{"aud null", del(withClaims(func(c claims.Set) { c["aud"] = nil })), ""},
		{"aud non-string member", del(withClaims(func(c claims.Set) { c["aud"] = []any{appHS, 5} })), ""},
		{"several aud without azp", del(withClaims(func(c claims.Set) { c["aud"] = []any{appHS, apiHS} })), ""},
		{"azp another client", del(withClaims(func(c claims.Set) { c["azp"] = apiHS })), ""},
		{"jti numeric", del(withClaims(func(c claims.Set) { c["jti"] = 5 })), ""},

		// Target and scope.
		{"unknown target", delegation(appHS, good, "nobody", ""), engine.CodeInvalidTarget},
		{"target not allowing the requester", delegation(appHS, good, lonely, ""), engine.CodeInvalidTarget},
		{"disabled target", delegation(appHS, good, offline, ""), engine.CodeInvalidTarget},
		{"target case variant", delegation(appHS, good, strings.ToUpper(apiHS), ""), engine.CodeInvalidTarget},
		{"scope without openid", delegation(appHS, good, apiHS, "email"), engine.CodeInvalidScope},
		{"unknown scope", delegation(appHS, good, apiHS, "openid admin"), engine.CodeInvalidScope},
		{"scope malformed", delegation(appHS, good, apiHS, "openid  email"), engine.CodeInvalidScope},
		{"scope NUL", delegation(appHS, good, apiHS, "openid\x00admin"), engine.CodeInvalidScope},
		{"scope 64 KB", delegation(appHS, good, apiHS, "openid "+strings.Repeat("a", 64<<10)), engine.CodeInvalidScope},
	}
	for _, r := range rows {
		t.Run(r.name, func(t *testing.T) {
			res, err := w.x.Exchange(context.Background(), r.req)
			code := r.code
			if code == "" {
				code = engine.CodeInvalidGrant
			}
			assertRefused(t, res, err, code, r.req.IDToken, string(appSecret))
		})
	}
}
