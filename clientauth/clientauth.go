package clientauth

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"reflect"
	"slices"

	"github.com/deputyauth/deputy/engine"
	"github.com/deputyauth/deputy/store"
)

// Token endpoint authentication methods, as RFC 7591 §2 and RFC 8705 §2
// name them; hosts register one per client and ByMethod dispatches on it.
const (
	MethodNone          = "none"
	MethodSecretBasic   = "client_secret_basic"
	MethodSecretPost    = "client_secret_post"
	MethodPrivateKeyJWT = "private_key_jwt"
	MethodTLS           = "tls_client_auth"
	MethodSelfSignedTLS = "self_signed_tls_client_auth"
)

// refuse returns the error for credentials that do not authenticate a
// client: it wraps engine.ErrInvalidClient, so the engine answers
// invalid_client, and says why, for the logs only.
func refuse(why string) error {
	return fmt.Errorf("clientauth: %s: %w", why, engine.ErrInvalidClient)
}

// ErrNoMethod is wrapped when ByMethod finds no authenticator for a
// client's registered method: a registration the host cannot serve,
// answered as server_error so that an operator sees it.
var ErrNoMethod = errors.New("clientauth: no authenticator for the client's method")

type byMethod struct {
	method func(ctx context.Context, c *store.Client) (string, error)
	auths  map[string]engine.ClientAuthenticator
}

// ByMethod returns a ClientAuthenticator that authenticates each client
// by the method its registration names, never by what the request
// presents: method returns c's method (e.g. MethodPrivateKeyJWT), and
// auths maps methods to the authenticators that check them. So a client
// registered for private_key_jwt cannot fall back to a secret, nor a
// public client be held to one; a client registered for
// client_secret_basic or client_secret_post must send a client_secret
// even if its record is not marked Confidential.
//
// An error from method is server_error, unless it wraps
// engine.ErrInvalidClient; a method with no entry in auths wraps
// ErrNoMethod (server_error). An entry for "" serves clients whose method
// is "". auths is copied; nil entries are refused.
func ByMethod(method func(ctx context.Context, c *store.Client) (string, error), auths map[string]engine.ClientAuthenticator) (engine.ClientAuthenticator, error) {
	if method == nil {
		return nil, errors.New("clientauth: ByMethod needs a method function")
	}
	b := &byMethod{method: method, auths: make(map[string]engine.ClientAuthenticator, len(auths))}
	for m, a := range auths {
		if a == nil {
			return nil, fmt.Errorf("clientauth: ByMethod: nil authenticator for %q", m)
		}
		b.auths[m] = a
	}
	return b, nil
}

func (b *byMethod) AuthenticateClient(ctx context.Context, c *store.Client, req *engine.Request) error {
	m, err := b.method(ctx, c)
	if err != nil {
		return err
	}
	a := b.auths[m]
	if a == nil {
		return fmt.Errorf("%w %q", ErrNoMethod, m)
	}
	if (m == MethodSecretBasic || m == MethodSecretPost) && req.ClientSecret == "" {
		// These methods authenticate with the secret (RFC 7591 §2); a
		// record not marked Confidential must not turn them into "none".
		return refuse("no client secret sent by a client registered with " + m)
	}
	if _, hashes := a.(engine.UnknownClientAuthenticator); !hashes && req.ClientSecret != "" {
		// A secret costs a hash whoever it is sent for, so that timing
		// does not tell a client of another method from an unknown one.
		b.AuthenticateUnknown(ctx, req)
	}
	return a.AuthenticateClient(ctx, c, req)
}

// AuthenticateUnknown implements engine.UnknownClientAuthenticator: no
// method is registered for an unknown client, so every distinct
// authenticator that spends time on credentials it cannot verify does
// so, once.
func (b *byMethod) AuthenticateUnknown(ctx context.Context, req *engine.Request) {
	var done []engine.UnknownClientAuthenticator
	for _, m := range slices.Sorted(maps.Keys(b.auths)) {
		u, ok := b.auths[m].(engine.UnknownClientAuthenticator)
		if ok && !slices.ContainsFunc(done, func(d engine.UnknownClientAuthenticator) bool { return sameAuth(d, u) }) {
			u.AuthenticateUnknown(ctx, req)
			done = append(done, u)
		}
	}
}

// sameAuth compares authenticators that can be compared (pointers).
func sameAuth(a, b engine.UnknownClientAuthenticator) bool {
	ta, tb := reflect.TypeOf(a), reflect.TypeOf(b)
	return ta == tb && ta.Comparable() && a == b
}

// Public authenticates clients registered with method "none": they hold
// no credentials. A request presenting a client_secret or an assertion
// is refused (it is not what the client registered), and so is a client
// marked Confidential. A TLS client certificate is ignored.
var Public engine.ClientAuthenticator = engine.ClientAuthFunc(func(_ context.Context, c *store.Client, req *engine.Request) error {
	switch {
	case c.Confidential:
		return refuse("confidential client registered with method none")
	case req.ClientSecret != "" || req.ClientAssertion != "":
		return refuse("credentials sent by a client registered with method none")
	}
	return nil
})
