package oauthhttp

import (
	"context"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/deputyauth/deputy/clientauth"
	"github.com/deputyauth/deputy/engine"
)

// Conventional paths. The handlers do not look at the path: a host mounts
// them wherever it likes.
const (
	PathDelegation   = "/delegation"                             // Auth0's POST /delegation
	PathToken        = "/oauth/token"                            // RFC 6749's token endpoint
	PathJWKS         = "/.well-known/jwks.json"                  // the JWK set
	PathASMetadata   = "/.well-known/oauth-authorization-server" // RFC 8414 §3
	PathOIDCMetadata = "/.well-known/openid-configuration"       // OpenID Connect Discovery 1.0 §4
)

// Media types of request bodies.
const (
	mediaForm = "application/x-www-form-urlencoded"
	mediaJSON = "application/json"
)

// TokenOptions configures a token endpoint. The zero value is not usable:
// GrantTypes is required. Delegation and Token return the two endpoints
// deputy's reference host serves, to which hooks can be added.
type TokenOptions struct {
	// GrantTypes are the grant types this endpoint serves; a request for
	// any other is unsupported_grant_type, whatever the engine knows.
	// Required; each must be engine.GrantTypeJWTBearer or
	// engine.GrantTypeTokenExchange.
	GrantTypes []string
	// JSON accepts application/json bodies (engine.ParseJSON) besides
	// form bodies: the wire format of Auth0's POST /delegation as the
	// Auth0 Node SDK sends it. Off, only
	// application/x-www-form-urlencoded is accepted (RFC 6749 §3.2).
	JSON bool
	// BasicAuth accepts client authentication by HTTP Basic (RFC 6749
	// §2.3.1). Off, an Authorization header is ignored, so that it can
	// carry something else in front of the endpoint.
	BasicAuth bool
	// MaxBodyBytes caps request bodies; a larger one is answered 413 and
	// the connection closed. 0 means engine.MaxRequestSize, the most the
	// engine accepts; more than that is an error.
	MaxBodyBytes int
	// Realm is the realm of the WWW-Authenticate challenge; "" means
	// "deputy".
	Realm string
	// Gate, when set, decides in two steps whether a request may proceed:
	// before the body is read, and once the requester has authenticated.
	// A rate limiter is one.
	Gate Gate
	// Observe, when set, is called once for every request that passed the
	// method and media type checks, after its answer is written, with
	// what the handler learnt: for access logs and metrics. It runs on
	// the request's goroutine and should be quick.
	Observe func(r *http.Request, o Observation)
	// Context, when set, returns the context the engine runs under for r,
	// derived from ctx (r's context, plus the TLS client certificates when
	// there are any, see clientauth.PeerCertificates). A host attaches
	// there what its engine.Config hooks need from the transport.
	Context func(ctx context.Context, r *http.Request) context.Context
}

// Delegation returns the options of Auth0's POST /delegation: JSON and
// form bodies, the delegation grant (jwt-bearer) only, no HTTP Basic.
func Delegation() TokenOptions {
	return TokenOptions{GrantTypes: []string{engine.GrantTypeJWTBearer}, JSON: true}
}

// Token returns the options of RFC 6749's token endpoint (POST
// /oauth/token): form bodies, HTTP Basic client authentication, and both
// grants: delegation and RFC 8693 token exchange.
func Token() TokenOptions {
	return TokenOptions{
		GrantTypes: []string{engine.GrantTypeJWTBearer, engine.GrantTypeTokenExchange},
		BasicAuth:  true,
	}
}

// A Gate decides whether a token request may proceed, in two steps, so
// that a refusal can come before the body is read and still tell
// requesters apart. Its methods are called on the request's goroutine.
type Gate interface {
	// Enter is called before the body is read: the request line, the
	// headers and the peer are all that is known, so a refusal here costs
	// no reading or parsing. A non-nil error is answered as WriteError
	// would (a *StatusError chooses the status, such as 429) and the body
	// is left unread; Enter may set headers on w, such as Retry-After or
	// Connection: close. The Pass returned, if not nil, is told who the
	// requester is once that is known.
	Enter(w http.ResponseWriter, r *http.Request) (Pass, error)
}

// A Pass follows one request through the second step of a Gate.
type Pass interface {
	// Authenticated is called once the body has been parsed and the
	// requester has shown who it is (engine.Exchanger.Authenticate
	// passed: registered, enabled, its secret when it must give one,
	// allowed the grant), before the exchange, with its client ID. It is
	// not called for any other request. A non-nil error refuses the
	// request as Enter's does; Authenticated may set headers on w.
	Authenticated(w http.ResponseWriter, r *http.Request, clientID string) error
}

// Observation is what a token endpoint learnt about one request.
type Observation struct {
	// ClientID is the requester as a log may show it: as sent when the
	// requester authenticated, else through engine.LogValue, since an
	// unverified value may be a token or a secret pasted into the wrong
	// field; "" when no request was parsed.
	ClientID string
	// Authenticated reports whether the requester authenticated.
	Authenticated bool
	// Status is the HTTP status answered.
	Status int
	// Err is the refusal or failure answered, nil on success; its cause
	// is for logs only.
	Err error
}

// tokenHandler is one token endpoint.
type tokenHandler struct {
	x         *engine.Exchanger
	grants    []string
	json      bool
	basicAuth bool
	max       int
	realm     string
	gate      Gate
	observe   func(*http.Request, Observation)
	context   func(context.Context, *http.Request) context.Context
	accepted  string // the media types accepted, for Accept-Post
}

// NewTokenHandler returns a token endpoint answering with x: POST only,
// the media types opts allows (charset, when given, must be UTF-8), the
// body capped at opts.MaxBodyBytes, form bodies parsed without the URL
// query (RFC 6749 §3.2: parameters are in the body, and merging the query
// would hide duplicates), HTTP Basic client authentication where allowed
// (RFC 6749 §2.3.1: the user and password are form-urlencoded; credentials
// both in the header and in the body are refused), then x.Exchange.
// Answers are JSON with Cache-Control: no-store and Pragma: no-cache (RFC
// 6749 §5.1); errors are RFC 6749 §5.2 bodies, and a failed HTTP Basic
// authentication is challenged with WWW-Authenticate (§5.2). When the
// request came over TLS with client certificates, the engine's context
// carries them (clientauth.WithPeerCertificates).
//
// opts is checked once, here; every problem is reported. The handler is
// safe for concurrent use.
func NewTokenHandler(x *engine.Exchanger, opts TokenOptions) (http.Handler, error) {
	var errs []error
	if x == nil {
		errs = append(errs, errors.New("oauthhttp: no Exchanger"))
	}
	if len(opts.GrantTypes) == 0 {
		errs = append(errs, errors.New("oauthhttp: TokenOptions.GrantTypes is empty"))
	}
	for i, g := range opts.GrantTypes {
		switch {
		case g != engine.GrantTypeJWTBearer && g != engine.GrantTypeTokenExchange:
			errs = append(errs, fmt.Errorf("oauthhttp: TokenOptions.GrantTypes: %q is not a grant type deputy serves", g))
		case slices.Contains(opts.GrantTypes[:i], g):
			errs = append(errs, fmt.Errorf("oauthhttp: TokenOptions.GrantTypes: %q is listed twice", g))
		}
	}
	if opts.MaxBodyBytes < 0 || opts.MaxBodyBytes > engine.MaxRequestSize {
		errs = append(errs, fmt.Errorf("oauthhttp: TokenOptions.MaxBodyBytes %d is not within 0..%d", opts.MaxBodyBytes, engine.MaxRequestSize))
	}
	if strings.ContainsFunc(opts.Realm, func(r rune) bool { return r < 0x20 || r >= 0x7f || r == '"' || r == '\\' }) {
		errs = append(errs, errors.New("oauthhttp: TokenOptions.Realm must be printable ASCII without quotes or backslashes"))
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	h := &tokenHandler{
		x:         x,
		grants:    slices.Clone(opts.GrantTypes),
		json:      opts.JSON,
		basicAuth: opts.BasicAuth,
		max:       opts.MaxBodyBytes,
		realm:     opts.Realm,
		gate:      opts.Gate,
		observe:   opts.Observe,
		context:   opts.Context,
		accepted:  mediaForm,
	}
	if h.max == 0 {
		h.max = engine.MaxRequestSize
	}
	if h.json {
		h.accepted = mediaJSON + ", " + mediaForm
	}
	return h, nil
}

var hvPost = []string{http.MethodPost}

func (h *tokenHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		w.Header()["Allow"] = hvPost
		writeError(w, http.StatusMethodNotAllowed, refusal("method not allowed; use POST"), false, "")
		return
	}
	media, ok := bodyMedia(r.Header.Get("Content-Type"), h.json)
	if !ok {
		// 415 rather than 400: the request may be fine in another
		// encoding, and Accept-Post (from W3C LDP; RFC 9110 §15.5.16 asks
		// 415 answers to say what is accepted) lists which.
		w.Header()["Accept-Post"] = []string{h.accepted}
		writeError(w, http.StatusUnsupportedMediaType, refusal("Content-Type must be "+strings.ReplaceAll(h.accepted, ", ", " or ")), false, "")
		return
	}
	o := Observation{}
	if h.observe != nil {
		defer func() { h.observe(r, o) }()
	}
	var pass Pass
	if h.gate != nil {
		var err error
		if pass, err = h.gate.Enter(w, r); err != nil {
			o.Status, o.Err = h.fail(w, err, false)
			return
		}
	}

	bp := getBuf()
	body, serr := h.readBody(w, r, bp)
	if serr != nil {
		putBuf(bp)
		o.Status, o.Err = h.fail(w, serr, false)
		return
	}
	req, err := parseBody(media, body)
	*bp = body
	putBuf(bp) // the parsers copy what they keep
	usedBasic := false
	if err == nil && h.basicAuth {
		usedBasic, err = applyBasicAuth(r, req)
	}
	if err == nil && req.GrantType != "" && !slices.Contains(h.grants, req.GrantType) {
		err = &engine.Error{Code: engine.CodeUnsupportedGrantType, Description: "grant_type not supported at this endpoint"}
	}

	ctx := r.Context()
	if r.TLS != nil && len(r.TLS.PeerCertificates) > 0 {
		ctx = clientauth.WithPeerCertificates(ctx, r.TLS.PeerCertificates)
	}
	if h.context != nil {
		if c := h.context(ctx, r); c != nil { // nil: a hook's mistake, not a reason to panic
			ctx = c
		}
	}
	// A usable request reached the engine's checks: parsed, its
	// credentials in one place, its grant served here.
	usable := err == nil
	// known: whether o.Authenticated has been decided.
	known := false
	if pass != nil && usable {
		o.Authenticated, known = h.x.Authenticate(ctx, req) == nil, true
		if o.Authenticated {
			err = pass.Authenticated(w, r, req.ClientID)
		}
	}
	if err == nil {
		var res *engine.Response
		if res, err = h.x.Exchange(ctx, req); err == nil {
			o.Authenticated = true
			o.ClientID = req.ClientID
			o.Status = h.answer(w, res)
			return
		}
	}
	if h.observe != nil && req != nil {
		// invalid_client is the exchange refusing the credentials, even
		// when the check-only Authenticate passed them (an assertion
		// already spent): not authenticated, and not worth checking again.
		refusedClient := errors.Is(err, engine.ErrInvalidClient)
		if !known && !refusedClient {
			// Only on a refusal, and only for the log: on success the
			// exchange has authenticated the requester.
			o.Authenticated = usable && h.x.Authenticate(ctx, req) == nil
		}
		if refusedClient {
			o.Authenticated = false
		}
		o.ClientID = req.ClientID
		if !o.Authenticated {
			o.ClientID = engine.LogValue(req.ClientID)
		}
	}
	o.Status, o.Err = h.fail(w, err, usedBasic)
}

// answer writes a successful exchange's answer and returns its status.
func (h *tokenHandler) answer(w http.ResponseWriter, res *engine.Response) int {
	b, err := res.MarshalJSON() // not json.Marshal: it would check and copy the bytes again
	if err != nil {
		status, _ := h.fail(w, &engine.Error{Code: engine.CodeServerError, Description: "cannot encode response", Err: err}, false)
		return status
	}
	writeBody(w, http.StatusOK, b)
	return http.StatusOK
}

// fail answers err and returns the status and the error answered. A
// client that used HTTP Basic and failed to authenticate learns the
// scheme to use (RFC 6749 §5.2).
func (h *tokenHandler) fail(w http.ResponseWriter, err error, usedBasic bool) (int, error) {
	status, e := errorAnswer(err)
	writeError(w, status, e, usedBasic && e.Code == engine.CodeInvalidClient, h.realm)
	return status, err
}

// refusal is an invalid_request error raised by the handler itself.
func refusal(desc string) *engine.Error {
	return &engine.Error{Code: engine.CodeInvalidRequest, Description: desc}
}

// bodyMedia returns the body's media type if the endpoint accepts it. A
// charset parameter, when present, must be UTF-8.
func bodyMedia(contentType string, jsonOK bool) (string, bool) {
	// The common spellings skip mime.ParseMediaType and its map.
	switch contentType {
	case mediaForm:
		return mediaForm, true
	case mediaJSON:
		return mediaJSON, jsonOK
	}
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

var hvClose = []string{"close"}

// readBody reads the body into *bp, at most h.max bytes; a larger body is
// 413 and the connection is closed rather than read to its end.
func (h *tokenHandler) readBody(w http.ResponseWriter, r *http.Request, bp *[]byte) ([]byte, *StatusError) {
	tooLarge := func() ([]byte, *StatusError) {
		w.Header()["Connection"] = hvClose
		return nil, &StatusError{Status: http.StatusRequestEntityTooLarge,
			Err: refusal("request body larger than " + strconv.Itoa(h.max>>10) + " KiB")}
	}
	if r.ContentLength > int64(h.max) {
		return tooLarge()
	}
	b := (*bp)[:0]
	if want := int(r.ContentLength) + 1; r.ContentLength >= 0 && cap(b) < want {
		// One byte more than announced, so that the EOF is seen without
		// growing the buffer.
		b = make([]byte, 0, want)
	}
	if r.Body == nil {
		return b, nil
	}
	for {
		if len(b) == cap(b) {
			b = slices.Grow(b, min(max(cap(b), 512), h.max+1-len(b)))
		}
		n, err := r.Body.Read(b[len(b):cap(b)])
		b = b[:len(b)+n]
		if len(b) > h.max {
			return tooLarge()
		}
		if err == io.EOF {
			return b, nil
		}
		if err != nil {
			var mbe *http.MaxBytesError
			if errors.As(err, &mbe) {
				return tooLarge()
			}
			return nil, &StatusError{Status: http.StatusBadRequest, Err: refusal("cannot read request body")}
		}
	}
}

// parseBody parses a body of the given media type into a Request.
func parseBody(media string, body []byte) (*engine.Request, error) {
	if media == mediaJSON {
		return parseJSON(body)
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

// bufPool holds request and answer buffers. Buffers that grew past
// maxPooled are dropped, so that one large body does not pin memory.
var bufPool = sync.Pool{New: func() any { b := make([]byte, 0, 2048); return &b }}

const maxPooled = 16 << 10

func getBuf() *[]byte { return bufPool.Get().(*[]byte) }

func putBuf(bp *[]byte) {
	if cap(*bp) > maxPooled {
		return
	}
	*bp = (*bp)[:0]
	bufPool.Put(bp)
}
