package clientauth_test

import (
	"context"
	"testing"

	"github.com/deputyauth/deputy/clientauth"
	"github.com/deputyauth/deputy/engine"
	"github.com/deputyauth/deputy/store"
)

// TestReviewByMethodSecretMethodsNeedSecret: ByMethod holds a client to
// the method it registered. A client registered for client_secret_basic
// or client_secret_post authenticates with its secret (RFC 7591 §2); if
// its record is not marked Confidential (an operator who wrote the method
// and the secret hashes but not "confidential"), sending client_id alone
// must not authenticate it as if it had registered "none".
func TestReviewByMethodSecretMethodsNeedSecret(t *testing.T) {
	keys(t)
	method := ""
	secrets := clientauth.HashedSecrets(clientauth.SecretsConfig{})
	auth, err := clientauth.ByMethod(func(context.Context, *store.Client) (string, error) { return method, nil },
		map[string]engine.ClientAuthenticator{
			"":                           secrets,
			clientauth.MethodNone:        clientauth.Public,
			clientauth.MethodSecretBasic: secrets,
			clientauth.MethodSecretPost:  engine.PlaintextSecrets,
		})
	if err != nil {
		t.Fatal(err)
	}
	hashed := store.Secret{ID: "h1", Value: hashOf(t, goodSecret)}
	plain := store.Secret{ID: "p1", Value: []byte(goodSecret)}
	for _, tc := range []struct {
		name, method string
		stored       store.Secret
		conf         bool
		secret       string
		code         string // "" means a token is minted
	}{
		{name: "basic, not confidential, nothing sent", method: clientauth.MethodSecretBasic, stored: hashed, code: engine.CodeInvalidClient},
		{name: "post, not confidential, nothing sent", method: clientauth.MethodSecretPost, stored: plain, code: engine.CodeInvalidClient},
		{name: "basic, confidential, nothing sent", method: clientauth.MethodSecretBasic, stored: hashed, conf: true, code: engine.CodeInvalidClient},
		{name: "basic, not confidential, wrong secret", method: clientauth.MethodSecretBasic, stored: hashed, secret: goodSecret + "x", code: engine.CodeInvalidClient},
		{name: "basic, not confidential, its secret", method: clientauth.MethodSecretBasic, stored: hashed, secret: goodSecret},
		{name: "post, not confidential, its secret", method: clientauth.MethodSecretPost, stored: plain, secret: goodSecret},
		// Unchanged: no registered method keeps the engine's default, and
		// a public client holds nothing.
		{name: "no method, not confidential, nothing sent", method: "", stored: hashed},
		{name: "none, nothing sent", method: clientauth.MethodNone},
	} {
		t.Run(tc.name, func(t *testing.T) {
			method = tc.method
			w := newWorld(t, auth, func(c *store.Client) {
				c.Confidential = tc.conf
				if tc.stored.ID != "" {
					c.Secrets = []store.Secret{tc.stored}
				}
			})
			req := request(t)
			req.ClientSecret = tc.secret
			res, err := w.x.Exchange(context.Background(), req)
			if tc.code == "" {
				mustOK(t, res, err)
				return
			}
			assertRefused(t, res, err, tc.code)
		})
	}
}
