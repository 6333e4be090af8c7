package postgres_test

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/deputyauth/deputy/claims"
	"github.com/deputyauth/deputy/engine"
	"github.com/deputyauth/deputy/store"
	"github.com/deputyauth/deputy/store/postgres"
	"github.com/deputyauth/deputy/store/postgres/pgtest"
)

const issuer = "https://id.example.com/"

// Clients of the test world: an HS256 and an RS256 requester, an HS256
// and an EdDSA target.
const (
	appHS = "app"
	appRS = "app-rs"
	apiHS = "api"
	apiEd = "api-ed"
)

// world is a database seeded with clients, keys, a refresh grant and a
// profile, on which tests open as many Stores (replicas) as they like.
type world struct {
	dsn     string
	encKeys map[string][]byte
	secrets map[string][]byte // client → its secret "<client>-s1"
	rs      jose.JSONWebKey   // RS256 "rs-1": signs appRS's source tokens
	ed      jose.JSONWebKey   // EdDSA "ed-1": signs tokens minted for apiEd
}

var (
	rsaOnce sync.Once
	rsaKey  *rsa.PrivateKey
)

// newWorld seeds a fresh database reached at dsn ("" for pgtest.DSN).
func newWorld(t testing.TB, dsn string) *world {
	t.Helper()
	if dsn == "" {
		dsn = pgtest.DSN(t)
	}
	rsaOnce.Do(func() {
		var err error
		if rsaKey, err = rsa.GenerateKey(rand.Reader, 2048); err != nil {
			panic(err)
		}
	})
	_, edKey, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	w := &world{
		dsn:     dsn,
		encKeys: map[string][]byte{"k1": newKey()},
		secrets: map[string][]byte{appHS: randomBytes(32), apiHS: randomBytes(32)},
		rs:      jose.JSONWebKey{Key: rsaKey, KeyID: "rs-1", Algorithm: "RS256"},
		ed:      jose.JSONWebKey{Key: edKey, KeyID: "ed-1", Algorithm: "EdDSA"},
	}
	seed := w.store(t, func(c *postgres.Config) { c.CacheTTL = -1 })
	ctx := t.Context()
	grants := []string{engine.GrantTypeJWTBearer, engine.GrantTypeTokenExchange}
	for _, c := range w.clients(grants) {
		if err := seed.PutClient(ctx, c); err != nil {
			t.Fatalf("PutClient(%q): %v", c.ID, err)
		}
	}
	for _, k := range []jose.JSONWebKey{w.rs, w.ed} {
		if err := seed.AddKey(ctx, k); err != nil {
			t.Fatalf("AddKey(%q): %v", k.KeyID, err)
		}
	}
	if err := seed.PutRefreshToken(ctx, "rt-ada", store.RefreshGrant{ClientID: appHS, Subject: "auth0|ada", Scope: []string{"openid", "email"}}); err != nil {
		t.Fatal(err)
	}
	if err := seed.PutProfile(ctx, "auth0|ada", claims.Set{"email": "ada@example.com", "email_verified": true}); err != nil {
		t.Fatal(err)
	}
	return w
}

func (w *world) clients(grants []string) []store.Client {
	return []store.Client{
		{ID: appHS, SigningAlg: "HS256", Grants: grants, Secrets: []store.Secret{{ID: appHS + "-s1", Value: w.secrets[appHS]}}},
		{ID: appRS, SigningAlg: "RS256", Grants: grants},
		{ID: apiHS, SigningAlg: "HS256", AllowedSources: []string{appHS, appRS}, Secrets: []store.Secret{{ID: apiHS + "-s1", Value: w.secrets[apiHS]}}},
		{ID: apiEd, SigningAlg: "EdDSA", AllowedSources: []string{appHS, appRS}},
	}
}

// memory returns the world's records in a store.Memory, for comparison.
func (w *world) memory(t testing.TB) *store.Memory {
	t.Helper()
	m := store.NewMemory()
	for _, c := range w.clients([]string{engine.GrantTypeJWTBearer, engine.GrantTypeTokenExchange}) {
		if err := m.PutClient(c); err != nil {
			t.Fatal(err)
		}
	}
	for _, k := range []jose.JSONWebKey{w.rs, w.ed} {
		if err := m.AddKey(k); err != nil {
			t.Fatal(err)
		}
	}
	return m
}

// store opens a replica's Store on the world's database.
func (w *world) store(t testing.TB, mod func(*postgres.Config)) *postgres.Store {
	t.Helper()
	cfg := postgres.Config{EncryptionKeys: w.encKeys, ActiveKey: "k1"}
	if mod != nil {
		mod(&cfg)
	}
	return open(t, w.dsn, cfg)
}

// allStores is what an Exchanger needs of a store.
type allStores interface {
	store.ClientStore
	store.KeyStore
	store.RefreshTokenStore
	store.ProfileStore
	store.ReplayCache
}

// exchanger returns an Exchanger on st; with replay, source tokens are
// single-use.
func exchanger(t testing.TB, st allStores, replay bool) *engine.Exchanger {
	t.Helper()
	cfg := engine.Config{Issuer: issuer, Clients: st, Keys: st, RefreshTokens: st, Profiles: st}
	if replay {
		cfg.Replay = st
	}
	x, err := engine.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return x
}

// idToken returns an id_token the issuer gave client, signed with its
// secret (HS256 client) or the world's RS256 key, with a fresh jti.
func (w *world) idToken(t testing.TB, client string) string {
	t.Helper()
	if client == appHS {
		return w.idTokenWith(t, jose.HS256, jose.JSONWebKey{Key: w.secrets[appHS], KeyID: appHS + "-s1"}, client)
	}
	return w.idTokenWith(t, jose.RS256, w.rs, client)
}

func (w *world) idTokenWith(t testing.TB, alg jose.SignatureAlgorithm, key jose.JSONWebKey, client string) string {
	t.Helper()
	s, err := jose.NewSigner(jose.SigningKey{Algorithm: alg, Key: key}, (&jose.SignerOptions{}).WithType("JWT"))
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	payload, _ := json.Marshal(map[string]any{
		"iss": issuer, "sub": "auth0|ada", "aud": client,
		"iat": now.Unix(), "exp": now.Add(time.Hour).Unix(),
		"jti":   base64.RawURLEncoding.EncodeToString(randomBytes(16)),
		"email": "ada@example.com", "email_verified": true, "name": "Ada Lovelace",
	})
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

// delegation is a delegation request of client's id_token for target.
func delegation(client, token, target string) *engine.Request {
	return &engine.Request{GrantType: engine.GrantTypeJWTBearer, ClientID: client, IDToken: token, Target: target, Scope: "openid email", APIType: "app"}
}

// code returns the OAuth error code of an Exchange error, "" for none.
func code(err error) string {
	if err == nil {
		return ""
	}
	var oe *engine.Error
	if errors.As(err, &oe) {
		return oe.Code
	}
	return "not an *engine.Error: " + err.Error()
}

// exchange runs one exchange and checks that a token came back exactly
// when there is no error; it returns the error code ("" for success).
func exchange(t testing.TB, x *engine.Exchanger, req *engine.Request) (string, *engine.Response) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	res, err := x.Exchange(ctx, req)
	if err != nil && res != nil {
		t.Errorf("Exchange returned a response along with error %v", err)
	}
	if err == nil && (res == nil || res.IDToken == "") {
		t.Errorf("Exchange returned no token and no error")
	}
	return code(err), res
}

// mintedKID returns the kid of a minted token.
func mintedKID(t testing.TB, tok string) string {
	t.Helper()
	jws, err := jose.ParseSignedCompact(tok, []jose.SignatureAlgorithm{jose.HS256, jose.EdDSA, jose.RS256})
	if err != nil {
		t.Fatalf("parsing minted token: %v", err)
	}
	return jws.Signatures[0].Header.KeyID
}

func randomBytes(n int) []byte {
	b := make([]byte, n)
	rand.Read(b)
	return b
}
