package clientauth_test

import (
	"context"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"testing"
	"time"

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

// TestReviewMTLSSubjectDNIsWhole: tls_client_auth_subject_dn is the
// certificate's whole subject DN (RFC 8705 §2.1.2). crypto/x509's
// Name.String keeps only the last commonName and the last serialNumber,
// so a certificate whose subject carries another CN (or serialNumber)
// besides the registered one printed exactly as the registered DN and
// authenticated as that client.
func TestReviewMTLSSubjectDNIsWhole(t *testing.T) {
	ca, caKey := certificate(t, "Test CA", nil, nil, func(c *x509.Certificate) {
		c.IsCA, c.BasicConstraintsValid, c.KeyUsage = true, true, x509.KeyUsageCertSign
		c.ExtKeyUsage = nil
	})
	roots := x509.NewCertPool()
	roots.AddCert(ca)
	oidCN, oidSerial := asn1.ObjectIdentifier{2, 5, 4, 3}, asn1.ObjectIdentifier{2, 5, 4, 5}
	subject := func(extra ...pkix.AttributeTypeAndValue) func(*x509.Certificate) {
		return func(c *x509.Certificate) {
			c.Subject = pkix.Name{Organization: []string{"Example"}, ExtraNames: extra}
		}
	}
	const registered = "CN=svc.example.com,O=Example"
	for _, tc := range []struct {
		name string
		mod  func(*x509.Certificate)
		// printed registers the DN as Name.String prints the leaf's.
		printed bool
		code    string // "" means a token is minted
	}{
		{name: "the registered subject", mod: nil},
		{name: "the registered subject, CN as an extra name", mod: subject(pkix.AttributeTypeAndValue{Type: oidCN, Value: "svc.example.com"})},
		{name: "another CN before the registered one", code: engine.CodeInvalidClient,
			mod: subject(pkix.AttributeTypeAndValue{Type: oidCN, Value: "intruder.example.com"}, pkix.AttributeTypeAndValue{Type: oidCN, Value: "svc.example.com"})},
		{name: "the registered CN twice", code: engine.CodeInvalidClient,
			mod: subject(pkix.AttributeTypeAndValue{Type: oidCN, Value: "svc.example.com"}, pkix.AttributeTypeAndValue{Type: oidCN, Value: "svc.example.com"})},
		{name: "two serialNumbers", printed: true, code: engine.CodeInvalidClient,
			mod: func(c *x509.Certificate) {
				c.Subject = pkix.Name{CommonName: "svc.example.com", Organization: []string{"Example"}, ExtraNames: []pkix.AttributeTypeAndValue{
					{Type: oidSerial, Value: "1"}, {Type: oidSerial, Value: "2"}}}
			}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			leaf, _ := certificate(t, "svc.example.com", ca, caKey, tc.mod)
			reg := clientauth.TLSClient{SubjectDN: registered}
			if tc.printed {
				reg.SubjectDN = leaf.Subject.String() // SERIALNUMBER=2 only
			}
			auth, err := clientauth.MTLS(clientauth.MTLSConfig{
				Roots:   roots,
				Clients: func(context.Context, string) (clientauth.TLSClient, error) { return reg, nil },
				Now:     func() time.Time { return now },
			})
			if err != nil {
				t.Fatal(err)
			}
			w := newWorld(t, auth, nil)
			ctx := clientauth.WithPeerCertificates(context.Background(), []*x509.Certificate{leaf})
			res, err := w.x.Exchange(ctx, request(t))
			if tc.code == "" {
				mustOK(t, res, err)
				return
			}
			assertRefused(t, res, err, tc.code)
		})
	}
}
