package engine

import (
	"context"
	"crypto/sha256"
	"errors"
	"net/url"
	"strings"

	"github.com/deputyauth/deputy/claims"
	"github.com/deputyauth/deputy/scope"
)

// Token type URNs of RFC 8693 §3 that deputy takes or issues.
const (
	TokenTypeAccessToken  = "urn:ietf:params:oauth:token-type:access_token"
	TokenTypeIDToken      = "urn:ietf:params:oauth:token-type:id_token"
	TokenTypeJWT          = "urn:ietf:params:oauth:token-type:jwt"
	TokenTypeRefreshToken = "urn:ietf:params:oauth:token-type:refresh_token"
)

var errEmptyScopeClaim = errors.New("engine: scope claim is empty")

// jwsKinds maps the JWS token types to the rules that verify them.
var jwsKinds = map[string]tokenKind{
	TokenTypeIDToken:     kindIDToken,
	TokenTypeAccessToken: kindAccessToken,
	TokenTypeJWT:         kindJWT,
}

// checkExchangeRequest checks the shape of a token-exchange request.
func checkExchangeRequest(_ *Exchanger, req *Request) *Error {
	switch {
	case req.ClientID == "":
		return invalidRequest("client_id is required", nil)
	case req.IDToken != "" || req.RefreshToken != "" || req.Target != "" || req.APIType != "":
		return invalidRequest("id_token, refresh_token, target and api_type belong to the delegation grant", nil)
	case req.SubjectToken == "" || req.SubjectTokenType == "":
		return invalidRequest("subject_token and subject_token_type are required", nil)
	case (req.ActorToken == "") != (req.ActorTokenType == ""):
		return invalidRequest("actor_token and actor_token_type go together", nil)
	}
	switch req.RequestedTokenType {
	case "", TokenTypeAccessToken, TokenTypeIDToken:
	default:
		return invalidRequest("requested_token_type not supported", nil)
	}
	return nil
}

// exchangeSource verifies the subject token by its declared type and the
// actor token, if any, and settles the act claim and the scope bound. Its
// refusals are invalid_grant, which the dialect answers as
// invalid_request.
func (x *Exchanger) exchangeSource(ctx context.Context, e *exchange) (*verified, *Error) {
	req := e.req
	// The caps come before hashing and parsing alike.
	if len(req.SubjectToken) > x.cfg.MaxTokenSize || len(req.ActorToken) > x.cfg.MaxTokenSize {
		return nil, grantErr("token too large", nil)
	}
	var (
		v   *verified
		err *Error
	)
	if req.SubjectTokenType == TokenTypeRefreshToken {
		if x.cfg.RefreshTokens == nil {
			return nil, grantErr("refresh tokens are not supported by this server", nil)
		}
		e.hash = sha256.Sum256([]byte(req.SubjectToken))
		v, err = x.refreshSource(ctx, e.hash, e.requester, e.now)
	} else {
		kind, ok := jwsKinds[req.SubjectTokenType]
		if !ok {
			return nil, grantErr("subject_token_type not supported", nil)
		}
		if x.cfg.OnExchange != nil {
			e.hash = sha256.Sum256([]byte(req.SubjectToken))
		}
		if v, err = x.exchangeJWS(ctx, req.SubjectToken, kind, e); err == nil {
			err = x.requireJTI(v)
		}
	}
	if err != nil {
		return nil, err
	}
	if req.ActorToken != "" {
		if err := x.addActor(ctx, v, e); err != nil {
			return nil, err
		}
	}
	return v, nil
}

// exchangeJWS verifies a subject or actor JWS of kind issued to the
// requester and applies the dialect's rules: a well-formed act chain
// within MaxActDepth, may_act carried along, and an access token's scope
// claim as the bound.
func (x *Exchanger) exchangeJWS(ctx context.Context, token string, kind tokenKind, e *exchange) (*verified, *Error) {
	v, err := x.verifyJWS(ctx, token, e.requester, kind, e.now)
	if err != nil {
		return nil, err
	}
	if act, ok := v.claims[claims.Actor]; ok {
		if !validAct(act, x.cfg.MaxActDepth) {
			return nil, grantErr("token act claim is malformed or nested too deep", nil)
		}
		v.act = act
	}
	// may_act restricts who may act for the subject from here on, so it
	// travels with the subject until an actor it names has acted:
	// dropping it would let a requester shed it by exchanging the token
	// for itself first.
	v.mayAct = v.claims[claims.MayAct]
	if v.kind == kindAccessToken {
		// RFC 9068 §2.2.3: the scope the token was granted bounds what
		// it can be exchanged for; without one, nothing beyond openid.
		v.bounded, v.bound = true, scope.Set{scope.OpenID}
		if v.claims.Has(claims.Scope) {
			s, serr := v.claims.StringValue(claims.Scope)
			if serr != nil {
				return nil, grantErr("token scope claim is malformed", serr)
			}
			bound, perr := scope.Parse(s)
			if perr == nil && len(bound) == 0 {
				// RFC 6749 §3.3: a scope has at least one token.
				perr = errEmptyScopeClaim
			}
			if perr != nil {
				return nil, grantErr("token scope claim is malformed", perr)
			}
			v.bound = bound
		}
	}
	return v, nil
}

// addActor verifies the actor token and records it in the subject's act
// claim, checking the subject's may_act when it has one.
func (x *Exchanger) addActor(ctx context.Context, subject *verified, e *exchange) *Error {
	kind, ok := jwsKinds[e.req.ActorTokenType]
	if !ok {
		return grantErr("actor_token_type not supported", nil)
	}
	actor, err := x.exchangeJWS(ctx, e.req.ActorToken, kind, e)
	if err != nil {
		return err
	}
	if may, ok := subject.claims[claims.MayAct]; ok && !mayAct(may, actor.subject, x.cfg.Issuer) {
		return grantErr("actor is not the one the subject token's may_act names", nil)
	}
	act := map[string]any{claims.Subject: actor.subject}
	if subject.act != nil {
		act[claims.Actor] = subject.act
	}
	if !validAct(act, x.cfg.MaxActDepth) {
		return grantErr("act chain would be nested too deep", nil)
	}
	subject.act, subject.mayAct = act, nil
	return nil
}

// validAct reports whether v is an act chain (RFC 8693 §4.1) of at most
// max levels, the outermost being level 1, each an object with a non-empty
// string sub. It looks at no more than max+1 levels.
func validAct(v any, max int) bool {
	for depth := 1; depth <= max; depth++ {
		m, ok := v.(map[string]any)
		if !ok {
			return false
		}
		if sub, ok := m[claims.Subject].(string); !ok || sub == "" {
			return false
		}
		next, ok := m[claims.Actor]
		if !ok {
			return true
		}
		v = next
	}
	return false
}

// mayAct reports whether an actor with subject sub, whose token issuer
// verified as issuer, is the one may_act (RFC 8693 §4.4) names: sub equal,
// and iss equal when may_act names one.
func mayAct(may any, sub, issuer string) bool {
	m, ok := may.(map[string]any)
	if !ok {
		return false
	}
	if s, ok := m[claims.Subject].(string); !ok || s != sub {
		return false
	}
	if iss, ok := m[claims.Issuer]; ok {
		if s, ok := iss.(string); !ok || s != issuer {
			return false
		}
	}
	return true
}

// exchangeTarget names the target from audience and resource: every value
// names a client by ID, the distinct names must be exactly one, and none
// means the requester itself. A resource must be an absolute URI without
// a fragment (RFC 8707 §2).
func exchangeTarget(e *exchange) (string, *Error) {
	req := e.req
	name := ""
	for _, list := range [2][]string{req.Audience, req.Resource} {
		for _, n := range list {
			if n == "" {
				continue // an empty value is not sent, as everywhere in Request
			}
			if name != "" && n != name {
				return "", newError(CodeInvalidTarget, "audience and resource must name one target", nil)
			}
			name = n
		}
	}
	for _, r := range req.Resource {
		if r == "" {
			continue
		}
		if u, err := url.Parse(r); err != nil || !u.IsAbs() || strings.Contains(r, "#") {
			return "", newError(CodeInvalidTarget, "resource must be an absolute URI without a fragment", nil)
		}
	}
	if name == "" {
		return e.requester.ID, nil
	}
	return name, nil
}
