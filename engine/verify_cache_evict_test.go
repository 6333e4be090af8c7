package engine_test

import (
	"testing"

	"github.com/go-jose/go-jose/v4"

	"github.com/deputyauth/deputy/engine"
)

// TestHeaderCacheStartsOverWhenFull: one client signing many header
// variants with its own secret fills the cache, which then starts over
// instead of staying full of them forever, so another client's header is
// cached (and its tokens keep being answered).
func TestHeaderCacheStartsOverWhenFull(t *testing.T) {
	w := newWorld(t, nil)
	exchange := func(client string, opts *jose.SignerOptions) {
		t.Helper()
		c := userClaims()
		c["iss"], c["sub"], c["aud"] = issuer, "auth0|ada", client
		c["iat"], c["exp"] = float64(fixedNow.Unix()-60), float64(fixedNow.Unix()+3600)
		res, err := w.x.Exchange(t.Context(), delegation(client, w.sign(t, client, c, opts), apiHS, "openid"))
		if err != nil || res == nil {
			t.Fatalf("exchange for %s: %v", client, err)
		}
	}
	for i := range 64 {
		exchange(appHS, (&jose.SignerOptions{}).WithType("JWT").WithHeader("v", i))
	}
	if n := engine.CachedHeaders(w.x); n != 64 {
		t.Fatalf("after 64 header variants the cache holds %d, want 64", n)
	}
	exchange(appHS, (&jose.SignerOptions{}).WithType("JWT").WithHeader("v", 64))
	if n := engine.CachedHeaders(w.x); n != 1 {
		t.Errorf("after a 65th header the cache holds %d, want 1 (started over)", n)
	}
}
