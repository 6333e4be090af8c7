package main

import (
	"errors"
	"io"
	"math"
	"mime"
	"net/http"
	"net/netip"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/deputyauth/deputy/engine"
)

// endpoint describes the wire format of one token endpoint.
type endpoint struct {
	// json accepts application/json bodies besides form bodies: the seed's
	// POST /delegation, as the auth0 Node SDK sends it.
	json bool
	// basicAuth accepts client authentication by HTTP Basic (RFC 6749
	// §2.3.1), as OAuth clients send it to POST /oauth/token.
	basicAuth bool
	// grants are the grant types the endpoint serves; any other is
	// unsupported_grant_type, whatever the engine knows.
	grants []string
}

// Media types of request bodies.
const (
	mediaForm = "application/x-www-form-urlencoded"
	mediaJSON = "application/json"
)

// maxBody caps request bodies: the engine refuses larger requests anyway,
// so reading more would only cost memory.
const maxBody = engine.MaxRequestSize

// tokenEndpoint serves one token endpoint: method and media type checks,
// the address's rate limit, a capped body, parsing, client authentication
// by HTTP Basic where allowed, the requester's rate limit, then the engine.
//
// The rate limit comes in two steps, so that it is decided before the body
// is read and still gives each requester a budget of its own. Every
// request is first counted in its address's shared bucket; when that is
// empty the answer is 429 and the body is never read. A request whose
// caller then shows itself to be a usable requester (engine.Exchanger's
// Authenticate) is moved to the requester's own bucket: the shared one is
// refunded, and the headers report the requester's bucket. Everyone else
// stays in the shared bucket and the headers report it, the same for an
// invented ID as for a registered one. A usable requester whose address's
// bucket has been emptied by others is refused in the first step: its
// identity is in the body, which is not read by then.
func (s *server) tokenEndpoint(ep endpoint) http.Handler {
	accepted := mediaForm
	if ep.json {
		accepted = mediaJSON + ", " + mediaForm
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost {
			w.Header().Set("Allow", http.MethodPost)
			writeError(w, http.StatusMethodNotAllowed, refusal("method not allowed; use POST"))
			return
		}
		media, ok := bodyMedia(r.Header.Get("Content-Type"), ep.json)
		if !ok {
			// 415 rather than 400: the request may be fine in another
			// encoding, and Accept-Post (from W3C LDP; RFC 9110 §15.5.16
			// asks 415 answers to say what is accepted) lists which.
			w.Header().Set("Accept-Post", accepted)
			writeError(w, http.StatusUnsupportedMediaType, refusal("Content-Type must be "+strings.ReplaceAll(accepted, ", ", " or ")))
			return
		}
		shared := limitKey{addr: remoteAddr(r)}
		var counted verdict
		if s.limiter != nil {
			// Malformed and oversized requests count too, so that they
			// cannot be sent for free.
			counted = s.limiter.allow(shared, s.now())
			if !counted.ok {
				// The body stays unread: the connection goes with it.
				w.Header().Set("Connection", "close")
			}
			if !s.rateHeaders(w, counted) {
				return
			}
		}
		body, status, rerr := readBody(w, r)
		if rerr != nil {
			writeError(w, status, rerr)
			return
		}
		req, err := parseBody(media, body)
		usedBasic := false
		if err == nil && ep.basicAuth {
			usedBasic, err = applyBasicAuth(r, req)
		}
		if err == nil && req.GrantType != "" && !slices.Contains(ep.grants, req.GrantType) {
			err = &engine.Error{Code: engine.CodeUnsupportedGrantType, Description: "grant_type not supported at this endpoint"}
		}
		// A usable requester is one that has shown who it is: registered,
		// enabled, allowed the grant, with its secret when it must give
		// one.
		usable := err == nil && s.x.Authenticate(r.Context(), req) == nil
		if info := infoFrom(r.Context()); info != nil && req != nil {
			// Whatever the caller sent may be a token or a secret pasted
			// into the wrong field: only an ID that authenticated is
			// logged as it is.
			info.clientID = req.ClientID
			if !usable {
				info.clientID = engine.LogValue(req.ClientID)
			}
		}
		if s.limiter != nil && usable {
			own := s.limiter.allow(limitKey{addr: shared.addr, client: req.ClientID}, s.now())
			if own.ok {
				// Its own bucket pays for this request. A requester over
				// its budget keeps the address's charge, so that its
				// further bodies are refused before they are read.
				s.limiter.refund(shared, counted)
			}
			if !s.rateHeaders(w, own) {
				return
			}
		}
		if err == nil {
			var res *engine.Response
			if res, err = s.x.Exchange(r.Context(), req); err == nil {
				writeJSON(w, http.StatusOK, res)
				return
			}
		}
		e := asEngineError(err)
		if usedBasic && e.Code == engine.CodeInvalidClient {
			// RFC 6749 §5.2: a client that used the Authorization header
			// learns the scheme to use.
			w.Header().Set("WWW-Authenticate", `Basic realm="deputy", charset="UTF-8"`)
		}
		writeError(w, e.HTTPStatus(), e)
	})
}

// refusal is an invalid_request error raised by the host itself.
func refusal(desc string) *engine.Error {
	return &engine.Error{Code: engine.CodeInvalidRequest, Description: desc}
}

// asEngineError turns any error into what the client is told: the engine's
// *Error as it is, anything else a bare server_error, since its text is not
// known to be safe to send.
func asEngineError(err error) *engine.Error {
	var e *engine.Error
	if errors.As(err, &e) {
		return e
	}
	return &engine.Error{Code: engine.CodeServerError, Description: "internal error", Err: err}
}

// bodyMedia returns the body's media type if the endpoint accepts it. A
// charset parameter, when present, must be UTF-8.
func bodyMedia(contentType string, jsonOK bool) (string, bool) {
	mt, params, err := mime.ParseMediaType(contentType)
	if err != nil {
		return "", false
	}
	if cs, ok := params["charset"]; ok && !strings.EqualFold(cs, "utf-8") {
		return "", false
	}
	switch {
	case mt == mediaForm, mt == mediaJSON && jsonOK:
		return mt, true
	}
	return "", false
}

// readBody reads at most maxBody bytes; a larger body is 413.
func readBody(w http.ResponseWriter, r *http.Request) ([]byte, int, *engine.Error) {
	tooLarge := func() ([]byte, int, *engine.Error) {
		// The rest of the body is not read: close the connection rather
		// than leave it for the next request.
		w.Header().Set("Connection", "close")
		return nil, http.StatusRequestEntityTooLarge, refusal("request body larger than " + strconv.Itoa(maxBody>>10) + " KiB")
	}
	if r.ContentLength > maxBody {
		return tooLarge()
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBody))
	var mbe *http.MaxBytesError
	switch {
	case errors.As(err, &mbe):
		return tooLarge()
	case err != nil:
		return nil, http.StatusBadRequest, refusal("cannot read request body")
	}
	return body, 0, nil
}

// parseBody parses a body of the given media type into a Request. Form
// bodies are parsed here, not with Request.ParseForm, which would merge the
// URL query into them and so hide duplicates across the two; the query is
// ignored (RFC 6749 §3.2 puts parameters in the body).
func parseBody(media string, body []byte) (*engine.Request, error) {
	if media == mediaJSON {
		return engine.ParseJSON(body)
	}
	form, err := url.ParseQuery(string(body))
	if err != nil {
		return nil, refusal("form body is malformed")
	}
	return engine.ParseRequest(form)
}

// applyBasicAuth moves HTTP Basic credentials into req. RFC 6749 §2.3.1:
// the user and password are form-urlencoded before Basic encoding, and a
// client uses one authentication method per request, so credentials in
// both the header and the body are refused. It reports whether the
// Authorization header carried Basic credentials.
func applyBasicAuth(r *http.Request, req *engine.Request) (bool, error) {
	if r.Header.Get("Authorization") == "" {
		return false, nil
	}
	user, pass, ok := r.BasicAuth()
	if !ok {
		return false, refusal("Authorization header must use the Basic scheme")
	}
	id, err1 := url.QueryUnescape(user)
	secret, err2 := url.QueryUnescape(pass)
	switch {
	case err1 != nil || err2 != nil || id == "":
		return true, &engine.Error{Code: engine.CodeInvalidClient, Description: "client authentication failed"}
	case req.ClientSecret != "":
		return true, refusal("client authenticated by both HTTP Basic and client_secret")
	case req.ClientID != "" && req.ClientID != id:
		return true, refusal("client_id does not match the HTTP Basic user")
	}
	req.ClientID, req.ClientSecret = id, secret
	return true, nil
}

// remoteAddr is the TCP peer's address; the zero Addr when RemoteAddr
// does not parse (all such callers then share one bucket).
func remoteAddr(r *http.Request) netip.Addr {
	ap, err := netip.ParseAddrPort(r.RemoteAddr)
	if err != nil {
		return netip.Addr{}
	}
	return ap.Addr()
}

// rateHeaders sets the X-RateLimit-* headers from v, replacing any set
// before. When v refused the request it answers 429 with Retry-After and
// reports false.
func (s *server) rateHeaders(w http.ResponseWriter, v verdict) bool {
	h := w.Header()
	h.Set("X-RateLimit-Limit", strconv.Itoa(v.limit))
	h.Set("X-RateLimit-Remaining", strconv.Itoa(v.remaining))
	h.Set("X-RateLimit-Reset", strconv.FormatInt(v.reset.Unix(), 10))
	if v.ok {
		return true
	}
	wait := int64(math.Ceil(v.reset.Sub(s.now()).Seconds()))
	h.Set("Retry-After", strconv.FormatInt(max(wait, 1), 10))
	writeError(w, http.StatusTooManyRequests, &engine.Error{Code: "too_many_requests", Description: "rate limit exceeded; retry later"})
	return false
}
