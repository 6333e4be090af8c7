package oauthhttp

import (
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/deputyauth/deputy/engine"
	"github.com/deputyauth/deputy/store"
)

// DefaultMaxAge is how long the JWKS and metadata handlers let verifiers
// and caches keep what they answer, unless told otherwise.
const DefaultMaxAge = 5 * time.Minute

// JWKSOptions configures a JWKS handler. The zero value is usable.
type JWKSOptions struct {
	// MaxAge is the Cache-Control max-age of the answer, in whole
	// seconds: how long a verifier or a cache may go on using the set
	// without asking again. 0 means DefaultMaxAge; a negative value
	// answers "no-cache" (verifiers revalidate every time).
	//
	// Key rotation depends on it: a verifier knows a new key only once
	// its cached set has expired, so a staged key (store.Key.SignFrom)
	// must be published at least MaxAge — plus whatever the verifiers
	// add on their own — before it starts signing, and a retired key must
	// stay published for MaxAge plus the longest lifetime of the tokens
	// it signed.
	MaxAge time.Duration
	// OnError, when set, is told about a key store failure (answered 500
	// server_error), for the log.
	OnError func(r *http.Request, err error)
}

// NewJWKSHandler returns a handler publishing the verification keys of
// keys (VerificationKeys(ctx, "")) as a JWK set (RFC 7517 §5) at GET and
// HEAD. Only public halves are ever written, whatever the store returns;
// an empty store answers an empty set. The set is read from the store on
// every request, so that added and removed keys show at once.
func NewJWKSHandler(keys store.KeyStore, opts JWKSOptions) (http.Handler, error) {
	if keys == nil {
		return nil, errors.New("oauthhttp: no KeyStore")
	}
	if opts.MaxAge > 0 && opts.MaxAge%time.Second != 0 {
		return nil, errors.New("oauthhttp: JWKSOptions.MaxAge must be whole seconds")
	}
	return &jwksHandler{keys: keys, cache: cacheControl(opts.MaxAge), onError: opts.OnError}, nil
}

type jwksHandler struct {
	keys    store.KeyStore
	cache   []string
	onError func(*http.Request, error)
}

// cacheControl is the Cache-Control value for maxAge (see JWKSOptions).
func cacheControl(maxAge time.Duration) []string {
	switch {
	case maxAge == 0:
		maxAge = DefaultMaxAge
	case maxAge < 0:
		return []string{"no-cache"}
	}
	return []string{"public, max-age=" + strconv.FormatInt(int64(maxAge/time.Second), 10)}
}

var hvGetHead = []string{"GET, HEAD"}

// allowGet answers 405 to anything but GET and HEAD and reports whether
// the request may go on.
func allowGet(w http.ResponseWriter, r *http.Request) bool {
	if r.Method == http.MethodGet || r.Method == http.MethodHead {
		return true
	}
	w.Header()["Allow"] = hvGetHead
	writeError(w, http.StatusMethodNotAllowed, refusal("method not allowed; use GET"), false, "")
	return false
}

func (h *jwksHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if !allowGet(w, r) {
		return
	}
	keys, err := h.keys.VerificationKeys(r.Context(), "")
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		if h.onError != nil {
			h.onError(r, err)
		}
		writeError(w, http.StatusInternalServerError, &engine.Error{Code: engine.CodeServerError, Description: "key store failed"}, false, "")
		return
	}
	set := jose.JSONWebKeySet{Keys: make([]jose.JSONWebKey, 0, len(keys))}
	for _, k := range keys {
		// The KeyStore contract promises public halves; taking Public()
		// again costs little and keeps a faulty store from leaking.
		if pub := k.Public(); pub.Valid() {
			set.Keys = append(set.Keys, pub)
		}
	}
	b, err := json.Marshal(set)
	if err != nil {
		writeError(w, http.StatusInternalServerError, &engine.Error{Code: engine.CodeServerError, Description: "cannot encode keys"}, false, "")
		return
	}
	hd := w.Header()
	hd["Content-Type"] = hvJSON
	hd["Cache-Control"] = h.cache
	hd["X-Content-Type-Options"] = hvNosniff
	hd["Content-Length"] = []string{strconv.Itoa(len(b))}
	w.Write(b) // discarded for HEAD
}
