// Package signer turns a crypto.Signer whose private key lives outside the
// process — a cloud KMS, an HSM, Vault's transit engine, a PKCS#11 token —
// into a jose.JSONWebKey that a store.KeyStore can hold and the engine can
// sign tokens with.
//
// The key's Key is a *Opaque, which implements go-jose's OpaqueSigner, so
// the same key also works with jose.NewSigner. It supports RS256, RS384,
// RS512, PS256, PS384, PS512, ES256, ES384, ES512 and EdDSA; the algorithm
// must fit the public key (RSA of at least 2048 bits with exponent 65537,
// the curve of the ES algorithm, Ed25519 for EdDSA). ECDSA signers answer
// in ASN.1 DER; Opaque converts that to the fixed-width R‖S of RFC 7518
// §3.4 and refuses anything that is not one well-formed DER signature.
// Every signature is verified with the public key before it is handed out,
// so a faulty device can neither emit a token no one can verify nor, for
// RSA, leak its key through a faulty signature.
//
// The key cannot be serialized: a store that persists private keys (the
// PostgreSQL adapter) refuses it. Hold it in a store.Memory, or a KeyStore
// of your own, as engine.Config.Keys.
//
// crypto.Signer takes no context, so a call to a remote signer cannot be
// cancelled by the request that caused it: give such signers their own
// timeouts, or use NewFunc, whose SignFunc receives the exchange's context
// (the engine passes it through).
package signer

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/asn1"
	"errors"
	"fmt"
	"math/big"
	"unicode/utf8"

	"github.com/go-jose/go-jose/v4"
)

// ErrInvalidKey is wrapped by New and NewFunc errors: a key or algorithm
// the package cannot use.
var ErrInvalidKey = errors.New("signer: invalid key")

// ErrBadSignature is wrapped by SignPayload errors when the signer
// answered with something that is not a valid signature of the payload
// under the public key.
var ErrBadSignature = errors.New("signer: signer returned an invalid signature")

// SignFunc signs digest, as crypto.Signer.Sign does (for Ed25519 the
// whole message with opts.HashFunc() == 0), with the context of the
// request being served, so that a remote call can be cancelled or traced.
type SignFunc func(ctx context.Context, digest []byte, opts crypto.SignerOpts) ([]byte, error)

// Opaque signs JWS payloads with a key it cannot see. It implements
// jose.OpaqueSigner; it is safe for concurrent use if the underlying
// signer is. Its zero value is not usable: make one with New or NewFunc.
type Opaque struct {
	public jose.JSONWebKey
	alg    jose.SignatureAlgorithm
	hash   crypto.Hash // 0 for EdDSA
	size   int         // fixed signature size in bytes
	sign   SignFunc
}

// New returns a signing key for a KeyStore: a JSONWebKey with kid and
// alg whose Key is an *Opaque signing with s. s.Public() is read once,
// here. The alg must fit the public key; kid must be non-empty UTF-8.
//
// s.Sign is called without a context; see the package documentation.
func New(s crypto.Signer, alg, kid string) (jose.JSONWebKey, error) {
	if s == nil {
		return jose.JSONWebKey{}, fmt.Errorf("%w: nil signer", ErrInvalidKey)
	}
	return NewFunc(s.Public(), func(_ context.Context, digest []byte, opts crypto.SignerOpts) ([]byte, error) {
		return s.Sign(rand.Reader, digest, opts)
	}, alg, kid)
}

// NewFunc is New for a signer reached through a context-aware function:
// pub is the public key (*rsa.PublicKey, *ecdsa.PublicKey or
// ed25519.PublicKey) and sign produces signatures as crypto.Signer.Sign
// would. The engine calls sign with the exchange's context.
func NewFunc(pub crypto.PublicKey, sign SignFunc, alg, kid string) (jose.JSONWebKey, error) {
	bad := func(format string, a ...any) (jose.JSONWebKey, error) {
		return jose.JSONWebKey{}, fmt.Errorf("%w %q: "+format, append([]any{ErrInvalidKey, kid}, a...)...)
	}
	if kid == "" || !utf8.ValidString(kid) {
		return bad("kid empty or not UTF-8")
	}
	if sign == nil {
		return bad("nil sign function")
	}
	o := &Opaque{alg: jose.SignatureAlgorithm(alg), sign: sign}
	switch alg {
	case "RS256", "PS256", "ES256":
		o.hash = crypto.SHA256
	case "RS384", "PS384", "ES384":
		o.hash = crypto.SHA384
	case "RS512", "PS512", "ES512":
		o.hash = crypto.SHA512
	case "EdDSA":
	default:
		return bad("algorithm %q not supported", alg)
	}
	switch k := pub.(type) {
	case *rsa.PublicKey:
		if alg[:2] != "RS" && alg[:2] != "PS" {
			return bad("RSA key declared %s", alg)
		}
		if k == nil || k.N == nil || k.N.BitLen() < 2048 {
			return bad("RSA key under 2048 bits")
		}
		if k.E != 65537 {
			return bad("RSA public exponent is not 65537")
		}
		o.size = k.Size()
	case *ecdsa.PublicKey:
		if k == nil || k.Curve == nil {
			return bad("incomplete EC key")
		}
		if _, err := k.Bytes(); err != nil {
			return bad("incomplete EC key")
		}
		if want := curves[alg]; want == nil || k.Curve != want {
			return bad("EC key on %s declared %s", k.Curve.Params().Name, alg)
		}
		o.size = 2 * ((k.Curve.Params().BitSize + 7) / 8)
	case ed25519.PublicKey:
		if alg != "EdDSA" {
			return bad("Ed25519 key declared %s", alg)
		}
		if len(k) != ed25519.PublicKeySize {
			return bad("Ed25519 key of %d bytes", len(k))
		}
		o.size = ed25519.SignatureSize
	default:
		return bad("public key of type %T not supported", pub)
	}
	o.public = jose.JSONWebKey{Key: pub, KeyID: kid, Algorithm: alg, Use: "sig"}
	return jose.JSONWebKey{Key: o, KeyID: kid, Algorithm: alg, Use: "sig"}, nil
}

var curves = map[string]elliptic.Curve{
	"ES256": elliptic.P256(), "ES384": elliptic.P384(), "ES512": elliptic.P521(),
}

// Public implements jose.OpaqueSigner: the public half, with kid, alg
// and use "sig". The caller must not modify it.
func (o *Opaque) Public() *jose.JSONWebKey {
	pub := o.public
	return &pub
}

// Algs implements jose.OpaqueSigner: the one algorithm o was made for.
func (o *Opaque) Algs() []jose.SignatureAlgorithm {
	return []jose.SignatureAlgorithm{o.alg}
}

// SignatureSize is the size in bytes of every signature o produces.
func (o *Opaque) SignatureSize() int { return o.size }

// VerifiesSignatures reports that o verifies every signature with its
// public key before returning it, so the engine need not verify it again.
func (o *Opaque) VerifiesSignatures() bool { return true }

// SignPayload implements jose.OpaqueSigner, without a context.
func (o *Opaque) SignPayload(payload []byte, alg jose.SignatureAlgorithm) ([]byte, error) {
	return o.SignPayloadContext(context.Background(), payload, alg)
}

// SignPayloadContext signs payload (a JWS signing input) with alg, which
// must be o's algorithm, passing ctx to the signer. It returns the JWS
// signature: R‖S for ES*, verified with the public key before it is
// returned.
func (o *Opaque) SignPayloadContext(ctx context.Context, payload []byte, alg jose.SignatureAlgorithm) ([]byte, error) {
	if alg != o.alg {
		return nil, fmt.Errorf("signer: key %q signs %s, not %s", o.public.KeyID, o.alg, alg)
	}
	var (
		digest = payload
		opts   crypto.SignerOpts
	)
	if o.hash != 0 {
		digest = hashOf(o.hash, payload)
		opts = o.hash
		if alg[0] == 'P' {
			opts = &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthEqualsHash, Hash: o.hash}
		}
	} else {
		opts = crypto.Hash(0) // Ed25519 signs the message itself
	}
	sig, err := o.sign(ctx, digest, opts)
	if err != nil {
		return nil, fmt.Errorf("signer: key %q: %w", o.public.KeyID, err)
	}
	switch k := o.public.Key.(type) {
	case *rsa.PublicKey:
		if len(sig) != o.size {
			return nil, ErrBadSignature
		}
		if alg[0] == 'P' {
			err = rsa.VerifyPSS(k, o.hash, digest, sig, opts.(*rsa.PSSOptions))
		} else {
			err = rsa.VerifyPKCS1v15(k, o.hash, digest, sig)
		}
		if err != nil {
			return nil, ErrBadSignature
		}
		return sig, nil
	case *ecdsa.PublicKey:
		rs, err := derToJWS(sig, o.size/2)
		if err != nil || !ecdsa.VerifyASN1(k, digest, sig) {
			return nil, ErrBadSignature
		}
		return rs, nil
	case ed25519.PublicKey:
		if len(sig) != o.size || !ed25519.Verify(k, payload, sig) {
			return nil, ErrBadSignature
		}
		return sig, nil
	}
	return nil, ErrBadSignature // unreachable: NewFunc admits no other type
}

func hashOf(h crypto.Hash, b []byte) []byte {
	switch h {
	case crypto.SHA256:
		d := sha256.Sum256(b)
		return d[:]
	case crypto.SHA384:
		d := sha512.Sum384(b)
		return d[:]
	default:
		d := sha512.Sum512(b)
		return d[:]
	}
}

// derToJWS converts an ASN.1 DER ECDSA-Sig-Value (RFC 3279 §2.2.3) into
// the JWS form: R and S as big-endian integers of size bytes each. Only
// the one canonical DER encoding is accepted — encoding/asn1 alone lets
// extra elements inside the SEQUENCE through, so the values are encoded
// again and compared — and values that are not positive or do not fit
// are refused.
func derToJWS(der []byte, size int) ([]byte, error) {
	var v struct{ R, S *big.Int }
	rest, err := asn1.Unmarshal(der, &v)
	switch {
	case err != nil:
		return nil, err
	case len(rest) != 0:
		return nil, errors.New("trailing data after ECDSA signature")
	}
	if again, err := asn1.Marshal(v); err != nil || !bytes.Equal(again, der) {
		return nil, errors.New("ECDSA signature is not canonical DER")
	}
	switch {
	case v.R.Sign() <= 0 || v.S.Sign() <= 0:
		return nil, errors.New("ECDSA signature value not positive")
	case (v.R.BitLen()+7)/8 > size || (v.S.BitLen()+7)/8 > size:
		return nil, errors.New("ECDSA signature value too large")
	}
	out := make([]byte, 2*size)
	v.R.FillBytes(out[:size])
	v.S.FillBytes(out[size:])
	return out, nil
}

var _ jose.OpaqueSigner = (*Opaque)(nil)
