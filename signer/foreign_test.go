package signer_test

import (
	"context"
	"errors"
	"testing"

	"github.com/go-jose/go-jose/v4"

	"github.com/deputyauth/deputy/engine"
	"github.com/deputyauth/deputy/signer"
)

// foreign is a third-party OpaqueSigner that does not verify its own
// signatures (it has no VerifiesSignatures), so the engine must; mangle
// stands for a faulty device.
type foreign struct {
	o      *signer.Opaque
	mangle func([]byte) []byte
}

func (f *foreign) Public() *jose.JSONWebKey        { return f.o.Public() }
func (f *foreign) Algs() []jose.SignatureAlgorithm { return f.o.Algs() }
func (f *foreign) SignPayload(p []byte, alg jose.SignatureAlgorithm) ([]byte, error) {
	sig, err := f.o.SignPayload(p, alg)
	if err == nil && f.mangle != nil {
		sig = f.mangle(sig)
	}
	return sig, err
}

// TestEngineVerifiesForeignSigners: a third-party signer's good signatures
// pass for every algorithm, and a signature of the right size that does not
// verify (all zeros, one bit flipped) is server_error with no token.
func TestEngineVerifiesForeignSigners(t *testing.T) {
	mangles := map[string]func([]byte) []byte{
		"zeros":       func(sig []byte) []byte { return make([]byte, len(sig)) },
		"flipped bit": func(sig []byte) []byte { sig[len(sig)-1] ^= 1; return sig },
	}
	for _, ak := range algKeys(t) {
		t.Run(ak.alg, func(t *testing.T) {
			jwk, err := signer.New(&device{key: ak.key}, ak.alg, "kms")
			if err != nil {
				t.Fatal(err)
			}
			f := &foreign{o: jwk.Key.(*signer.Opaque)}
			w := newExchangeWorld(t, ak.alg, jose.JSONWebKey{Key: f, KeyID: "kms", Algorithm: ak.alg})
			res, err := w.x.Exchange(context.Background(), w.request(t))
			if err != nil {
				t.Fatalf("good signature: %v", err)
			}
			w.verify(t, res.IDToken, ak.alg, "kms")
			for name, m := range mangles {
				f.mangle = m
				res, err := w.x.Exchange(context.Background(), w.request(t))
				if !errors.Is(err, engine.ErrServerError) || res != nil {
					t.Errorf("%s: Exchange = %+v, %v; want server_error and no response", name, res, err)
				}
			}
		})
	}
}
