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
	// RefreshTokens enables refresh_token as a delegation source; nil
	// refuses such requests with invalid_request.
	RefreshTokens store.RefreshTokenStore
	// Profiles gives user claims for refresh-token delegation. Required
	// when RefreshTokens is set.
	Profiles store.ProfileStore
	// Replay, when set, makes every source id_token single-use by iss+jti:
	// tokens without jti are refused.
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
	// MaxTokenSize caps a presented token (id_token or refresh_token) in
	// bytes; larger tokens are refused before any parsing or hashing.
	// 0 means 8 KiB.
	MaxTokenSize int
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
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	cfg.Minters = maps.Clone(cfg.Minters)
	cfg.Scopes = cfg.Scopes.Clone()
	return &Exchanger{cfg: cfg}, nil
}
