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

// decoyCounter is a ClientAuthenticator that counts decoy checks.
type decoyCounter struct{ decoys, checks int }

func (d *decoyCounter) AuthenticateClient(context.Context, *store.Client, *engine.Request) error {
	d.checks++
	return engine.ErrInvalidClient
}

func (d *decoyCounter) AuthenticateUnknown(context.Context, *engine.Request) { d.decoys++ }

// TestDecoyChecks: an unknown or disabled requester, or a secret sent by a
// client of a method that does not hash, costs the same hash a wrong
// secret would (one decoy per distinct authenticator), so that response
// times do not tell registered client IDs apart.
func TestDecoyChecks(t *testing.T) {
	keys(t)
	d := &decoyCounter{}
	auth, err := clientauth.ByMethod(func(_ context.Context, c *store.Client) (string, error) {
		if c.ID == svc {
			return clientauth.MethodPrivateKeyJWT, nil
		}
		return clientauth.MethodSecretPost, nil
	}, map[string]engine.ClientAuthenticator{
		clientauth.MethodSecretBasic:   d,
		clientauth.MethodSecretPost:    d,
		clientauth.MethodPrivateKeyJWT: jwtAuth(t, nil),
	})
	if err != nil {
		t.Fatal(err)
	}
	w := newWorld(t, auth, nil)
	if err := w.st.PutClient(store.Client{ID: "off", SigningAlg: "ES256", Disabled: true}); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, client, secret string
		decoys, checks       int
	}{
		{"unknown with a secret", "nobody", goodSecret, 1, 0},
		{"disabled with a secret", "off", goodSecret, 1, 0},
		{"jwt client sending a secret", svc, goodSecret, 1, 0},
		{"secret client", api, goodSecret, 0, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			*d = decoyCounter{}
			req := request(t)
			req.ClientID, req.ClientSecret = tc.client, tc.secret
			res, err := w.x.Exchange(context.Background(), req)
			assertRefused(t, res, err, engine.CodeInvalidClient)
			if d.decoys != tc.decoys || d.checks != tc.checks {
				t.Errorf("decoys %d, checks %d; want %d, %d", d.decoys, d.checks, tc.decoys, tc.checks)
			}
		})
	}
}
