package engine_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/deputyauth/deputy/engine"
)

// TestNilErrorSafe: every method of a nil *Error answers as a bare
// server_error instead of panicking, so that a host's error path cannot
// crash on one.
func TestNilErrorSafe(t *testing.T) {
	var e *engine.Error
	if got, want := e.Error(), "deputy: server_error"; got != want {
		t.Errorf("Error() = %q, want %q", got, want)
	}
	if got := e.HTTPStatus(); got != 500 {
		t.Errorf("HTTPStatus() = %d, want 500", got)
	}
	if got := e.Unwrap(); got != nil {
		t.Errorf("Unwrap() = %v, want nil", got)
	}
	if !e.Is(engine.ErrServerError) || e.Is(engine.ErrInvalidClient) {
		t.Error("a nil *Error must match ErrServerError and nothing else")
	}
	if (&engine.Error{Code: engine.CodeServerError}).Is((*engine.Error)(nil)) {
		t.Error("an *Error matched a nil target")
	}
}

// TestAsError: any error maps to what a client is told, and the cause
// stays reachable.
func TestAsError(t *testing.T) {
	cause := errors.New("db: connection refused to 10.0.0.7")
	refused := &engine.Error{Code: engine.CodeInvalidGrant, Description: "bad token", Err: cause}
	type want struct {
		Code, Description, Text string
		Status                  int
		Body                    string
	}
	for _, tc := range []struct {
		name string
		err  error
		want *want // nil: AsError returns nil
	}{
		{"nil", nil, nil},
		{"engine error", refused, &want{"invalid_grant", "bad token", "deputy: invalid_grant: bad token", 400, `{"error":"invalid_grant","error_description":"bad token"}`}},
		{"wrapped engine error", fmt.Errorf("host: %w", refused), &want{"invalid_grant", "bad token", "deputy: invalid_grant: bad token", 400, `{"error":"invalid_grant","error_description":"bad token"}`}},
		{"invalid_client", engine.ErrInvalidClient, &want{"invalid_client", "", "deputy: invalid_client", 401, `{"error":"invalid_client"}`}},
		{"plain error", cause, &want{"server_error", "internal error", "deputy: server_error: internal error", 500, `{"error":"server_error","error_description":"internal error"}`}},
		{"context", context.DeadlineExceeded, &want{"server_error", "internal error", "deputy: server_error: internal error", 500, `{"error":"server_error","error_description":"internal error"}`}},
		{"typed nil", (*engine.Error)(nil), &want{"server_error", "internal error", "deputy: server_error: internal error", 500, `{"error":"server_error","error_description":"internal error"}`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := engine.AsError(tc.err)
			if tc.want == nil {
				if e != nil {
					t.Fatalf("AsError(nil) = %v, want nil", e)
				}
				return
			}
			if e == nil {
				t.Fatal("AsError returned nil")
			}
			body, err := json.Marshal(e)
			if err != nil {
				t.Fatal(err)
			}
			got := &want{e.Code, e.Description, e.Error(), e.HTTPStatus(), string(body)}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
			// The root cause stays reachable for logs: through the *Error
			// found, or the one that wraps a foreign error.
			root := tc.err
			for u := errors.Unwrap(root); u != nil; u = errors.Unwrap(root) {
				root = u
			}
			if !errors.Is(e, root) {
				t.Errorf("the cause %v is not reachable from %v", root, e)
			}
		})
	}
}
