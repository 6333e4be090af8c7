// Package store defines the storage deputy reads from — clients, refresh
// grants, user profiles, a replay cache and signing keys — and an in-memory
// implementation of all five.
//
// # Contract shared by every interface
//
//   - Implementations are safe for concurrent use by multiple goroutines.
//   - A lookup that finds nothing returns an error wrapping ErrNotFound, so
//     callers test it with errors.Is; any other error is a failure of the
//     store, which the engine answers with server_error.
//   - A cancelled or expired context yields an error wrapping ctx.Err(),
//     never a miss.
//   - Records handed out are immutable snapshots: a later Put never changes a
//     record already returned, and callers must not modify them. No deep copy
//     is needed on the hot path.
//   - An ID (Secret.ID, a key's kid) names one key material forever: rotating
//     means adding a new ID, so caches may key on IDs.
//
// The storetest package checks an implementation against this contract.
package store

import (
	"context"
	"encoding/json"
	"errors"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/deputyauth/deputy/claims"
)

// ErrNotFound is wrapped by every lookup miss.
var ErrNotFound = errors.New("store: not found")

// ClientStore looks up registered clients.
type ClientStore interface {
	// Client returns the client with the given ID, or an error wrapping
	// ErrNotFound. IDs are compared exactly (case-sensitive). The returned
	// record must not be modified.
	Client(ctx context.Context, id string) (*Client, error)
}

// RefreshTokenStore looks up refresh grants by the SHA-256 of the token, so
// that a store never needs to hold refresh tokens themselves.
type RefreshTokenStore interface {
	// RefreshToken returns the grant whose token hashes to hash, or an
	// error wrapping ErrNotFound. Revoked and expired grants are returned
	// as they are; the engine refuses them. The returned record must not be
	// modified.
	RefreshToken(ctx context.Context, hash [32]byte) (*RefreshGrant, error)
}

// ProfileStore looks up the claims of a user, for refresh-token delegation.
type ProfileStore interface {
	// Profile returns the user's claims, or an error wrapping ErrNotFound.
	// The returned set and every value nested in it must not be modified.
	Profile(ctx context.Context, subject string) (claims.Set, error)
}

// ReplayCache records identifiers that may be used only once.
type ReplayCache interface {
	// Use records id and reports whether this is its first use within ttl.
	// The check and the record are one atomic step: of any number of
	// concurrent calls with one id, exactly one reports first. The cache
	// keeps id for at least ttl, measured on its own clock. An error means
	// the use could not be decided; callers must treat it as not first.
	Use(ctx context.Context, id string, ttl time.Duration) (first bool, err error)
}

// KeyStore holds the asymmetric keys that sign minted tokens and verify
// source tokens. Every key names its algorithm (JSONWebKey.Algorithm) and
// has a non-empty key ID.
//
// A key is published — returned by VerificationKeys, and so in the JWKS —
// from the moment it is added until it is removed. It signs only within its
// signing window (see [Key]), so a key can be published well before it
// signs, giving verifiers that cache the JWKS time to learn it, and can stop
// signing well before it leaves the JWKS, so tokens it signed keep
// verifying. A store decides "now" by a clock it is configured with.
type KeyStore interface {
	// SigningKey returns the private key to sign with now for alg: among
	// the private keys of alg whose signing window holds now, the one whose
	// window began last (of equal starts, the one added last). Such a key
	// is always published. None wraps ErrNotFound. The returned key must
	// not be modified.
	SigningKey(ctx context.Context, alg string) (*jose.JSONWebKey, error)

	// VerificationKeys returns the public halves of the published keys with
	// the given kid, or of every published key when kid is "", oldest
	// first. No match wraps ErrNotFound. The returned slice and keys must
	// not be modified; they never hold private material.
	VerificationKeys(ctx context.Context, kid string) ([]jose.JSONWebKey, error)
}

// Key is a key of a KeyStore with its signing window, the record by which
// keys are staged for rotation. A key without a window signs from the moment
// it is added until it is removed or a newer key of its algorithm starts.
//
// A rotation that verifiers caching the JWKS for up to C survive, for tokens
// living up to L: add the new key with SignFrom at least C from now; set the
// old key's SignUntil to that same instant; remove the old key no earlier
// than SignUntil + L + C.
type Key struct {
	jose.JSONWebKey
	// SignFrom is when the key may start signing. Zero means as soon as it
	// is added; stores record the time of adding in its place.
	SignFrom time.Time
	// SignUntil is when the key stops signing, staying published. Zero
	// means no end. A public-only key never signs, whatever its window.
	SignUntil time.Time
}

// Signs reports whether k is a private key whose window holds now.
func (k *Key) Signs(now time.Time) bool {
	return !k.IsPublic() && !now.Before(k.SignFrom) && (k.SignUntil.IsZero() || now.Before(k.SignUntil))
}

// Client is a registered client: a requester that presents tokens, a target
// that tokens are minted for, or both.
type Client struct {
	// ID is the client_id; required, compared exactly.
	ID string
	// Name is for people; deputy does not interpret it.
	Name string
	// Disabled clients can neither request nor be targeted.
	Disabled bool
	// Secrets are the client's HMAC secrets, newest first: the first
	// unexpired one signs, every unexpired one verifies and authenticates
	// the client.
	Secrets []Secret
	// Confidential clients must authenticate with a client secret.
	Confidential bool
	// SigningAlg is the one JWS algorithm of tokens issued to and minted for
	// this client: HS256, HS384, HS512, RS256, RS384, RS512, PS256, PS384,
	// PS512, ES256, ES384, ES512 or EdDSA. HS* use Secrets, the others the
	// engine's KeyStore.
	SigningAlg string
	// AllowedSources lists the clients that may obtain tokens for this
	// client. Empty allows nobody; "*" allows any client.
	AllowedSources []string
	// Grants lists the grant types this client may use as requester.
	Grants []string
	// Lifetime of tokens minted for this client; 0 means the engine default.
	// Whole seconds.
	Lifetime time.Duration
	// Scopes lists the scopes tokens for this client may carry; empty means
	// every scope the engine knows.
	Scopes []string
	// APITypes enables add-on minters for this client (api_type → settings).
	APITypes map[string]json.RawMessage
	// DefaultAPIType names the add-on that answers a delegation request
	// for this client that sends no api_type (the seed: "defaults to the
	// first active addon if any"). It must be a key of APITypes; "" means
	// the built-in id_token.
	DefaultAPIType string
}

// Secret is one secret of a client: a key of its HS* tokens, and what a
// confidential client authenticates with.
type Secret struct {
	// ID names this secret forever; it is the kid of tokens it signs.
	ID string
	// Value is the raw secret: at least MinSecretSize (32) bytes, and for
	// an HS* client at least as long as the hash output (48 bytes for
	// HS384, 64 for HS512).
	Value []byte
	// NotAfter is when the secret stops signing, verifying and
	// authenticating; the zero time means never.
	NotAfter time.Time
}

// Active reports whether the secret is unexpired at now.
func (s *Secret) Active(now time.Time) bool {
	return s.NotAfter.IsZero() || now.Before(s.NotAfter)
}

// RefreshGrant is what a refresh token stands for.
type RefreshGrant struct {
	// ClientID is the client the refresh token was issued to.
	ClientID string
	// Subject is the user.
	Subject string
	// Scope is the scope granted with the refresh token; it bounds every
	// exchange of the token. Empty (nil or not) grants nothing, not even
	// openid.
	Scope []string
	// ExpiresAt is when the grant ends; the zero time means never.
	ExpiresAt time.Time
	// Revoked grants are refused.
	Revoked bool
}
