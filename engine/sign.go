package engine

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/hmac"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/base64"
	"errors"
	"fmt"
	"hash"
	"sync"
	"unsafe"

	"github.com/go-jose/go-jose/v4"
)

var b64 = base64.RawURLEncoding

// mintedHeader is a protected header parameter only deputy writes. It marks
// a token as minted here, so that it is never taken as a source again: a
// token minted for a client that may delegate to itself has exactly the
// shape of that client's id_token, and without the mark could be renewed
// forever. The target's signature covers it, so it cannot be stripped; a
// relying party ignores it (RFC 7515 §4: unknown parameters not in crit).
const mintedHeader = "deputy"

// jwsSigner signs compact JWS (RFC 7515 §7.1) with one key. Its protected
// header never changes, so it is serialized and encoded once; a signature
// costs the payload's encoding and the cryptography. Tokens are verified
// with go-jose (tests do so for every algorithm); only signing, where deputy
// chooses every input, is done here.
type jwsSigner struct {
	kid    string // the header's kid, for Event.KeyID
	prefix []byte // base64url(header) "."
	sigLen int    // signature size in bytes
	// sign returns the signature over header.payload.
	sign func(ctx context.Context, input []byte) ([]byte, error)
}

// newJWSSigner prepares a signer for alg with key, whose header names kid
// and typ. The key's type must fit alg.
func newJWSSigner(alg, kid, typ string, key any) (*jwsSigner, error) {
	s := &jwsSigner{kid: kid}
	hdr := append([]byte(`{"alg":`), `"`+alg+`"`...)
	hdr = append(hdr, `,"`+mintedHeader+`":1,"kid":`...)
	hdr = appendJSONString(hdr, kid)
	hdr = append(hdr, `,"typ":`...)
	hdr = appendJSONString(hdr, typ)
	hdr = append(hdr, '}')
	s.prefix = append(b64.AppendEncode(nil, hdr), '.')

	h, ok := algHash[alg]
	if !ok && alg != "EdDSA" {
		return nil, fmt.Errorf("engine: cannot sign with %q", alg)
	}
	if o, ok := key.(jose.OpaqueSigner); ok {
		return opaqueJWSSigner(s, alg, o)
	}
	mismatch := fmt.Errorf("engine: key of type %T cannot sign %s", key, alg)
	switch alg[:2] {
	case "HS":
		secret, ok := key.([]byte)
		if !ok || len(secret) < h.Size() {
			return nil, mismatch
		}
		pool := &sync.Pool{New: func() any { return hmac.New(h.New, secret) }}
		s.sigLen = h.Size()
		s.sign = func(_ context.Context, in []byte) ([]byte, error) {
			m := pool.Get().(hash.Hash)
			m.Reset()
			m.Write(in)
			sig := m.Sum(make([]byte, 0, h.Size()))
			pool.Put(m)
			return sig, nil
		}
	case "RS", "PS":
		k, ok := key.(*rsa.PrivateKey)
		if !ok || k.N.BitLen() < 2048 {
			return nil, mismatch
		}
		s.sigLen = k.Size()
		pss := &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthEqualsHash}
		s.sign = func(_ context.Context, in []byte) ([]byte, error) {
			d := digest(h, in)
			if alg[0] == 'P' {
				return rsa.SignPSS(rand.Reader, k, h, d, pss)
			}
			return rsa.SignPKCS1v15(nil, k, h, d)
		}
	case "ES":
		k, ok := key.(*ecdsa.PrivateKey)
		if !ok || k.Curve.Params().BitSize != ecBits[alg] {
			return nil, mismatch
		}
		size := (ecBits[alg] + 7) / 8
		s.sigLen = 2 * size
		s.sign = func(_ context.Context, in []byte) ([]byte, error) {
			r, ss, err := ecdsa.Sign(rand.Reader, k, digest(h, in))
			if err != nil {
				return nil, err
			}
			// RFC 7518 §3.4: R and S as fixed-size big-endian integers.
			sig := make([]byte, 2*size)
			r.FillBytes(sig[:size])
			ss.FillBytes(sig[size:])
			return sig, nil
		}
	case "Ed":
		k, ok := key.(ed25519.PrivateKey)
		if !ok || len(k) != ed25519.PrivateKeySize {
			return nil, mismatch
		}
		s.sigLen = ed25519.SignatureSize
		s.sign = func(_ context.Context, in []byte) ([]byte, error) { return ed25519.Sign(k, in), nil }
	default:
		return nil, errors.New("engine: unknown algorithm family")
	}
	return s, nil
}

var algHash = map[string]crypto.Hash{
	"HS256": crypto.SHA256, "HS384": crypto.SHA384, "HS512": crypto.SHA512,
	"RS256": crypto.SHA256, "RS384": crypto.SHA384, "RS512": crypto.SHA512,
	"PS256": crypto.SHA256, "PS384": crypto.SHA384, "PS512": crypto.SHA512,
	"ES256": crypto.SHA256, "ES384": crypto.SHA384, "ES512": crypto.SHA512,
}

var ecBits = map[string]int{"ES256": 256, "ES384": 384, "ES512": 521}

// digest hashes in without allocating a hash state.
func digest(h crypto.Hash, in []byte) []byte {
	switch h {
	case crypto.SHA256:
		d := sha256.Sum256(in)
		return d[:]
	case crypto.SHA384:
		d := sha512.Sum384(in)
		return d[:]
	default:
		d := sha512.Sum512(in)
		return d[:]
	}
}

// Sign returns the compact JWS of payload. ctx reaches a signer outside
// the process (see opaqueJWSSigner).
func (s *jwsSigner) Sign(ctx context.Context, payload []byte) (string, error) {
	n := len(s.prefix) + b64.EncodedLen(len(payload))
	buf := make([]byte, n, n+1+b64.EncodedLen(s.sigLen))
	copy(buf, s.prefix)
	b64.Encode(buf[len(s.prefix):], payload)
	sig, err := s.sign(ctx, buf)
	if err != nil {
		return "", err
	}
	buf = append(buf, '.')
	buf = b64.AppendEncode(buf, sig)
	// buf is complete and never written again: hand it over as the string
	// without copying, as strings.Builder does.
	return unsafe.String(unsafe.SliceData(buf), len(buf)), nil
}
