package oauthhttp_test

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/deputyauth/deputy/oauthhttp"
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
