package clientauth_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"errors"
	"fmt"
	"math/big"
	"net"
	"testing"
	"time"

	"github.com/deputyauth/deputy/clientauth"
	"github.com/deputyauth/deputy/engine"
	"github.com/deputyauth/deputy/store"
)

// certificate makes a certificate for cn signed by parent (self-signed
// when parent is nil); mod edits the template.
func certificate(t testing.TB, cn string, parent *x509.Certificate, parentKey *ecdsa.PrivateKey, mod func(*x509.Certificate)) (*x509.Certificate, *ecdsa.PrivateKey) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(now.UnixNano()),
		Subject:      pkix.Name{CommonName: cn, Organization: []string{"Example"}},
		NotBefore:    now.Add(-time.Hour), NotAfter: now.Add(time.Hour),
		KeyUsage:    x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
	if mod != nil {
		mod(tmpl)
	}
	if parent == nil {
		parent, parentKey = tmpl, key
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, key.Public(), parentKey)
	if err != nil {
		t.Fatal(err)
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return c, key
}

func thumbprint(c *x509.Certificate) string {
	s := sha256.Sum256(c.Raw)
	return base64.RawURLEncoding.EncodeToString(s[:])
}

func TestMTLS(t *testing.T) {
	ca, caKey := certificate(t, "Test CA", nil, nil, func(c *x509.Certificate) {
		c.IsCA, c.BasicConstraintsValid, c.KeyUsage = true, true, x509.KeyUsageCertSign
		c.ExtKeyUsage = nil
	})
	otherCA, otherKey := certificate(t, "Other CA", nil, nil, func(c *x509.Certificate) {
		c.IsCA, c.BasicConstraintsValid, c.KeyUsage = true, true, x509.KeyUsageCertSign
		c.ExtKeyUsage = nil
	})
	roots := x509.NewCertPool()
	roots.AddCert(ca)
	leaf, _ := certificate(t, "svc.example.com", ca, caKey, func(c *x509.Certificate) {
		c.DNSNames, c.IPAddresses = []string{"svc.example.com"}, []net.IP{net.ParseIP("10.0.0.7")}
	})
	forged, _ := certificate(t, "svc.example.com", otherCA, otherKey, func(c *x509.Certificate) { c.DNSNames = []string{"svc.example.com"} })
	serverOnly, _ := certificate(t, "svc.example.com", ca, caKey, func(c *x509.Certificate) {
		c.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}
	})
	selfSigned, _ := certificate(t, "svc", nil, nil, nil)
	expiredSelf, _ := certificate(t, "svc", nil, nil, func(c *x509.Certificate) { c.NotAfter = now.Add(-time.Minute) })
	outage := errors.New("registry down")

	for _, tc := range []struct {
		name   string
		reg    clientauth.TLSClient
		certs  []*x509.Certificate
		mod    func(*engine.Request)
		regErr error
		code   string
	}{
		{name: "subject DN", reg: clientauth.TLSClient{SubjectDN: "CN=svc.example.com,O=Example"}, certs: []*x509.Certificate{leaf}},
		{name: "SAN DNS", reg: clientauth.TLSClient{DNSName: "svc.example.com"}, certs: []*x509.Certificate{leaf}},
		{name: "SAN IP", reg: clientauth.TLSClient{IP: "10.0.0.7"}, certs: []*x509.Certificate{leaf}},
		{name: "self-signed thumbprint", reg: clientauth.TLSClient{Thumbprints: []string{"x", thumbprint(selfSigned)}}, certs: []*x509.Certificate{selfSigned}},
		{name: "wrong subject", reg: clientauth.TLSClient{SubjectDN: "CN=other,O=Example"}, certs: []*x509.Certificate{leaf}, code: engine.CodeInvalidClient},
		{name: "wrong SAN", reg: clientauth.TLSClient{DNSName: "other.example.com"}, certs: []*x509.Certificate{leaf}, code: engine.CodeInvalidClient},
		{name: "right name, untrusted CA", reg: clientauth.TLSClient{DNSName: "svc.example.com"}, certs: []*x509.Certificate{forged, otherCA}, code: engine.CodeInvalidClient},
		{name: "server-auth certificate", reg: clientauth.TLSClient{DNSName: "svc.example.com"}, certs: []*x509.Certificate{serverOnly}, code: engine.CodeInvalidClient},
		{name: "self-signed cert for a PKI registration", reg: clientauth.TLSClient{SubjectDN: "CN=svc,O=Example"}, certs: []*x509.Certificate{selfSigned}, code: engine.CodeInvalidClient},
		{name: "other self-signed cert", reg: clientauth.TLSClient{Thumbprints: []string{thumbprint(selfSigned)}}, certs: []*x509.Certificate{expiredSelf}, code: engine.CodeInvalidClient},
		{name: "expired self-signed cert", reg: clientauth.TLSClient{Thumbprints: []string{thumbprint(expiredSelf)}}, certs: []*x509.Certificate{expiredSelf}, code: engine.CodeInvalidClient},
		{name: "no certificate", reg: clientauth.TLSClient{DNSName: "svc.example.com"}, code: engine.CodeInvalidClient},
		{name: "secret sent too", reg: clientauth.TLSClient{DNSName: "svc.example.com"}, certs: []*x509.Certificate{leaf}, mod: func(r *engine.Request) { r.ClientSecret = goodSecret }, code: engine.CodeInvalidClient},
		{name: "not registered", certs: []*x509.Certificate{leaf}, regErr: fmt.Errorf("svc: %w", store.ErrNotFound), code: engine.CodeInvalidClient},
		{name: "registry fails", certs: []*x509.Certificate{leaf}, regErr: outage, code: engine.CodeServerError},
	} {
		t.Run(tc.name, func(t *testing.T) {
			auth, err := clientauth.MTLS(clientauth.MTLSConfig{
				Roots: roots,
				Clients: func(_ context.Context, id string) (clientauth.TLSClient, error) {
					return tc.reg, tc.regErr
				},
				Now: func() time.Time { return now },
			})
			if err != nil {
				t.Fatal(err)
			}
			w := newWorld(t, auth, nil)
			req := request(t)
			if tc.mod != nil {
				tc.mod(req)
			}
			ctx := clientauth.WithPeerCertificates(context.Background(), tc.certs)
			res, err := w.x.Exchange(ctx, req)
			if tc.code == "" {
				mustOK(t, res, err)
				return
			}
			assertRefused(t, res, err, tc.code)
		})
	}
	if _, err := clientauth.MTLS(clientauth.MTLSConfig{}); err == nil {
		t.Error("MTLS without Clients accepted")
	}
}
