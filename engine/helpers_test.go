package engine_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	josejson "github.com/go-jose/go-jose/v4/json"

	"github.com/deputyauth/deputy/claims"
	"github.com/deputyauth/deputy/engine"
	"github.com/deputyauth/deputy/scope"
	"github.com/deputyauth/deputy/store"
)

const issuer = "https://id.example.com/"

// fixedNow is the injected clock of every test exchanger.
var fixedNow = time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)

// Keys are generated once per test binary: RSA generation is slow.
var (
	keysOnce sync.Once
	rsaKey   *rsa.PrivateKey
	rsaKey2  *rsa.PrivateKey
	ecKey    *ecdsa.PrivateKey
	edKey    ed25519.PrivateKey
)

func testKeys(t testing.TB) {
	t.Helper()
	keysOnce.Do(func() {
		var err error
		if rsaKey, err = rsa.GenerateKey(rand.Reader, 2048); err != nil {
			panic(err)
		}
		if rsaKey2, err = rsa.GenerateKey(rand.Reader, 2048); err != nil {
			panic(err)
		}
		if ecKey, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader); err != nil {
			panic(err)
		}
		if _, edKey, err = ed25519.GenerateKey(rand.Reader); err != nil {
			panic(err)
		}
	})
}

func randomSecret(t testing.TB, n int) []byte {
	t.Helper()
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return b
}

// world is a seeded store and an exchanger over it.
type world struct {
	st      *store.Memory
	x       *engine.Exchanger
	secrets map[string][]byte // client ID → its current HMAC secret
}

// Client IDs of the standard world.
const (
	appHS   = "app-hs"   // HS256 source app
	apiHS   = "api-hs"   // HS256 target API, allows every source app
	appRS   = "app-rs"   // RS256 source app
	apiEd   = "api-ed"   // EdDSA target
	appEd   = "app-ed"   // EdDSA source
	appES   = "app-es"   // ES256 source, also a target
	apiRS   = "api-rs"   // RS256 target
	lonely  = "lonely"   // target allowing nobody
	offline = "disabled" // disabled target allowing everybody
)

var sources = []string{appHS, appRS, appEd, appES}

func newWorld(t testing.TB, mod func(*engine.Config)) *world {
	t.Helper()
	return newWorldOn(t, store.NewMemory(), mod)
}

// newWorldOn seeds st with the standard clients and keys.
func newWorldOn(t testing.TB, st *store.Memory, mod func(*engine.Config)) *world {
	t.Helper()
	testKeys(t)
	w := &world{st: st, secrets: map[string][]byte{}}
	hs := func(id string, allowed ...string) store.Client {
		sec := randomSecret(t, 32)
		w.secrets[id] = sec
		return store.Client{
			ID: id, SigningAlg: "HS256",
			Secrets:        []store.Secret{{ID: id + "-s1", Value: sec}},
			Grants:         []string{engine.GrantTypeJWTBearer},
			AllowedSources: allowed,
		}
	}
	asym := func(id, alg string, allowed ...string) store.Client {
		return store.Client{ID: id, SigningAlg: alg, Grants: []string{engine.GrantTypeJWTBearer}, AllowedSources: allowed}
	}
	for _, c := range []store.Client{
		hs(appHS, appHS),
		hs(apiHS, sources...),
		asym(appRS, "RS256"),
		asym(apiEd, "EdDSA", sources...),
		asym(appEd, "EdDSA"),
		asym(appES, "ES256", sources...),
		asym(apiRS, "RS256", sources...),
		hs(lonely),
		func() store.Client { c := hs(offline, "*"); c.Disabled = true; return c }(),
	} {
		if err := st.PutClient(c); err != nil {
			t.Fatal(err)
		}
	}
	for _, k := range []jose.JSONWebKey{
		{Key: rsaKey, KeyID: "rsa-1", Algorithm: "RS256"},
		{Key: ecKey, KeyID: "ec-1", Algorithm: "ES256"},
		{Key: edKey, KeyID: "ed-1", Algorithm: "EdDSA"},
	} {
		if err := st.AddKey(k); err != nil {
			t.Fatal(err)
		}
	}
	cfg := engine.Config{
		Issuer:  issuer,
		Clients: st,
		Keys:    st,
		Now:     func() time.Time { return fixedNow },
	}
	if mod != nil {
		mod(&cfg)
	}
	x, err := engine.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	w.x = x
	return w
}

// userClaims is the profile of the test user as an id_token carries it.
func userClaims() claims.Set {
	return claims.Set{
		"name": "Ada Lovelace", "given_name": "Ada", "family_name": "Lovelace",
		"nickname": "ada", "picture": "https://example.com/ada.png", "updated_at": float64(1700000000),
		"email": "ada@example.com", "email_verified": true,
		"phone_number":              "+1 555 0100",
		"address":                   map[string]any{"country": "UK", "locality": "London"},
		"https://example.com/roles": []any{"admin"},
	}
}

// idToken mints a source id_token issued to client, signed with its
// registered algorithm and current key; mod edits the claims.
func (w *world) idToken(t testing.TB, client string, mod func(claims.Set)) string {
	t.Helper()
	c := userClaims()
	c["iss"], c["sub"], c["aud"] = issuer, "auth0|ada", client
	c["iat"], c["exp"] = float64(fixedNow.Add(-time.Minute).Unix()), float64(fixedNow.Add(time.Hour).Unix())
	c["jti"] = "jti-" + rand.Text()
	if mod != nil {
		mod(c)
	}
	return w.sign(t, client, c, nil)
}

// signingKeyFor returns the key material a client's tokens are signed with.
func (w *world) signingKeyFor(t testing.TB, client string) jose.SigningKey {
	t.Helper()
	cl, err := w.st.Client(context.Background(), client)
	if err != nil {
		t.Fatal(err)
	}
	alg := jose.SignatureAlgorithm(cl.SigningAlg)
	if store.IsHMAC(cl.SigningAlg) {
		s := cl.Secrets[0]
		return jose.SigningKey{Algorithm: alg, Key: jose.JSONWebKey{Key: s.Value, KeyID: s.ID}}
	}
	k, err := w.st.SigningKey(context.Background(), cl.SigningAlg)
	if err != nil {
		t.Fatal(err)
	}
	return jose.SigningKey{Algorithm: alg, Key: *k}
}

func (w *world) sign(t testing.TB, client string, c claims.Set, opts *jose.SignerOptions) string {
	t.Helper()
	if opts == nil {
		opts = (&jose.SignerOptions{}).WithType("JWT")
	}
	s, err := jose.NewSigner(w.signingKeyFor(t, client), opts)
	if err != nil {
		t.Fatal(err)
	}
	payload, err := josejson.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
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

// decode verifies a minted token with the target's verification key and
// returns its header and claims.
func (w *world) decode(t testing.TB, token, target string) (jose.Header, claims.Set) {
	t.Helper()
	cl, err := w.st.Client(context.Background(), target)
	if err != nil {
		t.Fatal(err)
	}
	jws, err := jose.ParseSignedCompact(token, []jose.SignatureAlgorithm{jose.SignatureAlgorithm(cl.SigningAlg)})
	if err != nil {
		t.Fatalf("minted token does not parse: %v", err)
	}
	h := jws.Signatures[0].Header
	var key any
	if store.IsHMAC(cl.SigningAlg) {
		for _, s := range cl.Secrets {
			if s.ID == h.KeyID {
				key = s.Value
			}
		}
	} else {
		ks, err := w.st.VerificationKeys(context.Background(), h.KeyID)
		if err != nil {
			t.Fatalf("minted token's kid %q: %v", h.KeyID, err)
		}
		key = ks[0].Key
	}
	if key == nil {
		t.Fatalf("minted token's kid %q names no key of %s", h.KeyID, target)
	}
	payload, err := jws.Verify(key)
	if err != nil {
		t.Fatalf("minted token does not verify: %v", err)
	}
	var c claims.Set
	if err := josejson.Unmarshal(payload, &c); err != nil {
		t.Fatal(err)
	}
	return h, c
}

func delegation(client, idToken, target, scope string) *engine.Request {
	return &engine.Request{GrantType: engine.GrantTypeJWTBearer, ClientID: client, IDToken: idToken, Target: target, Scope: scope}
}

func putClient(t testing.TB, st *store.Memory, c store.Client) {
	t.Helper()
	if c.Grants == nil {
		c.Grants = []string{engine.GrantTypeJWTBearer}
	}
	if store.IsHMAC(c.SigningAlg) && c.Secrets == nil {
		c.Secrets = []store.Secret{{ID: c.ID + "-s1", Value: randomSecret(t, 32)}}
	}
	if err := st.PutClient(c); err != nil {
		t.Fatal(err)
	}
}

func scopeStandardWith(name string, claimNames ...string) scope.Mapping {
	return scope.Standard.With(name, claimNames...)
}

func parseVerify(token, alg string, key any) ([]byte, error) {
	jws, err := jose.ParseSignedCompact(token, []jose.SignatureAlgorithm{jose.SignatureAlgorithm(alg)})
	if err != nil {
		return nil, err
	}
	return jws.Verify(key)
}

// assertRefused checks that an exchange was refused with code, returned no
// response, and that its error text holds none of the secrets given.
func assertRefused(t testing.TB, res *engine.Response, err error, code string, secrets ...string) {
	t.Helper()
	if res != nil {
		t.Errorf("got a response %+v with error %v; want none", res, err)
	}
	var xe *engine.Error
	if !errors.As(err, &xe) {
		t.Fatalf("error = %v (%T), want *engine.Error %s", err, err, code)
	}
	if xe.Code != code {
		t.Errorf("code = %s (%v), want %s", xe.Code, xe, code)
	}
	msg := err.Error() + " " + xe.Description
	for _, s := range secrets {
		if s != "" && strings.Contains(msg, s) {
			t.Errorf("error text %q contains a secret or token", msg)
		}
	}
}

func sha256Of(s string) [32]byte { return sha256.Sum256([]byte(s)) }

type jsonRaw = json.RawMessage
