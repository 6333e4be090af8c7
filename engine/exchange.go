package engine

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/binary"
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
	headers headerCache // verifyJWS's HS* headers
	// mappedFold holds every claim name cfg.Scopes maps to some scope,
	// case-folded (foldName).
	mappedFold map[string]bool
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
	kid       string // the minted token's kid, built-in minter only
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
// request, how it names the source and the target, what it mints and how
// the answer is written. Everything else is the one pipeline in run.
type dialect struct {
	// name is the dialect's Event.Dialect.
	name string
	// check refuses a request of the wrong shape (invalid_request).
	check func(x *Exchanger, req *Request) *Error
	// source verifies the presented token(s) for the authenticated
	// requester. Its refusals of a token are invalid_grant; run answers
	// them with tokenCode.
	source func(x *Exchanger, ctx context.Context, e *exchange) (*verified, *Error)
	// target names the client the token is for.
	target func(e *exchange) (string, *Error)
	// tokenCode answers a refused source token (and a reused one).
	tokenCode string
	// addons is set when api_type may choose a Minter.
	addons bool
	// runsDown caps a minted token's exp at its source's (the token's exp,
	// a refresh grant's ExpiresAt), so that chains and renewals end.
	runsDown bool
	// scopes are the dialect's scope rules.
	scopes scopeRules
	// shape says what to mint for req.
	shape func(req *Request) *tokenShape
}

// tokenShape is a kind of token deputy mints and how it is answered.
type tokenShape struct {
	// typ is the typ header.
	typ string
	// access selects RFC 9068 access token claims (client_id, scope)
	// rather than id_token ones (azp).
	access bool
	// respond writes the answer for a minted token.
	respond func(token string, g *Grant) *Response
}

var (
	delegationIDToken = &tokenShape{
		typ: "JWT",
		respond: func(token string, g *Grant) *Response {
			return &Response{TokenType: "Bearer", ExpiresIn: int64(g.Lifetime / time.Second), IDToken: token}
		},
	}
	exchangeAccessToken = &tokenShape{
		typ:    "at+jwt",
		access: true,
		respond: func(token string, g *Grant) *Response {
			return &Response{
				AccessToken: token, IssuedTokenType: TokenTypeAccessToken, TokenType: "Bearer",
				ExpiresIn: int64(g.Lifetime / time.Second), Scope: scope.Set(g.Scope).String(),
			}
		},
	}
	exchangeIDToken = &tokenShape{
		typ: "JWT",
		respond: func(token string, g *Grant) *Response {
			// RFC 8693 §2.2.1: an id_token is not an access token.
			return &Response{
				AccessToken: token, IssuedTokenType: TokenTypeIDToken, TokenType: "N_A",
				ExpiresIn: int64(g.Lifetime / time.Second), Scope: scope.Set(g.Scope).String(),
			}
		},
	}
)

var dialects = map[string]*dialect{
	GrantTypeJWTBearer: {
		name:      DialectDelegation,
		check:     checkDelegationRequest,
		source:    (*Exchanger).delegationSource,
		target:    func(e *exchange) (string, *Error) { return e.req.Target, nil },
		tokenCode: CodeInvalidGrant,
		addons:    true,
		scopes:    scopeRules{passthrough: true, openid: func(*Request) bool { return true }},
		shape:     func(*Request) *tokenShape { return delegationIDToken },
	},
	GrantTypeTokenExchange: {
		name:      DialectTokenExchange,
		check:     checkExchangeRequest,
		source:    (*Exchanger).exchangeSource,
		target:    exchangeTarget,
		tokenCode: CodeInvalidRequest,
		runsDown:  true,
		scopes: scopeRules{emptyIsBound: true, openid: func(req *Request) bool {
			return req.RequestedTokenType == TokenTypeIDToken
		}},
		shape: func(req *Request) *tokenShape {
			if req.RequestedTokenType == TokenTypeIDToken {
				return exchangeIDToken
			}
			return exchangeAccessToken
		},
	},
}

// run is the pipeline: request shape → requester → source → target →
// api_type → scope and claims → lifetime → signing key → one-time use →
// mint.
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
		return nil, d.tokenErr(err)
	}
	e.source = src
	targetID, err := d.target(e)
	if err != nil {
		return nil, err
	}
	if err := x.authorizeTarget(ctx, e, targetID); err != nil {
		return nil, err
	}
	var (
		minter   Minter
		settings []byte
	)
	if d.addons {
		if minter, settings, err = x.minterFor(req.APIType, e.target); err != nil {
			return nil, err
		}
	}
	if e.granted, err = x.decideScope(req, d.scopes, e.target, src); err != nil {
		return nil, err
	}
	g := &Grant{
		Subject:   src.subject,
		Requester: e.requester,
		Target:    e.target,
		Scope:     e.granted,
		Claims:    nil, // built only for a Policy or Minter; else mintJWT encodes from the source
		IssuedAt:  e.now.Truncate(time.Second),
		Settings:  settings,
		Request:   req,
	}
	if g.Lifetime, err = x.lifetime(e.target, src, d.runsDown, e.now, g.IssuedAt); err != nil {
		return nil, d.tokenErr(err)
	}
	shape := d.shape(req)
	if minter != nil || x.cfg.Policy != nil {
		g.Claims = x.cfg.Scopes.Filter(src.claims, e.granted)
	}
	if x.cfg.Policy != nil {
		if err := x.applyPolicy(ctx, g, d.scopes.openid(req)); err != nil {
			return nil, err
		}
		e.granted = g.Scope
	}
	var signer *jwsSigner
	if minter == nil {
		// Resolved before one-time use: a target without a usable key must
		// not burn the source token.
		if signer, err = x.signer(ctx, e.target, shape.typ, g.IssuedAt); err != nil {
			return nil, err
		}
	}
	// One-time use is decided last, so that a refused request never burns
	// a good token.
	if err := x.consume(ctx, e); err != nil {
		return nil, d.tokenErr(err)
	}
	var res *Response
	if minter == nil {
		token, jti, err := x.mintJWT(ctx, g, signer, shape, src)
		if err != nil {
			return nil, err
		}
		e.jti, e.kid = jti, signer.kid
		res = shape.respond(token, g)
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

// tokenErr answers a refused source token with the dialect's code: RFC
// 8693 §2.2.2 makes a bad subject or actor token invalid_request.
func (d *dialect) tokenErr(err *Error) *Error {
	if err.Code == CodeInvalidGrant && d.tokenCode != CodeInvalidGrant {
		return newError(d.tokenCode, err.Description, err.Err).because(err.reason)
	}
	return err
}

// lifetime is the minted token's lifetime: the target's, else the
// default, and with runsDown cut so that the token never outlives what it
// was made from. A source with less than one second left is then refused
// rather than answered with a token that is expired on arrival.
func (x *Exchanger) lifetime(target *store.Client, src *verified, runsDown bool, now, iat time.Time) (time.Duration, *Error) {
	lifetime := x.cfg.Lifetime
	if lt := target.Lifetime.Truncate(time.Second); lt > 0 {
		lifetime = lt
	}
	if !runsDown || src.notAfter.IsZero() {
		return lifetime, nil
	}
	if src.notAfter.Sub(now) < time.Second {
		return 0, grantErr("token expires too soon to be exchanged", nil)
	}
	// iat is now truncated, so exp = iat + left is never past notAfter.
	if left := src.notAfter.Sub(iat).Truncate(time.Second); left < lifetime {
		lifetime = left
	}
	return lifetime, nil
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
	case req.SubjectToken != "" || req.SubjectTokenType != "" || req.ActorToken != "" ||
		req.ActorTokenType != "" || req.RequestedTokenType != "":
		// Dropped silently, an actor_token would yield a token without
		// act that its sender believes records the actor.
		return invalidRequest("subject_token, actor_token and requested_token_type belong to the token-exchange grant", nil)
	}
	return nil
}

// Authenticate runs the requester steps of Exchange alone, without
// looking at any token: the grant type is known, and req's client is
// registered, enabled, authenticated (by its secret when it gave one or
// must give one, or by Config.ClientAuth, which sees CheckOnly(ctx) true
// and consumes nothing single-use), and allowed the grant type. It
// returns nil or the *Error that Exchange would answer at that step.
// Hosts use it to decide whether a caller has shown itself to be a usable
// requester, for example before giving it a rate-limit bucket of its own;
// Exchange repeats the checks.
func (x *Exchanger) Authenticate(ctx context.Context, req *Request) error {
	if req == nil {
		return invalidRequest("no request", nil)
	}
	if dialects[req.GrantType] == nil {
		return newError(CodeUnsupportedGrantType, "grant_type not supported", nil)
	}
	ctx = context.WithValue(ctx, checkOnlyKey{}, true)
	if _, err := x.authenticate(ctx, req, x.cfg.Now()); err != nil {
		return err
	}
	return nil
}

// errNoSuchClient is the cause of a refusal for a client ID the store does
// not know. It stands in for the store's own error, which may quote the ID
// a request sent — a token or a secret pasted into client_id would reach
// the logs through it.
var errNoSuchClient = fmt.Errorf("engine: no such client: %w", store.ErrNotFound)

// authenticate loads the requester, checks its secret and that it may use
// the grant type. Unknown, disabled and wrongly authenticated clients get
// one answer.
func (x *Exchanger) authenticate(ctx context.Context, req *Request, now time.Time) (*store.Client, *Error) {
	if err := checkCredentialShape(req); err != nil {
		return nil, err
	}
	if len(req.ClientAssertion) > x.cfg.MaxTokenSize {
		return nil, newError(CodeInvalidClient, "client authentication failed", nil).because("client assertion too large")
	}
	c, err := x.cfg.Clients.Client(ctx, req.ClientID)
	switch {
	case errors.Is(err, store.ErrNotFound):
		x.decoyAuth(ctx, req)
		return nil, newError(CodeInvalidClient, "client authentication failed", errNoSuchClient).because("requester unknown")
	case err != nil:
		return nil, serverError("client store failed", err)
	case c.Disabled:
		x.decoyAuth(ctx, req)
		return nil, newError(CodeInvalidClient, "client authentication failed", nil).because("requester disabled")
	}
	if x.cfg.ClientAuth != nil {
		if err := x.authenticateWith(ctx, c, req); err != nil {
			return nil, err
		}
	} else if err := plaintextAuth(c, req, now); err != nil {
		reason := "requester secret mismatch"
		switch err {
		case errSecretMissing:
			reason = "requester secret missing (confidential client)"
		case errAssertionRefused:
			reason = "client assertion without ClientAuth"
		}
		return nil, newError(CodeInvalidClient, "client authentication failed", nil).because(reason)
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
		v, err := x.verifyJWS(ctx, req.IDToken, e.requester, kindIDToken, e.now)
		if err == nil {
			err = x.requireJTI(v)
		}
		return v, err
	}
	e.hash = sha256.Sum256([]byte(req.RefreshToken))
	return x.refreshSource(ctx, e.hash, e.requester, e.now)
}

// refreshSource looks up a refresh token of the requester's by its hash;
// its grant's scope bounds the result, and the user's claims come from
// Profiles.
func (x *Exchanger) refreshSource(ctx context.Context, hash [32]byte, requester *store.Client, now time.Time) (*verified, *Error) {
	g, err := x.cfg.RefreshTokens.RefreshToken(ctx, hash)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return nil, grantErr("refresh token not known", err).because("refresh token unknown")
	case err != nil:
		return nil, serverError("refresh token store failed", err)
	case g.ClientID != requester.ID:
		return nil, grantErr("refresh token not known", nil).because("refresh token issued to another client")
	case g.Revoked:
		return nil, grantErr("refresh token revoked", nil)
	case !g.ExpiresAt.IsZero() && !now.Before(g.ExpiresAt):
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
	case !jsonDepthOK(map[string]any(profile), 0):
		// A profile built in Go may hold a cycle; copying or encoding it
		// would never end.
		return nil, serverError("profile store returned a value nested too deep", nil)
	}
	return &verified{claims: profile, subject: g.Subject, bounded: true, bound: bound, notAfter: g.ExpiresAt}, nil
}

// authorizeTarget loads the target and checks that it lets the requester
// obtain tokens for it. Unknown, disabled and not-allowing targets get one
// answer, so that client IDs cannot be probed.
func (x *Exchanger) authorizeTarget(ctx context.Context, e *exchange, id string) *Error {
	t, err := x.cfg.Clients.Client(ctx, id)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return newError(CodeInvalidTarget, "target not available to this client", errNoSuchClient).because("target unknown")
	case err != nil:
		return serverError("client store failed", err)
	case t.Disabled:
		return newError(CodeInvalidTarget, "target not available to this client", nil).because("target disabled")
	case !allows(t, e.requester.ID):
		return newError(CodeInvalidTarget, "target not available to this client", nil).because("target does not allow requester")
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
// registered Minter that the target enables. An absent api_type means the
// target's DefaultAPIType, and the id_token when that is empty.
func (x *Exchanger) minterFor(apiType string, target *store.Client) (Minter, []byte, *Error) {
	if apiType == "" {
		switch apiType = target.DefaultAPIType; apiType {
		case "", apiTypeApp, apiTypeAuth0:
			return nil, nil, nil
		}
		// The request asked for nothing in particular: a default the
		// server cannot honour is its own misconfiguration.
		m := x.cfg.Minters[apiType]
		settings, enabled := target.APITypes[apiType]
		if m == nil || !enabled {
			return nil, nil, serverError("target's default api_type has no minter", nil)
		}
		return m, settings, nil
	}
	switch apiType {
	case apiTypeApp, apiTypeAuth0:
		return nil, nil, nil
	}
	m := x.cfg.Minters[apiType]
	settings, enabled := target.APITypes[apiType]
	switch {
	case m == nil:
		return nil, nil, invalidRequest("api_type not available for this target", nil).because("api_type unknown: " + LogValue(apiType))
	case !enabled:
		return nil, nil, invalidRequest("api_type not available for this target", nil).because("api_type not enabled for target: " + apiType)
	}
	return m, settings, nil
}

// scopeRules are a dialect's scope rules.
type scopeRules struct {
	// passthrough enables Auth0's scope=passthrough.
	passthrough bool
	// emptyIsBound makes an empty scope ask for the source's bound,
	// silently narrowed to what the target allows; otherwise an empty
	// scope means openid.
	emptyIsBound bool
	// openid reports whether req must be granted openid.
	openid func(req *Request) bool
}

// decideScope settles the granted scope: every scope known and allowed by
// the target, within the source's bound when it has one, and openid when
// the rules require it. passthrough asks for every scope the source's
// claims support, silently leaving out those not allowed.
func (x *Exchanger) decideScope(req *Request, rules scopeRules, target *store.Client, src *verified) (scope.Set, *Error) {
	requested := req.Scope
	allowed := func(t string) bool {
		return (len(target.Scopes) == 0 || slices.Contains(target.Scopes, t)) &&
			(!src.bounded || src.bound.Has(t))
	}
	if rules.passthrough && requested == passthrough {
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
	needOpenID := rules.openid(req)
	if len(s) == 0 {
		if !rules.emptyIsBound || !src.bounded {
			s = scope.Set{scope.OpenID}
		} else {
			// The bound, narrowed to what is known and allowed here.
			for _, t := range src.bound {
				if _, known := x.cfg.Scopes[t]; known && allowed(t) {
					s = append(s, t)
				}
			}
			if len(s) == 0 || needOpenID && !s.Has(scope.OpenID) {
				return nil, newError(CodeInvalidScope, "no scope of the source is allowed here", nil)
			}
			return s, nil
		}
	}
	if needOpenID && !s.Has(scope.OpenID) {
		return nil, newError(CodeInvalidScope, "scope openid is required", nil)
	}
	if unknown, ok := x.cfg.Scopes.Known(s); !ok {
		return nil, newError(CodeInvalidScope, "scope not known", nil).because("scope not known: " + LogValue(unknown))
	}
	for _, t := range s {
		// t is a registered scope name (Known above): safe to log.
		switch {
		case len(target.Scopes) > 0 && !slices.Contains(target.Scopes, t):
			return nil, newError(CodeInvalidScope, "scope not allowed", nil).because("scope not allowed by target: " + t)
		case src.bounded && !src.bound.Has(t):
			return nil, newError(CodeInvalidScope, "scope not allowed", nil).because("scope beyond the source's bound: " + t)
		}
	}
	return s, nil
}

// consume spends the source token when Replay is set. Its TTL reaches the
// token's expiry plus the clock skew, the last instant the token could
// still be accepted; checkClaims bounds that by MaxSourceExpiry.
func (x *Exchanger) consume(ctx context.Context, e *exchange) *Error {
	if x.cfg.Replay == nil || e.source.expiry.IsZero() {
		return nil
	}
	ttl := e.source.expiry.Add(x.cfg.ClockSkew).Sub(e.now)
	if ttl < time.Second {
		ttl = time.Second
	}
	// Who could have signed the token names the key's namespace: an HMAC
	// token only the requester (and the issuer) could sign, an asymmetric
	// one only the issuer. So a client can forge ids only in its own
	// namespace, while an asymmetric token naming several audiences is
	// still one use among all of them.
	owner := ""
	if store.IsHMAC(e.requester.SigningAlg) {
		owner = e.requester.ID
	}
	first, err := x.cfg.Replay.Use(ctx, replayID(x.cfg.Issuer, owner, e.source.jti), ttl)
	switch {
	case err != nil:
		return serverError("replay cache failed", err)
	case !first:
		return grantErr("token already used", nil)
	}
	return nil
}

// replayID is the one-time-use key of a token: a digest of its issuer, the
// client whose secret could have signed it ("" for the issuer's asymmetric
// keys) and its jti. Naming that client means one client's tokens can only
// ever consume its own ids; the digest gives every entry the same small
// size whatever the token said.
func replayID(issuer, client, jti string) string {
	h := sha256.New()
	var n [8]byte
	for _, part := range [...]string{issuer, client, jti} {
		binary.BigEndian.PutUint64(n[:], uint64(len(part)))
		h.Write(n[:])
		h.Write([]byte(part))
	}
	var sum [sha256.Size]byte
	return b64.EncodeToString(h.Sum(sum[:0]))
}

func (x *Exchanger) emit(ctx context.Context, e *exchange, err error, latency time.Duration) {
	ev := Event{
		Time:       e.now,
		Outcome:    "ok",
		Err:        err,
		SourceHash: e.hash,
		JTI:        e.jti,
		KeyID:      e.kid,
		Scope:      e.granted.String(),
		Latency:    latency,
	}
	if r := e.req; r != nil {
		// Values a registered client was found under are logged as they
		// are; anything else only as LogValue shows it.
		ev.GrantType, ev.APIType = LogValue(r.GrantType), LogValue(r.APIType)
		if d := dialects[r.GrantType]; d != nil {
			ev.GrantType, ev.Dialect = r.GrantType, d.name
		}
		ev.Requester = LogValue(r.ClientID)
		if e.requester != nil {
			ev.Requester, ev.RequesterKnown = e.requester.ID, true
		}
		switch {
		case e.target != nil:
			ev.Target, ev.TargetKnown = e.target.ID, true
		case r.Target != "":
			ev.Target = LogValue(r.Target)
		case len(r.Audience) > 0:
			ev.Target = LogValue(r.Audience[0])
		case len(r.Resource) > 0:
			ev.Target = LogValue(r.Resource[0])
		}
	}
	if e.source != nil {
		ev.Subject = e.source.subject
	}
	if err != nil {
		xe := AsError(err)
		ev.Outcome, ev.Reason = xe.Code, xe.reason
		if ev.Reason == "" {
			ev.Reason = xe.Description
		}
		ev.JTI, ev.KeyID = "", ""
	}
	x.cfg.OnExchange(ctx, ev)
}

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
