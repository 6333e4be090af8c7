package oauthhttp_test

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/google/go-cmp/cmp"

	"github.com/deputyauth/deputy/oauthhttp"
	"github.com/deputyauth/deputy/store"
)

// leakyKeys is a faulty KeyStore that hands out private keys, or fails.
type leakyKeys struct {
	keys []jose.JSONWebKey
	err  error
}

func (s leakyKeys) SigningKey(context.Context, string) (*jose.JSONWebKey, error) {
	return nil, errors.New("unused")
}

func (s leakyKeys) VerificationKeys(context.Context, string) ([]jose.JSONWebKey, error) {
	return s.keys, s.err
}

// TestJWKS: the handler publishes every key of the store, public halves
// only, with the configured cache time; it refuses other methods and
// reports a failing store.
func TestJWKS(t *testing.T) {
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	_, edKey, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	private := []jose.JSONWebKey{
		{Key: rsaKey, KeyID: "rs-1", Algorithm: "RS256", Use: "sig"},
		{Key: edKey, KeyID: "ed-1", Algorithm: "EdDSA", Use: "sig"},
	}
	mem := store.NewMemory()
	for _, k := range private {
		if err := mem.AddKey(k); err != nil {
			t.Fatal(err)
		}
	}
	failure := errors.New("db down at 10.0.0.7")
	type result struct {
		Status  int
		Headers map[string]string
		KIDs    []string
		Private bool
		Code    string
		Logged  string
	}
	hdrs := []string{"Content-Type", "Cache-Control", "Allow"}
	for _, tc := range []struct {
		name   string
		keys   store.KeyStore
		opts   oauthhttp.JWKSOptions
		method string
		want   result
	}{
		{"memory store", mem, oauthhttp.JWKSOptions{}, http.MethodGet,
			result{200, map[string]string{"Content-Type": "application/json", "Cache-Control": "public, max-age=300"}, []string{"rs-1", "ed-1"}, false, "", ""}},
		{"a store that leaks private keys", leakyKeys{keys: private}, oauthhttp.JWKSOptions{MaxAge: time.Minute}, http.MethodGet,
			result{200, map[string]string{"Content-Type": "application/json", "Cache-Control": "public, max-age=60"}, []string{"rs-1", "ed-1"}, false, "", ""}},
		{"no keys", leakyKeys{err: fmt.Errorf("none: %w", store.ErrNotFound)}, oauthhttp.JWKSOptions{MaxAge: -1}, http.MethodGet,
			result{200, map[string]string{"Content-Type": "application/json", "Cache-Control": "no-cache"}, []string{}, false, "", ""}},
		// The recorder keeps the body net/http's server drops for HEAD.
		{"HEAD", mem, oauthhttp.JWKSOptions{}, http.MethodHead,
			result{200, map[string]string{"Content-Type": "application/json", "Cache-Control": "public, max-age=300"}, []string{"rs-1", "ed-1"}, false, "", ""}},
		{"POST", mem, oauthhttp.JWKSOptions{}, http.MethodPost,
			result{405, map[string]string{"Content-Type": "application/json", "Cache-Control": "no-store", "Allow": "GET, HEAD"}, nil, false, "invalid_request", ""}},
		{"store fails", leakyKeys{err: failure}, oauthhttp.JWKSOptions{}, http.MethodGet,
			result{500, map[string]string{"Content-Type": "application/json", "Cache-Control": "no-store"}, nil, false, "server_error", failure.Error()}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var logged string
			tc.opts.OnError = func(r *http.Request, err error) { logged = err.Error() }
			h, err := oauthhttp.NewJWKSHandler(tc.keys, tc.opts)
			if err != nil {
				t.Fatal(err)
			}
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, httptest.NewRequest(tc.method, oauthhttp.PathJWKS, nil))
			got := result{Status: rec.Code, Headers: map[string]string{}, Logged: logged}
			for _, k := range hdrs {
				if v := rec.Header().Get(k); v != "" {
					got.Headers[k] = v
				}
			}
			body := rec.Body.Bytes()
			switch {
			case rec.Code != 200:
				var m map[string]any
				if err := jsonUnmarshal(body, &m); err != nil {
					t.Fatal(err)
				}
				got.Code, _ = m["error"].(string)
				if strings.Contains(string(body), "10.0.0.7") {
					t.Error("the store's error reached the client")
				}
			case len(body) > 0:
				var set jose.JSONWebKeySet
				if err := jsonUnmarshal(body, &set); err != nil {
					t.Fatal(err)
				}
				got.KIDs = []string{}
				for _, k := range set.Keys {
					got.KIDs = append(got.KIDs, k.KeyID)
					got.Private = got.Private || !k.IsPublic()
				}
				// Private parameters by name too: a JWK's "d" (RSA, OKP)
				// and the RSA CRT values.
				for _, p := range []string{`"d"`, `"p"`, `"q"`, `"dp"`, `"dq"`, `"qi"`} {
					got.Private = got.Private || strings.Contains(string(body), p)
				}
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

// TestNewJWKSHandlerChecks: no store and a fractional max-age are refused.
func TestNewJWKSHandlerChecks(t *testing.T) {
	if _, err := oauthhttp.NewJWKSHandler(nil, oauthhttp.JWKSOptions{}); err == nil {
		t.Error("nil store accepted")
	}
	if _, err := oauthhttp.NewJWKSHandler(store.NewMemory(), oauthhttp.JWKSOptions{MaxAge: 1500 * time.Millisecond}); err == nil {
		t.Error("MaxAge of 1.5s accepted")
	}
}
