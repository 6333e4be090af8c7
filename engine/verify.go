package engine

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"hash"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/go-jose/go-jose/v4"

	"github.com/deputyauth/deputy/claims"
	"github.com/deputyauth/deputy/scope"
	"github.com/deputyauth/deputy/store"
)

// algLists holds one single-algorithm allow list per algorithm, so that
// parsing never builds one: a token is parsed for its client's algorithm
// and no other.
var algLists = func() map[string][]jose.SignatureAlgorithm {
	m := make(map[string][]jose.SignatureAlgorithm)
	for _, a := range []jose.SignatureAlgorithm{
		jose.HS256, jose.HS384, jose.HS512, jose.RS256, jose.RS384, jose.RS512,
		jose.PS256, jose.PS384, jose.PS512, jose.ES256, jose.ES384, jose.ES512, jose.EdDSA,
	} {
		m[string(a)] = []jose.SignatureAlgorithm{a}
	}
	return m
}()

// refusedHeaders are JOSE header parameters deputy never honours: key
// references and
// embedded keys (a key is never taken from a token), crit and b64 (RFC 7797
// unencoded payloads, which go-jose would accept), cty (nested JWTs) and
// JWE-only parameters.
var refusedHeaders = []jose.HeaderKey{
	"jku", "x5u", "crit", "b64", "cty", "zip", "enc", "epk", "p2s", "p2c", "iv", "tag",
}

// noRoots makes Header.Certificates fail fast without loading system roots:
// it is only called to learn whether an x5c header is present.
var noRoots = x509.NewCertPool()

// verified is a source token that passed every check of its dialect.
type verified struct {
	claims  claims.Set
	subject string
	jti     string    // "" when absent
	expiry  time.Time // zero for refresh tokens
	// bounded is set when the source limits the scope it can be traded
	// for (a refresh grant's scope, an access token's scope claim): then
	// only scopes in bound may be granted, and an empty bound grants
	// nothing.
	bounded bool
	bound   scope.Set
	// kind is what a JWS source turned out to be.
	kind tokenKind
	// act is the act claim the minted token carries; nil for none.
	act any
	// mayAct is the may_act claim the minted token carries; nil for none.
	mayAct any
	// notAfter is when the source stops being good (a token's exp, a
	// refresh grant's ExpiresAt); zero means never. Dialects that run down
	// cap a minted token's exp at it.
	notAfter time.Time
}

// tokenKind is what a presented JWS must be, which decides its typ header
// and claim rules.
type tokenKind int

const (
	// kindIDToken is an id_token: typ absent or JWT, never minted by
	// deputy, azp naming the client when present or when aud has several
	// members.
	kindIDToken tokenKind = iota
	// kindAccessToken is an RFC 9068 access token: typ at+jwt required;
	// tokens deputy minted are accepted, so that services can chain.
	kindAccessToken
	// kindJWT is either of the above, as its typ header says.
	kindJWT
)

func grantErr(desc string, cause error) *Error { return newError(CodeInvalidGrant, desc, cause) }

// verifyJWS checks a compact JWS source token of the given kind issued by
// cfg.Issuer to client and returns its claims. Refusals are invalid_grant
// (a dialect may answer them with another code); store failures are
// server_error.
func (x *Exchanger) verifyJWS(ctx context.Context, token string, client *store.Client, kind tokenKind, now time.Time) (*verified, *Error) {
	if len(token) > x.cfg.MaxTokenSize {
		return nil, grantErr("token too large", nil)
	}
	// Compact serialization only: exactly three parts. This refuses JWE
	// (five parts) and JSON serialization before go-jose sees them; line
	// breaks are refused because base64 decoding would skip them.
	if strings.Count(token, ".") != 2 || strings.ContainsAny(token, "\r\n") {
		return nil, grantErr("token is not a compact JWS", nil)
	}
	algs, ok := algLists[client.SigningAlg]
	if !ok {
		return nil, serverError("client signing algorithm not supported", nil)
	}
	var (
		jws          *jose.JSONWebSignature // nil when the header was cached
		facts        headerFacts
		payload, sig []byte
	)
	header, rest, _ := strings.Cut(token, ".")
	hmacAlg := store.IsHMAC(client.SigningAlg)
	cached := false
	if hmacAlg {
		facts, cached = x.headers.get(client.SigningAlg, header)
	}
	if cached {
		// This exact header has been parsed by go-jose for this
		// algorithm and passed the header checks: what is left of
		// ParseSignedCompact is decoding the other two parts, as it
		// does.
		p, s, _ := strings.Cut(rest, ".")
		var err error
		if payload, err = base64.RawURLEncoding.DecodeString(p); err == nil {
			sig, err = base64.RawURLEncoding.DecodeString(s)
		}
		if err != nil {
			return nil, grantErr("token is malformed or not signed with the client's algorithm", err)
		}
	} else {
		var err error
		if jws, err = jose.ParseSignedCompact(token, algs); err != nil {
			return nil, grantErr("token is malformed or not signed with the client's algorithm", err)
		}
		var herr *Error
		if facts, herr = checkHeaderParams(&jws.Signatures[0].Header); herr != nil {
			return nil, herr
		}
		payload, sig = jws.UnsafePayloadWithoutVerification(), jws.Signatures[0].Signature
	}
	kind, herr := checkType(facts, kind)
	if herr != nil {
		return nil, herr
	}
	if !validKID(facts.kid) {
		return nil, grantErr("token kid is not acceptable", nil)
	}
	payload, verr := x.verifySignature(ctx, token, jws, payload, sig, facts.kid, client, now)
	if verr != nil {
		return nil, verr
	}
	if hmacAlg && !cached {
		x.headers.put(client.SigningAlg, header, facts)
	}
	// Numbers stay the text the token carried, so that a released claim
	// is byte for byte what the source said.
	c, perr := parseClaims(payload)
	if perr != nil {
		return nil, grantErr("token payload is not a JSON object", perr)
	}
	return x.checkClaims(c, client.ID, kind, now)
}

// maxKIDLength bounds the kid passed to a KeyStore: key IDs are short, and
// a store backed by a database should not be handed whatever a token says.
const maxKIDLength = 256

// validKID accepts a kid of printable characters within maxKIDLength.
func validKID(kid string) bool {
	if len(kid) > maxKIDLength || !utf8.ValidString(kid) {
		return false
	}
	for _, r := range kid {
		if r < 0x20 || r == 0x7f {
			return false
		}
	}
	return true
}

// headerFacts is what checkType needs of a header that passed
// checkHeaderParams, and what headerCache keeps.
type headerFacts struct {
	kid    string
	typ    string // without "application/"
	hasTyp bool   // typ present (a string)
	minted bool   // mintedHeader present
}

// checkHeaderParams refuses the header parameters deputy never honours and
// a typ that is not a string, and returns what checkType needs: the part
// of the header checks that does not depend on the kind of token expected.
func checkHeaderParams(h *jose.Header) (headerFacts, *Error) {
	facts := headerFacts{kid: h.KeyID}
	if h.JSONWebKey != nil {
		return facts, grantErr("token header embeds a key", nil)
	}
	for _, k := range refusedHeaders {
		if _, ok := h.ExtraHeaders[k]; ok {
			return facts, grantErr("token header parameter "+string(k)+" is not accepted", nil)
		}
	}
	if _, err := h.Certificates(x509.VerifyOptions{Roots: noRoots}); !errors.Is(err, jose.ErrMissingX5cHeader) {
		return facts, grantErr("token header parameter x5c is not accepted", nil)
	}
	if v, ok := h.ExtraHeaders[jose.HeaderType]; ok {
		typ, isString := v.(string)
		if !isString {
			return facts, grantErr("token type not accepted here", nil)
		}
		// RFC 7515 §4.1.9: "application/" may be omitted, so both forms
		// name the same type.
		if len(typ) > len("application/") && strings.EqualFold(typ[:len("application/")], "application/") {
			typ = typ[len("application/"):]
		}
		facts.typ, facts.hasTyp = typ, true
	}
	_, facts.minted = h.ExtraHeaders[mintedHeader]
	return facts, nil
}

// checkType checks typ against kind. It returns the kind the token is,
// which for kindJWT the typ decides: at+jwt is an access token, anything
// else an id_token.
func checkType(facts headerFacts, kind tokenKind) (tokenKind, *Error) {
	typ, hasTyp := facts.typ, facts.hasTyp
	isAccess := hasTyp && strings.EqualFold(typ, "at+jwt")
	if kind == kindJWT {
		kind = kindIDToken
		if isAccess {
			kind = kindAccessToken
		}
	}
	switch kind {
	case kindAccessToken:
		// RFC 9068 §4: typ is required, so that no other JWT the issuer
		// signs can pass for an access token.
		if !isAccess {
			return kind, grantErr("token type not accepted here", nil)
		}
	default:
		if hasTyp && !strings.EqualFold(typ, "JWT") {
			return kind, grantErr("token type not accepted here", nil)
		}
		// A minted token is never an id_token source: a token minted for a
		// client that may delegate to itself has exactly the shape of that
		// client's id_token, and could otherwise be renewed forever.
		if facts.minted {
			return kind, grantErr("token header parameter "+mintedHeader+" is not accepted", nil)
		}
	}
	return kind, nil
}

// maxUnnamedKeys bounds the keys tried for a token without kid: enough for
// a rotation's overlap, too few to make a refused token expensive.
const maxUnnamedKeys = 3

// verifySignature verifies token with the client's key material only: its
// unexpired secrets for HS* (verifyHMAC, over payload and sig, the
// token's decoded parts), the KeyStore's keys declared for its algorithm
// otherwise (jws.Verify; jws is token parsed by go-jose, nil only for HS*
// tokens whose header was cached). A kid, when present, must name one of
// them; without one, each candidate is tried, if there are at most
// maxUnnamedKeys. It returns the verified payload.
func (x *Exchanger) verifySignature(ctx context.Context, token string, jws *jose.JSONWebSignature, payload, sig []byte, kid string, client *store.Client, now time.Time) ([]byte, *Error) {
	var buf [4]any
	candidates := buf[:0]
	if store.IsHMAC(client.SigningAlg) {
		for i := range client.Secrets {
			if s := &client.Secrets[i]; s.Active(now) && (kid == "" || s.ID == kid) {
				candidates = append(candidates, s.Value)
			}
		}
	} else {
		if x.cfg.Keys == nil {
			return nil, serverError("no key store configured for asymmetric algorithms", nil)
		}
		keys, err := x.cfg.Keys.VerificationKeys(ctx, kid)
		switch {
		case errors.Is(err, store.ErrNotFound):
			return nil, grantErr("token key not known for the client", err).because("token kid unknown to the key store")
		case err != nil:
			return nil, serverError("key store failed", err)
		}
		for i := range keys {
			// A key verifies only the algorithm it declares (go-jose
			// would let an RSA key verify any RS* or PS* token).
			if k := &keys[i]; k.Algorithm == client.SigningAlg && (kid == "" || k.KeyID == kid) && k.IsPublic() {
				candidates = append(candidates, k.Key)
			}
		}
	}
	switch {
	case len(candidates) == 0 && store.IsHMAC(client.SigningAlg):
		return nil, grantErr("token key not known for the client", nil).because("no active secret of the client matches the token kid")
	case len(candidates) == 0:
		return nil, grantErr("token key not known for the client", nil).because("no key of the client's algorithm matches the token kid")
	case kid == "" && len(candidates) > maxUnnamedKeys:
		// Each try costs a signature check; anyone can send a token.
		return nil, grantErr("token must name its key (kid)", nil)
	}
	var lastErr error
	for _, key := range candidates {
		var err error
		if secret, ok := key.([]byte); ok && store.IsHMAC(client.SigningAlg) {
			if err = verifyHMAC(client.SigningAlg, secret, token, sig); err == nil {
				return payload, nil
			}
		} else {
			if jws == nil {
				return nil, serverError("asymmetric token without its parse", nil)
			}
			verified, verr := jws.Verify(key)
			if verr == nil {
				return verified, nil
			}
			err = verr
		}
		lastErr = err
	}
	return nil, grantErr("token signature is invalid", lastErr)
}

// Why verifyHMAC refuses.
var (
	errHMACKeySize = errors.New("engine: HMAC secret shorter than the hash output")
	errHMACInvalid = errors.New("engine: invalid HMAC")
)

// verifyHMAC checks sig, the decoded signature of the compact JWS token,
// against the HMAC of its signing input under secret, as go-jose's Verify
// does for HS* (same key size rule, RFC 7518 §3.2; same constant-time
// comparison), without go-jose's second decoding of the header and its
// re-encoding of header and payload into new buffers: an HS256 source's
// verification was a sixth of an exchange. The caller has parsed token
// with go-jose for alg alone and checked its header (crit and b64 refused,
// so the payload is base64url).
//
// go-jose MACs the canonical base64url of the decoded header and payload,
// so a segment whose last character has spare bits set verifies as its
// canonical spelling does; appendCanonical makes those same bytes, so that
// this accepts exactly the tokens go-jose accepts
// (TestVerifyHMACMatchesGoJose).
func verifyHMAC(alg string, secret []byte, token string, sig []byte) error {
	var h func() hash.Hash
	switch alg {
	case "HS256":
		h = sha256.New
	case "HS384":
		h = sha512.New384
	case "HS512":
		h = sha512.New
	default:
		return errHMACInvalid
	}
	mac := hmac.New(h, secret)
	if len(secret) < mac.Size() {
		return errHMACKeySize
	}
	header, rest, ok := strings.Cut(token, ".")
	payload, _, ok2 := strings.Cut(rest, ".")
	if !ok || !ok2 {
		return errHMACInvalid
	}
	// The hash takes bytes: one pooled copy of the input rather than a
	// new one per segment.
	bp := signingInputs.Get().(*[]byte)
	in := appendCanonical((*bp)[:0], header)
	in = append(in, '.')
	in = appendCanonical(in, payload)
	mac.Write(in)
	if cap(in) <= maxPooledSigningInput {
		*bp = in
		signingInputs.Put(bp)
	}
	var sum [sha512.Size]byte
	if !hmac.Equal(mac.Sum(sum[:0]), sig) {
		return errHMACInvalid
	}
	return nil
}

// signingInputs holds verifyHMAC's buffers; one larger than
// maxPooledSigningInput is left to the collector.
var signingInputs = sync.Pool{New: func() any { b := make([]byte, 0, 1024); return &b }}

const maxPooledSigningInput = 16 << 10

// appendCanonical appends s, which base64.RawURLEncoding decodes, as the
// canonical encoding of what it decodes to: a last character that carries
// only 4 or 2 bits of data with its unused low bits cleared.
func appendCanonical(b []byte, s string) []byte {
	var spare byte
	switch len(s) % 4 {
	case 2:
		spare = 0x0f
	case 3:
		spare = 0x03
	}
	i := -1
	if spare != 0 {
		i = strings.IndexByte(base64URLAlphabet, s[len(s)-1])
	}
	if i < 0 || byte(i)&spare == 0 {
		return append(b, s...)
	}
	return append(append(b, s[:len(s)-1]...), base64URLAlphabet[byte(i)&^spare])
}

const base64URLAlphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"

// maxJTILength bounds a source token's jti, as maxKIDLength bounds kid:
// a jti is an opaque random value, and one-time use must not be made to
// carry whatever a token says.
const maxJTILength = 256

// checkClaims applies the claim rules of kind to a verified token issued
// to clientID: iss, sub, exp (within MaxSourceExpiry), nbf, iat, aud, for
// an id_token azp, and jti when present.
func (x *Exchanger) checkClaims(c claims.Set, clientID string, kind tokenKind, now time.Time) (*verified, *Error) {
	skew := x.cfg.ClockSkew
	iss, err := c.StringValue(claims.Issuer)
	if err != nil || iss != x.cfg.Issuer {
		return nil, grantErr("token issuer not accepted", err)
	}
	sub, err := c.StringValue(claims.Subject)
	if err != nil || sub == "" {
		return nil, grantErr("token subject missing", err)
	}
	exp, err := c.NumericDate(claims.Expiry)
	if err != nil {
		return nil, grantErr("token expiry missing or invalid", err)
	}
	if !now.Before(exp.Add(skew)) {
		return nil, grantErr("token expired", nil)
	}
	if exp.After(now.Add(x.cfg.MaxSourceExpiry + skew)) {
		// One-time use keeps a token's id until it expires: an exp far
		// ahead would pin it for years.
		return nil, grantErr("token expiry too far ahead", nil)
	}
	if c.Has(claims.NotBefore) {
		nbf, err := c.NumericDate(claims.NotBefore)
		if err != nil {
			return nil, grantErr("token nbf invalid", err)
		}
		if now.Add(skew).Before(nbf) {
			return nil, grantErr("token not valid yet", nil)
		}
	}
	if c.Has(claims.IssuedAt) {
		iat, err := c.NumericDate(claims.IssuedAt)
		if err != nil {
			return nil, grantErr("token iat invalid", err)
		}
		if now.Add(skew).Before(iat) {
			return nil, grantErr("token issued in the future", nil)
		}
	}
	found, n, err := c.HasAudience(clientID)
	if err != nil || !found {
		return nil, grantErr("token audience does not include the client", err)
	}
	if kind == kindIDToken && (n > 1 || c.Has(claims.AuthorizedParty)) {
		azp, err := c.StringValue(claims.AuthorizedParty)
		if err != nil || azp != clientID {
			return nil, grantErr("token azp does not name the client", err)
		}
	}
	v := &verified{claims: c, subject: sub, expiry: exp, notAfter: exp, kind: kind}
	if c.Has(claims.ID) {
		jti, err := c.StringValue(claims.ID)
		if err != nil || jti == "" || len(jti) > maxJTILength {
			return nil, grantErr("token jti invalid", err)
		}
		v.jti = jti
	}
	return v, nil
}

// requireJTI refuses a token that one-time use could not track.
func (x *Exchanger) requireJTI(v *verified) *Error {
	if x.cfg.Replay != nil && v.jti == "" {
		return grantErr("token has no jti, required for one-time use", nil)
	}
	return nil
}

// headerCache remembers the headerFacts of HS* token headers that parsed
// and verified, keyed by algorithm and the header's exact base64url text:
// a client's tokens share one header, and go-jose's ParseSignedCompact
// (decoding it to a map, then every parameter again, twice) was a sixth of
// a delegation. What a header yields is a function of its text and the
// algorithm allowed, so a cached header is refused or accepted exactly as
// a parsed one; only the payload and signature are decoded anew. A header
// is cached only after a token carrying it verified, so only holders of a
// client's secret can add entries, and at most maxCachedHeaders of at most
// maxCachedHeaderLen bytes each; a full cache starts over. The zero value
// is ready to use.
type headerCache struct {
	m sync.Map // headerKey -> headerFacts
	n atomic.Int32
}

type headerKey struct{ alg, header string }

const (
	maxCachedHeaders   = 64
	maxCachedHeaderLen = 512
)

func (c *headerCache) get(alg, header string) (headerFacts, bool) {
	v, ok := c.m.Load(headerKey{alg, header})
	if !ok {
		return headerFacts{}, false
	}
	return v.(headerFacts), true
}

func (c *headerCache) put(alg, header string, facts headerFacts) {
	if len(header) > maxCachedHeaderLen {
		return
	}
	// A full cache is emptied rather than frozen: otherwise the first 64
	// headers (one client signing 64 variants with its own secret, or
	// plain churn of kids and clients) would keep every later client on
	// the slow path for the Exchanger's life. Racing puts may leave the
	// count a little off; it bounds the size all the same.
	if n := c.n.Load(); n >= maxCachedHeaders && c.n.CompareAndSwap(n, 0) {
		c.m.Clear()
	}
	// A copy: header is a substring of the token, which may be one of
	// the whole request body (url.ParseQuery does not copy), secrets and
	// all, and a cached header lives as long as the Exchanger.
	if _, loaded := c.m.LoadOrStore(headerKey{alg, strings.Clone(header)}, facts); !loaded {
		c.n.Add(1)
	}
}
