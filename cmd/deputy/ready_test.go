package main

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/deputyauth/deputy/store"
)

// failingClients is a client store whose backend is down; its error
// names a host and a password, which must never reach an answer.
type failingClients struct{ store.ClientStore }

const backendSecret = "dial tcp db.internal:5432: password=hunter2"

func (failingClients) Client(context.Context, string) (*store.Client, error) {
	return nil, errors.New(backendSecret)
}

// pingingClients answers lookups but reports its backend through Ping.
type pingingClients struct {
	store.ClientStore
	err error
}

func (p pingingClients) Ping(context.Context) error { return p.err }

// slowClients answers no lookup until its context is done.
type slowClients struct{ store.ClientStore }

func (slowClients) Client(ctx context.Context, _ string) (*store.Client, error) {
	<-ctx.Done()
	return nil, ctx.Err()
}

// TestReadiness checks each reason /readyz gives, the answer's shape, and
// that no store error text is in it.
func TestReadiness(t *testing.T) {
	hc, err := buildConfig(testConfig(t), "")
	if err != nil {
		t.Fatal(err)
	}
	mem := hc.Store
	algs := hc.SigningAlgs // EdDSA, HS256, RS256
	draining := &drainState{}
	draining.start()
	noKeys := store.NewMemory()
	for _, tc := range []struct {
		name       string
		clients    store.ClientStore
		keys       store.KeyStore
		algs       []string
		drain      *drainState
		wantStatus int
		want       readyAnswer
	}{
		{"ready", mem, mem, algs, &drainState{}, 200, readyAnswer{Status: "ready"}},
		{"ready without asymmetric clients or keys", mem, nil, []string{"HS256"}, nil, 200, readyAnswer{Status: "ready"}},
		{"draining", mem, mem, algs, draining, 503, readyAnswer{Status: "not_ready", Reason: "draining"}},
		{"client store down", failingClients{mem}, mem, algs, nil, 503, readyAnswer{Status: "not_ready", Reason: "client store unreachable"}},
		{"ping fails", pingingClients{mem, errors.New(backendSecret)}, mem, algs, nil, 503, readyAnswer{Status: "not_ready", Reason: "client store unreachable"}},
		{"ping succeeds", pingingClients{failingClients{mem}, nil}, mem, algs, nil, 200, readyAnswer{Status: "ready"}},
		{"slow client store", slowClients{mem}, mem, algs, nil, 503, readyAnswer{Status: "not_ready", Reason: "client store unreachable"}},
		{"no key for an algorithm in use", mem, noKeys, algs, nil, 503, readyAnswer{Status: "not_ready", Reason: "no signing key for EdDSA"}},
		{"no key store", mem, nil, algs, nil, 503, readyAnswer{Status: "not_ready", Reason: "no key store"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			logs := &syncBuffer{}
			rd := newReadiness(tc.clients, tc.keys, tc.algs, tc.drain, newTestLogger(logs))
			rd.timeout = 50 * time.Millisecond
			rec := httptest.NewRecorder()
			rd.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, pathReady, nil))
			got := reply{status: rec.Code, header: rec.Header(), body: rec.Body.Bytes()}
			if got.status != tc.wantStatus {
				t.Errorf("status %d, want %d", got.status, tc.wantStatus)
			}
			var ans readyAnswer
			got.decode(t, &ans)
			if diff := cmp.Diff(tc.want, ans); diff != "" {
				t.Errorf("answer (-want +got):\n%s", diff)
			}
			if cc := got.header.Get("Cache-Control"); cc != "no-store" {
				t.Errorf("Cache-Control %q", cc)
			}
			if strings.Contains(string(got.body), "hunter2") || strings.Contains(string(got.body), "db.internal") {
				t.Errorf("answer leaks the store error: %s", got.body)
			}
			if tc.wantStatus != 200 && !strings.Contains(logs.String(), "deputy: not ready") {
				t.Errorf("not-ready state not logged:\n%s", logs)
			}
		})
	}
}

// TestReadinessLogsChanges checks that repeated probes in one state log
// once, and a change of state logs again.
func TestReadinessLogsChanges(t *testing.T) {
	hc, err := buildConfig(testConfig(t), "")
	if err != nil {
		t.Fatal(err)
	}
	logs := &syncBuffer{}
	drain := &drainState{}
	rd := newReadiness(hc.Store, hc.Store, hc.SigningAlgs, drain, newTestLogger(logs))
	probe := func() int {
		rec := httptest.NewRecorder()
		rd.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, pathReady, nil))
		return rec.Code
	}
	var codes []int
	for range 3 {
		codes = append(codes, probe())
	}
	drain.start()
	for range 3 {
		codes = append(codes, probe())
	}
	if diff := cmp.Diff([]int{200, 200, 200, 503, 503, 503}, codes); diff != "" {
		t.Errorf("statuses (-want +got):\n%s", diff)
	}
	if n := strings.Count(logs.String(), `"deputy: ready"`); n != 1 {
		t.Errorf("%d ready records, want 1:\n%s", n, logs)
	}
	if n := strings.Count(logs.String(), `"deputy: not ready"`); n != 1 {
		t.Errorf("%d not-ready records, want 1:\n%s", n, logs)
	}
}

// TestProbesMountedAndLoggedAtDebug checks /readyz beside /healthz in the
// server, that a method other than GET and HEAD is refused, and that the
// access log writes probes at DEBUG and token requests at INFO.
func TestProbesMountedAndLoggedAtDebug(t *testing.T) {
	e := newTestEnv(t, nil, nil)
	for _, path := range []string{pathHealth, pathReady} {
		if r := do(t, http.MethodGet, e.srv.URL+path, "", "", nil); r.status != 200 {
			t.Errorf("GET %s: %d %s", path, r.status, r.body)
		}
		if r := do(t, http.MethodPost, e.srv.URL+path, "", "", nil); r.status != http.StatusMethodNotAllowed {
			t.Errorf("POST %s: %d", path, r.status)
		}
	}
	do(t, http.MethodPost, e.srv.URL+pathDelegation, mediaJSON, "{}", nil)
	logs := e.log.String()
	for _, tc := range []struct{ path, level string }{
		{pathHealth, "DEBUG"}, {pathReady, "DEBUG"}, {pathDelegation, "INFO"},
	} {
		re := regexp.MustCompile(`(?m)^time=\S+ level=(\w+) msg="http request" method=GET path=` + regexp.QuoteMeta(tc.path) + ` `)
		if tc.path == pathDelegation {
			re = regexp.MustCompile(`(?m)^time=\S+ level=(\w+) msg="http request" method=POST path=` + regexp.QuoteMeta(tc.path) + ` `)
		}
		m := re.FindStringSubmatch(logs)
		if m == nil {
			t.Errorf("no access log record for %s:\n%s", tc.path, logs)
			continue
		}
		if m[1] != tc.level {
			t.Errorf("%s logged at %s, want %s", tc.path, m[1], tc.level)
		}
	}
}

// TestDrain checks the shutdown sequence: at cancellation (SIGTERM)
// /readyz turns 503 at once while /healthz and the token endpoints are
// still served for the drain delay, after which the server stops and run
// returns 0.
func TestDrain(t *testing.T) {
	e := newTestEnv(t, nil, nil)
	const delay = 1500 * time.Millisecond
	p := startServe(t, "--config", writeConfig(t, e.fc), "--drain-delay", delay.String())
	if r := do(t, http.MethodGet, p.base+pathReady, "", "", nil); r.status != 200 {
		t.Fatalf("before SIGTERM: /readyz %d %s", r.status, r.body)
	}
	cancelled := time.Now()
	p.cancel()
	p.stderr.waitFor(t, regexp.MustCompile(`deputy: draining`), 5*time.Second)
	r := do(t, http.MethodGet, p.base+pathReady, "", "", nil)
	if r.status != http.StatusServiceUnavailable || !strings.Contains(string(r.body), `"reason":"draining"`) {
		t.Errorf("draining: /readyz %d %s", r.status, r.body)
	}
	if r := do(t, http.MethodGet, p.base+pathHealth, "", "", nil); r.status != 200 {
		t.Errorf("draining: /healthz %d", r.status)
	}
	body := seedBody(demoApp, e.mint(t, demoApp, demoSubject, nil, time.Hour), demoAPI, "openid email", "app")
	checkDelegated(t, do(t, http.MethodPost, p.base+pathDelegation, mediaJSON, body, nil))
	if time.Since(cancelled) >= delay {
		t.Fatalf("the checks took longer than the drain delay (%v); the test proves nothing", delay)
	}
	code, ok := p.wait(delay + 10*time.Second)
	if !ok || code != 0 {
		t.Fatalf("exit %d (returned: %v)\n%s", code, ok, p.stderr)
	}
	if waited := time.Since(cancelled); waited < delay {
		t.Errorf("stopped %v after SIGTERM, before the drain delay %v", waited, delay)
	}
}

// TestHealthcheckCommand checks "deputy healthcheck" against a live
// server and the failures it must report.
func TestHealthcheckCommand(t *testing.T) {
	e := newTestEnv(t, nil, nil)
	unavailable := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusServiceUnavailable)
	}))
	defer unavailable.Close()
	redirect := httptest.NewServer(http.RedirectHandler(e.srv.URL+pathHealth, http.StatusFound))
	defer redirect.Close()
	closed := httptest.NewServer(http.NotFoundHandler())
	closed.Close()
	for _, tc := range []struct {
		name       string
		args       []string
		wantCode   int
		wantStderr string
	}{
		{"healthy", []string{"--url", e.srv.URL + pathHealth}, exitOK, ""},
		{"ready", []string{"--url", e.srv.URL + pathReady}, exitOK, ""},
		{"503", []string{"--url", unavailable.URL}, exitFailure, "503 Service Unavailable"},
		{"redirect is not followed", []string{"--url", redirect.URL}, exitFailure, "302 Found"},
		{"nobody listening", []string{"--url", closed.URL, "--timeout", "2s"}, exitFailure, "connection refused"},
		{"not a URL", []string{"--url", "127.0.0.1:8080/healthz"}, exitUsage, "--url must be an http or https URL"},
		{"bad timeout", []string{"--url", e.srv.URL, "--timeout", "0s"}, exitUsage, "--timeout must be positive"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, _, stderr := runCLI(t, append([]string{"healthcheck"}, tc.args...)...)
			if code != tc.wantCode {
				t.Errorf("exit %d, want %d; stderr %s", code, tc.wantCode, stderr)
			}
			if tc.wantStderr != "" && !strings.Contains(stderr, tc.wantStderr) {
				t.Errorf("stderr %q lacks %q", stderr, tc.wantStderr)
			}
			if tc.wantStderr == "" && stderr != "" {
				t.Errorf("stderr %q, want nothing", stderr)
			}
		})
	}
}
