package engine

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	josejson "github.com/go-jose/go-jose/v4/json"

	"github.com/deputyauth/deputy/store"
)

// ClientAssertionTypeJWT is the client_assertion_type of a JWT client
// assertion (RFC 7523 §2.2), as private_key_jwt clients send it.
const ClientAssertionTypeJWT = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"

// ClientAuthenticator decides whether the credentials of a request
// authenticate the requester c, which the engine has already loaded and
// found enabled. It is set as Config.ClientAuth; package clientauth has
// ready ones (hashed secrets, private_key_jwt, mutual TLS, per-client
// choice).
//
// It returns nil when c is authenticated. For credentials that do not
// authenticate c (missing, wrong, expired, replayed, of a method c does
// not use) it returns an error wrapping ErrInvalidClient, for instance
// fmt.Errorf("clientauth: assertion expired: %w", engine.ErrInvalidClient);
// the engine answers invalid_client with the same description as for an
// unknown client. An *Error with code invalid_request is answered as it
// is. Any other error (a key lookup or replay cache that failed) and a
// panic are server_error, so that an outage is never reported to a client
// as bad credentials.
//
// c and req are copies: what it changes in them, the engine and the
// stores never see. It must not keep them. It is called from Exchange and from Authenticate; under
// Authenticate, CheckOnly(ctx) is true and it must not consume anything
// single-use (an assertion's jti), since Exchange will ask again.
type ClientAuthenticator interface {
	AuthenticateClient(ctx context.Context, c *store.Client, req *Request) error
}

// UnknownClientAuthenticator is implemented by a ClientAuthenticator whose
// check costs measurable time (a password hash): the engine calls
// AuthenticateUnknown, instead of AuthenticateClient, for a requester it
// refuses as unknown or disabled, so that such a refusal takes about as
// long as one for a wrong credential and response times do not tell
// registered client IDs apart. Its outcome is ignored; it must not panic
// (a panic is recovered and ignored).
type UnknownClientAuthenticator interface {
	AuthenticateUnknown(ctx context.Context, req *Request)
}

// ClientAuthFunc adapts a function to ClientAuthenticator.
type ClientAuthFunc func(ctx context.Context, c *store.Client, req *Request) error

// AuthenticateClient calls f.
func (f ClientAuthFunc) AuthenticateClient(ctx context.Context, c *store.Client, req *Request) error {
	return f(ctx, c, req)
}

// PlaintextSecrets is the engine's own client authentication, what a nil
// Config.ClientAuth means, as a ClientAuthenticator for combinators
// (clientauth.ByMethod): a client_secret must equal one of c's unexpired
// secrets (compared in constant time); a Confidential client must send
// one; a client assertion is refused, since nothing here can verify it.
// Secrets' expiry is judged by time.Now, not Config.Now.
var PlaintextSecrets ClientAuthenticator = plaintextSecrets{now: time.Now}

type plaintextSecrets struct{ now func() time.Time }

func (p plaintextSecrets) AuthenticateClient(_ context.Context, c *store.Client, req *Request) error {
	return plaintextAuth(c, req, p.now())
}

// Causes of the default authentication's refusals.
var (
	errSecretMismatch   = fmt.Errorf("engine: client secret does not match: %w", ErrInvalidClient)
	errSecretMissing    = fmt.Errorf("engine: confidential client sent no secret: %w", ErrInvalidClient)
	errAssertionRefused = fmt.Errorf("engine: client assertion sent but no ClientAuth configured to verify it: %w", ErrInvalidClient)
)

func plaintextAuth(c *store.Client, req *Request, now time.Time) error {
	switch {
	case req.ClientAssertion != "":
		return errAssertionRefused
	case req.ClientSecret != "":
		if !secretMatches(c, req.ClientSecret, now) {
			return errSecretMismatch
		}
	case c.Confidential:
		return errSecretMissing
	}
	return nil
}

type checkOnlyKey struct{}

// CheckOnly reports whether ctx is that of an Exchanger.Authenticate
// call, which checks a requester without exchanging anything: a
// ClientAuthenticator then verifies the credentials but consumes nothing
// single-use, because the Exchange that follows checks them again.
func CheckOnly(ctx context.Context) bool {
	v, _ := ctx.Value(checkOnlyKey{}).(bool)
	return v
}

// checkCredentialShape refuses requests that present client credentials
// in contradictory ways, before any lookup. RFC 6749 §2.3: a client must
// not use more than one authentication method in a request, and §5.2
// makes that invalid_request; RFC 7521 §4.2: client_assertion and
// client_assertion_type come together.
func checkCredentialShape(req *Request) *Error {
	switch {
	case req.ClientSecret != "" && req.ClientAssertion != "":
		return invalidRequest("more than one client authentication method", nil)
	case (req.ClientAssertion == "") != (req.ClientAssertionType == ""):
		return invalidRequest("client_assertion and client_assertion_type must be sent together", nil)
	}
	return nil
}

// fillAssertedClientID sets ClientID, when r has none, to the sub of its
// JWT client assertion, read without verifying anything: RFC 7521 §4.2
// lets a client that authenticates by assertion leave client_id out. It
// only chooses which client to load; a ClientAuthenticator then verifies
// the assertion against that client (iss = sub = client_id), and without
// one an assertion is refused.
func (r *Request) fillAssertedClientID() {
	if r.ClientID != "" || r.ClientAssertionType != ClientAssertionTypeJWT || len(r.ClientAssertion) > maxAssertionPeek {
		return
	}
	parts := strings.SplitN(r.ClientAssertion, ".", 4)
	if len(parts) != 3 {
		return
	}
	payload, err := b64.DecodeString(parts[1])
	if err != nil {
		return
	}
	var c struct {
		Sub any `json:"sub"`
	}
	// go-jose's decoder, as for every claim set: encoding/json would take
	// the last of duplicate members and match "SUB" to sub, which the
	// authenticator's own decoding refuses or ignores.
	if josejson.Unmarshal(payload, &c) != nil {
		return
	}
	if sub, ok := c.Sub.(string); ok && utf8.ValidString(sub) {
		r.ClientID = sub
	}
}

// maxAssertionPeek bounds the assertion the parsers decode for its sub:
// DefaultMaxTokenSize, which an Exchanger's own cap may lower.
const maxAssertionPeek = DefaultMaxTokenSize

// decoyAuth spends, for a requester refused as unknown or disabled, the
// time the host's authenticator would have spent on its credentials.
func (x *Exchanger) decoyAuth(ctx context.Context, req *Request) {
	u, ok := x.cfg.ClientAuth.(UnknownClientAuthenticator)
	if !ok {
		return
	}
	defer func() { _ = recover() }()
	u.AuthenticateUnknown(ctx, authRequestCopy(req))
}

// authRequestCopy is the copy of req an authenticator gets: slices and
// the map too, so that nothing it changes reaches the exchange (an
// audience edited in place would pick another target).
func authRequestCopy(req *Request) *Request {
	cp := *req
	cp.Audience = slices.Clone(req.Audience)
	cp.Resource = slices.Clone(req.Resource)
	cp.Extra = maps.Clone(req.Extra)
	return &cp
}

// authenticateWith runs the host's ClientAuthenticator on a copy of req
// and maps its answer: invalid_client the same for every bad credential,
// an invalid_request *Error as it is, anything else server_error.
func (x *Exchanger) authenticateWith(ctx context.Context, c *store.Client, req *Request) (err *Error) {
	defer func() {
		if p := recover(); p != nil {
			err = serverError("client authentication failed", fmt.Errorf("engine: client authenticator panic: %v", p))
		}
	}()
	// Copies, as a Policy and a Minter get: stores hand out shared
	// records, which code outside the engine must not be able to change.
	herr := x.cfg.ClientAuth.AuthenticateClient(ctx, c.Clone(), authRequestCopy(req))
	if herr == nil {
		return nil
	}
	var e *Error
	switch {
	case errors.Is(herr, ErrInvalidClient):
		return newError(CodeInvalidClient, "client authentication failed", herr).because("requester credentials refused")
	case errors.As(herr, &e) && e != nil && e.Code == CodeInvalidRequest:
		return newError(CodeInvalidRequest, e.Description, opaqueCause("client authenticator", e.Err)).because("client authenticator refused the request: " + clip(e.Description, 128))
	}
	return serverError("client authentication failed", opaqueCause("client authenticator", herr))
}
