package clientauth_test

import (
	"context"
	"crypto/x509"
	"testing"

	"github.com/deputyauth/deputy/clientauth"
)

func TestPeerCertificates(t *testing.T) {
	ctx := context.Background()
	if got := clientauth.PeerCertificates(ctx); got != nil {
		t.Fatalf("PeerCertificates(empty ctx) = %v, want nil", got)
	}
	leaf, ca := &x509.Certificate{}, &x509.Certificate{}
	in := []*x509.Certificate{leaf, ca}
	ctx = clientauth.WithPeerCertificates(ctx, in)
	in[0] = nil // the context keeps its own copy
	got := clientauth.PeerCertificates(ctx)
	if len(got) != 2 || got[0] != leaf || got[1] != ca {
		t.Fatalf("PeerCertificates = %v, want [leaf ca]", got)
	}
}
