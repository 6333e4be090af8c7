package engine_test

// Independent review of the RFC 8693 dialect: each test is an attack on the
// engine. A passing test documents that the attack is refused as DESIGN.md
// says (exact code, no token, no echo of the token in the error); a failing
// one is a finding (see the comment on it).

import (
	"context"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/google/go-cmp/cmp"

	"github.com/deputyauth/deputy/claims"
	"github.com/deputyauth/deputy/engine"
	"github.com/deputyauth/deputy/store"
)

// reviewChain builds an act chain of depth n (outermost is level 1); leaf
// replaces the innermost level when not nil.
func reviewChain(n int, leaf map[string]any) any {
	var act any
	for i := n; i >= 1; i-- {
		m := map[string]any{"sub": "a" + strconv.Itoa(i)}
		if i == n && leaf != nil {
			m = leaf
		}
		if act != nil {
			m["act"] = act
		}
		act = m
	}
	return act
}

// newRefreshXWorld is the token-exchange world with refresh tokens on.
func newRefreshXWorld(t *testing.T, mod func(*engine.Config)) *xworld {
	t.Helper()
	w := newXWorld(t, func(c *engine.Config) {
		st := c.Clients.(*store.Memory)
		c.RefreshTokens, c.Profiles = st, st
		if mod != nil {
			mod(c)
		}
	})
	w.st.PutProfile("auth0|ada", userClaims())
	return w
}

// TestReview8693MintedIDTokenNeverASource: an id_token deputy minted — in
// token exchange (here for the requester itself, so it has exactly the shape
// of the issuer's id_token for that client) or in delegation — is refused
// as subject and as actor under every declared type, and in delegation.
func TestReview8693MintedIDTokenNeverASource(t *testing.T) {
	w := newXWorld(t, nil)
	self := tx(svcB, w.idToken(t, svcB, nil), engine.TokenTypeIDToken)
	self.RequestedTokenType = engine.TokenTypeIDToken
	selfID := mustExchange(t, w, self).AccessToken
	if _, c := w.decode(t, selfID, svcB); c["aud"] != svcB || c["azp"] != svcB || c["iss"] != issuer {
		t.Fatalf("self id_token aud %v azp %v iss %v", c["aud"], c["azp"], c["iss"])
	}
	// A delegation id_token minted for svc-b by svc-a… svc-a may delegate
	// to svc-b in the delegation grant too.
	delegated := mustExchange(t, w, delegation(svcA, w.idToken(t, svcA, nil), svcB, "")).IDToken

	types := []string{engine.TokenTypeIDToken, engine.TokenTypeJWT, engine.TokenTypeAccessToken}
	for name, minted := range map[string]string{"exchange id_token": selfID, "delegation id_token": delegated} {
		for _, typ := range types {
			t.Run(name+"/subject "+typ, func(t *testing.T) {
				res, err := w.x.Exchange(context.Background(), tx(svcB, minted, typ, svcC))
				assertRefused(t, res, err, engine.CodeInvalidRequest, minted)
			})
			t.Run(name+"/self subject "+typ, func(t *testing.T) {
				res, err := w.x.Exchange(context.Background(), tx(svcB, minted, typ))
				assertRefused(t, res, err, engine.CodeInvalidRequest, minted)
			})
			t.Run(name+"/actor "+typ, func(t *testing.T) {
				req := withActor(tx(svcB, w.accessToken(t, svcB, nil), engine.TokenTypeAccessToken, svcC), minted, typ)
				res, err := w.x.Exchange(context.Background(), req)
				assertRefused(t, res, err, engine.CodeInvalidRequest, minted, req.SubjectToken)
			})
		}
		t.Run(name+"/delegation", func(t *testing.T) {
			res, err := w.x.Exchange(context.Background(), delegation(svcB, minted, svcB, ""))
			assertRefused(t, res, err, engine.CodeInvalidGrant, minted)
			res, err = w.x.Exchange(context.Background(), delegation(svcB, minted, svcC, ""))
			assertRefused(t, res, err, engine.CodeInvalidGrant, minted)
		})
	}
}

// TestReview8693MintedAccessTokenNotInDelegation: an access token deputy
// minted is a source only in token exchange, under the access token rules.
func TestReview8693MintedAccessTokenNotInDelegation(t *testing.T) {
	w := newXWorld(t, nil)
	at := mustExchange(t, w, tx(svcA, w.idToken(t, svcA, nil), engine.TokenTypeIDToken, svcB)).AccessToken
	for _, target := range []string{svcB, svcC} {
		res, err := w.x.Exchange(context.Background(), delegation(svcB, at, target, ""))
		assertRefused(t, res, err, engine.CodeInvalidGrant, at)
	}
	// Sent as an id_token in token exchange it is refused too (typ).
	res, err := w.x.Exchange(context.Background(), tx(svcB, at, engine.TokenTypeIDToken, svcC))
	assertRefused(t, res, err, engine.CodeInvalidRequest, at)
}

// TestReview8693RefusedTokensAreInvalidRequest: whatever is wrong with a
// subject or actor token, token exchange answers invalid_request (RFC 8693
// §2.2.2), never invalid_grant, and never echoes the token.
func TestReview8693RefusedTokensAreInvalidRequest(t *testing.T) {
	w := newRefreshXWorld(t, func(c *engine.Config) { c.Replay = store.NewMemory(); c.ClockSkew = 30 * time.Second })
	w.st.PutRefreshToken("rt-b-soon", store.RefreshGrant{ClientID: svcB, Subject: "auth0|ada", Scope: []string{"openid"}, ExpiresAt: fixedNow.Add(500 * time.Millisecond)})
	w.st.PutRefreshToken("rt-b-noprofile", store.RefreshGrant{ClientID: svcB, Subject: "auth0|nobody", Scope: []string{"openid"}})
	w.st.PutRefreshToken("rt-b", store.RefreshGrant{ClientID: svcB, Subject: "auth0|ada", Scope: []string{"openid"}})
	good := func() string { return w.accessToken(t, svcB, nil) }
	used := good()
	mustExchange(t, w, tx(svcB, used, engine.TokenTypeAccessToken, svcC))
	usedID := w.idToken(t, svcB, nil)
	mustExchange(t, w, delegation(svcB, usedID, svcC, "")) // consumed by the other dialect
	tampered := func() string {
		tok := good()
		i := strings.LastIndexByte(tok, '.')
		sig := []byte(tok[i+1:])
		if sig[3] == 'A' {
			sig[3] = 'B'
		} else {
			sig[3] = 'A'
		}
		return tok[:i+1] + string(sig)
	}()
	big := good() + strings.Repeat("A", engine.DefaultMaxTokenSize)
	actorFor := func(mod func(claims.Set)) string { return w.serviceToken(t, svcB, mod) }
	for _, tc := range []struct {
		name                 string
		subject, subjectType string
		actor, actorType     string
	}{
		{"subject expired beyond skew", w.accessToken(t, svcB, func(c claims.Set) { c["exp"] = float64(fixedNow.Add(-31 * time.Second).Unix()) }), engine.TokenTypeAccessToken, "", ""},
		{"subject expired within skew (no second left)", w.accessToken(t, svcB, func(c claims.Set) { c["exp"] = float64(fixedNow.Add(-10 * time.Second).Unix()) }), engine.TokenTypeAccessToken, "", ""},
		{"subject with half a second left", w.accessToken(t, svcB, func(c claims.Set) { c["exp"] = float64(fixedNow.Unix()) + 0.5 }), engine.TokenTypeAccessToken, "", ""},
		{"subject signature tampered", tampered, engine.TokenTypeAccessToken, "", ""},
		{"subject too large", big, engine.TokenTypeAccessToken, "", ""},
		{"subject of another issuer", w.idToken(t, svcB, func(c claims.Set) { c["iss"] = "https://evil.example/" }), engine.TokenTypeIDToken, "", ""},
		{"subject id_token with two aud, no azp", w.idToken(t, svcB, func(c claims.Set) { c["aud"] = []any{svcB, svcC} }), engine.TokenTypeIDToken, "", ""},
		{"subject id_token whose azp is another client", w.idToken(t, svcB, func(c claims.Set) { c["azp"] = svcA }), engine.TokenTypeIDToken, "", ""},
		{"subject nbf in the future", w.accessToken(t, svcB, func(c claims.Set) { c["nbf"] = float64(fixedNow.Add(time.Minute).Unix()) }), engine.TokenTypeAccessToken, "", ""},
		{"subject exp beyond MaxSourceExpiry", w.accessToken(t, svcB, func(c claims.Set) { c["exp"] = float64(fixedNow.Add(72 * time.Hour).Unix()) }), engine.TokenTypeAccessToken, "", ""},
		{"subject without jti under Replay", w.accessToken(t, svcB, func(c claims.Set) { delete(c, "jti") }), engine.TokenTypeAccessToken, "", ""},
		{"subject reused", used, engine.TokenTypeAccessToken, "", ""},
		{"subject used in delegation first", usedID, engine.TokenTypeIDToken, "", ""},
		{"subject type in upper case", good(), strings.ToUpper(engine.TokenTypeAccessToken), "", ""},
		{"subject type with a trailing space", good(), engine.TokenTypeAccessToken + " ", "", ""},
		{"subject type saml1", good(), "urn:ietf:params:oauth:token-type:saml1", "", ""},
		{"subject type bare access_token", good(), "access_token", "", ""},
		{"refresh token unknown", "rt-nope", engine.TokenTypeRefreshToken, "", ""},
		{"refresh token with half a second left", "rt-b-soon", engine.TokenTypeRefreshToken, "", ""},
		{"refresh token whose user has no profile", "rt-b-noprofile", engine.TokenTypeRefreshToken, "", ""},
		{"refresh token sent as access_token", "rt-b", engine.TokenTypeAccessToken, "", ""},
		{"actor expired beyond skew", good(), engine.TokenTypeAccessToken, actorFor(func(c claims.Set) { c["exp"] = float64(fixedNow.Add(-time.Minute).Unix()) }), engine.TokenTypeIDToken},
		{"actor too large", good(), engine.TokenTypeAccessToken, actorFor(nil) + strings.Repeat("A", engine.DefaultMaxTokenSize), engine.TokenTypeIDToken},
		{"actor of another issuer", good(), engine.TokenTypeAccessToken, actorFor(func(c claims.Set) { c["iss"] = "https://evil.example/" }), engine.TokenTypeIDToken},
		{"actor without sub", good(), engine.TokenTypeAccessToken, actorFor(func(c claims.Set) { delete(c, "sub") }), engine.TokenTypeIDToken},
		{"actor nbf in the future", good(), engine.TokenTypeAccessToken, actorFor(func(c claims.Set) { c["nbf"] = float64(fixedNow.Add(time.Hour).Unix()) }), engine.TokenTypeIDToken},
		{"actor with two aud, no azp", good(), engine.TokenTypeAccessToken, actorFor(func(c claims.Set) { c["aud"] = []any{svcB, svcC} }), engine.TokenTypeIDToken},
		{"actor access token sent as id_token", good(), engine.TokenTypeAccessToken, w.accessToken(t, svcB, nil), engine.TokenTypeIDToken},
		{"actor id_token sent as access_token", good(), engine.TokenTypeAccessToken, actorFor(nil), engine.TokenTypeAccessToken},
		{"actor access token with a malformed scope", good(), engine.TokenTypeAccessToken, w.accessToken(t, svcB, func(c claims.Set) { c["scope"] = "a  b" }), engine.TokenTypeAccessToken},
		{"actor type refresh_token", good(), engine.TokenTypeAccessToken, "rt-b", engine.TokenTypeRefreshToken},
		{"actor type upper case", good(), engine.TokenTypeAccessToken, actorFor(nil), strings.ToUpper(engine.TokenTypeIDToken)},
		{"actor garbage", good(), engine.TokenTypeAccessToken, "a.b.c", engine.TokenTypeJWT},
		{"may_act names another actor", w.accessToken(t, svcB, func(c claims.Set) { c["may_act"] = map[string]any{"sub": "service:svc-x"} }), engine.TokenTypeAccessToken, actorFor(nil), engine.TokenTypeIDToken},
		{"refresh subject, actor expired", "rt-b", engine.TokenTypeRefreshToken, actorFor(func(c claims.Set) { c["exp"] = float64(fixedNow.Add(-time.Minute).Unix()) }), engine.TokenTypeIDToken},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req := tx(svcB, tc.subject, tc.subjectType, svcC)
			if tc.actor != "" {
				withActor(req, tc.actor, tc.actorType)
			}
			res, err := w.x.Exchange(context.Background(), req)
			assertRefused(t, res, err, engine.CodeInvalidRequest, tc.subject, tc.actor)
		})
	}
	t.Run("refresh tokens not configured", func(t *testing.T) {
		w := newXWorld(t, nil)
		res, err := w.x.Exchange(context.Background(), tx(svcB, "rt-b", engine.TokenTypeRefreshToken, svcC))
		assertRefused(t, res, err, engine.CodeInvalidRequest, "rt-b")
	})
}

// TestReview8693MayActLaunderedBySelfRenewal: a subject token whose may_act
// allows only service:svc-b to act for the user. svc-b lists itself in
// AllowedSources, so it first exchanges the token for itself without an
// actor — may_act "plays no part" and, being an owned claim, is not carried
// — and then presents the renewed token with an actor the user never
// allowed. The may_act restriction must survive the renewal (or the renewal
// must be refused).
//
// Found by the review: the second exchange minted a token with act
// {"sub":"service:evil"}. may_act now travels with the subject until an
// actor it names has acted.
func TestReview8693MayActLaunderedBySelfRenewal(t *testing.T) {
	w := newXWorld(t, nil)
	subject := w.accessToken(t, svcB, func(c claims.Set) { c["may_act"] = map[string]any{"sub": "service:svc-b"} })
	evil := w.idToken(t, svcB, func(c claims.Set) { c["sub"] = "service:evil" })

	// Directly, the wrong actor is refused.
	res, err := w.x.Exchange(context.Background(), withActor(tx(svcB, subject, engine.TokenTypeAccessToken, svcC), evil, engine.TokenTypeIDToken))
	assertRefused(t, res, err, engine.CodeInvalidRequest, subject, evil)

	renewed, err := w.x.Exchange(context.Background(), tx(svcB, subject, engine.TokenTypeAccessToken))
	if err != nil {
		return // refusing the laundering step is a fix too
	}
	res, err = w.x.Exchange(context.Background(), withActor(tx(svcB, renewed.AccessToken, engine.TokenTypeAccessToken, svcC), evil, engine.TokenTypeIDToken))
	if err == nil {
		t.Errorf("may_act laundered: after a self-renewal without actor, service:evil acts for the user at svc-c: act = %v",
			w.checkAccessToken(t, res, svcC)["act"])
		return
	}
	assertRefused(t, res, err, engine.CodeInvalidRequest, renewed.AccessToken, evil)
}

// TestReview8693MultiAudienceAccessTokenReplay: with Replay set, a subject
// token's iss+jti is consumed (DESIGN, "One-time use"). An RFC 9068 access
// token may name several audiences, and the access token rules (unlike the
// id_token rules, which demand azp) let every audience present it. Keyed by
// issuer+requester+jti, the one token was spent once per audience.
//
// Found by the review: svc-e exchanged the token svc-d had already used.
// The key now names the client whose secret could have signed the token,
// and "" for the issuer's asymmetric keys.
func TestReview8693MultiAudienceAccessTokenReplay(t *testing.T) {
	const svcE = "svc-e"
	w := newXWorld(t, func(c *engine.Config) { c.Replay = store.NewMemory() })
	putClient(t, w.st, store.Client{ID: svcE, SigningAlg: "RS256", Grants: bothGrants})
	putClient(t, w.st, store.Client{ID: "sink", SigningAlg: "HS256", Grants: bothGrants, AllowedSources: []string{"*"}})
	at := w.accessToken(t, svcD, func(c claims.Set) { c["aud"] = []any{svcD, svcE} })

	mustExchange(t, w, tx(svcD, at, engine.TokenTypeAccessToken, "sink"))
	res, err := w.x.Exchange(context.Background(), tx(svcD, at, engine.TokenTypeAccessToken, "sink"))
	assertRefused(t, res, err, engine.CodeInvalidRequest, at)

	res, err = w.x.Exchange(context.Background(), tx(svcE, at, engine.TokenTypeAccessToken, "sink"))
	if err == nil {
		t.Errorf("one access token (one iss+jti) exchanged twice under Replay, by each of its audiences")
		return
	}
	assertRefused(t, res, err, engine.CodeInvalidRequest, at)
}

// TestReview8693ActDepthBeyond64: DESIGN caps act chains at MaxActDepth
// levels "in the subject or in the result" and wants every level an object
// with a non-empty string sub. actDepth stops counting at 65, so with a
// MaxActDepth above 64 (New accepts any positive value) deeper chains and
// malformed levels beyond the 65th passed (found by the review; every
// level up to MaxActDepth is now checked).
func TestReview8693ActDepthBeyond64(t *testing.T) {
	w := newXWorld(t, func(c *engine.Config) { c.MaxActDepth = 65; c.MaxTokenSize = 64 << 10 })
	actor := w.serviceToken(t, svcB, nil)
	for _, tc := range []struct {
		name  string
		act   any
		actor bool
	}{
		{"66 levels in the subject", reviewChain(66, nil), false},
		{"1000 levels in the subject", reviewChain(1000, nil), false},
		{"level 66 without sub", reviewChain(66, map[string]any{"client_id": "x"}), false},
		{"level 66 not an object", func() any {
			c := reviewChain(65, nil)
			m := c.(map[string]any)
			for i := 1; i < 65; i++ {
				m = m["act"].(map[string]any)
			}
			m["act"] = "not an object"
			return c
		}(), false},
		{"65 levels plus an actor: 66 in the result", reviewChain(65, nil), true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req := tx(svcB, w.accessToken(t, svcB, func(c claims.Set) { c["act"] = tc.act }), engine.TokenTypeAccessToken, svcC)
			if tc.actor {
				withActor(req, actor, engine.TokenTypeIDToken)
			}
			res, err := w.x.Exchange(context.Background(), req)
			if err == nil {
				t.Errorf("accepted: minted a token whose act chain is beyond MaxActDepth or malformed")
				return
			}
			assertRefused(t, res, err, engine.CodeInvalidRequest, req.SubjectToken, req.ActorToken)
		})
	}
	t.Run("65 levels accepted", func(t *testing.T) {
		req := tx(svcB, w.accessToken(t, svcB, func(c claims.Set) { c["act"] = reviewChain(65, nil) }), engine.TokenTypeAccessToken, svcC)
		mustExchange(t, w, req)
	})
}

// TestReview8693ActNeverDropped: the act chain survives every path out of
// an exchange — self-renewal, an id_token answer, a hop with and without an
// actor — unchanged, extra members included.
func TestReview8693ActNeverDropped(t *testing.T) {
	w := newXWorld(t, nil)
	given := map[string]any{"sub": "svc-0", "iss": "https://other.example/", "client_id": "c0", "act": map[string]any{"sub": "svc-00", "x": []any{1.5, "y"}}}
	subject := w.accessToken(t, svcB, func(c claims.Set) { c["act"] = given })

	renewed := mustExchange(t, w, tx(svcB, subject, engine.TokenTypeAccessToken))
	if got := w.checkAccessToken(t, renewed, svcB)["act"]; !cmp.Equal(got, any(given)) {
		t.Errorf("self-renewal act = %v, want %v", got, given)
	}
	idReq := tx(svcB, renewed.AccessToken, engine.TokenTypeAccessToken, svcC)
	idReq.RequestedTokenType, idReq.Scope = engine.TokenTypeIDToken, "openid"
	idRes := mustExchange(t, w, idReq)
	if got := w.checkIssued(t, idRes, svcC, engine.TokenTypeIDToken, "N_A", "JWT"); !cmp.Equal(got["act"], any(given)) || got.Has("scope") || got["azp"] != svcB {
		t.Errorf("id_token act = %v, scope %v, azp %v", got["act"], got["scope"], got["azp"])
	}
	withA := mustExchange(t, w, withActor(tx(svcB, renewed.AccessToken, engine.TokenTypeAccessToken, svcC), w.serviceToken(t, svcB, nil), engine.TokenTypeJWT))
	want := map[string]any{"sub": "service:svc-b", "act": given}
	if got := w.checkAccessToken(t, withA, svcC)["act"]; !cmp.Equal(got, any(want)) {
		t.Errorf("act with actor = %v, want %v", got, want)
	}
	// svc-c passes it on to svc-d with no actor: still both levels.
	cd := mustExchange(t, w, tx(svcC, withA.AccessToken, engine.TokenTypeAccessToken, svcD))
	if got := w.checkAccessToken(t, cd, svcD)["act"]; !cmp.Equal(got, any(want)) {
		t.Errorf("C→D act = %v, want %v", got, want)
	}
}

// TestReview8693Lifetime: exp fractions, skew and sub-second clocks never
// let a minted token outlive its subject; the actor's exp does not cap; a
// refresh grant's ExpiresAt caps in token exchange (with an actor too) but
// not in delegation, as before the refactor.
func TestReview8693Lifetime(t *testing.T) {
	for _, tc := range []struct {
		name string
		now  time.Duration // after fixedNow
		exp  float64       // seconds after fixedNow
		skew time.Duration
		want int64 // expires_in; 0: refused
	}{
		{"exp fraction", 0, 3600.7, 0, 3600},
		{"sub-second clock", 300 * time.Millisecond, 3600.2, 0, 3600},
		{"sub-second clock, little left", 900 * time.Millisecond, 1.95, 0, 1},
		{"sub-second clock, under a second left", 900 * time.Millisecond, 1.85, 0, 0},
		{"skew does not extend", 0, -10, time.Minute, 0},
		{"skew does not extend, exact", 0, 0, time.Minute, 0},
		{"exactly one second", 0, 1, 0, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := newXWorld(t, func(c *engine.Config) { c.ClockSkew = tc.skew })
			w.now = fixedNow.Add(tc.now)
			exp := float64(fixedNow.Unix()) + tc.exp
			sub := w.accessToken(t, svcB, func(c claims.Set) {
				c["exp"], c["iat"] = exp, float64(fixedNow.Add(-time.Hour).Unix())
			})
			res, err := w.x.Exchange(context.Background(), tx(svcB, sub, engine.TokenTypeAccessToken, svcC))
			if tc.want == 0 {
				assertRefused(t, res, err, engine.CodeInvalidRequest, sub)
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			got := w.checkAccessToken(t, res, svcC)
			if res.ExpiresIn != tc.want {
				t.Errorf("expires_in = %d, want %d", res.ExpiresIn, tc.want)
			}
			if e := got["exp"].(float64); e > exp {
				t.Errorf("minted exp %v after the subject's %v", e, exp)
			}
		})
	}
	t.Run("actor's exp does not cap", func(t *testing.T) {
		w := newXWorld(t, nil)
		actor := w.serviceToken(t, svcB, func(c claims.Set) { c["exp"] = float64(fixedNow.Add(2 * time.Second).Unix()) })
		res := mustExchange(t, w, withActor(tx(svcB, w.accessToken(t, svcB, nil), engine.TokenTypeAccessToken, svcC), actor, engine.TokenTypeIDToken))
		if res.ExpiresIn != 3600 {
			t.Errorf("expires_in = %d, want the subject's 3600", res.ExpiresIn)
		}
	})
	t.Run("refresh grant ExpiresAt", func(t *testing.T) {
		w := newRefreshXWorld(t, nil)
		w.st.PutRefreshToken("rt-b", store.RefreshGrant{ClientID: svcB, Subject: "auth0|ada", Scope: []string{"openid"}, ExpiresAt: fixedNow.Add(90*time.Second + 700*time.Millisecond)})
		res := mustExchange(t, w, withActor(tx(svcB, "rt-b", engine.TokenTypeRefreshToken, svcC), w.serviceToken(t, svcB, nil), engine.TokenTypeIDToken))
		if res.ExpiresIn != 90 {
			t.Errorf("token exchange expires_in = %d, want 90", res.ExpiresIn)
		}
		req := tx(svcB, "rt-b", engine.TokenTypeRefreshToken, svcC)
		req.RequestedTokenType = engine.TokenTypeIDToken
		if res := mustExchange(t, w, req); res.ExpiresIn != 90 {
			t.Errorf("id_token expires_in = %d, want 90", res.ExpiresIn)
		}
		// The delegation grant never capped by the grant.
		dres := mustExchange(t, w, &engine.Request{GrantType: engine.GrantTypeJWTBearer, ClientID: svcB, RefreshToken: "rt-b", Target: svcC})
		if dres.ExpiresIn != int64(engine.DefaultLifetime/time.Second) {
			t.Errorf("delegation expires_in = %d, want the default", dres.ExpiresIn)
		}
	})
	t.Run("target lifetime shorter than the subject", func(t *testing.T) {
		w := newXWorld(t, nil)
		putClient(t, w.st, store.Client{ID: "short", SigningAlg: "HS256", Grants: bothGrants, AllowedSources: []string{svcB}, Lifetime: 90 * time.Second})
		res := mustExchange(t, w, tx(svcB, w.accessToken(t, svcB, nil), engine.TokenTypeAccessToken, "short"))
		if res.ExpiresIn != 90 {
			t.Errorf("expires_in = %d, want 90", res.ExpiresIn)
		}
	})
}

// TestReview8693ScopeBounds: the bound cannot be widened by an empty scope,
// by asking for openid, or by changing the requested token type.
func TestReview8693ScopeBounds(t *testing.T) {
	w := newXWorld(t, nil)
	putClient(t, w.st, store.Client{ID: "no-openid", SigningAlg: "HS256", Grants: bothGrants, AllowedSources: []string{svcB}, Scopes: []string{"email"}})
	at := func(s any) string {
		return w.accessToken(t, svcB, func(c claims.Set) {
			if s == nil {
				delete(c, "scope")
			} else {
				c["scope"] = s
			}
		})
	}
	for _, tc := range []struct {
		name, subject, subjectType, target, scope, requested string
		want                                                 string
	}{
		{"openid beyond a bound without it", at("email"), engine.TokenTypeAccessToken, svcC, "openid email", "", engine.CodeInvalidScope},
		{"empty scope, bound only unknown scopes", at("read:orders write:orders"), engine.TokenTypeAccessToken, svcC, "", "", engine.CodeInvalidScope},
		{"empty scope, target without openid, id_token asked", at("openid email"), engine.TokenTypeAccessToken, "no-openid", "", engine.TokenTypeIDToken, engine.CodeInvalidScope},
		{"empty scope, target without openid", at("openid email"), engine.TokenTypeAccessToken, "no-openid", "", "", "email"},
		{"no scope claim, id_token asked", at(nil), engine.TokenTypeAccessToken, svcC, "", engine.TokenTypeIDToken, "openid"},
		{"no scope claim, profile asked for an id_token", at(nil), engine.TokenTypeAccessToken, svcC, "openid profile", engine.TokenTypeIDToken, engine.CodeInvalidScope},
		{"scope claim of 65 tokens", at(func() string {
			var b []string
			for i := range 65 {
				b = append(b, "s"+strings.Repeat("x", i))
			}
			return strings.Join(b, " ")
		}()), engine.TokenTypeAccessToken, svcC, "", "", engine.CodeInvalidRequest},
		{"scope claim null", at(nil), engine.TokenTypeAccessToken, svcC, "", "", ""}, // replaced below
		{"scope claim with a leading space", at(" openid"), engine.TokenTypeAccessToken, svcC, "", "", engine.CodeInvalidRequest},
		{"scope claim duplicates fold", at("email openid email"), engine.TokenTypeAccessToken, svcC, "", "", "openid email"},
		{"offline_access stays within the bound", at("openid offline_access"), engine.TokenTypeAccessToken, svcC, "", "", "openid offline_access"},
		{"offline_access beyond the bound", at("openid"), engine.TokenTypeAccessToken, svcC, "openid offline_access", "", engine.CodeInvalidScope},
		{"jwt typed at+jwt keeps the bound", at("openid"), engine.TokenTypeJWT, svcC, "openid email", "", engine.CodeInvalidScope},
	} {
		if tc.name == "scope claim null" {
			tc.subject = w.accessToken(t, svcB, func(c claims.Set) { c["scope"] = nil })
			tc.want = engine.CodeInvalidRequest
		}
		t.Run(tc.name, func(t *testing.T) {
			req := withScope(tx(svcB, tc.subject, tc.subjectType, tc.target), tc.scope)
			req.RequestedTokenType = tc.requested
			res, err := w.x.Exchange(context.Background(), req)
			if strings.Contains(tc.want, "invalid_") {
				assertRefused(t, res, err, tc.want, tc.subject)
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if res.Scope != tc.want {
				t.Errorf("scope = %q, want %q", res.Scope, tc.want)
			}
		})
	}
	t.Run("released claims follow the granted scope, not the token's", func(t *testing.T) {
		res := mustExchange(t, w, tx(svcB, at("openid email"), engine.TokenTypeAccessToken, svcC))
		got := w.checkAccessToken(t, res, svcC)
		for _, k := range []string{"name", "phone_number", "address", "https://example.com/roles", "may_act", "client_id"} {
			if k == "client_id" {
				if got[k] != svcB {
					t.Errorf("client_id = %v, want the requester", got[k])
				}
				continue
			}
			if got.Has(k) {
				t.Errorf("claim %s released beyond scope openid email", k)
			}
		}
	})
}

// TestReview8693Target: audience and resource name one client; anything
// else is invalid_target, checked after the subject (a bad subject is
// invalid_request whatever the target).
func TestReview8693Target(t *testing.T) {
	w := newXWorld(t, nil)
	for _, tc := range []struct {
		name               string
		audience, resource []string
		want               string
	}{
		{"resource naming a client by a non-URI id", nil, []string{svcB}, engine.CodeInvalidTarget},
		{"audience and resource, same non-URI id", []string{svcB}, []string{svcB}, engine.CodeInvalidTarget},
		{"resource URN of nobody", nil, []string{"urn:example:nobody"}, engine.CodeInvalidTarget},
		{"resource differing by a trailing slash", nil, []string{strings.TrimSuffix(orders, "/")}, engine.CodeInvalidTarget},
		{"resource with an upper-case scheme", nil, []string{"HTTPS://orders.example.com/"}, engine.CodeInvalidTarget},
		{"audience case variant", []string{strings.ToUpper(svcB)}, nil, engine.CodeInvalidTarget},
		{"audience with a trailing space", []string{svcB + " "}, nil, engine.CodeInvalidTarget},
		{"audience *", []string{"*"}, nil, engine.CodeInvalidTarget},
		{"audience of the requester, not listing itself", []string{svcA}, nil, engine.CodeInvalidTarget},
		{"three audiences", []string{svcB, svcB, orders}, nil, engine.CodeInvalidTarget},
		{"resource with a space", nil, []string{"https://orders.example.com/ x"}, engine.CodeInvalidTarget},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req := tx(svcA, w.idToken(t, svcA, nil), engine.TokenTypeIDToken, tc.audience...)
			req.Resource = tc.resource
			res, err := w.x.Exchange(context.Background(), req)
			assertRefused(t, res, err, tc.want, req.SubjectToken)
		})
	}
	t.Run("bad subject and bad target", func(t *testing.T) {
		req := tx(svcA, w.idToken(t, svcB, nil), engine.TokenTypeIDToken, "nobody")
		res, err := w.x.Exchange(context.Background(), req)
		assertRefused(t, res, err, engine.CodeInvalidRequest, req.SubjectToken)
	})
	t.Run("resource and audience naming the same URI", func(t *testing.T) {
		req := tx(svcA, w.idToken(t, svcA, nil), engine.TokenTypeIDToken, orders)
		req.Resource = []string{orders}
		if got := w.checkAccessToken(t, mustExchange(t, w, req), orders)["aud"]; got != orders {
			t.Errorf("aud = %v", got)
		}
	})
}

// TestReview8693ReplayAcrossRoles: the subject is spent once across both
// dialects and under either type name; the actor is not spent, and a token
// once used as an actor is still good as a subject once.
func TestReview8693ReplayAcrossRoles(t *testing.T) {
	w := newXWorld(t, func(c *engine.Config) { c.Replay = store.NewMemory() })
	at := w.accessToken(t, svcB, nil)
	mustExchange(t, w, tx(svcB, at, engine.TokenTypeJWT, svcC))
	res, err := w.x.Exchange(context.Background(), tx(svcB, at, engine.TokenTypeAccessToken, svcC))
	assertRefused(t, res, err, engine.CodeInvalidRequest, at)
	res, err = w.x.Exchange(context.Background(), tx(svcB, at, engine.TokenTypeAccessToken))
	assertRefused(t, res, err, engine.CodeInvalidRequest, at)

	actor := w.serviceToken(t, svcB, nil)
	for range 3 {
		mustExchange(t, w, withActor(tx(svcB, w.accessToken(t, svcB, nil), engine.TokenTypeAccessToken, svcC), actor, engine.TokenTypeIDToken))
	}
	mustExchange(t, w, tx(svcB, actor, engine.TokenTypeIDToken, svcC))
	res, err = w.x.Exchange(context.Background(), delegation(svcB, actor, svcC, ""))
	assertRefused(t, res, err, engine.CodeInvalidGrant, actor)

	// A refused request (scope, target, requested type) burns nothing.
	fresh := w.accessToken(t, svcB, nil)
	for _, req := range []*engine.Request{
		withScope(tx(svcB, fresh, engine.TokenTypeAccessToken, svcC), "openid profile"),
		tx(svcB, fresh, engine.TokenTypeAccessToken, svcD),
		func() *engine.Request {
			r := tx(svcB, fresh, engine.TokenTypeAccessToken, svcC)
			r.RequestedTokenType = engine.TokenTypeIDToken
			r.Scope = "email"
			return r
		}(),
	} {
		if _, err := w.x.Exchange(context.Background(), req); err == nil {
			t.Fatal("refusal expected")
		}
	}
	mustExchange(t, w, tx(svcB, fresh, engine.TokenTypeAccessToken, svcC))
}

// TestReview8693OddClaimsNoPanic: odd act, may_act and scope values are
// refused or ignored, never a panic or server_error.
func TestReview8693OddClaimsNoPanic(t *testing.T) {
	w := newXWorld(t, nil)
	actor := w.serviceToken(t, svcB, nil)
	for _, tc := range []struct {
		name  string
		mod   func(claims.Set)
		actor bool
		ok    bool
	}{
		{"act array", func(c claims.Set) { c["act"] = []any{map[string]any{"sub": "x"}} }, false, false},
		{"act sub array", func(c claims.Set) { c["act"] = map[string]any{"sub": []any{"x"}} }, false, false},
		{"act sub huge number", func(c claims.Set) { c["act"] = map[string]any{"sub": 1e308} }, false, false},
		{"act true", func(c claims.Set) { c["act"] = true }, false, false},
		{"act empty object", func(c claims.Set) { c["act"] = map[string]any{} }, false, false},
		{"may_act array", func(c claims.Set) { c["may_act"] = []any{map[string]any{"sub": "service:svc-b"}} }, true, false},
		{"may_act sub null", func(c claims.Set) { c["may_act"] = map[string]any{"sub": nil} }, true, false},
		{"may_act iss null", func(c claims.Set) { c["may_act"] = map[string]any{"sub": "service:svc-b", "iss": nil} }, true, false},
		{"may_act empty object", func(c claims.Set) { c["may_act"] = map[string]any{} }, true, false},
		{"may_act with extra members", func(c claims.Set) { c["may_act"] = map[string]any{"sub": "service:svc-b", "client_id": "x"} }, true, true},
		{"scope number", func(c claims.Set) { c["scope"] = 7.0 }, false, false},
		{"scope object", func(c claims.Set) { c["scope"] = map[string]any{"openid": true} }, false, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req := tx(svcB, w.accessToken(t, svcB, tc.mod), engine.TokenTypeAccessToken, svcC)
			if tc.actor {
				withActor(req, actor, engine.TokenTypeIDToken)
			}
			res, err := w.x.Exchange(context.Background(), req)
			if tc.ok {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			assertRefused(t, res, err, engine.CodeInvalidRequest, req.SubjectToken, req.ActorToken)
		})
	}
	t.Run("odd requests", func(t *testing.T) {
		for _, req := range []*engine.Request{
			{GrantType: engine.GrantTypeTokenExchange, ClientID: svcB, SubjectToken: ".", SubjectTokenType: engine.TokenTypeJWT},
			{GrantType: engine.GrantTypeTokenExchange, ClientID: svcB, SubjectToken: "..", SubjectTokenType: engine.TokenTypeIDToken, ActorToken: "..", ActorTokenType: engine.TokenTypeJWT},
			{GrantType: engine.GrantTypeTokenExchange, ClientID: svcB, SubjectToken: "x", SubjectTokenType: engine.TokenTypeRefreshToken},
			{GrantType: engine.GrantTypeTokenExchange, ClientID: svcB, SubjectToken: "e30.e30.", SubjectTokenType: engine.TokenTypeAccessToken, Audience: []string{""}, Resource: []string{""}},
		} {
			res, err := w.x.Exchange(context.Background(), req)
			assertRefused(t, res, err, engine.CodeInvalidRequest)
		}
	})
}

// TestReview8693IDTokenAnswer: an id_token answer has the delegation shape
// (typ JWT, azp the requester, no scope or client_id claim), is not an
// access token (N_A), and its scope requires openid even when the bound
// allows more.
func TestReview8693IDTokenAnswer(t *testing.T) {
	w := newXWorld(t, nil)
	req := withScope(tx(svcB, w.accessToken(t, svcB, func(c claims.Set) { c["scope"] = "openid email profile" }), engine.TokenTypeAccessToken, svcC), "openid email")
	req.RequestedTokenType = engine.TokenTypeIDToken
	res := mustExchange(t, w, req)
	got := w.checkIssued(t, res, svcC, engine.TokenTypeIDToken, "N_A", "JWT")
	iat := float64(w.now.Unix())
	want := claims.Set{"iss": issuer, "sub": "auth0|ada", "aud": svcC, "azp": svcB, "iat": iat, "exp": iat + 3600,
		"email": "ada@example.com", "email_verified": true}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("claims (-want +got):\n%s", diff)
	}
	if res.Scope != "openid email" {
		t.Errorf("scope = %q", res.Scope)
	}
}

// TestReview8693HeaderTypConfusion: typ spellings around the two kinds.
func TestReview8693HeaderTypConfusion(t *testing.T) {
	w := newXWorld(t, nil)
	signTyp := func(typ string) string {
		c := sourceClaimsFor(w, svcB)
		c["jti"] = "j-" + randomJTI(t)
		opts := &jose.SignerOptions{}
		if typ != "" {
			opts = opts.WithType(jose.ContentType(typ))
		}
		return w.sign(t, svcB, c, opts)
	}
	for _, tc := range []struct {
		typ, declared string
		ok            bool
	}{
		{"at+jwt ", engine.TokenTypeAccessToken, false},
		{"application/", engine.TokenTypeIDToken, false},
		{"application/at+jwt", engine.TokenTypeIDToken, false},
		{"application/at+jwt", engine.TokenTypeJWT, true},
		{"at+JWT", engine.TokenTypeAccessToken, true},
		{"jwt", engine.TokenTypeIDToken, true},
		{"application/jwt", engine.TokenTypeAccessToken, false},
		{"at_jwt", engine.TokenTypeJWT, false},
		{"JWT+at", engine.TokenTypeAccessToken, false},
		{"application/application/at+jwt", engine.TokenTypeAccessToken, false},
	} {
		t.Run(tc.typ+" as "+tc.declared[strings.LastIndexByte(tc.declared, ':')+1:], func(t *testing.T) {
			tok := signTyp(tc.typ)
			res, err := w.x.Exchange(context.Background(), tx(svcB, tok, tc.declared, svcC))
			if tc.ok {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			assertRefused(t, res, err, engine.CodeInvalidRequest, tok)
		})
	}
}
