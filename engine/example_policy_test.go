package engine_test

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"time"

	"github.com/go-jose/go-jose/v4"
	josejson "github.com/go-jose/go-jose/v4/json"

	"github.com/deputyauth/deputy/engine"
	"github.com/deputyauth/deputy/store"
)

// policyWorld is a store with an app, an API and a billing API, an
// exchanger whose Policy is p, and a helper that delegates the user's
// id_token to a target and prints the outcome.
func policyWorld(p func(context.Context, *engine.Grant) error) func(sub, target, scope string) {
	secrets := map[string][]byte{}
	st := store.NewMemory()
	for _, id := range []string{"app", "api", "billing"} {
		secrets[id] = make([]byte, 32)
		rand.Read(secrets[id])
		c := store.Client{ID: id, SigningAlg: "HS256", Secrets: []store.Secret{{ID: id + "-1", Value: secrets[id]}}}
		if id == "app" {
			c.Grants = []string{engine.GrantTypeJWTBearer}
		} else {
			c.AllowedSources = []string{"app"}
		}
		st.PutClient(c)
	}
	now := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	x, err := engine.New(engine.Config{
		Issuer: "https://id.example.com/", Clients: st, Policy: p,
		Now: func() time.Time { return now },
	})
	if err != nil {
		panic(err)
	}
	return func(sub, target, scope string) {
		idToken := signHS256(secrets["app"], "app-1", map[string]any{
			"iss": "https://id.example.com/", "sub": sub, "aud": "app",
			"exp": now.Add(time.Hour).Unix(), "email": "ada@example.com", "email_verified": true,
		})
		res, err := x.Exchange(context.Background(), &engine.Request{
			GrantType: engine.GrantTypeJWTBearer, ClientID: "app", IDToken: idToken, Target: target, Scope: scope,
		})
		var oe *engine.Error
		if errors.As(err, &oe) {
			fmt.Println(target, "refused:", oe.Code, oe.Description)
			return
		}
		jws, _ := jose.ParseSignedCompact(res.IDToken, []jose.SignatureAlgorithm{jose.HS256})
		payload, _ := jws.Verify(secrets[target])
		var c map[string]any
		josejson.Unmarshal(payload, &c)
		fmt.Println(target, "minted: email", c["email"], "roles", c["https://example.com/roles"])
	}
}

// ExampleConfig_policyDeny refuses users by an attribute the host keeps.
func ExampleConfig_policyDeny() {
	suspended := map[string]bool{"auth0|mallory": true} // the host's own records
	exchange := policyWorld(func(_ context.Context, g *engine.Grant) error {
		if suspended[g.Subject] {
			return &engine.Error{Code: engine.CodeInvalidGrant, Description: "user is suspended"}
		}
		return nil
	})
	exchange("auth0|ada", "api", "openid email")
	exchange("auth0|mallory", "api", "openid email")
	// Output:
	// api minted: email ada@example.com roles <nil>
	// api refused: invalid_grant user is suspended
}

// ExampleConfig_policyClaims adds a namespaced claim from the host's own
// database.
func ExampleConfig_policyClaims() {
	roles := map[string][]string{"auth0|ada": {"admin", "billing"}} // the host's own database
	exchange := policyWorld(func(_ context.Context, g *engine.Grant) error {
		if r, ok := roles[g.Subject]; ok {
			g.Claims["https://example.com/roles"] = r
		}
		return nil
	})
	exchange("auth0|ada", "api", "openid email")
	// Output:
	// api minted: email ada@example.com roles [admin billing]
}

// ExampleConfig_policyScope cuts a scope for one target: the billing API
// never receives the user's email, whatever the app asks for.
func ExampleConfig_policyScope() {
	exchange := policyWorld(func(_ context.Context, g *engine.Grant) error {
		if g.Target.ID == "billing" {
			kept := g.Scope[:0]
			for _, s := range g.Scope {
				if s != "email" {
					kept = append(kept, s)
				}
			}
			g.Scope = kept
		}
		return nil
	})
	exchange("auth0|ada", "api", "openid email")
	exchange("auth0|ada", "billing", "openid email")
	// Output:
	// api minted: email ada@example.com roles <nil>
	// billing minted: email <nil> roles <nil>
}
