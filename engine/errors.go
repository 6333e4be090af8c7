package engine

import (
	"encoding/json"
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

// Error returns "deputy: <code>: <description>", never the cause's text.
func (e *Error) Error() string {
	if e.Description == "" {
		return "deputy: " + e.Code
	}
	return "deputy: " + e.Code + ": " + e.Description
}

// Unwrap returns the cause.
func (e *Error) Unwrap() error { return e.Err }

// Is reports whether target is an *Error with the same Code and no
// description or cause of its own, which makes the Err* sentinels match.
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	return ok && t.Description == "" && t.Err == nil && t.Code == e.Code
}

// HTTPStatus is the status a host should answer with: 401 for
// invalid_client (RFC 6749 §5.2), 500 for server_error, 400 otherwise.
func (e *Error) HTTPStatus() int {
	switch e.Code {
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

func newError(code, desc string, cause error) *Error {
	return &Error{Code: code, Description: desc, Err: cause}
}

func invalidRequest(desc string, cause error) *Error {
	return newError(CodeInvalidRequest, desc, cause)
}

func serverError(desc string, cause error) *Error {
	return newError(CodeServerError, desc, cause)
}
