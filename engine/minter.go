package engine

import (
	"context"
	"encoding/json"
	"time"

	"github.com/deputyauth/deputy/claims"
	"github.com/deputyauth/deputy/store"
)

// Minter mints the token for one api_type once the engine has verified
// everything. It receives a Grant that is its own deep copy — clients,
// claims and request included, with the presented tokens and client secret
// blanked — so changing it changes nothing the engine or its stores hold.
// The engine refuses a Response whose ExpiresIn exceeds the Grant's
// Lifetime and clears its Scope, so a Minter cannot widen what it is given.
//
// Mint must be safe for concurrent use. An error or a panic is answered
// with server_error and no token; when Replay is set, the source token's jti
// has been consumed by then (fail closed).
type Minter interface {
	Mint(ctx context.Context, g *Grant) (*Response, error)
}

// MinterFunc adapts a function to Minter.
type MinterFunc func(ctx context.Context, g *Grant) (*Response, error)

// Mint calls f.
func (f MinterFunc) Mint(ctx context.Context, g *Grant) (*Response, error) { return f(ctx, g) }

// Grant is what the engine has settled before minting.
type Grant struct {
	// Subject is the user (sub).
	Subject string
	// Requester is the client that asked; Target the client the token is
	// for.
	Requester *store.Client
	Target    *store.Client
	// Scope is the granted scope, canonical order.
	Scope []string
	// Claims are the user's claims filtered by Scope, without owned claims.
	Claims claims.Set
	// IssuedAt is the iat to use; Lifetime the validity, whole seconds.
	IssuedAt time.Time
	Lifetime time.Duration
	// Settings is the target's APITypes entry for this api_type.
	Settings json.RawMessage
	// Request is the request. A Minter's copy has ClientSecret and the
	// presented tokens blanked.
	Request *Request
}
