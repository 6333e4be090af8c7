package signer_test

import (
	"context"
	"testing"

	"github.com/go-jose/go-jose/v4"

	"github.com/deputyauth/deputy/signer"
)

// BenchmarkExchange compares a whole delegation minted with an in-process
// private key ("plain") against the same key behind crypto.Signer
// ("opaque"), whose signatures are converted and verified before use. The
// difference is this package's cost; a real KMS adds its round trip.
func BenchmarkExchange(b *testing.B) {
	for _, tc := range algKeys(b) {
		if tc.alg != "RS256" && tc.alg != "ES256" && tc.alg != "EdDSA" && tc.alg != "PS256" {
			continue
		}
		opaque, err := signer.New(&device{key: tc.key}, tc.alg, "k")
		if err != nil {
			b.Fatal(err)
		}
		plain := jose.JSONWebKey{Key: tc.key, KeyID: "k", Algorithm: tc.alg}
		for _, v := range []struct {
			name string
			key  jose.JSONWebKey
		}{{"plain", plain}, {"opaque", opaque}} {
			b.Run(tc.alg+"/"+v.name, func(b *testing.B) {
				w := newExchangeWorld(b, tc.alg, v.key)
				req := w.request(b)
				ctx := context.Background()
				b.ReportAllocs()
				for b.Loop() {
					if _, err := w.x.Exchange(ctx, req); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}
