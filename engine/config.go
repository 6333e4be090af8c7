package engine

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"time"

	"github.com/deputyauth/deputy/scope"
	"github.com/deputyauth/deputy/store"
)

// Defaults applied by New to zero Config fields.
const (
	DefaultLifetime     = 36000 * time.Second
	DefaultMaxTokenSize = 8 << 10
	// DefaultMaxSourceExpiry is how far ahead a source token's exp may lie
	// when Config.MaxSourceExpiry is 0: issuers hand out day-long
	// id_tokens, and a little more.
	DefaultMaxSourceExpiry = 48 * time.Hour
	// DefaultMaxActDepth is how many nested act claims a token may carry
	// when Config.MaxActDepth is 0.
	DefaultMaxActDepth = 5
)

// Config configures an Exchanger. New checks it once and copies it; it must
// not be modified afterwards (maps included). Each zero value has the
// documented meaning; no security setting is guessed.
type Config struct {
	// Issuer is the iss of accepted source tokens and of minted tokens,
	// compared exactly. Required.
	Issuer string
	// Clients holds requesters and targets. Required.
	Clients store.ClientStore
	// Keys holds asymmetric keys. nil is allowed; a client registered with
	// an RS*, PS*, ES* or EdDSA algorithm then fails with server_error.
	Keys store.KeyStore
	// RefreshTokens enables refresh_token as a source (a delegation
	// refresh_token, an RFC 8693 subject_token); nil refuses such requests
	// with invalid_request.
	RefreshTokens store.RefreshTokenStore
	// Profiles gives user claims for refresh-token sources. Required
	// when RefreshTokens is set.
	Profiles store.ProfileStore
	// Replay, when set, makes every source token single-use: its jti is
	// consumed in the namespace of whoever could have signed it (a digest
	// of issuer, the requester for an HMAC-signed token or none for an
	// asymmetric one, and jti), so one client can never spend another's
	// tokens. Tokens without jti are refused. Actor tokens are not
	// consumed.
	Replay store.ReplayCache
	// Scopes maps scopes to claims. nil means scope.Standard. It may not
	// name an owned claim.
	Scopes scope.Mapping
	// Minters mints tokens for add-on api_type values. "app" and its alias
	// "auth0" are built in and cannot be replaced.
	Minters map[string]Minter
	// Lifetime of minted tokens when the target sets none; whole seconds.
	// 0 means 36000s.
	Lifetime time.Duration
	// ClockSkew is the only leeway when checking exp, nbf and iat; whole
	// seconds. 0 means none.
	ClockSkew time.Duration
	// MaxTokenSize caps a presented token (id_token, refresh_token,
	// subject_token, actor_token) in
	// bytes; larger tokens are refused before any parsing or hashing.
	// 0 means 8 KiB.
	MaxTokenSize int
	// MaxSourceExpiry is how far ahead of now (plus ClockSkew) a presented
	// token's exp may lie; a token expiring later is refused. It bounds how
	// long one-time use must remember a token, and how long a chain of
	// exchanges may run. Whole seconds; 0 means 48 hours. Keep it above the
	// lifetime of the tokens your issuer hands out, and above Lifetime and
	// any client's Lifetime if minted access tokens are exchanged again.
	MaxSourceExpiry time.Duration
	// MaxActDepth is how many nested act claims (RFC 8693 §4.1) a
	// presented or minted token may carry; the outermost act is level 1.
	// 0 means 5.
	MaxActDepth int
	// Policy, when set, runs once per exchange (both dialects) after every
	// check has passed and before the signing key, one-time use and
	// minting, on a private copy of the settled Grant (Grant.Claims holds
	// the user's claims the scope releases). It is where a host puts its
	// own rules and claims:
	//
	//   - to refuse, it returns an *Error with code invalid_request,
	//     invalid_grant, invalid_scope, invalid_target or
	//     unauthorized_client, which is answered as it is; any other error
	//     (or panic) is server_error;
	//   - to narrow the scope, it removes entries from g.Scope: the claims
	//     only the removed scopes released are dropped; adding a scope is
	//     server_error;
	//   - to add claims, it sets them in g.Claims. An owned claim
	//     (claims.IsOwned), or one that the mapping assigns to a scope not
	//     granted, is server_error and nothing is minted; a claim no scope
	//     maps (a namespaced one such as https://example.com/roles) or one
	//     a granted scope maps is minted as given. It may also change or
	//     delete the claims it was given.
	//
	// Anything else it changes in g is ignored. nil means no policy.
	Policy func(ctx context.Context, g *Grant) error
	// ClientAuth, when set, decides whether the credentials a request
	// presents (client_secret, client_assertion, or a TLS client
	// certificate the host put in the context) authenticate the
	// requester; see ClientAuthenticator and package clientauth. The
	// engine still loads the requester (unknown or disabled:
	// invalid_client), refuses a request presenting both a secret and an
	// assertion, or one without the other of client_assertion and
	// client_assertion_type (invalid_request), caps an assertion at
	// MaxTokenSize (invalid_client), and checks Grants afterwards. With
	// ClientAuth set, Client.Confidential is the authenticator's to
	// enforce. (ParseRequest and ParseJSON take a missing client_id
	// from a JWT client assertion's sub, unverified, only to pick the
	// client the authenticator then verifies it against.)
	//
	// nil means the engine's own check (PlaintextSecrets): a client_secret
	// must match an unexpired secret of the client, a Confidential client
	// must send one, and a client_assertion is refused (invalid_client).
	ClientAuth ClientAuthenticator
	// Now returns the current time. nil means time.Now.
	Now func() time.Time
	// OnExchange, when set, receives one Event per Exchange call, after it
	// is decided, on the calling goroutine. It must not retain the context
	// after returning, and should be quick.
	OnExchange func(ctx context.Context, e Event)
}

// built-in api_type names: both mint the delegation id_token.
const (
	apiTypeApp   = "app"
	apiTypeAuth0 = "auth0"
)

// New checks cfg and returns an Exchanger. Every missing or inconsistent
// field is reported in one error.
func New(cfg Config) (*Exchanger, error) {
	var errs []error
	bad := func(format string, a ...any) { errs = append(errs, fmt.Errorf(format, a...)) }
	if cfg.Issuer == "" {
		bad("Issuer is required")
	}
	if cfg.Clients == nil {
		bad("Clients is required")
	}
	if cfg.RefreshTokens != nil && cfg.Profiles == nil {
		bad("Profiles is required with RefreshTokens")
	}
	checkSeconds := func(name string, d time.Duration) {
		switch {
		case d < 0:
			bad("%s is negative", name)
		case d%time.Second != 0:
			bad("%s must be whole seconds", name)
		}
	}
	checkSeconds("Lifetime", cfg.Lifetime)
	checkSeconds("ClockSkew", cfg.ClockSkew)
	checkSeconds("MaxSourceExpiry", cfg.MaxSourceExpiry)
	if cfg.MaxActDepth < 0 {
		bad("MaxActDepth is negative")
	}
	if cfg.MaxTokenSize < 0 {
		bad("MaxTokenSize is negative")
	}
	if cfg.Scopes == nil {
		cfg.Scopes = scope.Standard
	}
	if err := cfg.Scopes.Validate(); err != nil {
		bad("Scopes: %w", err)
	}
	for name, m := range cfg.Minters {
		switch {
		case name == "" || name == apiTypeApp || name == apiTypeAuth0:
			bad("Minters: api_type %q is built in or empty", name)
		case m == nil:
			bad("Minters: api_type %q has a nil Minter", name)
		}
	}
	if len(errs) > 0 {
		return nil, fmt.Errorf("engine: invalid config: %w", errors.Join(errs...))
	}
	if cfg.Lifetime == 0 {
		cfg.Lifetime = DefaultLifetime
	}
	if cfg.MaxTokenSize == 0 {
		cfg.MaxTokenSize = DefaultMaxTokenSize
	}
	if cfg.MaxSourceExpiry == 0 {
		cfg.MaxSourceExpiry = DefaultMaxSourceExpiry
	}
	if cfg.MaxActDepth == 0 {
		cfg.MaxActDepth = DefaultMaxActDepth
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	cfg.Minters = maps.Clone(cfg.Minters)
	cfg.Scopes = cfg.Scopes.Clone()
	x := &Exchanger{cfg: cfg, mappedFold: make(map[string]bool)}
	for _, names := range cfg.Scopes {
		for _, n := range names {
			x.mappedFold[foldName(n)] = true
		}
	}
	return x, nil
}
