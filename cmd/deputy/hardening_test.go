package main

import (
	"encoding/json"
	"net/http"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/deputyauth/deputy/engine"
)

// hardeningConfig is the demo world with demo-app confidential (a text
// secret) and a disabled client, gone-app.
func hardeningConfig(t *testing.T) (*fileConfig, string) {
	t.Helper()
	fc, secret := confidentialConfig(t)
	gone := fc.Clients[0]
	gone.ID, gone.Name, gone.Disabled, gone.Confidential = "gone-app", "", true, false
	gone.AllowedSources = nil
	fc.Clients = append(fc.Clients, gone)
	return fc, secret
}

// delegationJSON is a delegation body from client, with a secret when not
// empty, presenting a token that never verifies.
func delegationJSON(client, secret string) string {
	m := map[string]string{
		"grant_type": engine.GrantTypeJWTBearer, "client_id": client, "id_token": "not.a.token",
		"target": demoAPI, "scope": "openid",
	}
	if secret != "" {
		m["client_secret"] = secret
	}
	b, _ := json.Marshal(m)
	return string(b)
}

// TestRateLimitHeadersDoNotRevealClientIDs: with a rate limit, a caller
// that has not shown itself to be a usable requester (registered, enabled,
// allowed the grant, with its secret when it must give one) shares its
// address's bucket with every unknown ID, so X-RateLimit-Remaining reads
// the same for a registered ID as for an invented one. Before the fix,
// any registered ID (disabled and target-only ones included) got a fresh
// bucket, so the headers confirmed which IDs exist.
func TestRateLimitHeadersDoNotRevealClientIDs(t *testing.T) {
	now := time.Date(2026, 11, 25, 12, 0, 10, 0, time.UTC)
	fc, secret := hardeningConfig(t)
	shared := []string{"2", "1", "0"} // three requests drawing on one bucket of 3
	own := []string{"2", "2", "1"}    // the middle one drawing on a bucket of its own
	for _, tc := range []struct {
		name, client, secret string
		code                 string
		remaining            []string
	}{
		{"unknown ID", "nobody", "", "invalid_client", shared},
		{"disabled client", "gone-app", "", "invalid_client", shared},
		{"target-only client", demoEdAPI, "", "unauthorized_client", shared},
		{"client without this grant", demoAPI, "", "unauthorized_client", shared},
		{"confidential client without its secret", demoApp, "", "invalid_client", shared},
		{"confidential client with a wrong secret", demoApp, "wrong-secret", "invalid_client", shared},
		{"public client with a wrong secret", demoRSApp, "wrong-secret", "invalid_client", shared},
		{"an ID that is a token", "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ4In0.c2ln", "", "invalid_client", shared},
		// Usable requesters, which have shown who they are, get their own.
		{"public client", demoRSApp, "", "invalid_grant", own},
		{"confidential client with its secret", demoApp, secret, "invalid_grant", own},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newTestEnv(t, fc, func(c *serverConfig) {
				c.RateLimit = rateLimit{N: 3, Per: time.Minute}
				c.Now = func() time.Time { return now }
			})
			send := func(client, secret string) reply {
				return do(t, http.MethodPost, e.srv.URL+pathDelegation, "application/json", delegationJSON(client, secret), nil)
			}
			var got []string
			for i, r := range []reply{send("x-1", ""), send(tc.client, tc.secret), send("x-2", "")} {
				got = append(got, r.header.Get("X-RateLimit-Remaining"))
				code := "invalid_client"
				if i == 1 {
					code = tc.code
				}
				checkError(t, r, statusOf(code), code)
			}
			if diff := cmp.Diff(tc.remaining, got); diff != "" {
				t.Errorf("X-RateLimit-Remaining (-want +got):\n%s", diff)
			}
		})
	}
}

// statusOf is the HTTP status of an error code.
func statusOf(code string) int {
	return (&engine.Error{Code: code}).HTTPStatus()
}
