package main

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/deputyauth/deputy/engine"
	"github.com/deputyauth/deputy/oauthhttp"
	"github.com/deputyauth/deputy/store"
)

// serverConfig is everything newServer needs: a checked configuration plus
// the process-level pieces a test wants to replace.
type serverConfig struct {
	hostConfig
	// Logger receives the access log and the engine's events. nil discards.
	Logger *slog.Logger
	// Now is the clock of the engine and the rate limiter. nil means time.Now.
	Now func() time.Time
	// Drain, when set, is the process's shutdown state: /readyz answers
	// 503 once it has started. nil: never draining.
	Drain *drainState
	// ReplayCache, when set, records one-time use instead of Store, so
	// that the ids already used survive a reload that builds a new Store.
	ReplayCache store.ReplayCache
	// OnExchange, when set, receives every engine event after the audit
	// log (metrics, traces: metrics.go).
	OnExchange func(context.Context, engine.Event)
}

// server is the HTTP face of one engine.Exchanger. It holds no per-request
// state; Handler is safe for concurrent use.
type server struct {
	x       *engine.Exchanger
	log     *slog.Logger
	cors    map[string]bool // allowed origins; empty: no CORS headers at all
	limiter *limiter        // nil: no rate limit
	proxies *proxyTrust     // nil: the TCP peer is the client
	now     func() time.Time
	handler http.Handler
}

// Paths served.
const (
	pathDelegation = oauthhttp.PathDelegation
	pathToken      = oauthhttp.PathToken
	pathJWKS       = oauthhttp.PathJWKS
	pathHealth     = "/healthz"
)

// newServer builds the engine from cfg and the handler around it.
func newServer(cfg serverConfig) (*server, error) {
	if cfg.Store == nil {
		return nil, errors.New("serve: no store")
	}
	logger := cfg.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	// Every record logged with a request's context carries its id,
	// including the engine's events.
	logger = slog.New(requestIDHandler{logger.Handler()})
	now := cfg.Now
	if now == nil {
		now = time.Now
	}
	ecfg := engine.Config{
		Issuer:     cfg.Issuer,
		Clients:    cfg.Store,
		Keys:       cfg.Store,
		Minters:    addonMinters(),
		Lifetime:   cfg.Lifetime,
		ClockSkew:  cfg.ClockSkew,
		Now:        cfg.Now,
		OnExchange: engine.Hooks(auditHook(logger.Handler()), cfg.OnExchange),
	}
	// Refresh grants and profiles come from the config file, the demo or
	// the shared store; a token not there is invalid_grant.
	ecfg.RefreshTokens, ecfg.Profiles = cfg.Store, cfg.Store
	if cfg.Replay {
		ecfg.Replay = cfg.Store
		if cfg.ReplayCache != nil {
			ecfg.Replay = cfg.ReplayCache
		}
	}
	// Client assertions are single-use whether or not source tokens are.
	replay := store.ReplayCache(cfg.Store)
	if cfg.ReplayCache != nil {
		replay = cfg.ReplayCache
	}
	ca, err := cfg.ClientAuth.authenticator(cfg.Issuer, cfg.ClockSkew, replay, now)
	if err != nil {
		return nil, err
	}
	ecfg.ClientAuth = ca
	x, err := engine.New(ecfg)
	if err != nil {
		return nil, err
	}
	s := &server{
		x:       x,
		log:     logger,
		cors:    make(map[string]bool),
		now:     now,
		proxies: cfg.Proxies,
	}
	for _, o := range cfg.CORSOrigins {
		s.cors[o] = true
	}
	if cfg.RateLimit.enabled() {
		s.limiter = newLimiter(cfg.RateLimit)
	}
	mux := http.NewServeMux()
	// The seed's endpoint takes JSON (the Node SDK) and form bodies
	// (auth0-js) and serves delegation only; RFC 6749's token endpoint
	// takes form bodies only, with optional HTTP Basic client
	// authentication (§2.3.1), and serves both grants.
	for path, opts := range map[string]oauthhttp.TokenOptions{
		pathDelegation: oauthhttp.Delegation(),
		pathToken:      oauthhttp.Token(),
	} {
		h, err := oauthhttp.NewTokenHandler(x, s.tokenOptions(opts))
		if err != nil {
			return nil, err
		}
		mux.Handle(path, h)
	}
	jwks, err := oauthhttp.NewJWKSHandler(cfg.Store, oauthhttp.JWKSOptions{
		OnError: func(r *http.Request, err error) {
			s.log.ErrorContext(r.Context(), "deputy: key store failed", "error", err.Error())
		},
	})
	if err != nil {
		return nil, err
	}
	mux.Handle(pathJWKS, jwks)
	if doc, err := newMetadata(&cfg.hostConfig); err != nil {
		// Not fatal: the token endpoints work without it.
		logger.Warn("deputy: no authorization server metadata: "+err.Error(), "issuer", cfg.Issuer)
	} else {
		h, err := oauthhttp.NewMetadataHandler(*doc, oauthhttp.MetadataOptions{})
		if err != nil {
			return nil, err
		}
		mux.Handle(pathASMetadata, h)
		mux.Handle(pathOIDCMetadata, h)
	}
	mux.HandleFunc(pathHealth, serveHealth)
	mux.Handle(pathReady, newReadiness(cfg.Store, cfg.Store, cfg.SigningAlgs, cfg.Drain, logger))
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, &engine.Error{Code: "not_found", Description: "no such endpoint"})
	})
	s.handler = s.withRequestInfo(s.withCORS(mux))
	return s, nil
}

// Handler returns the HTTP handler of every endpoint.
func (s *server) Handler() http.Handler { return s.handler }

// requestInfo is what the access log learns about a request as it is
// handled. The handler goroutine writes it and the access log reads it
// after the handler returns, so it needs no lock.
type requestInfo struct {
	id string
	// clientID is set once the body is parsed: as sent for a usable
	// requester, else through engine.LogValue.
	clientID string
}

type requestInfoKey struct{}

func infoFrom(ctx context.Context) *requestInfo {
	info, _ := ctx.Value(requestInfoKey{}).(*requestInfo)
	return info
}

// requestIDHandler adds the request id found in the context to every
// record, so that engine events and the access log can be joined.
type requestIDHandler struct{ slog.Handler }

func (h requestIDHandler) Handle(ctx context.Context, r slog.Record) error {
	if info := infoFrom(ctx); info != nil {
		r.AddAttrs(slog.String("request_id", info.id))
	}
	return h.Handler.Handle(ctx, r)
}

func (h requestIDHandler) WithAttrs(as []slog.Attr) slog.Handler {
	return requestIDHandler{h.Handler.WithAttrs(as)}
}

func (h requestIDHandler) WithGroup(name string) slog.Handler {
	return requestIDHandler{h.Handler.WithGroup(name)}
}

// Generated request ids are requestIDPrefix, random per process, then a
// per-process counter in base 32: unique across processes and restarts
// with overwhelming probability (80 random bits), at the cost of an atomic
// add instead of crypto/rand per request. They are not secrets and grant
// nothing; what they give away is how many requests this process has
// answered since it started, which the access log's reader knows anyway.
// At most 16+1+13 = 30 bytes of [A-Z2-7-], so saneRequestID would accept
// one sent back.
var (
	requestIDPrefix = rand.Text()[:16] + "-"
	requestIDCount  atomic.Uint64
)

// newRequestID returns a fresh request id.
func newRequestID() string {
	const digits = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"
	var buf [len("ABCDEFGHIJKLMNOP-") + 13]byte
	n := copy(buf[:], requestIDPrefix)
	c := requestIDCount.Add(1)
	var rev [13]byte
	i := 0
	for {
		rev[i] = digits[c&31]
		i++
		c >>= 5
		if c == 0 {
			break
		}
	}
	for i > 0 {
		i--
		buf[n] = rev[i]
		n++
	}
	return string(buf[:n])
}

// isUUID reports whether id has a UUID's shape, 8-4-4-4-12 hex digits.
func isUUID(id string) bool {
	if len(id) != 36 {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		switch {
		case i == 8 || i == 13 || i == 18 || i == 23:
			if c != '-' {
				return false
			}
		case '0' <= c && c <= '9', 'a' <= c && c <= 'f', 'A' <= c && c <= 'F':
		default:
			return false
		}
	}
	return true
}

// saneRequestID reports whether an incoming X-Request-Id can be trusted to
// appear in logs and headers: short or a UUID, and made of unreserved
// characters.
func saneRequestID(id string) bool {
	// At most 31 bytes, or a UUID: client secrets are 32 bytes or more,
	// so one pasted here never reaches the log.
	if isUUID(id) {
		return true
	}
	if id == "" || len(id) > 31 {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '_' || c == '.' || c == ':') {
			return false
		}
	}
	return true
}

// statusWriter records the status and size of a response for the access
// log.
type statusWriter struct {
	http.ResponseWriter
	status int
	bytes  int
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	n, err := w.ResponseWriter.Write(b)
	w.bytes += n
	return n, err
}

// Unwrap lets http.ResponseController reach the connection.
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// withRequestInfo assigns the request id, recovers panics, and writes one
// access log record per request. It logs no body, query or header value:
// those carry tokens and secrets. What it logs from the request line is
// bounded too: a path deputy does not serve and a method it does not know
// go through engine.LogValue, as a token sent there would otherwise reach
// the log whole; the request id is kept only when it is short and plain
// (saneRequestID); the peer address comes from the connection.
func (s *server) withRequestInfo(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		// One allocation for what the middleware keeps per request.
		st := &requestState{sw: statusWriter{ResponseWriter: w}}
		info, sw := &st.info, &st.sw
		info.id = r.Header.Get("X-Request-Id")
		if !saneRequestID(info.id) {
			info.id = newRequestID()
		}
		// As Header.Set, without allocating the value's slice.
		st.idHeader[0] = info.id
		w.Header()["X-Request-Id"] = st.idHeader[:]
		ctx := context.WithValue(r.Context(), requestInfoKey{}, info)
		defer func() {
			if p := recover(); p != nil {
				if p == http.ErrAbortHandler {
					panic(p)
				}
				s.log.ErrorContext(ctx, "deputy: panic serving request", "panic", clip(fmt.Sprint(p), maxLoggedPanic))
				if sw.status == 0 {
					writeError(sw, http.StatusInternalServerError, &engine.Error{Code: engine.CodeServerError, Description: "internal error"})
				}
			}
			s.accessLog(ctx, r, st, start)
		}()
		next.ServeHTTP(sw, r.WithContext(ctx))
	})
}

// requestState is withRequestInfo's per-request state.
type requestState struct {
	info     requestInfo
	sw       statusWriter
	idHeader [1]string
}

// accessLog writes the access log record of a finished request. It hands
// the record to the handler itself (logRecord) rather than through
// slog.Logger, which would capture the caller's program counter
// (runtime.Callers, unused: no handler of deputy's adds the source) and,
// through requestIDHandler, copy the attributes once more to add the
// request id; the record is the same, request_id last.
func (s *server) accessLog(ctx context.Context, r *http.Request, st *requestState, start time.Time) {
	level := slog.LevelInfo
	if isProbe(r.URL.Path) {
		level = slog.LevelDebug
	}
	h := baseHandler(s.log.Handler())
	if !h.Enabled(ctx, level) {
		return
	}
	now := time.Now()
	attrs := [...]slog.Attr{
		slog.String("method", loggedMethod(r.Method)),
		slog.String("path", loggedPath(r.URL.Path)),
		slog.Int("status", st.sw.status),
		slog.Int("bytes", st.sw.bytes),
		slog.Duration("duration", now.Sub(start)),
		slog.String("client_id", st.info.clientID),
		slog.String("remote", s.clientAddr(r).String()),
		slog.String("peer", r.RemoteAddr),
		slog.String("request_id", st.info.id),
	}
	logRecord(ctx, h, now, level, "http request", attrs[:])
}

// baseHandler is h without requestIDHandler, for callers that add the
// request id themselves.
func baseHandler(h slog.Handler) slog.Handler {
	if rh, ok := h.(requestIDHandler); ok {
		return rh.Handler
	}
	return h
}

// servedPaths are the paths logged as they are.
var servedPaths = map[string]bool{
	pathDelegation: true, pathToken: true, pathJWKS: true, pathHealth: true, pathReady: true,
	pathASMetadata: true, pathOIDCMetadata: true,
}

// loggedPath is how the access log writes a request's path.
func loggedPath(p string) string {
	if servedPaths[p] {
		return p
	}
	return engine.LogValue(p)
}

// loggedMethod is how the access log writes a request's method: net/http
// takes any token as a method, a JWT included.
func loggedMethod(m string) string {
	switch m {
	case http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch,
		http.MethodDelete, http.MethodConnect, http.MethodOptions, http.MethodTrace:
		return m
	}
	return engine.LogValue(m)
}

// maxLoggedPanic bounds a panic value in the log.
const maxLoggedPanic = 256

// clip shortens s to at most n bytes, on a rune boundary, marking the cut.
func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "…"
}

// CORS answers. Allow-Headers covers what auth0-js sends besides
// Content-Type; no credentials are involved, so none are allowed.
const (
	corsAllowMethods  = "POST"
	corsAllowHeaders  = "Content-Type, Auth0-Client"
	corsExposeHeaders = "X-Request-Id, X-RateLimit-Limit, X-RateLimit-Remaining, X-RateLimit-Reset, Retry-After"
	corsMaxAge        = "600"
)

// withCORS lets the configured browser origins call deputy. An allowed
// Origin gets Access-Control-Allow-Origin on every answer, errors included,
// so that the browser lets the page read the error; a preflight to a token
// endpoint gets 204. Other origins get no CORS headers; Vary: Origin is set
// on every answer so that caches keep them apart.
func (s *server) withCORS(next http.Handler) http.Handler {
	if len(s.cors) == 0 {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Add("Vary", "Origin")
		origin := r.Header.Get("Origin")
		if !s.cors[origin] {
			next.ServeHTTP(w, r)
			return
		}
		h.Set("Access-Control-Allow-Origin", origin)
		if r.Method == http.MethodOptions && r.Header.Get("Access-Control-Request-Method") != "" &&
			(r.URL.Path == pathDelegation || r.URL.Path == pathToken) {
			h.Add("Vary", "Access-Control-Request-Method")
			h.Add("Vary", "Access-Control-Request-Headers")
			h.Set("Access-Control-Allow-Methods", corsAllowMethods)
			h.Set("Access-Control-Allow-Headers", corsAllowHeaders)
			h.Set("Access-Control-Max-Age", corsMaxAge)
			w.WriteHeader(http.StatusNoContent)
			return
		}
		h.Set("Access-Control-Expose-Headers", corsExposeHeaders)
		next.ServeHTTP(w, r)
	})
}

// serveHealth answers liveness probes.
func serveHealth(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		writeError(w, http.StatusMethodNotAllowed, &engine.Error{Code: engine.CodeInvalidRequest, Description: "method not allowed; use GET"})
		return
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.Write([]byte("ok\n"))
}

// writeJSON writes v as a JSON answer that is never cached.
func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		writeError(w, http.StatusInternalServerError, &engine.Error{Code: engine.CodeServerError, Description: "cannot encode response"})
		return
	}
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "no-store")
	h.Set("Pragma", "no-cache")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Content-Length", strconv.Itoa(len(b)))
	w.WriteHeader(status)
	w.Write(b)
}

// writeError writes an RFC 6749 §5.2 error body with status.
func writeError(w http.ResponseWriter, status int, e *engine.Error) {
	oauthhttp.WriteError(w, &oauthhttp.StatusError{Status: status, Err: e})
}
