package clientauth_test

import (
	"context"
	"errors"
	"testing"

	"github.com/deputyauth/deputy/clientauth"
	"github.com/deputyauth/deputy/engine"
	"github.com/deputyauth/deputy/store"
)

// TestByMethod: a client is held to the method it registered, whatever
// the request presents.
func TestByMethod(t *testing.T) {
	keys(t)
	methods := map[string]string{} // client → method; set per case
	lookupErr := errors.New("registry down")
	auth, err := clientauth.ByMethod(func(_ context.Context, c *store.Client) (string, error) {
		m, ok := methods[c.ID]
		if m == "fail" {
			return "", lookupErr
		}
		if !ok {
			return "", nil
		}
		return m, nil
	}, map[string]engine.ClientAuthenticator{
		clientauth.MethodNone:          clientauth.Public,
		clientauth.MethodSecretPost:    clientauth.HashedSecrets(clientauth.SecretsConfig{}),
		clientauth.MethodPrivateKeyJWT: jwtAuth(t, nil),
	})
	if err != nil {
		t.Fatal(err)
	}
	secret := store.Secret{ID: "s1", Value: hashOf(t, goodSecret)}
	for _, tc := range []struct {
		name, method string
		conf         bool
		secret       string
		assertion    bool
		code         string
	}{
		{name: "jwt client with assertion", method: clientauth.MethodPrivateKeyJWT, assertion: true},
		{name: "jwt client with its secret", method: clientauth.MethodPrivateKeyJWT, secret: goodSecret, code: engine.CodeInvalidClient},
		{name: "jwt client with nothing", method: clientauth.MethodPrivateKeyJWT, code: engine.CodeInvalidClient},
		{name: "secret client with secret", method: clientauth.MethodSecretPost, secret: goodSecret},
		{name: "secret client with assertion", method: clientauth.MethodSecretPost, assertion: true, code: engine.CodeInvalidClient},
		{name: "public client", method: clientauth.MethodNone},
		{name: "public client sending a secret", method: clientauth.MethodNone, secret: goodSecret, code: engine.CodeInvalidClient},
		{name: "confidential client registered none", method: clientauth.MethodNone, conf: true, code: engine.CodeInvalidClient},
		{name: "unserved method", method: clientauth.MethodTLS, code: engine.CodeServerError},
		{name: "no method registered", method: "", code: engine.CodeServerError},
		{name: "lookup fails", method: "fail", code: engine.CodeServerError},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.method != "" {
				methods[svc] = tc.method
			} else {
				delete(methods, svc)
			}
			w := newWorld(t, auth, func(c *store.Client) { c.Secrets, c.Confidential = []store.Secret{secret}, tc.conf })
			req := request(t)
			req.ClientSecret = tc.secret
			if tc.assertion {
				req.ClientAssertion, req.ClientAssertionType = sign(t, assertionSpec{}), engine.ClientAssertionTypeJWT
			}
			res, err := w.x.Exchange(context.Background(), req)
			if tc.code == "" {
				mustOK(t, res, err)
				return
			}
			assertRefused(t, res, err, tc.code)
		})
	}
	if _, err := clientauth.ByMethod(nil, nil); err == nil {
		t.Error("ByMethod(nil) accepted")
	}
	if _, err := clientauth.ByMethod(func(context.Context, *store.Client) (string, error) { return "", nil },
		map[string]engine.ClientAuthenticator{"x": nil}); err == nil {
		t.Error("ByMethod with a nil authenticator accepted")
	}
}
