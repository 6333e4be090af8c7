package engine_test

import (
	"context"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/deputyauth/deputy/claims"
	"github.com/deputyauth/deputy/engine"
	"github.com/deputyauth/deputy/store"
)

// ownedWant returns the claims the engine sets on a token for target
// requested by requester, at fixedNow with lifetime.
func ownedWant(requester, target string, lifetime time.Duration) claims.Set {
	iat := float64(fixedNow.Unix())
	return claims.Set{
		"iss": issuer, "sub": "auth0|ada", "aud": target, "azp": requester,
		"iat": iat, "exp": iat + lifetime.Seconds(),
	}
}

// checkMinted verifies res as a delegation answer for target and returns the
// token's claims without jti, which it checks is a fresh 128-bit value.
func (w *world) checkMinted(t *testing.T, res *engine.Response, target string) claims.Set {
	t.Helper()
	if res == nil {
		t.Fatal("no response")
	}
	if res.TokenType != "Bearer" || res.AccessToken != "" || res.IssuedTokenType != "" || res.Scope != "" {
		t.Errorf("response fields = %+v, want only token_type Bearer, expires_in and id_token", res)
	}
	h, c := w.decode(t, res.IDToken, target)
	if typ := h.ExtraHeaders["typ"]; typ != "JWT" {
		t.Errorf("typ header = %v, want JWT", typ)
	}
	if h.KeyID == "" {
		t.Error("minted token has no kid")
	}
	exp, _ := c.NumericDate("exp")
	iat, _ := c.NumericDate("iat")
	if got := int64(exp.Sub(iat) / time.Second); got != res.ExpiresIn {
		t.Errorf("expires_in = %d, exp-iat = %d", res.ExpiresIn, got)
	}
	jti, err := c.StringValue("jti")
	if err != nil || len(jti) != 22 {
		t.Errorf("jti = %q (%v), want 22 base64url characters", jti, err)
	}
	delete(c, "jti")
	return c
}

func TestExchangeAlgorithmPairs(t *testing.T) {
	w := newWorld(t, nil)
	for _, tc := range []struct{ source, target, targetKID string }{
		{appHS, apiHS, apiHS + "-s1"},
		{appRS, apiHS, apiHS + "-s1"},
		{appRS, apiEd, "ed-1"},
		{appEd, apiEd, "ed-1"},
		{appES, appES, "ec-1"},
		{appHS, apiRS, "rsa-1"},
		{appES, apiRS, "rsa-1"},
	} {
		t.Run(tc.source+"→"+tc.target, func(t *testing.T) {
			res, err := w.x.Exchange(context.Background(), delegation(tc.source, w.idToken(t, tc.source, nil), tc.target, "openid email"))
			if err != nil {
				t.Fatalf("Exchange: %v", err)
			}
			got := w.checkMinted(t, res, tc.target)
			want := ownedWant(tc.source, tc.target, engine.DefaultLifetime)
			want["email"], want["email_verified"] = "ada@example.com", true
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("claims (-want +got):\n%s", diff)
			}
			if h, _ := w.decode(t, res.IDToken, tc.target); h.KeyID != tc.targetKID {
				t.Errorf("kid = %q, want %q", h.KeyID, tc.targetKID)
			}
			if res.ExpiresIn != 36000 {
				t.Errorf("expires_in = %d, want 36000", res.ExpiresIn)
			}
		})
	}
}

func TestExchangeScopeFiltering(t *testing.T) {
	w := newWorld(t, nil)
	profile := claims.Set{
		"name": "Ada Lovelace", "given_name": "Ada", "family_name": "Lovelace",
		"nickname": "ada", "picture": "https://example.com/ada.png", "updated_at": float64(1700000000),
	}
	email := claims.Set{"email": "ada@example.com", "email_verified": true}
	address := claims.Set{"address": map[string]any{"country": "UK", "locality": "London"}}
	phone := claims.Set{"phone_number": "+1 555 0100"}
	for _, tc := range []struct {
		scope string
		want  []claims.Set
	}{
		{"", nil},
		{"openid", nil},
		{"openid profile", []claims.Set{profile}},
		{"openid email", []claims.Set{email}},
		{"email openid", []claims.Set{email}},
		{"openid address", []claims.Set{address}},
		{"openid phone", []claims.Set{phone}},
		{"openid profile email", []claims.Set{profile, email}},
		{"openid profile email address phone", []claims.Set{profile, email, address, phone}},
		{"openid offline_access", nil},
		{"openid email email", []claims.Set{email}},
		{"passthrough", []claims.Set{profile, email, address, phone}},
	} {
		t.Run(tc.scope, func(t *testing.T) {
			res, err := w.x.Exchange(context.Background(), delegation(appHS, w.idToken(t, appHS, nil), apiHS, tc.scope))
			if err != nil {
				t.Fatalf("Exchange: %v", err)
			}
			want := ownedWant(appHS, apiHS, engine.DefaultLifetime)
			for _, part := range tc.want {
				for k, v := range part {
					want[k] = v
				}
			}
			if diff := cmp.Diff(want, w.checkMinted(t, res, apiHS)); diff != "" {
				t.Errorf("claims (-want +got):\n%s", diff)
			}
		})
	}
}

func TestExchangeCustomScope(t *testing.T) {
	w := newWorld(t, func(c *engine.Config) {
		c.Scopes = scopeStandardWith("roles", "https://example.com/roles")
	})
	res, err := w.x.Exchange(context.Background(), delegation(appHS, w.idToken(t, appHS, nil), apiHS, "openid roles"))
	if err != nil {
		t.Fatal(err)
	}
	want := ownedWant(appHS, apiHS, engine.DefaultLifetime)
	want["https://example.com/roles"] = []any{"admin"}
	if diff := cmp.Diff(want, w.checkMinted(t, res, apiHS)); diff != "" {
		t.Errorf("claims (-want +got):\n%s", diff)
	}
}

// TestExchangePassthroughTargetScopes checks that passthrough silently
// leaves out scopes the target does not allow, where an explicit request
// for them is refused.
func TestExchangePassthroughTargetScopes(t *testing.T) {
	w := newWorld(t, nil)
	putClient(t, w.st, store.Client{ID: "narrow", SigningAlg: "ES256", AllowedSources: []string{appHS}, Scopes: []string{"openid", "email"}})
	res, err := w.x.Exchange(context.Background(), delegation(appHS, w.idToken(t, appHS, nil), "narrow", "passthrough"))
	if err != nil {
		t.Fatal(err)
	}
	want := ownedWant(appHS, "narrow", engine.DefaultLifetime)
	want["email"], want["email_verified"] = "ada@example.com", true
	if diff := cmp.Diff(want, w.checkMinted(t, res, "narrow")); diff != "" {
		t.Errorf("claims (-want +got):\n%s", diff)
	}
	res, err = w.x.Exchange(context.Background(), delegation(appHS, w.idToken(t, appHS, nil), "narrow", "openid profile"))
	assertRefused(t, res, err, engine.CodeInvalidScope)
}

func TestExchangeTargetLifetime(t *testing.T) {
	w := newWorld(t, nil)
	putClient(t, w.st, store.Client{ID: "short", SigningAlg: "EdDSA", AllowedSources: []string{appHS}, Lifetime: 5 * time.Minute})
	res, err := w.x.Exchange(context.Background(), delegation(appHS, w.idToken(t, appHS, nil), "short", ""))
	if err != nil {
		t.Fatal(err)
	}
	if res.ExpiresIn != 300 {
		t.Errorf("expires_in = %d, want 300", res.ExpiresIn)
	}
	if diff := cmp.Diff(ownedWant(appHS, "short", 5*time.Minute), w.checkMinted(t, res, "short")); diff != "" {
		t.Errorf("claims (-want +got):\n%s", diff)
	}

	w = newWorld(t, func(c *engine.Config) { c.Lifetime = time.Hour })
	res, err = w.x.Exchange(context.Background(), delegation(appHS, w.idToken(t, appHS, nil), apiHS, ""))
	if err != nil {
		t.Fatal(err)
	}
	if res.ExpiresIn != 3600 {
		t.Errorf("expires_in with Config.Lifetime 1h = %d, want 3600", res.ExpiresIn)
	}
}

// TestExchangeSecretRotation: a source token signed with the previous,
// still active secret verifies; the output is signed with the target's
// current secret and names it.
func TestExchangeSecretRotation(t *testing.T) {
	w := newWorld(t, nil)
	old := w.idToken(t, appHS, nil)
	oldAPI := w.secrets[apiHS]
	rotate := func(id string) {
		c, err := w.st.Client(context.Background(), id)
		if err != nil {
			t.Fatal(err)
		}
		n := *c
		n.Secrets = append([]store.Secret{{ID: id + "-s2", Value: randomSecret(t, 32)}}, c.Secrets...)
		putClient(t, w.st, n)
	}
	rotate(appHS)
	rotate(apiHS)
	for name, tok := range map[string]string{"previous secret": old, "current secret": w.idToken(t, appHS, nil)} {
		t.Run(name, func(t *testing.T) {
			res, err := w.x.Exchange(context.Background(), delegation(appHS, tok, apiHS, ""))
			if err != nil {
				t.Fatal(err)
			}
			h, _ := w.decode(t, res.IDToken, apiHS)
			if h.KeyID != apiHS+"-s2" {
				t.Errorf("kid = %q, want the current secret %q", h.KeyID, apiHS+"-s2")
			}
			if _, err := parseVerify(res.IDToken, "HS256", oldAPI); err == nil {
				t.Error("output verifies with the previous secret; want the current one")
			}
		})
	}

	// Once the previous secret expires, tokens it signed are refused.
	c, _ := w.st.Client(context.Background(), appHS)
	n := *c
	n.Secrets = []store.Secret{c.Secrets[0], {ID: c.Secrets[1].ID, Value: c.Secrets[1].Value, NotAfter: fixedNow}}
	putClient(t, w.st, n)
	res, err := w.x.Exchange(context.Background(), delegation(appHS, old, apiHS, ""))
	assertRefused(t, res, err, engine.CodeInvalidGrant)
}
