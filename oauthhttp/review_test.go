package oauthhttp_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
	"github.com/google/go-cmp/cmp"

	"github.com/deputyauth/deputy/clientauth"
	"github.com/deputyauth/deputy/engine"
	"github.com/deputyauth/deputy/oauthhttp"
	"github.com/deputyauth/deputy/store"
)

// TestReviewTypedNilStatusError: a nil *StatusError held in an error
// interface (the classic "var se *StatusError; return se" of a Gate) is
// a non-nil error. WriteError promises never to panic, and the token
// handler must refuse such a request as server_error without minting:
// StatusError's Error and Unwrap dereferenced the nil receiver.
func TestReviewTypedNilStatusError(t *testing.T) {
	w := newWorld(t)
	src := w.idToken(t, "app", w.appSecret)
	var typedNil *oauthhttp.StatusError
	type outcome struct {
		Status int
		Code   string
		Minted bool
	}
	want := outcome{http.StatusInternalServerError, "server_error", false}
	for _, tc := range []struct {
		name  string
		serve func(rec *httptest.ResponseRecorder)
	}{
		{"WriteError", func(rec *httptest.ResponseRecorder) { oauthhttp.WriteError(rec, typedNil) }},
		{"gate Enter", func(rec *httptest.ResponseRecorder) {
			serveGate(t, w, &gate{enterErr: typedNil}, rec, delegationJSON("app", src))
		}},
		{"gate Authenticated", func(rec *httptest.ResponseRecorder) {
			serveGate(t, w, &gate{authErr: typedNil}, rec, delegationJSON("app", src))
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rec := httptest.NewRecorder()
			func() {
				defer func() {
					if p := recover(); p != nil {
						t.Fatalf("panic: %v", p)
					}
				}()
				tc.serve(rec)
			}()
			var m map[string]any
			if err := jsonUnmarshal(rec.Body.Bytes(), &m); err != nil {
				t.Fatalf("body %q: %v", rec.Body, err)
			}
			code, _ := m["error"].(string)
			_, minted := m["id_token"]
			if diff := cmp.Diff(want, outcome{rec.Code, code, minted}); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
	t.Run("Error and Unwrap", func(t *testing.T) {
		defer func() {
			if p := recover(); p != nil {
				t.Fatalf("panic: %v", p)
			}
		}()
		if got := typedNil.Error(); !strings.Contains(got, "server_error") {
			t.Errorf("Error() = %q, want a server_error text", got)
		}
		if got := typedNil.Unwrap(); got != nil {
			t.Errorf("Unwrap() = %v, want nil", got)
		}
	})
}

func serveGate(t *testing.T, w *world, g *gate, rec *httptest.ResponseRecorder, body string) {
	t.Helper()
	opts := oauthhttp.Delegation()
	opts.Gate = g
	h, err := oauthhttp.NewTokenHandler(w.x, opts)
	if err != nil {
		t.Fatal(err)
	}
	h.ServeHTTP(rec, post(body, "application/json"))
}

// TestReviewObserveReplayedAssertion: Observation.Authenticated says
// whether the requester authenticated. A private_key_jwt assertion
// already spent passes the check-only Exchanger.Authenticate (a replay
// cache can only consume), but the exchange refuses it as invalid_client:
// the access log must not record the replay as the client authenticated.
func TestReviewObserveReplayedAssertion(t *testing.T) {
	w := newWorld(t)
	clientKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	auth, err := clientauth.PrivateKeyJWT(clientauth.JWTConfig{
		Audience: []string{issuer},
		Keys: func(_ context.Context, id string) ([]jose.JSONWebKey, error) {
			if id != "app" {
				return nil, store.ErrNotFound
			}
			return []jose.JSONWebKey{{Key: clientKey.Public(), KeyID: "app-1", Algorithm: "ES256"}}, nil
		},
		Replay: store.NewMemory(),
		Now:    func() time.Time { return w.now },
	})
	if err != nil {
		t.Fatal(err)
	}
	calls := 0 // authentications run; one wasted per refusal would cost a hash for hashed secrets
	counted := engine.ClientAuthFunc(func(ctx context.Context, c *store.Client, req *engine.Request) error {
		calls++
		return auth.AuthenticateClient(ctx, c, req)
	})
	x, err := engine.New(engine.Config{Issuer: issuer, Clients: w.st, Keys: w.st, ClientAuth: counted, Now: func() time.Time { return w.now }})
	if err != nil {
		t.Fatal(err)
	}
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: jose.JSONWebKey{Key: clientKey, KeyID: "app-1"}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	// body is a delegation by app authenticated with a fresh assertion.
	body := func(jti string) string {
		assertion, err := jwt.Signed(signer).Claims(jwt.Claims{
			Issuer: "app", Subject: "app", Audience: jwt.Audience{issuer}, ID: jti,
			Expiry: jwt.NewNumericDate(w.now.Add(time.Minute)),
		}).Serialize()
		if err != nil {
			t.Fatal(err)
		}
		return url.Values{
			"grant_type": {engine.GrantTypeJWTBearer}, "id_token": {w.idToken(t, "app", w.appSecret)},
			"target": {"api"}, "scope": {"openid"},
			"client_assertion_type": {engine.ClientAssertionTypeJWT}, "client_assertion": {assertion},
		}.Encode()
	}
	type seen struct {
		ClientID      string
		Authenticated bool
		Status        int
		Code          string
		Minted        bool
	}
	for _, tc := range []struct {
		name      string
		gate      bool
		wantCalls int // a gate authenticates before each exchange
	}{{"observer only", false, 2}, {"observer and gate", true, 4}} {
		t.Run(tc.name, func(t *testing.T) {
			calls = 0
			var got []seen
			opts := oauthhttp.Delegation()
			opts.Observe = func(r *http.Request, o oauthhttp.Observation) {
				code := ""
				if o.Err != nil {
					code = engine.AsError(o.Err).Code
				}
				got = append(got, seen{ClientID: o.ClientID, Authenticated: o.Authenticated, Status: o.Status, Code: code})
			}
			if tc.gate {
				opts.Gate = &gate{}
			}
			h, err := oauthhttp.NewTokenHandler(x, opts)
			if err != nil {
				t.Fatal(err)
			}
			b := body(tc.name)
			for range 2 { // the second time, the assertion is spent
				a := serve(t, h, post(b, "application/x-www-form-urlencoded"))
				_, minted := a.Body["id_token"]
				got[len(got)-1].Minted = minted
			}
			want := []seen{{"app", true, 200, "", true}, {"app", false, 401, "invalid_client", false}}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
			if calls != tc.wantCalls {
				t.Errorf("client authentication ran %d times, want %d", calls, tc.wantCalls)
			}
		})
	}
}
