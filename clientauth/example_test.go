package clientauth_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"fmt"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"

	"github.com/deputyauth/deputy/clientauth"
	"github.com/deputyauth/deputy/engine"
	"github.com/deputyauth/deputy/store"
)

// Secrets stored as hashes: the store never holds a secret a client
// could present, and the hash itself authenticates no one.
func ExampleHashedSecrets() {
	secret := rand.Text() + rand.Text() // what the client is given, once
	hash, err := clientauth.HashSecret(secret, 0)
	if err != nil {
		panic(err)
	}
	st := store.NewMemory()
	if err := st.PutClient(store.Client{
		ID: "backend", SigningAlg: "ES256", Confidential: true,
		Secrets: []store.Secret{{ID: "2026-12", Value: []byte(hash)}},
		Grants:  []string{engine.GrantTypeTokenExchange},
	}); err != nil {
		panic(err)
	}
	x, err := engine.New(engine.Config{
		Issuer: "https://id.example.com/", Clients: st, Keys: st,
		ClientAuth: clientauth.HashedSecrets(clientauth.SecretsConfig{}),
	})
	if err != nil {
		panic(err)
	}
	for _, presented := range []string{secret, "not-the-secret", hash} {
		err := x.Authenticate(context.Background(), &engine.Request{
			GrantType: engine.GrantTypeTokenExchange, ClientID: "backend", ClientSecret: presented,
		})
		fmt.Println(err)
	}
	// Output:
	// <nil>
	// deputy: invalid_client: client authentication failed
	// deputy: invalid_client: client authentication failed
}

// A client authenticating with private_key_jwt (RFC 7523): it signs a
// short-lived assertion with its own key; the server holds only the
// public key.
func ExamplePrivateKeyJWT() {
	clientKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	st := store.NewMemory()
	if err := st.PutClient(store.Client{ID: "svc", SigningAlg: "ES256", Grants: []string{engine.GrantTypeTokenExchange}}); err != nil {
		panic(err)
	}
	auth, err := clientauth.PrivateKeyJWT(clientauth.JWTConfig{
		Audience: []string{"https://id.example.com/oauth/token"},
		Keys: func(_ context.Context, clientID string) ([]jose.JSONWebKey, error) {
			if clientID != "svc" {
				return nil, store.ErrNotFound
			}
			return []jose.JSONWebKey{{Key: clientKey.Public(), KeyID: "svc-1", Algorithm: "ES256"}}, nil
		},
		Replay: st,
	})
	if err != nil {
		panic(err)
	}
	x, err := engine.New(engine.Config{Issuer: "https://id.example.com/", Clients: st, Keys: st, ClientAuth: auth})
	if err != nil {
		panic(err)
	}

	// The client's side.
	signer, _ := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: jose.JSONWebKey{Key: clientKey, KeyID: "svc-1"}}, nil)
	assertion, _ := jwt.Signed(signer).Claims(jwt.Claims{
		Issuer: "svc", Subject: "svc", Audience: jwt.Audience{"https://id.example.com/oauth/token"},
		ID: rand.Text(), Expiry: jwt.NewNumericDate(time.Now().Add(time.Minute)),
	}).Serialize()

	err = x.Authenticate(context.Background(), &engine.Request{
		GrantType: engine.GrantTypeTokenExchange, ClientID: "svc",
		ClientAssertion: assertion, ClientAssertionType: engine.ClientAssertionTypeJWT,
	})
	fmt.Println(err)
	// Output: <nil>
}
