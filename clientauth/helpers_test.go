package clientauth_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"

	"github.com/deputyauth/deputy/engine"
	"github.com/deputyauth/deputy/store"
)

const (
	issuer   = "https://id.example.com/"
	endpoint = "https://id.example.com/oauth/token"
	svc      = "svc" // the requester under test
	api      = "api" // the target
)

var now = time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)

var (
	keysOnce          sync.Once
	issuerKey, svcKey *ecdsa.PrivateKey
	otherKey          *ecdsa.PrivateKey
	svcRSA            *rsa.PrivateKey
)

func keys(t testing.TB) {
	t.Helper()
	keysOnce.Do(func() {
		var err error
		for _, k := range []**ecdsa.PrivateKey{&issuerKey, &svcKey, &otherKey} {
			if *k, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader); err != nil {
				panic(err)
			}
		}
		if svcRSA, err = rsa.GenerateKey(rand.Reader, 2048); err != nil {
			panic(err)
		}
	})
}

// world is an engine whose requester svc authenticates through auth;
// the issuer's ES256 key signs svc's id_tokens and api's minted tokens.
type world struct {
	st *store.Memory
	x  *engine.Exchanger
}

func newWorld(t testing.TB, auth engine.ClientAuthenticator, svcClient func(*store.Client)) *world {
	t.Helper()
	keys(t)
	w := &world{st: store.NewMemory()}
	w.st.SetClock(func() time.Time { return now })
	if err := w.st.AddKey(jose.JSONWebKey{Key: issuerKey, KeyID: "issuer-1", Algorithm: "ES256"}); err != nil {
		t.Fatal(err)
	}
	c := store.Client{ID: svc, SigningAlg: "ES256", Grants: []string{engine.GrantTypeJWTBearer}}
	if svcClient != nil {
		svcClient(&c)
	}
	for _, c := range []store.Client{c, {ID: api, SigningAlg: "ES256", AllowedSources: []string{svc}}} {
		if err := w.st.PutClient(c); err != nil {
			t.Fatal(err)
		}
	}
	x, err := engine.New(engine.Config{
		Issuer: issuer, Clients: w.st, Keys: w.st, Replay: w.st, ClientAuth: auth,
		Now: func() time.Time { return now },
	})
	if err != nil {
		t.Fatal(err)
	}
	w.x = x
	return w
}

// idToken is a source token issued to svc, with the given jti.
func idToken(t testing.TB, jti string) string {
	t.Helper()
	s, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: jose.JSONWebKey{Key: issuerKey, KeyID: "issuer-1"}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	tok, err := jwt.Signed(s).Claims(jwt.Claims{
		Issuer: issuer, Subject: "user-1", Audience: jwt.Audience{svc}, ID: jti,
		Expiry: jwt.NewNumericDate(now.Add(time.Hour)), IssuedAt: jwt.NewNumericDate(now),
	}).Serialize()
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// request is a delegation by svc to api with a fresh source token.
func request(t testing.TB) *engine.Request {
	return &engine.Request{GrantType: engine.GrantTypeJWTBearer, ClientID: svc, IDToken: idToken(t, "src-"+rand.Text()), Target: api, Scope: "openid"}
}

// assertRefused checks the exact code and that no token came back.
func assertRefused(t testing.TB, res *engine.Response, err error, code string) {
	t.Helper()
	if res != nil {
		t.Errorf("got a response %+v with error %v; want none", res, err)
	}
	var xe *engine.Error
	if !errors.As(err, &xe) {
		t.Fatalf("error = %v (%T), want *engine.Error %s", err, err, code)
	}
	if xe.Code != code {
		t.Errorf("code = %s (%v), want %s", xe.Code, errors.Unwrap(err), code)
	}
	if strings.Contains(err.Error(), "eyJ") {
		t.Errorf("error text %q quotes a token", err)
	}
}

func mustOK(t testing.TB, res *engine.Response, err error) {
	t.Helper()
	if err != nil {
		t.Fatalf("Exchange: %v (cause %v)", err, errors.Unwrap(err))
	}
	if res == nil || res.IDToken == "" {
		t.Fatal("no token")
	}
}

// failingCache is a ReplayCache whose backend is down.
type failingCache struct{}

func (failingCache) Use(context.Context, string, time.Duration) (bool, error) {
	return false, errors.New("redis: connection refused")
}
