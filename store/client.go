package store

import (
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"time"
	"unicode/utf8"

	"github.com/go-jose/go-jose/v4"
)

// hmacSizes maps each HMAC algorithm to its hash output in bytes, the
// shortest secret RFC 7518 §3.2 allows for it.
var hmacSizes = map[string]int{"HS256": 32, "HS384": 48, "HS512": 64}

var asymmetricAlgs = map[string]bool{
	"RS256": true, "RS384": true, "RS512": true,
	"PS256": true, "PS384": true, "PS512": true,
	"ES256": true, "ES384": true, "ES512": true,
	"EdDSA": true,
}

// IsHMAC reports whether alg is an HMAC algorithm deputy supports (HS256,
// HS384, HS512), whose keys are client secrets.
func IsHMAC(alg string) bool { _, ok := hmacSizes[alg]; return ok }

// IsAsymmetric reports whether alg is an asymmetric algorithm deputy
// supports, whose keys live in a KeyStore.
func IsAsymmetric(alg string) bool { return asymmetricAlgs[alg] }

// MinSecretSize is the shortest client secret Client.Validate accepts, in
// bytes, whatever the client's algorithm: a secret that authenticates a
// client must not be guessable. HMAC clients need at least their hash size
// (RFC 7518 §3.2), which for HS384 and HS512 is more.
const MinSecretSize = 32

// ErrInvalidClient is wrapped by Client.Validate errors.
var ErrInvalidClient = errors.New("store: invalid client")

// Validate refuses a client record the engine could not use safely: an
// empty ID or one that is not UTF-8; an unknown algorithm or "none"; an HS*
// client without a secret; a secret shorter than MinSecretSize bytes, or
// than the hash output for an HS* client; a lifetime that is negative or
// not whole seconds; secrets with empty, duplicate or non-UTF-8 IDs; empty
// entries in the lists; a DefaultAPIType that APITypes does not enable.
// All problems are reported at once; each wraps ErrInvalidClient. Errors name a secret by its ID, never by its value.
func (c *Client) Validate() error {
	var errs []error
	bad := func(format string, a ...any) {
		errs = append(errs, fmt.Errorf("%w %q: "+format, append([]any{ErrInvalidClient, c.ID}, a...)...))
	}
	if c.ID == "" {
		bad("empty ID")
	}
	if !utf8.ValidString(c.ID) {
		bad("ID is not UTF-8")
	}
	if c.Lifetime < 0 || c.Lifetime%time.Second != 0 {
		bad("lifetime must be whole seconds, not negative")
	}
	switch {
	case IsHMAC(c.SigningAlg):
		if len(c.Secrets) == 0 {
			bad("%s needs at least one secret", c.SigningAlg)
		}
	case IsAsymmetric(c.SigningAlg):
	default:
		bad("signing algorithm %q not supported", c.SigningAlg)
	}
	seen := make(map[string]bool, len(c.Secrets))
	for i := range c.Secrets {
		s := &c.Secrets[i]
		switch {
		case s.ID == "":
			bad("secret %d has no ID", i)
		case seen[s.ID]:
			bad("duplicate secret ID %q", s.ID)
		case !utf8.ValidString(s.ID):
			bad("secret %d ID is not UTF-8", i)
		}
		seen[s.ID] = true
		if n := max(hmacSizes[c.SigningAlg], MinSecretSize); len(s.Value) < n {
			bad("secret %q shorter than %d bytes", s.ID, n)
		}
	}
	for _, l := range []struct {
		name string
		list []string
	}{{"allowed source", c.AllowedSources}, {"grant", c.Grants}, {"scope", c.Scopes}} {
		if slices.Contains(l.list, "") {
			bad("empty %s", l.name)
		}
	}
	if _, ok := c.APITypes[c.DefaultAPIType]; c.DefaultAPIType != "" && !ok {
		bad("default api type %q is not enabled (not in APITypes)", c.DefaultAPIType)
	}
	for name, settings := range c.APITypes {
		if name == "" {
			bad("empty api type")
		}
		if len(settings) > 0 && !json.Valid(settings) {
			bad("api type %q: settings are not valid JSON", name)
		}
	}
	return errors.Join(errs...)
}

// Clone returns a deep copy of c: no slice or map is shared with c.
func (c *Client) Clone() *Client {
	out := *c
	out.Secrets = slices.Clone(c.Secrets)
	for i := range out.Secrets {
		out.Secrets[i].Value = slices.Clone(out.Secrets[i].Value)
	}
	out.AllowedSources = slices.Clone(c.AllowedSources)
	out.Grants = slices.Clone(c.Grants)
	out.Scopes = slices.Clone(c.Scopes)
	if c.APITypes != nil {
		out.APITypes = maps.Clone(c.APITypes)
		for k, v := range out.APITypes {
			out.APITypes[k] = slices.Clone(v)
		}
	}
	return &out
}

// ErrInvalidKey is wrapped by ValidateKey errors.
var ErrInvalidKey = errors.New("store: invalid key")

// ValidateKey refuses a key a KeyStore must not hold: no kid; no alg or one
// that is not asymmetric; a key whose type contradicts its alg; an invalid
// key; RSA under 2048 bits or with a public exponent other than 65537.
// Symmetric keys are refused: HMAC secrets belong to clients. A
// jose.OpaqueSigner (a key outside the process, see package signer) is
// checked through the public key it reports, which must be valid, fit the
// alg and agree with k's kid and alg; the signer must list the alg.
func ValidateKey(k *jose.JSONWebKey) error {
	bad := func(format string, a ...any) error {
		return fmt.Errorf("%w %q: "+format, append([]any{ErrInvalidKey, k.KeyID}, a...)...)
	}
	if k.KeyID == "" || !utf8.ValidString(k.KeyID) {
		return bad("kid empty or not UTF-8")
	}
	if !IsAsymmetric(k.Algorithm) {
		return bad("algorithm %q is not a supported asymmetric algorithm", k.Algorithm)
	}
	if o, ok := k.Key.(jose.OpaqueSigner); ok {
		// A signer outside the process: what can be checked is the public
		// half it reports, which is what verifiers will get.
		pub := o.Public()
		switch {
		case pub == nil || !pub.IsPublic() || !pub.Valid():
			return bad("opaque signer has no valid public key")
		case pub.KeyID != "" && pub.KeyID != k.KeyID:
			return bad("opaque signer's public key has kid %q", pub.KeyID)
		case pub.Algorithm != "" && pub.Algorithm != k.Algorithm:
			return bad("opaque signer's public key has alg %q", pub.Algorithm)
		case !slices.Contains(o.Algs(), jose.SignatureAlgorithm(k.Algorithm)):
			return bad("opaque signer cannot sign %s", k.Algorithm)
		}
		if err := checkKeyType(pub.Key, k.Algorithm); err != nil {
			return bad("%v", err)
		}
		return nil
	}
	if !k.Valid() {
		return bad("not a valid key")
	}
	if err := checkKeyType(k.Key, k.Algorithm); err != nil {
		return bad("%v", err)
	}
	return nil
}
