package engine_test

import (
	"context"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/deputyauth/deputy/engine"
	"github.com/deputyauth/deputy/store"
)

// TestReviewClientAuthRequestCopyIsDeep: ClientAuthenticator's contract
// says req is a copy whose changes the engine never sees. A copy that
// shares the audience, resource and extra parameters with the engine's
// request lets an authenticator that edits them in place (normalising,
// say) choose the target of the exchange after the request was checked.
func TestReviewClientAuthRequestCopyIsDeep(t *testing.T) {
	for _, tc := range []struct {
		name   string
		target string // the target the request names
		build  func(req *engine.Request)
		mutate func(req *engine.Request)
	}{
		{"audience element", svcB,
			func(req *engine.Request) { req.Audience = []string{svcB} },
			func(req *engine.Request) { req.Audience[0] = orders }},
		{"resource element", orders,
			func(req *engine.Request) { req.Resource = []string{orders} },
			func(req *engine.Request) { req.Resource[0] = "https://elsewhere.example.com/" }},
		{"extra parameter", svcB,
			func(req *engine.Request) { req.Audience, req.Extra = []string{svcB}, map[string]string{"x": "sent"} },
			func(req *engine.Request) { req.Extra["x"] = "changed" }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			xw := newXWorld(t, func(c *engine.Config) {
				c.ClientAuth = engine.ClientAuthFunc(func(_ context.Context, _ *store.Client, req *engine.Request) error {
					tc.mutate(req)
					return nil
				})
			})
			req := withScope(tx(svcA, xw.idToken(t, svcA, nil), engine.TokenTypeIDToken), "openid email")
			tc.build(req)
			want := &engine.Request{}
			tc.build(want)
			res, err := xw.x.Exchange(context.Background(), req)
			if err != nil {
				t.Fatalf("Exchange: %v", err)
			}
			if c := xw.checkAccessToken(t, res, tc.target); c["aud"] != tc.target {
				t.Errorf("minted aud = %v, want %s", c["aud"], tc.target)
			}
			got := &engine.Request{Audience: req.Audience, Resource: req.Resource, Extra: req.Extra}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("the authenticator changed the caller's request (-want +got):\n%s", diff)
			}
		})
	}
}
