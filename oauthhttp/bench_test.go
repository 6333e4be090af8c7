package oauthhttp_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/deputyauth/deputy/engine"
	"github.com/deputyauth/deputy/oauthhttp"
)

// BenchmarkTokenHandler prices what the token handler adds to an
// exchange: "exchange" is Exchange alone on a parsed request; "fixed" is
// httptest's own cost with a handler writing a fixed answer; "json" and
// "form" are an HS256 delegation through the handler. The handler's cost
// is json (or form) minus exchange minus fixed.
func BenchmarkTokenHandler(b *testing.B) {
	w := newWorld(b)
	src := w.idToken(b, "app", w.appSecret)
	jsonBody := delegationJSON("app", src)
	formBody := "grant_type=" + engine.GrantTypeJWTBearer + "&client_id=app&target=api&scope=openid+email&id_token=" + src
	h, err := oauthhttp.NewTokenHandler(w.x, oauthhttp.Delegation())
	if err != nil {
		b.Fatal(err)
	}
	fixed := []byte(`{"token_type":"Bearer","expires_in":36000,"id_token":"` + src + `"}`)
	run := func(b *testing.B, h http.Handler, body, ctype string) {
		b.ReportAllocs()
		for b.Loop() {
			req := httptest.NewRequest(http.MethodPost, "/delegation", strings.NewReader(body))
			req.Header.Set("Content-Type", ctype)
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			if rec.Code != http.StatusOK {
				b.Fatalf("status %d: %s", rec.Code, rec.Body)
			}
		}
	}
	b.Run("exchange", func(b *testing.B) {
		req, err := engine.ParseJSON([]byte(jsonBody))
		if err != nil {
			b.Fatal(err)
		}
		b.ReportAllocs()
		for b.Loop() {
			r := *req
			if _, err := w.x.Exchange(context.Background(), &r); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("fixed", func(b *testing.B) {
		run(b, http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
			rw.Header().Set("Content-Type", "application/json")
			rw.Write(fixed)
		}), jsonBody, "application/json")
	})
	b.Run("json", func(b *testing.B) { run(b, h, jsonBody, "application/json") })
	b.Run("form", func(b *testing.B) { run(b, h, formBody, "application/x-www-form-urlencoded") })
}
