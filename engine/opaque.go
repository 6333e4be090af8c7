package engine

import (
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"errors"
	"fmt"
	"math/big"
	"reflect"
	"slices"

	"github.com/go-jose/go-jose/v4"
)

// contextSigner is a jose.OpaqueSigner that also takes the exchange's
// context, as signer.Opaque does: a remote call can then be cancelled
// with the request and traced under it.
type contextSigner interface {
	SignPayloadContext(ctx context.Context, payload []byte, alg jose.SignatureAlgorithm) ([]byte, error)
}

// selfVerifying is implemented by opaque signers that verify every
// signature against their public key before returning it, as signer.Opaque
// does; the engine verifies the others' itself.
type selfVerifying interface {
	VerifiesSignatures() bool
}

// errBadSignature is the cause when an opaque signer's signature does not
// verify with its public key: a faulty device, or one signing with another
// key. Such a token is never handed out.
var errBadSignature = errors.New("engine: opaque signer returned a signature that does not verify")

// errSignatureSize is the cause when an opaque signer's answer is not a
// JWS signature of its algorithm's size, e.g. an ECDSA signature left in
// ASN.1 DER.
var errSignatureSize = errors.New("engine: opaque signer returned a signature of the wrong size")

// opaqueJWSSigner completes s for a key held by a signer outside the
// process. The public key it reports must fit alg as a private key would
// (RSA of 2048 bits or more, the curve of an ES algorithm, Ed25519 for
// EdDSA), every signature must have the size alg's signatures have, and
// must verify with that public key: the engine checks it unless the signer
// says it does (selfVerifying).
func opaqueJWSSigner(s *jwsSigner, alg string, o jose.OpaqueSigner) (*jwsSigner, error) {
	a := jose.SignatureAlgorithm(alg)
	if !slices.Contains(o.Algs(), a) {
		return nil, fmt.Errorf("engine: opaque signer cannot sign %s", alg)
	}
	pub := o.Public()
	if pub == nil {
		return nil, errors.New("engine: opaque signer has no public key")
	}
	mismatch := fmt.Errorf("engine: opaque signer's key of type %T cannot sign %s", pub.Key, alg)
	switch k := pub.Key.(type) {
	case *rsa.PublicKey:
		if alg[:2] != "RS" && alg[:2] != "PS" || k.N == nil || k.N.BitLen() < 2048 {
			return nil, mismatch
		}
		s.sigLen = k.Size()
	case *ecdsa.PublicKey:
		if k.Curve == nil || k.Curve.Params().BitSize != ecBits[alg] {
			return nil, mismatch
		}
		s.sigLen = 2 * ((ecBits[alg] + 7) / 8)
	case ed25519.PublicKey:
		if alg != "EdDSA" {
			return nil, mismatch
		}
		s.sigLen = ed25519.SignatureSize
	default:
		return nil, mismatch
	}
	cs, _ := o.(contextSigner)
	var check func(in, sig []byte) bool
	if sv, ok := o.(selfVerifying); !ok || !sv.VerifiesSignatures() {
		check = verifier(alg, pub.Key)
	}
	s.sign = func(ctx context.Context, in []byte) ([]byte, error) {
		var (
			sig []byte
			err error
		)
		if cs != nil {
			sig, err = cs.SignPayloadContext(ctx, in, a)
		} else {
			sig, err = o.SignPayload(in, a)
		}
		switch {
		case err != nil:
			return nil, err
		case len(sig) != s.sigLen:
			return nil, errSignatureSize
		case check != nil && !check(in, sig):
			return nil, errBadSignature
		}
		return sig, nil
	}
	return s, nil
}

// verifier returns a check of alg signatures by pub, whose type fits alg.
func verifier(alg string, pub any) func(in, sig []byte) bool {
	h := algHash[alg]
	switch k := pub.(type) {
	case *rsa.PublicKey:
		if alg[0] == 'P' {
			pss := &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthEqualsHash, Hash: h}
			return func(in, sig []byte) bool { return rsa.VerifyPSS(k, h, digest(h, in), sig, pss) == nil }
		}
		return func(in, sig []byte) bool { return rsa.VerifyPKCS1v15(k, h, digest(h, in), sig) == nil }
	case *ecdsa.PublicKey:
		return func(in, sig []byte) bool {
			n := len(sig) / 2
			r, s := new(big.Int).SetBytes(sig[:n]), new(big.Int).SetBytes(sig[n:])
			return ecdsa.Verify(k, digest(h, in), r, s)
		}
	case ed25519.PublicKey:
		return func(in, sig []byte) bool { return ed25519.Verify(k, in, sig) }
	}
	return func([]byte, []byte) bool { return false }
}

// sameOpaque reports whether a and b are the same opaque signer: equal
// interface values of a comparable type (a pointer, in practice). Values
// of a type that cannot be compared are never the same, so a signer held
// by value is prepared on every exchange rather than compared with a
// panic.
func sameOpaque(a jose.OpaqueSigner, b any) bool {
	o, ok := b.(jose.OpaqueSigner)
	return ok && reflect.TypeOf(a) == reflect.TypeOf(o) && reflect.TypeOf(a).Comparable() && a == o
}
