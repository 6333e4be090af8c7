package clientauth

import (
	"context"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/base64"
	"errors"
	"fmt"
	"net"
	"net/url"
	"slices"
	"time"

	"github.com/deputyauth/deputy/engine"
	"github.com/deputyauth/deputy/store"
)

// TLSClient is how a client's TLS certificate is recognised (RFC 8705
// §2.1.2, §2.2.2). Set one PKI field for tls_client_auth, or Thumbprints
// for self_signed_tls_client_auth, or both.
type TLSClient struct {
	// SubjectDN is tls_client_auth_subject_dn: the certificate's subject
	// exactly as crypto/x509's Name.String writes it (RFC 4514 form). A
	// subject with more than one commonName or serialNumber never
	// matches: Name.String prints only the last.
	SubjectDN string
	// SAN: tls_client_auth_san_dns, _san_uri, _san_ip, _san_email; the
	// certificate must carry the value among its subject alternative
	// names (DNS and email compared exactly, IP as an address).
	DNSName, URI, IP, Email string
	// Thumbprints are the base64url SHA-256 thumbprints (x5t#S256) of the
	// self-signed certificates the client registered.
	Thumbprints []string
}

func (t *TLSClient) pki() bool {
	return t.SubjectDN != "" || t.DNSName != "" || t.URI != "" || t.IP != "" || t.Email != ""
}

// MTLSConfig configures MTLS. It is checked once by MTLS and must not be
// modified afterwards.
type MTLSConfig struct {
	// Clients returns a client's TLS registration. Required. An error
	// wrapping store.ErrNotFound means the client has none
	// (invalid_client); any other error is server_error.
	Clients func(ctx context.Context, clientID string) (TLSClient, error)
	// Roots are the CAs that issue tls_client_auth certificates. Required
	// when any client is registered by subject or SAN: the chain is
	// verified here (the peer's other certificates as intermediates,
	// client-auth key usage, at Now), whatever the TLS server did, so a
	// server may request certificates without verifying them (as
	// self-signed clients need). nil: PKI registrations never match.
	Roots *x509.CertPool
	// Now returns the current time. nil means time.Now.
	Now func() time.Time
}

type mtls struct{ cfg MTLSConfig }

// MTLS returns a ClientAuthenticator for mutual-TLS client
// authentication (RFC 8705 §2): the leaf certificate the host put in the
// context with WithPeerCertificates must match the client's registration
// — by subject DN or SAN after chain verification against Roots
// (tls_client_auth), or by thumbprint within its validity period
// (self_signed_tls_client_auth). A request presenting a client_secret or
// an assertion is refused, and so is one without a certificate.
//
// Binding issued tokens to the certificate (RFC 8705 §3, cnf) is not
// done: tokens minted for such clients are bearer tokens.
func MTLS(cfg MTLSConfig) (engine.ClientAuthenticator, error) {
	if cfg.Clients == nil {
		return nil, errors.New("clientauth: invalid MTLSConfig: Clients is required")
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &mtls{cfg: cfg}, nil
}

func (m *mtls) AuthenticateClient(ctx context.Context, c *store.Client, req *engine.Request) error {
	if req.ClientSecret != "" || req.ClientAssertion != "" {
		return refuse("secret or assertion sent by a mutual-TLS client")
	}
	certs := PeerCertificates(ctx)
	if len(certs) == 0 || certs[0] == nil {
		return refuse("no TLS client certificate")
	}
	reg, err := m.cfg.Clients(ctx, c.ID)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return refuse("client has no TLS registration")
	case err != nil:
		return fmt.Errorf("clientauth: TLS registration: %w", err)
	}
	leaf, now := certs[0], m.cfg.Now()
	if len(reg.Thumbprints) > 0 && !now.Before(leaf.NotBefore) && !now.After(leaf.NotAfter) {
		sum := sha256.Sum256(leaf.Raw)
		if slices.Contains(reg.Thumbprints, base64.RawURLEncoding.EncodeToString(sum[:])) {
			return nil
		}
	}
	if reg.pki() && m.cfg.Roots != nil && m.chainVerifies(certs, now) && matchesPKI(leaf, &reg) {
		return nil
	}
	return refuse("TLS client certificate does not match the registration")
}

func (m *mtls) chainVerifies(certs []*x509.Certificate, now time.Time) bool {
	inter := x509.NewCertPool()
	for _, c := range certs[1:] {
		if c != nil {
			inter.AddCert(c)
		}
	}
	_, err := certs[0].Verify(x509.VerifyOptions{
		Roots: m.cfg.Roots, Intermediates: inter, CurrentTime: now,
		KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	})
	return err == nil
}

// hidesAttributes reports whether Name.String leaves some of n out: it
// prints only the last commonName and the last serialNumber, so a subject
// with two of either is not the DN it prints.
func hidesAttributes(n pkix.Name) bool {
	var cn, serial int
	for _, a := range n.Names {
		switch {
		case a.Type.Equal(oidCommonName):
			cn++
		case a.Type.Equal(oidSerialNumber):
			serial++
		}
	}
	return cn > 1 || serial > 1
}

var (
	oidCommonName   = asn1.ObjectIdentifier{2, 5, 4, 3}
	oidSerialNumber = asn1.ObjectIdentifier{2, 5, 4, 5}
)

// matchesPKI reports whether leaf carries every PKI value reg names.
func matchesPKI(leaf *x509.Certificate, reg *TLSClient) bool {
	if reg.SubjectDN != "" && (leaf.Subject.String() != reg.SubjectDN || hidesAttributes(leaf.Subject)) {
		return false
	}
	if reg.DNSName != "" && !slices.Contains(leaf.DNSNames, reg.DNSName) {
		return false
	}
	if reg.Email != "" && !slices.Contains(leaf.EmailAddresses, reg.Email) {
		return false
	}
	if reg.URI != "" && !slices.ContainsFunc(leaf.URIs, func(u *url.URL) bool { return u.String() == reg.URI }) {
		return false
	}
	if reg.IP != "" {
		want := net.ParseIP(reg.IP)
		if want == nil || !slices.ContainsFunc(leaf.IPAddresses, want.Equal) {
			return false
		}
	}
	return true
}
