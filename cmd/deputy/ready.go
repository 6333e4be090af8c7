package main

import (
	"context"
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/deputyauth/deputy/engine"
	"github.com/deputyauth/deputy/store"
)

// pathReady answers readiness probes; pathHealth answers liveness ones.
const pathReady = "/readyz"

// readyTimeout bounds the store calls of one readiness probe: a store that
// takes longer is as good as unreachable to the token endpoints.
const readyTimeout = 2 * time.Second

// probeClientID is the client looked up to see whether the client store
// answers; store.ErrNotFound is an answer.
const probeClientID = "deputy-readiness-probe"

// pinger is implemented by stores that can check their backend directly
// (a database ping); readiness uses it instead of a lookup.
type pinger interface {
	Ping(ctx context.Context) error
}

// drainState says whether the process is shutting down. One is shared by
// every server a process builds, so that a reload during the drain stays
// not-ready.
type drainState struct{ draining atomic.Bool }

// start flips readiness to not-ready for good.
func (d *drainState) start() { d.draining.Store(true) }

func (d *drainState) active() bool { return d != nil && d.draining.Load() }

// readiness decides /readyz for one server: the process is not draining,
// the stores answer, and every asymmetric algorithm an enabled client uses
// has a key to sign with now (a key schedule can leave one without).
type readiness struct {
	clients store.ClientStore
	keys    store.KeyStore
	algs    []string // algorithms of the enabled clients
	drain   *drainState
	log     *slog.Logger
	timeout time.Duration // readyTimeout; tests shorten it

	mu     sync.Mutex
	probed bool   // whether a probe has been answered yet
	last   string // the previous probe's reason, to log changes
}

// newReadiness returns the readiness check over the given stores. keys may
// be nil when no client signs asymmetrically; drain may be nil (never
// draining).
func newReadiness(clients store.ClientStore, keys store.KeyStore, algs []string, drain *drainState, log *slog.Logger) *readiness {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &readiness{clients: clients, keys: keys, algs: algs, drain: drain, log: log, timeout: readyTimeout}
}

// check returns why the server is not ready ("" when it is) and the cause,
// which may carry store details and is only logged.
func (rd *readiness) check(ctx context.Context) (reason string, cause error) {
	if rd.drain.active() {
		return "draining", nil
	}
	ctx, cancel := context.WithTimeout(ctx, rd.timeout)
	defer cancel()
	if p, ok := rd.clients.(pinger); ok {
		if err := p.Ping(ctx); err != nil {
			return "client store unreachable", err
		}
	} else if _, err := rd.clients.Client(ctx, probeClientID); err != nil && !errors.Is(err, store.ErrNotFound) {
		return "client store unreachable", err
	}
	asym := false
	for _, alg := range rd.algs {
		if !store.IsAsymmetric(alg) {
			continue
		}
		asym = true
		if rd.keys == nil {
			return "no key store", nil
		}
		if _, err := rd.keys.SigningKey(ctx, alg); err != nil {
			if errors.Is(err, store.ErrNotFound) {
				return "no signing key for " + alg, err
			}
			return "key store unreachable", err
		}
	}
	if !asym && rd.keys != nil && any(rd.keys) != any(rd.clients) {
		if p, ok := rd.keys.(pinger); ok {
			if err := p.Ping(ctx); err != nil {
				return "key store unreachable", err
			}
		}
	}
	return "", nil
}

// readyAnswer is the body of a /readyz answer. It never carries a store's
// error text, which may name hosts or credentials.
type readyAnswer struct {
	Status string `json:"status"`           // "ready" or "not_ready"
	Reason string `json:"reason,omitempty"` // why not
}

// ServeHTTP answers readiness probes: 200 when ready, 503 with the reason
// otherwise. A change of state is logged at Warn (not ready) or Info
// (ready again) with the cause; repeated probes are not.
func (rd *readiness) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		writeError(w, http.StatusMethodNotAllowed, &engine.Error{Code: engine.CodeInvalidRequest, Description: "method not allowed; use GET"})
		return
	}
	reason, cause := rd.check(r.Context())
	rd.mu.Lock()
	changed := !rd.probed || reason != rd.last
	rd.probed, rd.last = true, reason
	rd.mu.Unlock()
	if changed {
		switch {
		case reason == "":
			rd.log.InfoContext(r.Context(), "deputy: ready")
		case cause != nil:
			rd.log.WarnContext(r.Context(), "deputy: not ready", "reason", reason, "error", cause.Error())
		default:
			rd.log.WarnContext(r.Context(), "deputy: not ready", "reason", reason)
		}
	}
	if reason == "" {
		writeJSON(w, http.StatusOK, readyAnswer{Status: "ready"})
		return
	}
	writeJSON(w, http.StatusServiceUnavailable, readyAnswer{Status: "not_ready", Reason: reason})
}

// isProbe reports whether path is a liveness or readiness probe, which the
// access log records at Debug: an orchestrator probes every few seconds.
func isProbe(path string) bool { return path == pathHealth || path == pathReady }

// runHealthcheck implements "deputy healthcheck": one GET, exit 0 on a
// 200 answer and 1 otherwise. It is the container HEALTHCHECK of images
// without a shell or curl (distroless, scratch).
func runHealthcheck(ctx context.Context, args []string, stderr io.Writer) int {
	fs := flag.NewFlagSet("healthcheck", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), "usage: deputy healthcheck [--url URL] [--timeout D] [--insecure]\n\n"+
			"GETs URL once: exit 0 on 200, 1 otherwise (redirects are not followed).\n\n")
		fs.PrintDefaults()
	}
	url := fs.String("url", "http://127.0.0.1:8080"+pathHealth, "`URL` to probe: /healthz for liveness, /readyz for readiness")
	timeout := fs.Duration("timeout", 3*time.Second, "give up after this long")
	insecure := fs.Bool("insecure", false, "with https: skip certificate verification (for probing a server's own loopback address)")
	if code, stop := parseFlags(fs, args); stop {
		return code
	}
	if !strings.HasPrefix(*url, "http://") && !strings.HasPrefix(*url, "https://") {
		fmt.Fprintf(stderr, "deputy healthcheck: --url must be an http or https URL\n")
		return exitUsage
	}
	if *timeout <= 0 {
		fmt.Fprintf(stderr, "deputy healthcheck: --timeout must be positive\n")
		return exitUsage
	}
	tr := &http.Transport{Proxy: nil, DisableKeepAlives: true}
	if *insecure {
		tr.TLSClientConfig = &tls.Config{InsecureSkipVerify: true}
	}
	client := &http.Client{
		Transport:     tr,
		Timeout:       *timeout,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, *url, nil)
	if err != nil {
		fmt.Fprintf(stderr, "deputy healthcheck: %v\n", err)
		return exitUsage
	}
	res, err := client.Do(req)
	if err != nil {
		fmt.Fprintf(stderr, "deputy healthcheck: %v\n", err)
		return exitFailure
	}
	defer res.Body.Close()
	io.Copy(io.Discard, io.LimitReader(res.Body, 4<<10))
	if res.StatusCode != http.StatusOK {
		fmt.Fprintf(stderr, "deputy healthcheck: %s: %s\n", *url, res.Status)
		return exitFailure
	}
	return exitOK
}
