package engine

import (
	"context"
	"maps"
	"strings"

	"github.com/deputyauth/deputy/claims"
	"github.com/deputyauth/deputy/scope"
)

// policyCodes are the codes a Policy may refuse with: the ones that say
// something about this request. Anything else a Policy returns is
// answered with server_error.
var policyCodes = map[string]bool{
	CodeInvalidRequest: true, CodeInvalidGrant: true, CodeInvalidScope: true,
	CodeInvalidTarget: true, CodeUnauthorizedClient: true,
}

// applyPolicy runs Config.Policy on a private copy of g and takes from it
// only what a policy may change: a narrower scope, and claims — the
// source's claims while the narrowed scope still releases them, plus any it
// added that is neither owned nor released by a scope not granted.
func (x *Exchanger) applyPolicy(ctx context.Context, g *Grant, needOpenID bool) *Error {
	cp := grantCopy(g)
	if err := x.cfg.Policy(ctx, cp); err != nil {
		if pe, ok := err.(*Error); ok && pe != nil && policyCodes[pe.Code] {
			// The description is the host's own text, clipped in case a
			// policy quotes the request.
			return newError(pe.Code, pe.Description, opaqueCause("policy", pe.Err)).because("policy refused: " + clip(pe.Description, 128))
		}
		return serverError("policy failed", opaqueCause("policy", err))
	}
	narrowed, err := scope.New(cp.Scope...)
	switch {
	case err != nil || !narrowed.SubsetOf(g.Scope):
		return serverError("policy widened the scope", errPolicyViolation)
	case len(narrowed) == 0 || needOpenID && !narrowed.Has(scope.OpenID):
		// The dialect's own rules still hold: an id_token needs openid,
		// and a token needs some scope.
		return serverError("policy removed a scope the token needs", errPolicyViolation)
	}
	releasable := make(map[string]bool)
	for _, t := range narrowed {
		for _, n := range x.cfg.Scopes[t] {
			releasable[n] = true
		}
	}
	out := make(claims.Set, len(cp.Claims))
	for n, v := range cp.Claims {
		_, fromSource := g.Claims[n]
		switch {
		case claims.IsOwned(n):
			return serverError("policy added an owned claim", errPolicyViolation)
		case releasable[n]:
			out[n] = v
		case fromSource:
			// Released by a scope the policy took away.
		case x.mappedFold[foldName(n)]:
			// A scope not granted maps this name, in this or another
			// letter case (a relying party decoding into a Go struct
			// matches names case-insensitively).
			return serverError("policy added a claim the scope does not release", errPolicyViolation)
		default:
			out[n] = v // a claim no scope maps: the host's own
		}
	}
	// Encoded once here, so that a value JSON cannot carry fails before
	// the source token is consumed rather than after.
	if _, err := appendJSONValue(nil, map[string]any(out)); err != nil {
		return serverError("policy added a claim that cannot be encoded", err)
	}
	g.Scope, g.Claims = narrowed, out
	return nil
}

// grantCopy returns a deep copy of g for code outside the engine (a Policy
// or a Minter), without the caller's secret and presented tokens: what it
// changes, the engine and its stores never see.
func grantCopy(g *Grant) *Grant {
	cp := *g
	cp.Requester = g.Requester.Clone()
	cp.Target = g.Target.Clone()
	cp.Scope = append([]string(nil), g.Scope...)
	cp.Claims = g.Claims.Clone()
	cp.Settings = append([]byte(nil), g.Settings...)
	req := *g.Request
	req.ClientSecret, req.IDToken, req.RefreshToken, req.SubjectToken, req.ActorToken = "", "", "", "", ""
	req.ClientAssertion = ""
	req.Audience = append([]string(nil), req.Audience...)
	req.Resource = append([]string(nil), req.Resource...)
	req.Extra = maps.Clone(req.Extra)
	cp.Request = &req
	return &cp
}

// foldName is the key under which names that Unicode case folding makes
// equal meet: "EMAIL", "Email" and "email" alike.
func foldName(n string) string { return strings.ToLower(strings.ToUpper(n)) }
