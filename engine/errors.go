package engine

import (
	"encoding/json"
	"errors"
)

// Error is a refused or failed exchange. Code is the OAuth error code
// (RFC 6749 §5.2, RFC 8693 §2.2.2) a host sends as "error"; Description is a
// fixed, human-readable sentence safe to send as "error_description"; Err is
// the cause, for logs, reachable through errors.Is and errors.As.
//
// Neither Error() nor Description ever contains a presented token, a secret
// or a key: Error() leaves the cause out.
type Error struct {
	Code        string
	Description string
	Err         error

	// reason is the log-only detail of a refusal (Event.Reason); "" means
	// Description says it all. Never sent, never in Error().
	reason string
}

// OAuth error codes used by deputy.
const (
	CodeInvalidRequest       = "invalid_request"
	CodeInvalidClient        = "invalid_client"
	CodeInvalidGrant         = "invalid_grant"
	CodeUnauthorizedClient   = "unauthorized_client"
	CodeUnsupportedGrantType = "unsupported_grant_type"
	CodeInvalidScope         = "invalid_scope"
	CodeInvalidTarget        = "invalid_target"
	CodeServerError          = "server_error"
)

// Sentinels for errors.Is: errors.Is(err, ErrInvalidGrant) holds for any
// *Error whose Code is invalid_grant.
var (
	ErrInvalidRequest       error = &Error{Code: CodeInvalidRequest}
	ErrInvalidClient        error = &Error{Code: CodeInvalidClient}
	ErrInvalidGrant         error = &Error{Code: CodeInvalidGrant}
	ErrUnauthorizedClient   error = &Error{Code: CodeUnauthorizedClient}
	ErrUnsupportedGrantType error = &Error{Code: CodeUnsupportedGrantType}
	ErrInvalidScope         error = &Error{Code: CodeInvalidScope}
	ErrInvalidTarget        error = &Error{Code: CodeInvalidTarget}
	ErrServerError          error = &Error{Code: CodeServerError}
)

// A nil *Error is a programming error somewhere, never a success: its
// methods treat it as a bare server_error rather than panicking, so that
// a host's error path cannot crash on it.

// Error returns "deputy: <code>: <description>", never the cause's text.
func (e *Error) Error() string {
	if e == nil {
		return "deputy: " + CodeServerError
	}
	if e.Description == "" {
		return "deputy: " + e.Code
	}
	return "deputy: " + e.Code + ": " + e.Description
}

// Unwrap returns the cause; nil for a nil *Error.
func (e *Error) Unwrap() error {
	if e == nil {
		return nil
	}
	return e.Err
}

// Is reports whether target is an *Error with the same Code and no
// description or cause of its own, which makes the Err* sentinels match.
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	return ok && t != nil && t.Description == "" && t.Err == nil && t.Code == e.code()
}

// code is e's Code, server_error for a nil e.
func (e *Error) code() string {
	if e == nil {
		return CodeServerError
	}
	return e.Code
}

// HTTPStatus is the status a host should answer with: 401 for
// invalid_client (RFC 6749 §5.2), 500 for server_error and for a nil
// *Error, 400 otherwise.
func (e *Error) HTTPStatus() int {
	switch e.code() {
	case CodeInvalidClient:
		return 401
	case CodeServerError:
		return 500
	}
	return 400
}

// MarshalJSON writes the RFC 6749 §5.2 error body:
// {"error":…,"error_description":…}. The cause is left out. Its receiver
// is a value so that an Error marshals the same way by value or pointer.
func (e Error) MarshalJSON() ([]byte, error) {
	return json.Marshal(struct {
		Error       string `json:"error"`
		Description string `json:"error_description,omitempty"`
	}{e.Code, e.Description})
}

// AsError maps any error to the *Error a client is told: nil to nil; an
// error that is or wraps an *Error (errors.As) to that *Error; anything
// else to a server_error with the fixed description "internal error"
// wrapping err, since its text is not known to be safe to send. A host
// writes the result's Code, Description and HTTPStatus and logs err.
func AsError(err error) *Error {
	if err == nil {
		return nil
	}
	var e *Error
	if errors.As(err, &e) && e != nil {
		return e
	}
	return &Error{Code: CodeServerError, Description: "internal error", Err: err}
}

func newError(code, desc string, cause error) *Error {
	return &Error{Code: code, Description: desc, Err: cause}
}

func invalidRequest(desc string, cause error) *Error {
	return newError(CodeInvalidRequest, desc, cause)
}

func serverError(desc string, cause error) *Error {
	return newError(CodeServerError, desc, cause)
}
