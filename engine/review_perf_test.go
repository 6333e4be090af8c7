package engine_test

import (
	"context"
	"net/url"
	"runtime"
	"testing"
	"time"
	"unsafe"
	"weak"

	"github.com/deputyauth/deputy/engine"
)

// TestReviewPerfHeaderCacheKeepsNoRequest: the HS* header cache keeps its
// own copy of a header, not the token's text. A request parsed by
// url.ParseQuery hands the engine substrings of the request body (no
// escapes, no copy), so a header kept as it came pinned the whole body —
// up to MaxRequestSize, client_secret and tokens included — for the
// Exchanger's life, 64 of them: not the documented 64 × 512 bytes, and
// plaintext secrets kept reachable long after the request.
func TestReviewPerfHeaderCacheKeepsNoRequest(t *testing.T) {
	w := newFuzzWorld(t)
	for _, tc := range []struct {
		name string
		form func() url.Values
	}{
		{"delegation id_token", func() url.Values {
			return url.Values{
				"grant_type":    {engine.GrantTypeJWTBearer},
				"client_id":     {appHS},
				"client_secret": {string(w.secrets[appHS])},
				"id_token":      {w.idToken(t, appHS, nil)},
				"target":        {apiHS},
				"scope":         {"openid"},
			}
		}},
		{"token exchange subject_token", func() url.Values {
			return url.Values{
				"grant_type":         {grantTokenExchange},
				"client_id":          {appHS},
				"client_secret":      {string(w.secrets[appHS])},
				"subject_token":      {w.idToken(t, appHS, nil)},
				"subject_token_type": {ttIDToken},
				"audience":           {apiHS},
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			x, err := engine.New(engine.Config{Issuer: issuer, Clients: w.st, Keys: w.st, Now: func() time.Time { return fixedNow }})
			if err != nil {
				t.Fatal(err)
			}
			body := exchangeFromBody(t, x, tc.form().Encode())
			runtime.GC()
			if body.Value() != nil {
				t.Errorf("the request body is still reachable after the exchange: the Exchanger keeps a substring of it")
			}
			runtime.KeepAlive(x)
		})
	}
}

// exchangeFromBody parses body as oauthhttp does (url.ParseQuery over the
// body's bytes as one string), exchanges it with x, which must grant it,
// and returns a weak pointer to the body's bytes.
func exchangeFromBody(t *testing.T, x *engine.Exchanger, body string) weak.Pointer[byte] {
	t.Helper()
	buf := []byte(body)
	wp := weak.Make(&buf[0])
	form, err := url.ParseQuery(unsafe.String(&buf[0], len(buf)))
	if err != nil {
		t.Fatal(err)
	}
	req, err := engine.ParseRequest(form)
	if err != nil {
		t.Fatal(err)
	}
	if res, err := x.Exchange(context.Background(), req); err != nil || res == nil {
		t.Fatalf("exchange: %v", err)
	}
	return wp
}
