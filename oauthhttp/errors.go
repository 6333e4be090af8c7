package oauthhttp

import (
	"errors"
	"net/http"
	"strconv"

	"github.com/deputyauth/deputy/engine"
	"github.com/deputyauth/deputy/internal/jsonstr"
)

// StatusError is an error answer with an HTTP status of the host's
// choosing where engine.Error.HTTPStatus has none to give: 405, 413, 415
// from the handlers here, 429 from a Gate, 404 from a host's catch-all.
// Its body is Err's: {"error":…,"error_description":…}.
type StatusError struct {
	// Status is the HTTP status; one outside 400–599 is answered as 500.
	Status int
	// Err is what the body says; nil is a bare server_error.
	Err *engine.Error
}

// Error returns Err's text; a nil *StatusError reads as a bare
// server_error.
func (e *StatusError) Error() string {
	if e == nil {
		return (*engine.Error)(nil).Error()
	}
	return e.Err.Error()
}

// Unwrap returns Err, so that errors.As finds the *engine.Error; nil for
// a nil *StatusError, which a Gate may return in an error by mistake.
func (e *StatusError) Unwrap() error {
	if e == nil || e.Err == nil {
		return nil
	}
	return e.Err
}

// Refuse returns a *StatusError with status, an OAuth-style code (RFC
// 6749 §5.2's, or one of the host's own such as "too_many_requests") and
// a description safe to send.
func Refuse(status int, code, description string) *StatusError {
	return &StatusError{Status: status, Err: &engine.Error{Code: code, Description: description}}
}

// Header values shared by every answer. They are assigned to the header
// map directly: the keys are already canonical and the slices are never
// written to (their capacity equals their length, so an Add elsewhere
// copies them first).
var (
	hvJSON      = []string{"application/json"}
	hvNoStore   = []string{"no-store"}
	hvNoCache   = []string{"no-cache"}
	hvNosniff   = []string{"nosniff"}
	hvChallenge = []string{`Basic realm="deputy", charset="UTF-8"`}
)

// WriteError writes err as an RFC 6749 §5.2 error answer and never
// panics: nil and errors that are not an *engine.Error (after errors.As)
// are a bare server_error with the description "internal error", since
// their text is not known to be safe to send; a *StatusError sets the
// status, anything else engine.Error.HTTPStatus does. The answer is
// application/json with Cache-Control: no-store and Pragma: no-cache (RFC
// 6749 §5.1). A 401 carries WWW-Authenticate: Basic (RFC 7235 §3.1, RFC
// 6749 §5.2).
//
// A token handler built by NewTokenHandler challenges only a client that
// used HTTP Basic; WriteError, which cannot know how the client
// authenticated, always does. Headers set on w before the call are kept.
func WriteError(w http.ResponseWriter, err error) {
	status, e := errorAnswer(err)
	writeError(w, status, e, status == http.StatusUnauthorized, "")
}

// errorAnswer maps err to the status and *engine.Error a client is told.
func errorAnswer(err error) (int, *engine.Error) {
	var se *StatusError
	if errors.As(err, &se) && se != nil {
		e := se.Err
		if e == nil {
			e = engine.AsError(errors.New("oauthhttp: StatusError without Err"))
		}
		status := se.Status
		if status < 400 || status > 599 {
			status = http.StatusInternalServerError
		}
		return status, e
	}
	if err == nil {
		err = errors.New("oauthhttp: WriteError called with a nil error")
	}
	e := engine.AsError(err)
	return e.HTTPStatus(), e
}

// writeError writes e's body with status. challenge adds WWW-Authenticate
// with realm, or the default realm when realm is "".
func writeError(w http.ResponseWriter, status int, e *engine.Error, challenge bool, realm string) {
	h := w.Header()
	if challenge {
		if realm == "" {
			h["Www-Authenticate"] = hvChallenge
		} else {
			h["Www-Authenticate"] = []string{`Basic realm=` + strconv.Quote(realm) + `, charset="UTF-8"`}
		}
	}
	bp := getBuf()
	b := append((*bp)[:0], `{"error":`...)
	b = appendJSONString(b, e.Code)
	if e.Description != "" {
		b = append(b, `,"error_description":`...)
		b = appendJSONString(b, e.Description)
	}
	b = append(b, '}')
	writeBody(w, status, b)
	*bp = b
	putBuf(bp)
}

// writeBody writes a token endpoint answer: JSON, never cached (RFC 6749
// §5.1), never sniffed.
func writeBody(w http.ResponseWriter, status int, b []byte) {
	h := w.Header()
	h["Content-Type"] = hvJSON
	h["Cache-Control"] = hvNoStore
	h["Pragma"] = hvNoCache
	h["X-Content-Type-Options"] = hvNosniff
	h["Content-Length"] = []string{strconv.Itoa(len(b))}
	w.WriteHeader(status)
	w.Write(b)
}

// appendJSONString appends s as a JSON string (jsonstr.Append).
func appendJSONString(b []byte, s string) []byte { return jsonstr.Append(b, s) }
