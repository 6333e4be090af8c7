package oauthhttp_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/deputyauth/deputy/engine"
	"github.com/deputyauth/deputy/oauthhttp"
)

// TestWriteError: any error, nil included, becomes an RFC 6749 §5.2
// answer with the right status and headers, without panicking and
// without the text of a cause that is not an *engine.Error.
func TestWriteError(t *testing.T) {
	secretCause := errors.New("dial tcp 10.0.0.7:5432: password=hunter2")
	const challenge = `Basic realm="deputy", charset="UTF-8"`
	for _, tc := range []struct {
		name string
		err  error
		want answer
	}{
		{"nil", nil, answer{500, noStore(), map[string]any{"error": "server_error", "error_description": "internal error"}}},
		{"plain error", secretCause, answer{500, noStore(), map[string]any{"error": "server_error", "error_description": "internal error"}}},
		{"cancelled", context.Canceled, answer{500, noStore(), map[string]any{"error": "server_error", "error_description": "internal error"}}},
		{"typed nil *engine.Error", (*engine.Error)(nil), answer{500, noStore(), map[string]any{"error": "server_error", "error_description": "internal error"}}},
		{"engine error", &engine.Error{Code: engine.CodeInvalidGrant, Description: "token expired", Err: secretCause},
			answer{400, noStore(), map[string]any{"error": "invalid_grant", "error_description": "token expired"}}},
		{"wrapped engine error", fmt.Errorf("host: %w", &engine.Error{Code: engine.CodeInvalidScope}),
			answer{400, noStore(), map[string]any{"error": "invalid_scope"}}},
		{"invalid_client", engine.ErrInvalidClient, answer{401, noStore("WWW-Authenticate", challenge), map[string]any{"error": "invalid_client"}}},
		{"server_error", engine.ErrServerError, answer{500, noStore(), map[string]any{"error": "server_error"}}},
		{"StatusError", oauthhttp.Refuse(http.StatusTooManyRequests, "too_many_requests", "retry later"),
			answer{429, noStore(), map[string]any{"error": "too_many_requests", "error_description": "retry later"}}},
		{"StatusError without Err", &oauthhttp.StatusError{Status: 404},
			answer{404, noStore(), map[string]any{"error": "server_error", "error_description": "internal error"}}},
		{"StatusError with a success status", &oauthhttp.StatusError{Status: 200, Err: &engine.Error{Code: "x"}},
			answer{500, noStore(), map[string]any{"error": "x"}}},
		{"description that needs escaping", &engine.Error{Code: engine.CodeInvalidRequest, Description: "a \"quoted\" <b>\n\u2028"},
			answer{400, noStore(), map[string]any{"error": "invalid_request", "error_description": "a \"quoted\" <b>\n\u2028"}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rec := httptest.NewRecorder()
			oauthhttp.WriteError(rec, tc.err)
			got := answer{Status: rec.Code, Headers: map[string]string{}}
			for _, k := range headersChecked {
				if v := rec.Header().Get(k); v != "" {
					got.Headers[k] = v
				}
			}
			if err := jsonUnmarshal(rec.Body.Bytes(), &got.Body); err != nil {
				t.Fatalf("body %q: %v", rec.Body, err)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
			if want := rec.Header().Get("Content-Length"); want != fmt.Sprint(rec.Body.Len()) {
				t.Errorf("Content-Length %q for %d bytes", want, rec.Body.Len())
			}
		})
	}
}

// TestStatusErrorUnwrap: errors.As and errors.Is see through a
// *StatusError to its *engine.Error and its cause.
func TestStatusErrorUnwrap(t *testing.T) {
	cause := errors.New("cause")
	err := error(&oauthhttp.StatusError{Status: 429, Err: &engine.Error{Code: engine.CodeInvalidRequest, Err: cause}})
	var e *engine.Error
	if !errors.As(err, &e) || e.Code != engine.CodeInvalidRequest || !errors.Is(err, cause) || !errors.Is(err, engine.ErrInvalidRequest) {
		t.Errorf("StatusError hides its error: %v", err)
	}
	if got := (&oauthhttp.StatusError{Status: 500}).Error(); got != "deputy: server_error" {
		t.Errorf("Error() = %q", got)
	}
}
