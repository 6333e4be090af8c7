package firebase_test

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/google/go-cmp/cmp"

	"github.com/deputyauth/deputy/addons/firebase"
	"github.com/deputyauth/deputy/claims"
	"github.com/deputyauth/deputy/engine"
	"github.com/deputyauth/deputy/store"
)

const (
	aud   = "https://identitytoolkit.googleapis.com/google.identity.identitytoolkit.v1.IdentityToolkit"
	email = "deputy@example-project.iam.gserviceaccount.com"
	kid   = "4c2b7f0e9d"
)

// Test keys are generated once per run, never checked in.
var (
	rsaKey  = sync.OnceValue(func() *rsa.PrivateKey { return genRSA(2048) })
	rsaKey2 = sync.OnceValue(func() *rsa.PrivateKey { return genRSA(2048) })
)

func genRSA(bits int) *rsa.PrivateKey {
	k, err := rsa.GenerateKey(rand.Reader, bits)
	if err != nil {
		panic(err)
	}
	return k
}

func pkcs8PEM(k any) string {
	der, err := x509.MarshalPKCS8PrivateKey(k)
	if err != nil {
		panic(err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}))
}

func pkcs1PEM(k *rsa.PrivateKey) string {
	return string(pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(k)}))
}

// fields are valid settings for key, as a map that a test may change.
func fields(key *rsa.PrivateKey) map[string]any {
	return map[string]any{
		"private_key_id": kid,
		"private_key":    pkcs8PEM(key),
		"client_email":   email,
	}
}

func settingsOf(f map[string]any) json.RawMessage {
	b, err := json.Marshal(f)
	if err != nil {
		panic(err)
	}
	return b
}

var issuedAt = time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)

func grant(settings json.RawMessage, c claims.Set) *engine.Grant {
	return &engine.Grant{
		Subject:  "auth0|ada",
		Claims:   c,
		IssuedAt: issuedAt,
		Lifetime: 36000 * time.Second,
		Settings: settings,
	}
}

// verify is the oracle: go-jose parses the compact JWS, allowing RS256
// only, and checks the signature with the public key; the claims are
// decoded keeping numbers as written.
func verify(t *testing.T, tok string, pub *rsa.PublicKey) (jose.Header, map[string]any) {
	t.Helper()
	jws, err := jose.ParseSignedCompact(tok, []jose.SignatureAlgorithm{jose.RS256})
	if err != nil {
		t.Fatalf("token does not parse: %v", err)
	}
	payload, err := jws.Verify(pub)
	if err != nil {
		t.Fatalf("token does not verify: %v", err)
	}
	d := json.NewDecoder(bytes.NewReader(payload))
	d.UseNumber()
	var c map[string]any
	if err := d.Decode(&c); err != nil {
		t.Fatalf("payload is not a JSON object: %v", err)
	}
	return jws.Signatures[0].Protected, c
}

func mint(t *testing.T, m engine.Minter, g *engine.Grant) *engine.Response {
	t.Helper()
	res, err := m.Mint(context.Background(), g)
	if err != nil {
		t.Fatalf("Mint: %v", err)
	}
	return res
}

func TestMintClaims(t *testing.T) {
	key := rsaKey()
	g := grant(settingsOf(fields(key)), claims.Set{
		"email":          "ada@example.com",
		"email_verified": true,
		"big":            json.Number("12345678901234567890123"),
		"dec":            json.Number("1.10"),
		"exp1":           json.Number("1e400"),
		"nested":         map[string]any{"n": json.Number("9007199254740993"), "l": []any{"a", json.Number("-0.0")}},
		"html":           "<b>&</b>",
	})
	res := mint(t, firebase.New(), g)

	hdr, got := verify(t, res.IDToken, &key.PublicKey)
	if hdr.Algorithm != "RS256" || hdr.KeyID != kid || hdr.ExtraHeaders["typ"] != "JWT" {
		t.Errorf("header: alg %q kid %q typ %v; want RS256 %q JWT", hdr.Algorithm, hdr.KeyID, hdr.ExtraHeaders["typ"], kid)
	}
	iat := issuedAt.Unix()
	want := map[string]any{
		"iss": email, "sub": email, "aud": aud,
		"iat": json.Number(fmt.Sprint(iat)), "exp": json.Number(fmt.Sprint(iat + 3600)),
		"uid": "auth0|ada",
		"claims": map[string]any{
			"email":          "ada@example.com",
			"email_verified": true,
			"big":            json.Number("12345678901234567890123"),
			"dec":            json.Number("1.10"),
			"exp1":           json.Number("1e400"),
			"nested":         map[string]any{"n": json.Number("9007199254740993"), "l": []any{"a", json.Number("-0.0")}},
			"html":           "<b>&</b>",
		},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("claims mismatch (-want +got):\n%s", diff)
	}
	if res.TokenType != "Bearer" || res.ExpiresIn != 3600 || res.AccessToken != "" || res.Scope != "" {
		t.Errorf("response %+v; want Bearer, 3600, id_token only", res)
	}
	wire, err := json.Marshal(res)
	if err != nil {
		t.Fatal(err)
	}
	if w := `{"token_type":"Bearer","expires_in":3600,"id_token":"` + res.IDToken + `"}`; string(wire) != w {
		t.Errorf("wire form %s; want %s", wire, w)
	}
}

func TestMintIsReproducible(t *testing.T) {
	s := settingsOf(fields(rsaKey()))
	c := claims.Set{"email": "ada@example.com"}
	a := mint(t, firebase.New(), grant(s, c))
	b := mint(t, firebase.New(), grant(s, c))
	if a.IDToken != b.IDToken {
		t.Error("two mints of one grant with one key differ")
	}
}

func TestReservedClaimsLeftOut(t *testing.T) {
	key := rsaKey()
	reserved := []string{"acr", "amr", "at_hash", "aud", "auth_time", "azp", "cnf", "c_hash",
		"exp", "firebase", "iat", "iss", "jti", "nbf", "nonce", "sub"}
	c := claims.Set{"name": "Ada", "uid": "not-reserved-inside-claims"}
	for _, r := range reserved {
		c[r] = "x"
	}
	_, got := verify(t, mint(t, firebase.New(), grant(settingsOf(fields(key)), c)).IDToken, &key.PublicKey)
	want := map[string]any{"name": "Ada", "uid": "not-reserved-inside-claims"}
	if diff := cmp.Diff(want, got["claims"]); diff != "" {
		t.Errorf("developer claims (-want +got):\n%s", diff)
	}
	if got["uid"] != "auth0|ada" || got["iss"] != email {
		t.Errorf("top-level claims overridden: uid %v iss %v", got["uid"], got["iss"])
	}

	// Only reserved names, or none: no claims object at all.
	only := claims.Set{}
	for _, r := range reserved {
		only[r] = "x"
	}
	for name, c := range map[string]claims.Set{"only reserved": only, "nil": nil, "empty": {}} {
		_, got := verify(t, mint(t, firebase.New(), grant(settingsOf(fields(key)), c)).IDToken, &key.PublicKey)
		if _, ok := got["claims"]; ok {
			t.Errorf("%s: claims present: %v", name, got["claims"])
		}
	}
}

func TestUID(t *testing.T) {
	key := rsaKey()
	s := settingsOf(fields(key))
	for _, tc := range []struct {
		name, uid string
		ok        bool
	}{
		{"128 bytes", strings.Repeat("u", 128), true},
		{"42 three-byte runes (126 bytes)", strings.Repeat("€", 42), true},
		{"129 bytes", strings.Repeat("u", 129), false},
		{"43 runes but 129 bytes", strings.Repeat("€", 43), false},
		{"empty", "", false},
		{"invalid UTF-8", "ada\xff", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := grant(s, nil)
			g.Subject = tc.uid
			res, err := firebase.New().Mint(context.Background(), g)
			if !tc.ok {
				if err == nil || res != nil {
					t.Fatalf("Mint = %v, %v; want refusal and no token", res, err)
				}
				if tc.uid != "" && strings.Contains(err.Error(), tc.uid) {
					t.Errorf("error quotes the subject: %v", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if _, c := verify(t, res.IDToken, &key.PublicKey); c["uid"] != tc.uid {
				t.Errorf("uid %q; want %q", c["uid"], tc.uid)
			}
		})
	}
}

func TestLifetime(t *testing.T) {
	key := rsaKey()
	for _, tc := range []struct {
		name     string
		setting  any // nil: absent
		grant    time.Duration
		expireIn int64
	}{
		{"default", nil, 36000 * time.Second, 3600},
		{"null is absent", json.RawMessage("null"), 36000 * time.Second, 3600},
		{"setting", 300, 36000 * time.Second, 300},
		{"capped by the grant", nil, 600 * time.Second, 600},
		{"setting under the grant", 60, 600 * time.Second, 60},
		{"grant under the setting", 3600, 1800*time.Second + 999*time.Millisecond, 1800},
		{"one second", 1, time.Second, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := fields(key)
			if tc.setting != nil {
				f["lifetime_in_seconds"] = tc.setting
			}
			g := grant(settingsOf(f), nil)
			g.Lifetime = tc.grant
			res := mint(t, firebase.New(), g)
			_, c := verify(t, res.IDToken, &key.PublicKey)
			iat, _ := c["iat"].(json.Number).Int64()
			exp, _ := c["exp"].(json.Number).Int64()
			if res.ExpiresIn != tc.expireIn || exp-iat != tc.expireIn || iat != issuedAt.Unix() {
				t.Errorf("expires_in %d, iat %d, exp−iat %d; want %d, %d, %d", res.ExpiresIn, iat, exp-iat, tc.expireIn, issuedAt.Unix(), tc.expireIn)
			}
		})
	}
	t.Run("grant under a second", func(t *testing.T) {
		g := grant(settingsOf(fields(key)), nil)
		g.Lifetime = 999 * time.Millisecond
		if res, err := firebase.New().Mint(context.Background(), g); err == nil || res != nil {
			t.Errorf("Mint = %v, %v; want refusal", res, err)
		}
	})
}

func TestClaimsSizeLimit(t *testing.T) {
	key := rsaKey()
	s := settingsOf(fields(key))
	// {"n":"…"} is 8 bytes around the value.
	for _, tc := range []struct {
		n  int
		ok bool
	}{{992, true}, {993, false}} {
		g := grant(s, claims.Set{"n": strings.Repeat("x", tc.n), "nonce": strings.Repeat("y", 2000)})
		res, err := firebase.New().Mint(context.Background(), g)
		if (err == nil) != tc.ok || (res != nil) != tc.ok {
			t.Errorf("value of %d bytes: Mint = %v, %v; want ok=%v", tc.n, res, err, tc.ok)
		}
	}
}

func TestPKCS1KeyAndUnknownFields(t *testing.T) {
	key := rsaKey()
	// A service account key file, as Google hands it out, plus Auth0's
	// extras of other types.
	f := map[string]any{
		"type":                        "service_account",
		"project_id":                  "example-project",
		"private_key_id":              kid,
		"private_key":                 pkcs1PEM(key),
		"client_email":                email,
		"client_id":                   "1234567890",
		"auth_uri":                    "https://accounts.google.com/o/oauth2/auth",
		"token_uri":                   "https://oauth2.googleapis.com/token",
		"auth_provider_x509_cert_url": "https://www.googleapis.com/oauth2/v1/certs",
		"client_x509_cert_url":        "https://www.googleapis.com/robot/v1/metadata/x509/x",
		"universe_domain":             "googleapis.com",
		"api_key":                     "AIza",
		"extra_number":                7,
		"extra_object":                map[string]any{"a": []any{1, nil}},
		"Private_Key":                 42, // not the field: names are exact
	}
	s := settingsOf(f)
	if err := firebase.Validate(s); err != nil {
		t.Fatalf("Validate: %v", err)
	}
	verify(t, mint(t, firebase.New(), grant(s, nil)).IDToken, &key.PublicKey)
}

func TestBadSettings(t *testing.T) {
	key := rsaKey()
	short := genRSA(1024)
	ec, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	good := pkcs8PEM(key)
	set := func(k string, v any) func(map[string]any) {
		return func(f map[string]any) { f[k] = v }
	}
	del := func(k string) func(map[string]any) {
		return func(f map[string]any) { delete(f, k) }
	}
	for _, tc := range []struct {
		name   string
		change func(map[string]any)
		raw    string // used instead when set
		field  string // named in the error
	}{
		{name: "private_key_id missing", change: del("private_key_id"), field: "private_key_id"},
		{name: "private_key_id number", change: set("private_key_id", 7), field: "private_key_id"},
		{name: "private_key_id empty", change: set("private_key_id", ""), field: "private_key_id"},
		{name: "private_key_id null", change: set("private_key_id", nil), field: "private_key_id"},
		{name: "private_key missing", change: del("private_key"), field: "private_key"},
		{name: "private_key object", change: set("private_key", map[string]any{"pem": good}), field: "private_key"},
		{name: "private_key not PEM", change: set("private_key", "MIIEvQIBADANBgkqhkiG9w0BAQEFAASC"), field: "private_key"},
		{name: "private_key bad DER", change: set("private_key", string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: []byte("garbage-der-bytes")}))), field: "private_key"},
		{name: "private_key wrong block type", change: set("private_key", strings.ReplaceAll(good, "PRIVATE KEY", "PUBLIC KEY")), field: "private_key"},
		{name: "private_key two blocks", change: set("private_key", good+good), field: "private_key"},
		{name: "private_key trailing text", change: set("private_key", good+"junk"), field: "private_key"},
		{name: "private_key encrypted", change: set("private_key", string(pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Headers: map[string]string{"Proc-Type": "4,ENCRYPTED"}, Bytes: x509.MarshalPKCS1PrivateKey(key)}))), field: "private_key"},
		{name: "private_key 1024-bit RSA", change: set("private_key", pkcs8PEM(short)), field: "private_key"},
		{name: "private_key 1024-bit RSA PKCS#1", change: set("private_key", pkcs1PEM(short)), field: "private_key"},
		{name: "private_key EC", change: set("private_key", pkcs8PEM(ec)), field: "private_key"},
		{name: "client_email missing", change: del("client_email"), field: "client_email"},
		{name: "client_email empty", change: set("client_email", ""), field: "client_email"},
		{name: "client_email blank", change: set("client_email", "  "), field: "client_email"},
		{name: "client_email no @", change: set("client_email", "deputy"), field: "client_email"},
		{name: "client_email bool", change: set("client_email", true), field: "client_email"},
		{name: "lifetime 0", change: set("lifetime_in_seconds", 0), field: "lifetime_in_seconds"},
		{name: "lifetime 3601", change: set("lifetime_in_seconds", 3601), field: "lifetime_in_seconds"},
		{name: "lifetime negative", change: set("lifetime_in_seconds", -60), field: "lifetime_in_seconds"},
		{name: "lifetime fraction", change: set("lifetime_in_seconds", 1.5), field: "lifetime_in_seconds"},
		{name: "lifetime exponent", change: set("lifetime_in_seconds", json.RawMessage("6e1")), field: "lifetime_in_seconds"},
		{name: "lifetime huge", change: set("lifetime_in_seconds", json.RawMessage("1e400")), field: "lifetime_in_seconds"},
		{name: "lifetime string", change: set("lifetime_in_seconds", "60"), field: "lifetime_in_seconds"},
		{name: "duplicate private_key", raw: `{"private_key_id":"k","client_email":"a@b","private_key":"x","private_key":"y"}`, field: "private_key"},
		{name: "not an object", raw: `[]`, field: "settings"},
		{name: "null", raw: `null`, field: "settings"},
		{name: "empty", raw: ``, field: "settings"},
		{name: "trailing data", raw: string(settingsOf(fields(key))) + `{}`, field: "settings"},
		{name: "not JSON", raw: `{"private_key":` + good, field: "settings"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := json.RawMessage(tc.raw)
			if tc.raw == "" && tc.change != nil {
				f := fields(key)
				tc.change(f)
				s = settingsOf(f)
			}
			err := firebase.Validate(s)
			if err == nil {
				t.Fatal("Validate accepted bad settings")
			}
			msg := err.Error()
			if !strings.Contains(msg, tc.field) {
				t.Errorf("error %q does not name %s", msg, tc.field)
			}
			noSecrets(t, msg, s)

			// Mint refuses the same settings by itself: a store need not
			// have called Validate.
			res, merr := firebase.New().Mint(context.Background(), grant(s, nil))
			if merr == nil || res != nil {
				t.Fatalf("Mint = %v, %v; want refusal and no token", res, merr)
			}
			noSecrets(t, merr.Error(), s)
		})
	}

	t.Run("every bad field named at once", func(t *testing.T) {
		err := firebase.Validate(json.RawMessage(`{"private_key":7,"lifetime_in_seconds":0}`))
		for _, f := range []string{"private_key_id", "private_key", "client_email", "lifetime_in_seconds"} {
			if err == nil || !strings.Contains(err.Error(), f+":") {
				t.Errorf("error %v does not name %s", err, f)
			}
		}
	})
}

// noSecrets fails when msg holds any PEM line, base64 body or quoted
// value of settings.
func noSecrets(t *testing.T, msg string, settings json.RawMessage) {
	t.Helper()
	if strings.Contains(msg, "BEGIN") || strings.Contains(msg, "MII") {
		t.Errorf("error text carries PEM material: %q", msg)
	}
	var f map[string]any
	if json.Unmarshal(settings, &f) == nil {
		for k, v := range f {
			s, ok := v.(string)
			if !ok || len(s) < 6 {
				continue
			}
			for _, line := range strings.Split(s, "\n") {
				if len(line) >= 6 && strings.Contains(msg, line) {
					t.Errorf("error text quotes %s: %q", k, msg)
				}
			}
		}
	}
	if len(settings) > 8 && strings.Contains(msg, string(settings)) {
		t.Errorf("error text quotes the settings: %q", msg)
	}
}

func TestOneMinterManyAccounts(t *testing.T) {
	m := firebase.New()
	keys := []*rsa.PrivateKey{rsaKey(), rsaKey2()}
	for round := range 2 {
		for i, k := range keys {
			f := fields(k)
			f["client_email"] = fmt.Sprintf("sa%d@p.iam.gserviceaccount.com", i)
			_, c := verify(t, mint(t, m, grant(settingsOf(f), nil)).IDToken, &k.PublicKey)
			if c["iss"] != f["client_email"] {
				t.Errorf("round %d, account %d: iss %v", round, i, c["iss"])
			}
		}
	}
}

func TestConcurrentMint(t *testing.T) {
	m := firebase.New()
	keys := []*rsa.PrivateKey{rsaKey(), rsaKey2()}
	settings := []json.RawMessage{settingsOf(fields(keys[0])), settingsOf(fields(keys[1]))}
	var wg sync.WaitGroup
	errs := make(chan error, 64)
	for w := range 16 {
		wg.Go(func() {
			for i := range 8 {
				j := (w + i) % 2
				g := grant(settings[j], claims.Set{"w": json.Number(fmt.Sprint(w)), "i": json.Number(fmt.Sprint(i))})
				res, err := m.Mint(context.Background(), g)
				if err != nil {
					errs <- err
					return
				}
				jws, err := jose.ParseSignedCompact(res.IDToken, []jose.SignatureAlgorithm{jose.RS256})
				if err == nil {
					_, err = jws.Verify(&keys[j].PublicKey)
				}
				if err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

// TestExchange runs a delegation through the engine: the user's id_token
// for the app becomes a Firebase custom token for the target.
func TestExchange(t *testing.T) {
	key := rsaKey()
	appSecret := bytes.Repeat([]byte{1}, 32)
	fbSecret := bytes.Repeat([]byte{2}, 32)
	st := store.NewMemory()
	put := func(c store.Client) {
		if err := st.PutClient(c); err != nil {
			t.Fatal(err)
		}
	}
	put(store.Client{
		ID: "app", SigningAlg: "HS256",
		Secrets: []store.Secret{{ID: "app-1", Value: appSecret}},
		Grants:  []string{engine.GrantTypeJWTBearer},
	})
	put(store.Client{
		ID: "fb", SigningAlg: "HS256",
		Secrets:        []store.Secret{{ID: "fb-1", Value: fbSecret}},
		AllowedSources: []string{"app"},
		Lifetime:       1800 * time.Second,
		APITypes:       map[string]json.RawMessage{"firebase": settingsOf(fields(key))},
	})
	bad := fields(key)
	delete(bad, "client_email")
	put(store.Client{
		ID: "fbbad", SigningAlg: "HS256",
		Secrets:        []store.Secret{{ID: "fbbad-1", Value: fbSecret}},
		AllowedSources: []string{"app"},
		APITypes:       map[string]json.RawMessage{"firebase": settingsOf(bad)},
	})
	put(store.Client{
		ID: "plain", SigningAlg: "HS256",
		Secrets:        []store.Secret{{ID: "plain-1", Value: fbSecret}},
		AllowedSources: []string{"app"},
	})
	x, err := engine.New(engine.Config{
		Issuer:  "https://id.example.com/",
		Clients: st,
		Now:     func() time.Time { return issuedAt },
		Minters: map[string]engine.Minter{"firebase": firebase.New()},
	})
	if err != nil {
		t.Fatal(err)
	}
	idToken := signHS256(t, appSecret, "app-1", map[string]any{
		"iss": "https://id.example.com/", "sub": "auth0|ada", "aud": "app",
		"exp": issuedAt.Add(time.Hour).Unix(), "iat": issuedAt.Unix(),
		"email": "ada@example.com", "email_verified": true, "name": "Ada",
	})
	exchange := func(target, apiType string) (*engine.Response, error) {
		return x.Exchange(context.Background(), &engine.Request{
			GrantType: engine.GrantTypeJWTBearer, ClientID: "app", IDToken: idToken,
			Target: target, Scope: "openid email", APIType: apiType,
		})
	}

	res, err := exchange("fb", "firebase")
	if err != nil {
		t.Fatalf("Exchange: %v", err)
	}
	wire, _ := json.Marshal(res)
	var shape map[string]any
	json.Unmarshal(wire, &shape)
	if len(shape) != 3 || shape["token_type"] != "Bearer" || shape["expires_in"] != float64(1800) || shape["id_token"] != res.IDToken {
		t.Errorf("answer %s; want token_type, expires_in 1800, id_token", wire)
	}
	_, got := verify(t, res.IDToken, &key.PublicKey)
	iat := issuedAt.Unix()
	want := map[string]any{
		"iss": email, "sub": email, "aud": aud, "uid": "auth0|ada",
		"iat": json.Number(fmt.Sprint(iat)), "exp": json.Number(fmt.Sprint(iat + 1800)),
		"claims": map[string]any{"email": "ada@example.com", "email_verified": true},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("claims mismatch (-want +got):\n%s", diff)
	}

	// Settings that never went through Validate, and a subject Firebase
	// would refuse: server_error, and no token.
	res, err = exchange("fbbad", "firebase")
	var oe *engine.Error
	if !errors.As(err, &oe) || oe.Code != engine.CodeServerError || res != nil {
		t.Errorf("bad settings: %v, %v; want server_error", res, err)
	} else {
		noSecrets(t, err.Error(), settingsOf(bad))
	}
	longSub := signHS256(t, appSecret, "app-1", map[string]any{
		"iss": "https://id.example.com/", "sub": strings.Repeat("u", 129), "aud": "app",
		"exp": issuedAt.Add(time.Hour).Unix(), "iat": issuedAt.Unix(),
	})
	res, err = x.Exchange(context.Background(), &engine.Request{
		GrantType: engine.GrantTypeJWTBearer, ClientID: "app", IDToken: longSub,
		Target: "fb", Scope: "openid", APIType: "firebase",
	})
	if !errors.As(err, &oe) || oe.Code != engine.CodeServerError || res != nil {
		t.Errorf("129-byte subject: %v, %v; want server_error", res, err)
	}

	for _, tc := range []struct{ target, apiType string }{
		{"fb", "azure_sb"},    // no such minter
		{"plain", "firebase"}, // minter, but the target does not enable it
	} {
		res, err := exchange(tc.target, tc.apiType)
		if !errors.As(err, &oe) || oe.Code != engine.CodeInvalidRequest || res != nil {
			t.Errorf("%s with api_type %s: %v, %v; want invalid_request", tc.target, tc.apiType, res, err)
		}
	}
}

func signHS256(t *testing.T, secret []byte, kid string, c map[string]any) string {
	t.Helper()
	s, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.HS256, Key: jose.JSONWebKey{Key: secret, KeyID: kid}},
		(&jose.SignerOptions{}).WithType("JWT"))
	if err != nil {
		t.Fatal(err)
	}
	payload, _ := json.Marshal(c)
	jws, err := s.Sign(payload)
	if err != nil {
		t.Fatal(err)
	}
	tok, err := jws.CompactSerialize()
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// BenchmarkMint measures one exchange's minting with the prepared signer
// cached (the steady state) and with the key parsed every time.
func BenchmarkMint(b *testing.B) {
	s := settingsOf(fields(rsaKey()))
	c := claims.Set{"email": "ada@example.com", "email_verified": true, "name": "Ada Lovelace"}
	b.Run("cached", func(b *testing.B) {
		m := firebase.New()
		g := grant(s, c)
		b.ReportAllocs()
		for b.Loop() {
			if _, err := m.Mint(context.Background(), g); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("uncached", func(b *testing.B) {
		g := grant(s, c)
		b.ReportAllocs()
		for b.Loop() {
			if _, err := firebase.New().Mint(context.Background(), g); err != nil {
				b.Fatal(err)
			}
		}
	})
}
