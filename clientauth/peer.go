package clientauth

import (
	"context"
	"crypto/x509"
	"slices"
)

// peerKey is the context key of the TLS client certificates.
type peerKey struct{}

// WithPeerCertificates returns a copy of ctx carrying the certificates the
// TLS client presented, leaf first, as crypto/tls reports them in
// tls.ConnectionState.PeerCertificates. An HTTP host calls it in its token
// handler before engine.Exchanger.Exchange so that MTLS can see them; the
// core packages never see a connection. The slice is copied.
func WithPeerCertificates(ctx context.Context, certs []*x509.Certificate) context.Context {
	return context.WithValue(ctx, peerKey{}, slices.Clone(certs))
}

// PeerCertificates returns the certificates WithPeerCertificates put in
// ctx, leaf first; nil when there are none. The caller must not modify
// the certificates.
func PeerCertificates(ctx context.Context) []*x509.Certificate {
	certs, _ := ctx.Value(peerKey{}).([]*x509.Certificate)
	return certs
}
