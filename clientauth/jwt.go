package clientauth

import (
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/go-jose/go-jose/v4"
	josejson "github.com/go-jose/go-jose/v4/json"
	"github.com/go-jose/go-jose/v4/jwt"

	"github.com/deputyauth/deputy/engine"
	"github.com/deputyauth/deputy/store"
)

// Defaults of JWTConfig's zero fields.
const (
	// DefaultMaxAssertionLifetime bounds how far ahead an assertion's exp
	// may lie: assertions are made for one request.
	DefaultMaxAssertionLifetime = 5 * time.Minute
	// DefaultMaxAssertionSize caps an assertion in bytes.
	DefaultMaxAssertionSize = 8 << 10
)

// JWTConfig configures PrivateKeyJWT. It is checked once by
// PrivateKeyJWT and must not be modified afterwards.
type JWTConfig struct {
	// Audience lists the values an assertion's aud must contain one of,
	// compared exactly: the token endpoint's URL and/or the issuer
	// identifier (RFC 7523 §3, item 3). Required.
	Audience []string
	// Keys returns the public keys registered for a client, e.g. from its
	// registration's jwks. Required. An error wrapping store.ErrNotFound
	// means the client has none (invalid_client); any other error is
	// server_error. Private or symmetric keys among them are ignored.
	Keys func(ctx context.Context, clientID string) ([]jose.JSONWebKey, error)
	// Replay makes every assertion single-use by its jti, kept until the
	// assertion expires. Required. Entries are namespaced ("ca:" and a
	// digest of client and jti) apart from the engine's source-token
	// entries, so one kind of token can never spend the other.
	Replay store.ReplayCache
	// Algorithms are the accepted JWS algorithms. nil means every
	// asymmetric one (RS256-512, PS256-512, ES256-512, EdDSA); HS* and
	// none are refused: a client's key is public, and an HMAC keyed with
	// it proves nothing.
	Algorithms []string
	// MaxLifetime bounds exp: at most this far after now (plus
	// ClockSkew). 0 means DefaultMaxAssertionLifetime.
	MaxLifetime time.Duration
	// ClockSkew is the leeway for exp, nbf and iat. 0 means none.
	ClockSkew time.Duration
	// MaxSize caps an assertion in bytes; larger ones are refused before
	// parsing. 0 means DefaultMaxAssertionSize.
	MaxSize int
	// Now returns the current time. nil means time.Now.
	Now func() time.Time
}

var asymmetric = []string{"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"}

type privateKeyJWT struct {
	cfg  JWTConfig
	algs []jose.SignatureAlgorithm
}

// PrivateKeyJWT returns a ClientAuthenticator for private_key_jwt (RFC
// 7523 §2.2, §3; OpenID Connect Core §9): the request carries
// client_assertion_type urn:ietf:params:oauth:client-assertion-type:jwt-bearer
// and a client_assertion, a compact JWS signed with one of the client's
// registered keys, whose claims say iss = sub = client_id, aud contains
// one of Audience, exp (required) has not passed and lies within
// MaxLifetime, nbf and iat (optional) have been reached, and jti
// (required) has not been used. A client_secret is refused.
//
// The JOSE header may carry only alg, kid and typ (absent, "JWT" or
// "client-authentication+jwt"): an embedded or referenced key (jwk, jku,
// x5c, x5u), crit, b64, cty and JWE parameters are refused, as the engine
// refuses them in source tokens, and so is a token deputy minted. With a
// kid, only keys with that kid are tried; a key's alg, when set, must be
// the header's, and its type must fit it.
//
// Every refusal wraps engine.ErrInvalidClient; a key lookup or replay
// cache failure is returned as it is (server_error). Under
// engine.CheckOnly (Exchanger.Authenticate) everything but the jti is
// checked: a ReplayCache can only consume, so a spent assertion still
// passes Authenticate, and Exchange refuses it.
func PrivateKeyJWT(cfg JWTConfig) (engine.ClientAuthenticator, error) {
	var errs []error
	bad := func(format string, a ...any) { errs = append(errs, fmt.Errorf(format, a...)) }
	if len(cfg.Audience) == 0 || slices.Contains(cfg.Audience, "") {
		bad("Audience is required and may not hold an empty value")
	}
	if cfg.Keys == nil {
		bad("Keys is required")
	}
	if cfg.Replay == nil {
		bad("Replay is required: assertions must be single-use")
	}
	if cfg.MaxLifetime < 0 || cfg.ClockSkew < 0 || cfg.MaxSize < 0 {
		bad("MaxLifetime, ClockSkew and MaxSize may not be negative")
	}
	if cfg.Algorithms == nil {
		cfg.Algorithms = asymmetric
	}
	p := &privateKeyJWT{}
	for _, a := range cfg.Algorithms {
		if !store.IsAsymmetric(a) {
			bad("algorithm %q is not an accepted asymmetric algorithm", a)
		}
		p.algs = append(p.algs, jose.SignatureAlgorithm(a))
	}
	if len(cfg.Algorithms) == 0 {
		bad("Algorithms is empty")
	}
	if len(errs) > 0 {
		return nil, fmt.Errorf("clientauth: invalid JWTConfig: %w", errors.Join(errs...))
	}
	if cfg.MaxLifetime == 0 {
		cfg.MaxLifetime = DefaultMaxAssertionLifetime
	}
	if cfg.MaxSize == 0 {
		cfg.MaxSize = DefaultMaxAssertionSize
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	cfg.Audience = slices.Clone(cfg.Audience)
	p.cfg = cfg
	return p, nil
}

// refusedHeaders are the header parameters never honoured, as in the
// engine's source tokens, plus deputy's own mark of a minted token.
var refusedHeaders = []jose.HeaderKey{
	"jku", "x5u", "crit", "b64", "cty", "zip", "enc", "epk", "p2s", "p2c", "iv", "tag", "deputy",
}

var noRoots = x509.NewCertPool()

// assertionClaims are the claims RFC 7523 §3 speaks of. Strings that are
// not strings fail decoding.
type assertionClaims struct {
	Issuer   string           `json:"iss"`
	Subject  string           `json:"sub"`
	Audience jwt.Audience     `json:"aud"`
	Expiry   *jwt.NumericDate `json:"exp"`
	NotBef   *jwt.NumericDate `json:"nbf"`
	IssuedAt *jwt.NumericDate `json:"iat"`
	ID       string           `json:"jti"`
}

// maxJTILength bounds a jti: it is hashed, but a megabyte of it is no ID.
const maxJTILength = 256

func (p *privateKeyJWT) AuthenticateClient(ctx context.Context, c *store.Client, req *engine.Request) error {
	switch {
	case req.ClientSecret != "":
		return refuse("client secret sent by a private_key_jwt client")
	case req.ClientAssertion == "":
		return refuse("no client assertion")
	case req.ClientAssertionType != engine.ClientAssertionTypeJWT:
		return refuse("client assertion type is not jwt-bearer")
	case len(req.ClientAssertion) > p.cfg.MaxSize:
		return refuse("client assertion too large")
	}
	jws, err := jose.ParseSignedCompact(req.ClientAssertion, p.algs)
	if err != nil {
		return refuse("client assertion is not a JWS of an accepted algorithm")
	}
	h := jws.Signatures[0].Header
	if err := checkHeader(&h); err != nil {
		return err
	}
	keys, err := p.cfg.Keys(ctx, c.ID)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return refuse("client has no registered keys")
	case err != nil:
		return fmt.Errorf("clientauth: client keys: %w", err)
	}
	payload, ok := verifyWithAny(jws, h, keys)
	if !ok {
		return refuse("client assertion signature does not verify with a registered key")
	}
	var cl assertionClaims
	if err := josejson.Unmarshal(payload, &cl); err != nil {
		return refuse("client assertion claims malformed")
	}
	now := p.cfg.Now()
	skew := p.cfg.ClockSkew
	switch {
	case cl.Issuer != c.ID || cl.Subject != c.ID:
		return refuse("client assertion iss and sub must be the client_id")
	case !slices.ContainsFunc(cl.Audience, func(a string) bool { return slices.Contains(p.cfg.Audience, a) }):
		return refuse("client assertion aud is not this server")
	case cl.Expiry == nil:
		return refuse("client assertion has no exp")
	case !now.Before(cl.Expiry.Time().Add(skew)):
		return refuse("client assertion expired")
	case cl.Expiry.Time().After(now.Add(p.cfg.MaxLifetime + skew)):
		return refuse("client assertion exp too far ahead")
	case cl.NotBef != nil && cl.NotBef.Time().After(now.Add(skew)):
		return refuse("client assertion not yet valid (nbf)")
	case cl.IssuedAt != nil && cl.IssuedAt.Time().After(now.Add(skew)):
		return refuse("client assertion issued in the future (iat)")
	case cl.ID == "" || len(cl.ID) > maxJTILength:
		return refuse("client assertion has no usable jti")
	}
	if engine.CheckOnly(ctx) {
		return nil
	}
	ttl := cl.Expiry.Time().Add(skew).Sub(now)
	if ttl < time.Second {
		ttl = time.Second
	}
	first, err := p.cfg.Replay.Use(ctx, replayID(c.ID, cl.ID), ttl)
	switch {
	case err != nil:
		return fmt.Errorf("clientauth: replay cache: %w", err)
	case !first:
		return refuse("client assertion already used (jti)")
	}
	return nil
}

// checkHeader refuses what the engine refuses in source tokens' headers
// and any typ but JWT and client-authentication+jwt.
func checkHeader(h *jose.Header) error {
	if h.JSONWebKey != nil {
		return refuse("client assertion header embeds a key")
	}
	for _, k := range refusedHeaders {
		if _, ok := h.ExtraHeaders[k]; ok {
			return refuse("client assertion header parameter " + string(k) + " not accepted")
		}
	}
	if _, err := h.Certificates(x509.VerifyOptions{Roots: noRoots}); !errors.Is(err, jose.ErrMissingX5cHeader) {
		return refuse("client assertion header parameter x5c not accepted")
	}
	if v, ok := h.ExtraHeaders[jose.HeaderType]; ok {
		typ, _ := v.(string)
		typ = strings.TrimPrefix(strings.ToLower(typ), "application/")
		if typ != "jwt" && typ != "client-authentication+jwt" {
			return refuse("client assertion typ not accepted")
		}
	}
	return nil
}

// verifyWithAny tries the client's public keys that may have signed a
// token with header h, and returns the payload of the first that
// verifies it.
func verifyWithAny(jws *jose.JSONWebSignature, h jose.Header, keys []jose.JSONWebKey) ([]byte, bool) {
	for i := range keys {
		k := &keys[i]
		switch {
		case !k.IsPublic() || !k.Valid():
			continue // never a private or symmetric key: a key is public
		case h.KeyID != "" && k.KeyID != h.KeyID:
			continue
		case k.Use != "" && k.Use != "sig":
			continue
		case k.Algorithm != "" && k.Algorithm != h.Algorithm:
			continue
		case !fits(k.Key, h.Algorithm):
			continue
		}
		if payload, err := jws.Verify(k.Key); err == nil {
			return payload, true
		}
	}
	return nil, false
}

// fits reports whether a public key is of the type alg needs.
func fits(key any, alg string) bool {
	switch k := key.(type) {
	case *rsa.PublicKey:
		return (strings.HasPrefix(alg, "RS") || strings.HasPrefix(alg, "PS")) && k.N.BitLen() >= 2048
	case *ecdsa.PublicKey:
		bits := map[string]int{"ES256": 256, "ES384": 384, "ES512": 521}[alg]
		return bits != 0 && k.Curve.Params().BitSize == bits
	case ed25519.PublicKey:
		return alg == "EdDSA"
	}
	return false
}

// replayID names an assertion in the replay cache: "ca:" and a digest of
// the client and the jti, length-prefixed. The engine's own entries are
// bare base64url digests, which never contain ':'.
func replayID(client, jti string) string {
	h := sha256.New()
	var n [8]byte
	for _, part := range [...]string{"deputy client assertion", client, jti} {
		binary.BigEndian.PutUint64(n[:], uint64(len(part)))
		h.Write(n[:])
		h.Write([]byte(part))
	}
	return "ca:" + base64.RawURLEncoding.EncodeToString(h.Sum(nil))
}
