package engine

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"maps"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/deputyauth/deputy/scope"
	"github.com/deputyauth/deputy/store"
)

// signerKey names a prepared signer. HMAC secrets are named per client,
// since secret IDs are unique only within a client; asymmetric keys by kid.
type signerKey struct {
	alg, typ, client, kid string
}

// cachedSigner is a prepared signer and the key material it was made
// from. A cache hit is used only if the store still hands out that
// same material under that name, so a replaced or removed key is never used
// to sign: the store is asked on every exchange, the cache only saves
// preparing the signer.
type cachedSigner struct {
	key    any // []byte secret, or the private key as the store returned it
	signer *jwsSigner
}

// signerCacheMax bounds the signer cache; it is emptied when full, which
// only costs re-preparing signers.
const signerCacheMax = 4096

type signerCache struct {
	mu sync.RWMutex
	m  map[signerKey]*cachedSigner
}

func (c *signerCache) get(k signerKey, key any) *jwsSigner {
	c.mu.RLock()
	e := c.m[k]
	c.mu.RUnlock()
	if e != nil && sameKey(e.key, key) {
		return e.signer
	}
	return nil
}

func (c *signerCache) put(k signerKey, key any, s *jwsSigner) {
	c.mu.Lock()
	if c.m == nil || len(c.m) >= signerCacheMax {
		c.m = make(map[signerKey]*cachedSigner)
	}
	c.m[k] = &cachedSigner{key: key, signer: s}
	c.mu.Unlock()
}

// sameKey reports whether two keys are the same material. Pointer keys
// (RSA, ECDSA) compare by identity, which stores that hand out immutable
// snapshots keep stable; byte keys by content; opaque signers (keys
// outside the process) as sameOpaque says.
func sameKey(a, b any) bool {
	switch a := a.(type) {
	case []byte:
		b, ok := b.([]byte)
		return ok && bytes.Equal(a, b)
	case ed25519.PrivateKey:
		b, ok := b.(ed25519.PrivateKey)
		return ok && bytes.Equal(a, b)
	case jose.OpaqueSigner:
		return sameOpaque(a, b)
	}
	switch b.(type) {
	case []byte, ed25519.PrivateKey, jose.OpaqueSigner:
		return false
	}
	return a == b
}

// signer returns a prepared signer for the target's current key and that
// key's kid. Tokens carry typ.
func (x *Exchanger) signer(ctx context.Context, target *store.Client, typ string, now time.Time) (*jwsSigner, *Error) {
	alg := target.SigningAlg
	var (
		name signerKey
		key  any
	)
	if store.IsHMAC(alg) {
		var s *store.Secret
		for i := range target.Secrets {
			if target.Secrets[i].Active(now) {
				s = &target.Secrets[i]
				break
			}
		}
		if s == nil {
			return nil, serverError("target has no active secret", nil)
		}
		name, key = signerKey{alg: alg, client: target.ID, kid: s.ID}, s.Value
	} else {
		if x.cfg.Keys == nil {
			return nil, serverError("no key store configured for asymmetric algorithms", nil)
		}
		k, err := x.cfg.Keys.SigningKey(ctx, alg)
		if err != nil {
			return nil, serverError("no signing key for the target's algorithm", err)
		}
		if k.Algorithm != alg || k.KeyID == "" || k.IsPublic() {
			return nil, serverError("key store returned an unusable signing key", nil)
		}
		name, key = signerKey{alg: alg, kid: k.KeyID}, k.Key
	}
	name.typ = typ
	if s := x.signers.get(name, key); s != nil {
		return s, nil
	}
	s, err := newJWSSigner(alg, name.kid, typ, key)
	if err != nil {
		return nil, serverError("cannot prepare signer", err)
	}
	x.signers.put(name, key, s)
	return s, nil
}

// newJTI returns a random 128-bit token ID, base64url without padding.
func newJTI() (string, error) {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", err
	}
	return b64.EncodeToString(b[:]), nil
}

// payloads recycles payload buffers: a payload is dead once signed.
var payloads = sync.Pool{New: func() any { b := make([]byte, 0, 1024); return &b }}

// mintJWT signs the token of shape for g with signer: the registered
// claims the engine owns, then the claims of src that g.Scope releases,
// encoded straight from src.claims without building a filtered map.
func (x *Exchanger) mintJWT(ctx context.Context, g *Grant, signer *jwsSigner, shape *tokenShape, src *verified) (token, jti string, err *Error) {
	jti, rerr := newJTI()
	if rerr != nil {
		return "", "", serverError("no randomness for jti", rerr)
	}
	iat := g.IssuedAt.Unix()
	pp := payloads.Get().(*[]byte)
	defer func() {
		if cap(*pp) <= 64<<10 {
			payloads.Put(pp)
		}
	}()
	payload := (*pp)[:0]
	payload = append(payload, `{"iss":`...)
	payload = appendJSONString(payload, x.cfg.Issuer)
	payload = append(payload, `,"sub":`...)
	payload = appendJSONString(payload, g.Subject)
	payload = append(payload, `,"aud":`...)
	payload = appendJSONString(payload, g.Target.ID)
	if shape.access {
		payload = append(payload, `,"client_id":`...)
	} else {
		payload = append(payload, `,"azp":`...)
	}
	payload = appendJSONString(payload, g.Requester.ID)
	payload = append(payload, `,"iat":`...)
	payload = strconv.AppendInt(payload, iat, 10)
	payload = append(payload, `,"exp":`...)
	payload = strconv.AppendInt(payload, iat+int64(g.Lifetime/time.Second), 10)
	payload = append(payload, `,"jti":`...)
	payload = appendJSONString(payload, jti)
	if shape.access {
		payload = append(payload, `,"scope":"`...)
		for i, t := range g.Scope {
			if i > 0 {
				payload = append(payload, ' ')
			}
			payload = append(payload, t...) // scope tokens need no escaping
		}
		payload = append(payload, '"')
	}
	var merr error
	for _, c := range [...]struct {
		prefix string
		v      any
	}{{`,"act":`, src.act}, {`,"may_act":`, src.mayAct}} {
		if c.v == nil {
			continue
		}
		payload = append(payload, c.prefix...)
		if payload, merr = appendJSONValue(payload, c.v); merr != nil {
			return "", "", serverError("cannot encode claims", merr)
		}
	}
	var namesBuf [32]string
	if g.Claims != nil {
		// A Policy settled the claims.
		names := slices.AppendSeq(namesBuf[:0], maps.Keys(g.Claims))
		slices.Sort(names)
		payload, merr = appendClaims(payload, g.Claims, names)
	} else {
		payload, merr = appendClaims(payload, src.claims, x.cfg.Scopes.Released(src.claims, scope.Set(g.Scope), namesBuf[:0]))
	}
	if merr != nil {
		return "", "", serverError("cannot encode claims", merr)
	}
	payload = append(payload, '}')
	*pp = payload
	token, serr := signer.Sign(ctx, payload)
	if serr != nil {
		return "", "", serverError("cannot sign", serr)
	}
	return token, jti, nil
}

// errMinterWidened is the cause when a Minter answers beyond its grant.
var errMinterWidened = errors.New("engine: minter returned a lifetime beyond its grant")

// errPolicyViolation is the cause when a Policy widens what it was given.
var errPolicyViolation = errors.New("engine: policy went beyond its grant")

// mintWith runs an add-on minter on a private copy of g, without the
// caller's credentials, and checks what it returns.
func (x *Exchanger) mintWith(ctx context.Context, m Minter, g *Grant) (res *Response, err *Error) {
	out, merr := m.Mint(ctx, grantCopy(g))
	switch {
	case merr != nil:
		return nil, serverError("minter failed", opaqueCause("minter", merr))
	case out == nil:
		return nil, serverError("minter returned nothing", nil)
	case out.ExpiresIn > int64(g.Lifetime/time.Second) || out.ExpiresIn < 0:
		return nil, serverError("minter failed", errMinterWidened)
	}
	return out, nil
}

// opaqueCause hides an *Error that code outside the engine (a Minter, a
// Policy) put in a cause chain behind its text, so that
// errors.Is(err, ErrInvalidClient) cannot hold for an answer with another
// code: a code is matched only at the top of the chain.
func opaqueCause(who string, err error) error {
	var e *Error
	if errors.As(err, &e) {
		return errors.New(who + ": " + err.Error())
	}
	return err
}
