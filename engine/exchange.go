package engine

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"
	"slices"
	"time"
	"unicode/utf8"

	"github.com/deputyauth/deputy/scope"
	"github.com/deputyauth/deputy/store"
)

// Exchanger trades a user's token presented by one client for a token meant
// for another. It is safe for concurrent use; build one with New.
type Exchanger struct {
	cfg     Config
	signers signerCache
}

// passthrough is Auth0's scope value asking for every scope the source
// token's claims support (sent by auth0-js renewals).
const passthrough = "passthrough"

// exchange carries one request through the pipeline.
type exchange struct {
	req       *Request
	now       time.Time
	requester *store.Client
	target    *store.Client
	source    *verified
	granted   scope.Set
	jti       string
	hash      [32]byte
}

// Exchange decides req and, when every check passes, mints the token. A
// refusal or failure is an *Error and comes with no Response; no path
// returns a token after any check failed or errored. A panic in a store or
// Minter is recovered as server_error; Config.Now and Config.OnExchange are
// the host's own and are not guarded.
func (x *Exchanger) Exchange(ctx context.Context, req *Request) (res *Response, err error) {
	e := exchange{req: req, now: x.cfg.Now()}
	var start time.Time
	if x.cfg.OnExchange != nil {
		start = time.Now()
	}
	defer func() {
		if p := recover(); p != nil {
			res, err = nil, serverError("internal failure", fmt.Errorf("engine: panic: %v", p))
		}
		if x.cfg.OnExchange != nil {
			x.emit(ctx, &e, err, time.Since(start))
		}
	}()
	if req == nil {
		return nil, invalidRequest("no request", nil)
	}
	out, xerr := x.run(ctx, &e)
	if xerr != nil {
		return nil, xerr
	}
	return out, nil
}

// dialect is what differs between the wire protocols: the shape of a
// request, how it names the source and the target, and how the answer is
// written. Everything else is the one pipeline in run.
type dialect struct {
	// check refuses a request of the wrong shape (invalid_request).
	check func(x *Exchanger, req *Request) *Error
	// source verifies the presented token(s) for the authenticated
	// requester.
	source func(x *Exchanger, ctx context.Context, e *exchange) (*verified, *Error)
	// target names the client the token is for.
	target func(req *Request) string
	// typ is the typ header of the minted token.
	typ string
	// respond writes the answer for a minted token.
	respond func(token string, g *Grant) *Response
}

var dialects = map[string]*dialect{
	GrantTypeJWTBearer: {
		check:  checkDelegationRequest,
		source: (*Exchanger).delegationSource,
		target: func(req *Request) string { return req.Target },
		typ:    "JWT",
		respond: func(token string, g *Grant) *Response {
			return &Response{TokenType: "Bearer", ExpiresIn: int64(g.Lifetime / time.Second), IDToken: token}
		},
	},
}

// run is the pipeline: request shape → requester → source → target →
// api_type → scope and claims → signing key → one-time use → mint.
func (x *Exchanger) run(ctx context.Context, e *exchange) (*Response, *Error) {
	if err := ctx.Err(); err != nil {
		return nil, serverError("request cancelled", err)
	}
	req := e.req
	if req.GrantType == "" {
		return nil, invalidRequest("grant_type is required", nil)
	}
	d := dialects[req.GrantType]
	if d == nil {
		return nil, newError(CodeUnsupportedGrantType, "grant_type not supported", nil)
	}
	err := d.check(x, req)
	if err != nil {
		return nil, err
	}
	if e.requester, err = x.authenticate(ctx, req, e.now); err != nil {
		return nil, err
	}
	src, err := d.source(x, ctx, e)
	if err != nil {
		return nil, err
	}
	e.source = src
	if err := x.authorizeTarget(ctx, e, d.target(req)); err != nil {
		return nil, err
	}
	minter, settings, err := x.minterFor(req.APIType, e.target)
	if err != nil {
		return nil, err
	}
	if e.granted, err = x.decideScope(req.Scope, e.target, src); err != nil {
		return nil, err
	}
	lifetime := x.cfg.Lifetime
	if lt := e.target.Lifetime.Truncate(time.Second); lt > 0 {
		lifetime = lt
	}
	g := &Grant{
		Subject:   src.subject,
		Requester: e.requester,
		Target:    e.target,
		Scope:     e.granted,
		Claims:    nil, // built only for a Minter; mintJWT encodes from the source
		IssuedAt:  e.now.Truncate(time.Second),
		Lifetime:  lifetime,
		Settings:  settings,
		Request:   req,
	}
	var signer *jwsSigner
	if minter != nil {
		g.Claims = x.cfg.Scopes.Filter(src.claims, e.granted)
	} else {
		// Resolved before one-time use: a target without a usable key must
		// not burn the source token.
		if signer, err = x.signer(ctx, e.target, d.typ, g.IssuedAt); err != nil {
			return nil, err
		}
	}
	// One-time use is decided last, so that a refused request never burns
	// a good token.
	if err := x.consume(ctx, e); err != nil {
		return nil, err
	}
	var res *Response
	if minter == nil {
		token, jti, err := x.mintJWT(g, signer, src.claims)
		if err != nil {
			return nil, err
		}
		e.jti = jti
		res = d.respond(token, g)
	} else {
		if res, err = x.mintWith(ctx, minter, g); err != nil {
			return nil, err
		}
		res.Scope = ""
	}
	if err := ctx.Err(); err != nil {
		return nil, serverError("request cancelled", err)
	}
	return res, nil
}

// checkDelegationRequest checks the shape of a jwt-bearer request.
func checkDelegationRequest(x *Exchanger, req *Request) *Error {
	switch {
	case req.ClientID == "":
		return invalidRequest("client_id is required", nil)
	case req.Target == "":
		return invalidRequest("target is required", nil)
	case req.IDToken != "" && req.RefreshToken != "":
		return invalidRequest("send id_token or refresh_token, not both", nil)
	case req.IDToken == "" && req.RefreshToken == "":
		return invalidRequest("id_token or refresh_token is required", nil)
	case req.RefreshToken != "" && x.cfg.RefreshTokens == nil:
		return invalidRequest("refresh_token is not supported by this server", nil)
	}
	return nil
}

// Authenticate runs the requester steps of Exchange alone, without
// looking at any token: the grant type is known, and req's client is
// registered, enabled, authenticated by its secret when it gave one or must
// give one, and allowed the grant type. It returns nil or the *Error that
// Exchange would answer at that step. Hosts use it to decide whether a
// caller has shown itself to be a usable requester, for example before
// giving it a rate-limit bucket of its own; Exchange repeats the checks.
func (x *Exchanger) Authenticate(ctx context.Context, req *Request) error {
	if req == nil {
		return invalidRequest("no request", nil)
	}
	if dialects[req.GrantType] == nil {
		return newError(CodeUnsupportedGrantType, "grant_type not supported", nil)
	}
	if _, err := x.authenticate(ctx, req, x.cfg.Now()); err != nil {
		return err
	}
	return nil
}

// authenticate loads the requester, checks its secret and that it may use
// the grant type. Unknown, disabled and wrongly authenticated clients get
// one answer.
func (x *Exchanger) authenticate(ctx context.Context, req *Request, now time.Time) (*store.Client, *Error) {
	c, err := x.cfg.Clients.Client(ctx, req.ClientID)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return nil, newError(CodeInvalidClient, "client authentication failed", err)
	case err != nil:
		return nil, serverError("client store failed", err)
	case c.Disabled:
		return nil, newError(CodeInvalidClient, "client authentication failed", nil)
	}
	if req.ClientSecret != "" {
		if !secretMatches(c, req.ClientSecret, now) {
			return nil, newError(CodeInvalidClient, "client authentication failed", nil)
		}
	} else if c.Confidential {
		return nil, newError(CodeInvalidClient, "client authentication failed", nil)
	}
	if !slices.Contains(c.Grants, req.GrantType) {
		return nil, newError(CodeUnauthorizedClient, "client may not use this grant type", nil)
	}
	return c, nil
}

// secretMatches compares the presented secret with every unexpired secret
// of c without stopping at a match. Digests are compared rather than the
// secrets, so that the time taken does not depend on their lengths either.
func secretMatches(c *store.Client, presented string, now time.Time) bool {
	p := sha256.Sum256([]byte(presented))
	match := 0
	for i := range c.Secrets {
		s := &c.Secrets[i]
		v := sha256.Sum256(s.Value)
		eq := subtle.ConstantTimeCompare(p[:], v[:])
		if s.Active(now) {
			match |= eq
		}
	}
	return match == 1
}

// delegationSource verifies the delegation dialect's source: an id_token
// issued to the requester, or a refresh token of the requester's, whose
// grant's scope then bounds the result.
func (x *Exchanger) delegationSource(ctx context.Context, e *exchange) (*verified, *Error) {
	req := e.req
	token := req.IDToken
	if token == "" {
		token = req.RefreshToken
	}
	// The cap comes before hashing and parsing alike.
	if len(token) > x.cfg.MaxTokenSize {
		return nil, grantErr("token too large", nil)
	}
	if req.IDToken != "" {
		if x.cfg.OnExchange != nil {
			e.hash = sha256.Sum256([]byte(req.IDToken))
		}
		return x.verifyJWS(ctx, req.IDToken, e.requester, "JWT", e.now)
	}
	e.hash = sha256.Sum256([]byte(req.RefreshToken))
	g, err := x.cfg.RefreshTokens.RefreshToken(ctx, e.hash)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return nil, grantErr("refresh token not known", err)
	case err != nil:
		return nil, serverError("refresh token store failed", err)
	case g.ClientID != e.requester.ID:
		return nil, grantErr("refresh token not known", nil)
	case g.Revoked:
		return nil, grantErr("refresh token revoked", nil)
	case !g.ExpiresAt.IsZero() && !e.now.Before(g.ExpiresAt):
		return nil, grantErr("refresh token expired", nil)
	case g.Subject == "":
		return nil, serverError("refresh grant has no subject", nil)
	}
	bound, perr := scope.New(g.Scope...)
	if perr != nil {
		return nil, serverError("refresh grant scope is invalid", perr)
	}
	profile, err := x.cfg.Profiles.Profile(ctx, g.Subject)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return nil, grantErr("user not found", err)
	case err != nil:
		return nil, serverError("profile store failed", err)
	}
	return &verified{claims: profile, subject: g.Subject, bounded: true, bound: bound}, nil
}

// authorizeTarget loads the target and checks that it lets the requester
// obtain tokens for it. Unknown, disabled and not-allowing targets get one
// answer, so that client IDs cannot be probed.
func (x *Exchanger) authorizeTarget(ctx context.Context, e *exchange, id string) *Error {
	t, err := x.cfg.Clients.Client(ctx, id)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return newError(CodeInvalidTarget, "target not available to this client", err)
	case err != nil:
		return serverError("client store failed", err)
	case t.Disabled || !allows(t, e.requester.ID):
		return newError(CodeInvalidTarget, "target not available to this client", nil)
	}
	e.target = t
	return nil
}

func allows(target *store.Client, requester string) bool {
	for _, s := range target.AllowedSources {
		if s == "*" || s == requester {
			return true
		}
	}
	return false
}

// minterFor resolves api_type: nil for the built-in id_token minter, else a
// registered Minter that the target enables.
func (x *Exchanger) minterFor(apiType string, target *store.Client) (Minter, []byte, *Error) {
	switch apiType {
	case "", apiTypeApp, apiTypeAuth0:
		return nil, nil, nil
	}
	m := x.cfg.Minters[apiType]
	settings, enabled := target.APITypes[apiType]
	if m == nil || !enabled {
		return nil, nil, invalidRequest("api_type not available for this target", nil)
	}
	return m, settings, nil
}

// decideScope settles the granted scope: openid required, every scope known
// and allowed by the target, and within the source's bound when it has one.
// passthrough asks for every scope the source's claims support, silently
// leaving out those not allowed.
func (x *Exchanger) decideScope(requested string, target *store.Client, src *verified) (scope.Set, *Error) {
	allowed := func(t string) bool {
		return (len(target.Scopes) == 0 || slices.Contains(target.Scopes, t)) &&
			(!src.bounded || src.bound.Has(t))
	}
	if requested == passthrough {
		var out scope.Set
		for _, t := range x.cfg.Scopes.Covering(src.claims) {
			if t == scope.OpenID || allowed(t) {
				out = append(out, t)
			}
		}
		if !allowed(scope.OpenID) {
			return nil, newError(CodeInvalidScope, "scope openid not allowed", nil)
		}
		return out, nil
	}
	s, err := scope.Parse(requested)
	if err != nil {
		return nil, newError(CodeInvalidScope, "scope is malformed", err)
	}
	if len(s) == 0 {
		s = scope.Set{scope.OpenID}
	}
	if !s.Has(scope.OpenID) {
		return nil, newError(CodeInvalidScope, "scope openid is required", nil)
	}
	if _, ok := x.cfg.Scopes.Known(s); !ok {
		return nil, newError(CodeInvalidScope, "scope not known", nil)
	}
	for _, t := range s {
		if !allowed(t) {
			return nil, newError(CodeInvalidScope, "scope not allowed", nil)
		}
	}
	return s, nil
}

// consume spends the source token's iss+jti when Replay is set. Its TTL
// reaches the token's expiry plus the clock skew, the last instant the token
// could still be accepted.
func (x *Exchanger) consume(ctx context.Context, e *exchange) *Error {
	if x.cfg.Replay == nil || e.source.expiry.IsZero() {
		return nil
	}
	ttl := e.source.expiry.Add(x.cfg.ClockSkew).Sub(e.now)
	if ttl < time.Second {
		ttl = time.Second
	}
	first, err := x.cfg.Replay.Use(ctx, x.cfg.Issuer+" "+e.source.jti, ttl)
	switch {
	case err != nil:
		return serverError("replay cache failed", err)
	case !first:
		return grantErr("token already used", nil)
	}
	return nil
}

func (x *Exchanger) emit(ctx context.Context, e *exchange, err error, latency time.Duration) {
	ev := Event{
		Time:       e.now,
		Outcome:    "ok",
		Err:        err,
		SourceHash: e.hash,
		JTI:        e.jti,
		Scope:      e.granted.String(),
		Latency:    latency,
	}
	if e.req != nil {
		r := e.req
		ev.GrantType, ev.Requester = clip(r.GrantType, maxEventField), clip(r.ClientID, maxEventField)
		ev.Target, ev.APIType = clip(r.Target, maxEventField), clip(r.APIType, maxEventField)
	}
	if e.source != nil {
		ev.Subject = e.source.subject
	}
	var xe *Error
	if errors.As(err, &xe) {
		ev.Outcome = xe.Code
		ev.JTI = ""
	}
	x.cfg.OnExchange(ctx, ev)
}

// maxEventField caps request values copied into an Event: they come from
// the caller unchecked, and a token pasted into client_id must not end up
// whole in an audit log.
const maxEventField = 128

// clip cuts s to at most max bytes, on a rune boundary, and marks the cut.
// Values a request sent are echoed into events, logs and descriptions only
// this way.
func clip(s string, max int) string {
	if len(s) <= max {
		return s
	}
	for max > 0 && !utf8.RuneStart(s[max]) {
		max--
	}
	return s[:max] + "…"
}
