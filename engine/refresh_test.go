package engine_test

import (
	"context"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/deputyauth/deputy/claims"
	"github.com/deputyauth/deputy/engine"
	"github.com/deputyauth/deputy/store"
)

func newRefreshWorld(t *testing.T) *world {
	t.Helper()
	st := store.NewMemory()
	w := newWorldOn(t, st, func(c *engine.Config) {
		c.RefreshTokens = st
		c.Profiles = st
	})
	w.st.PutProfile("auth0|ada", userClaims())
	w.st.PutRefreshToken("rt-ada", store.RefreshGrant{ClientID: appHS, Subject: "auth0|ada", Scope: []string{"openid", "email", "profile", "offline_access"}})
	w.st.PutRefreshToken("rt-revoked", store.RefreshGrant{ClientID: appHS, Subject: "auth0|ada", Scope: []string{"openid"}, Revoked: true})
	w.st.PutRefreshToken("rt-expired", store.RefreshGrant{ClientID: appHS, Subject: "auth0|ada", Scope: []string{"openid"}, ExpiresAt: fixedNow})
	w.st.PutRefreshToken("rt-other", store.RefreshGrant{ClientID: appRS, Subject: "auth0|ada", Scope: []string{"openid"}})
	w.st.PutRefreshToken("rt-ghost", store.RefreshGrant{ClientID: appHS, Subject: "auth0|gone", Scope: []string{"openid"}})
	return w
}

func refreshReq(client, token, target, scope string) *engine.Request {
	return &engine.Request{GrantType: engine.GrantTypeJWTBearer, ClientID: client, RefreshToken: token, Target: target, Scope: scope}
}

func TestExchangeRefreshToken(t *testing.T) {
	w := newRefreshWorld(t)
	for _, tc := range []struct {
		scope string
		extra claims.Set
	}{
		{"", nil},
		{"openid email", claims.Set{"email": "ada@example.com", "email_verified": true}},
		{"passthrough", claims.Set{
			"email": "ada@example.com", "email_verified": true,
			"name": "Ada Lovelace", "given_name": "Ada", "family_name": "Lovelace",
			"nickname": "ada", "picture": "https://example.com/ada.png", "updated_at": float64(1700000000),
		}},
	} {
		t.Run(tc.scope, func(t *testing.T) {
			res, err := w.x.Exchange(context.Background(), refreshReq(appHS, "rt-ada", apiEd, tc.scope))
			if err != nil {
				t.Fatal(err)
			}
			want := ownedWant(appHS, apiEd, engine.DefaultLifetime)
			for k, v := range tc.extra {
				want[k] = v
			}
			if diff := cmp.Diff(want, w.checkMinted(t, res, apiEd)); diff != "" {
				t.Errorf("claims (-want +got):\n%s", diff)
			}
		})
	}
}

func TestExchangeRefreshTokenRefusals(t *testing.T) {
	w := newRefreshWorld(t)
	for _, tc := range []struct {
		name string
		req  *engine.Request
		code string
	}{
		{"unknown token", refreshReq(appHS, "rt-nope", apiEd, ""), engine.CodeInvalidGrant},
		{"oversize token", refreshReq(appHS, strings.Repeat("r", engine.DefaultMaxTokenSize+1), apiEd, ""), engine.CodeInvalidGrant},
		{"another client's token", refreshReq(appHS, "rt-other", apiEd, ""), engine.CodeInvalidGrant},
		{"revoked", refreshReq(appHS, "rt-revoked", apiEd, ""), engine.CodeInvalidGrant},
		{"expired", refreshReq(appHS, "rt-expired", apiEd, ""), engine.CodeInvalidGrant},
		{"user deleted", refreshReq(appHS, "rt-ghost", apiEd, ""), engine.CodeInvalidGrant},
		{"scope beyond the grant", refreshReq(appHS, "rt-ada", apiEd, "openid phone"), engine.CodeInvalidScope},
		{"target not allowing", refreshReq(appHS, "rt-ada", lonely, ""), engine.CodeInvalidTarget},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res, err := w.x.Exchange(context.Background(), tc.req)
			assertRefused(t, res, err, tc.code, tc.req.RefreshToken)
		})
	}
}

// TestExchangeRefreshProfileSnapshot checks that minting from a profile
// leaves the stored profile as it was.
func TestExchangeRefreshProfileSnapshot(t *testing.T) {
	w := newRefreshWorld(t)
	before, _ := w.st.Profile(context.Background(), "auth0|ada")
	want := before.Clone()
	if _, err := w.x.Exchange(context.Background(), refreshReq(appHS, "rt-ada", apiEd, "passthrough")); err != nil {
		t.Fatal(err)
	}
	after, _ := w.st.Profile(context.Background(), "auth0|ada")
	if diff := cmp.Diff(want, after); diff != "" {
		t.Errorf("profile changed (-want +got):\n%s", diff)
	}
}
