package main

import (
	"encoding/base64"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/google/go-cmp/cmp"
)

// confidentialConfig makes demo-app a confidential client with a text
// secret, as an Auth0 client secret would be configured.
func confidentialConfig(t *testing.T) (*fileConfig, string) {
	t.Helper()
	const secret = "s3cret+with/odd:chars&more-than-32-bytes"
	fc := testConfig(t)
	fc.Clients[0].Confidential = true
	fc.Clients[0].Secrets = append(secretList{{ID: "text-1", Value: "text:" + secret}}, fc.Clients[0].Secrets...)
	return fc, secret
}

func basic(user, pass string) string {
	return "Basic " + base64.StdEncoding.EncodeToString([]byte(url.QueryEscape(user)+":"+url.QueryEscape(pass)))
}

// TestOAuthTokenClientAuth checks client authentication on POST
// /oauth/token: HTTP Basic (form-urlencoded user and password, RFC 6749
// §2.3.1) or client_secret in the body, never both.
func TestOAuthTokenClientAuth(t *testing.T) {
	fc, secret := confidentialConfig(t)
	e := newTestEnv(t, fc, nil)
	src := e.mint(t, demoApp, demoSubject, nil, time.Hour)
	const form = "application/x-www-form-urlencoded"
	body := func(withID bool, extra ...string) string {
		v := url.Values{"grant_type": {"urn:ietf:params:oauth:grant-type:jwt-bearer"}, "id_token": {src},
			"target": {demoAPI}, "scope": {"openid email"}}
		if withID {
			v.Set("client_id", demoApp)
		}
		for i := 0; i+1 < len(extra); i += 2 {
			v.Set(extra[i], extra[i+1])
		}
		return v.Encode()
	}
	for _, tc := range []struct {
		name, body, auth string
		status           int
		code             string // "" for success
		challenge        bool
	}{
		{"basic", body(false), basic(demoApp, secret), 200, "", false},
		{"basic with matching client_id", body(true), basic(demoApp, secret), 200, "", false},
		{"client_secret in body", body(true, "client_secret", secret), "", 200, "", false},
		{"no secret", body(true), "", 401, "invalid_client", false},
		{"wrong basic password", body(false), basic(demoApp, "wrong"), 401, "invalid_client", true},
		{"wrong body secret", body(true, "client_secret", "wrong"), "", 401, "invalid_client", false},
		{"basic and body secret", body(true, "client_secret", secret), basic(demoApp, secret), 400, "invalid_request", false},
		{"basic user differs from client_id", body(true), basic(demoRSApp, secret), 400, "invalid_request", false},
		{"bearer scheme", body(true), "Bearer abc", 400, "invalid_request", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var h map[string]string
			if tc.auth != "" {
				h = map[string]string{"Authorization": tc.auth}
			}
			r := do(t, http.MethodPost, e.srv.URL+pathToken, form, tc.body, h)
			if tc.code == "" {
				tok := checkDelegated(t, r)
				_, claims := verifyToken(t, tok, jose.HS256, e.secret(t, demoAPI))
				if claims["azp"] != demoApp || claims["email"] != "demo-user@example.com" {
					t.Errorf("claims %v", claims)
				}
				return
			}
			checkError(t, r, tc.status, tc.code)
			if got := r.header.Get("WWW-Authenticate") != ""; got != tc.challenge {
				t.Errorf("WWW-Authenticate present %v, want %v", got, tc.challenge)
			}
			if strings.Contains(string(r.body), secret) || strings.Contains(e.log.String(), secret) {
				t.Error("the secret is echoed or logged")
			}
		})
	}
}

// TestCORS checks that an allowed origin may read answers, errors
// included, and preflight; and that other origins learn nothing.
func TestCORS(t *testing.T) {
	const allowed, other = "http://localhost:3000", "https://evil.example"
	e := newTestEnv(t, nil, func(c *serverConfig) { c.CORSOrigins = []string{allowed} })
	src := e.mint(t, demoApp, demoSubject, nil, time.Hour)
	post := func(origin, body string) reply {
		return do(t, http.MethodPost, e.srv.URL+pathDelegation, "application/x-www-form-urlencoded", body,
			map[string]string{"Origin": origin})
	}
	ok := seedForm(demoApp, src, demoAPI, "openid", "")
	bad := seedForm(demoApp, src, "nowhere", "openid", "")

	for _, tc := range []struct {
		name, origin, body string
		status             int
		acao               string
	}{
		{"allowed, success", allowed, ok, 200, allowed},
		{"allowed, error", allowed, bad, 400, allowed},
		{"other, success", other, ok, 200, ""},
		{"other, error", other, bad, 400, ""},
		{"no origin", "", ok, 200, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := post(tc.origin, tc.body)
			if r.status != tc.status {
				t.Fatalf("status %d, want %d", r.status, tc.status)
			}
			if got := r.header.Get("Access-Control-Allow-Origin"); got != tc.acao {
				t.Errorf("Access-Control-Allow-Origin %q, want %q", got, tc.acao)
			}
			if got := r.header.Values("Vary"); !cmp.Equal(got, []string{"Origin"}) {
				t.Errorf("Vary %q, want Origin", got)
			}
			if tc.acao == "" && r.header.Get("Access-Control-Expose-Headers") != "" {
				t.Error("CORS header for an origin not allowed")
			}
		})
	}

	preflight := func(origin string) reply {
		return do(t, http.MethodOptions, e.srv.URL+pathDelegation, "", "", map[string]string{
			"Origin": origin, "Access-Control-Request-Method": "POST",
			"Access-Control-Request-Headers": "content-type,auth0-client",
		})
	}
	r := preflight(allowed)
	want := map[string]string{
		"Access-Control-Allow-Origin":  allowed,
		"Access-Control-Allow-Methods": "POST",
		"Access-Control-Allow-Headers": "Content-Type, Auth0-Client",
	}
	got := map[string]string{}
	for k := range want {
		got[k] = r.header.Get(k)
	}
	if r.status != http.StatusNoContent {
		t.Errorf("preflight: status %d, want 204", r.status)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("preflight headers (-want +got):\n%s", diff)
	}
	r = preflight(other)
	if r.status == http.StatusNoContent || r.header.Get("Access-Control-Allow-Origin") != "" ||
		r.header.Get("Access-Control-Allow-Methods") != "" {
		t.Errorf("preflight from another origin: status %d, headers %v", r.status, r.header)
	}
}

// TestRateLimit checks the per-(IP, client) budget, its headers, and that
// unknown client IDs share one bucket.
func TestRateLimit(t *testing.T) {
	now := time.Date(2026, 11, 25, 12, 0, 10, 0, time.UTC)
	e := newTestEnv(t, nil, func(c *serverConfig) {
		c.RateLimit = rateLimit{N: 2, Per: time.Minute}
		c.Now = func() time.Time { return now }
	})
	c, _ := e.hc.Store.Client(t.Context(), demoApp)
	src, err := mintSourceToken(t.Context(), e.hc.Store, e.hc.Issuer, c, demoSubject, demoClaims, time.Hour, now)
	if err != nil {
		t.Fatal(err)
	}
	reset := strconv.FormatInt(now.Truncate(time.Minute).Add(time.Minute).Unix(), 10)
	send := func(client string) reply {
		return do(t, http.MethodPost, e.srv.URL+pathDelegation, "application/json",
			seedBody(client, src, demoAPI, "openid", "app"), nil)
	}
	type want struct {
		status           int
		remaining, retry string
	}
	check := func(name string, r reply, w want) {
		t.Helper()
		got := want{r.status, r.header.Get("X-RateLimit-Remaining"), r.header.Get("Retry-After")}
		if diff := cmp.Diff(w, got, cmp.AllowUnexported(want{})); diff != "" {
			t.Errorf("%s (-want +got):\n%s", name, diff)
		}
		if r.header.Get("X-RateLimit-Limit") != "2" || r.header.Get("X-RateLimit-Reset") != reset {
			t.Errorf("%s: limit %q reset %q, want 2 %s", name, r.header.Get("X-RateLimit-Limit"), r.header.Get("X-RateLimit-Reset"), reset)
		}
	}
	check("first", send(demoApp), want{200, "1", ""})
	check("second", send(demoApp), want{200, "0", ""})
	r := send(demoApp)
	check("third", r, want{429, "0", "50"})
	if m := r.members(t); m["error"] != "too_many_requests" {
		t.Errorf("429 body %s", r.body)
	}
	// Another known client from the same address has its own budget.
	check("other client", send(demoRSApp), want{400, "1", ""}) // its token is demo-app's: invalid_grant
	// Unknown client IDs share one bucket per address, which demo-app's
	// request over its own budget was charged to.
	check("unknown 1", send("x1"), want{401, "0", ""})
	check("unknown 2", send("x2"), want{429, "0", "50"})
	// The next window starts afresh.
	now = now.Add(time.Minute)
	r = send(demoApp)
	if r.status != 200 || r.header.Get("X-RateLimit-Remaining") != "1" {
		t.Errorf("next window: status %d, remaining %q; want 200, 1", r.status, r.header.Get("X-RateLimit-Remaining"))
	}
}

// TestLimiterBounded checks that the limiter's memory stays bounded.
func TestLimiterBounded(t *testing.T) {
	l := newLimiter(rateLimit{N: 1, Per: time.Hour})
	l.max = 8
	now := time.Now()
	for i := range 100 {
		l.allow(limitKey{client: strconv.Itoa(i)}, now)
	}
	if len(l.counts) > 8 {
		t.Errorf("%d counters, want at most 8", len(l.counts))
	}
}

// TestRequestID checks that a sane incoming X-Request-Id is kept, an odd
// one replaced, and that logs carry it but no token.
func TestRequestID(t *testing.T) {
	e := newTestEnv(t, nil, nil)
	src := e.mint(t, demoApp, demoSubject, nil, time.Hour)
	body := seedBody(demoApp, src, demoAPI, "openid", "app")
	r := do(t, http.MethodPost, e.srv.URL+pathDelegation, "application/json", body, map[string]string{"X-Request-Id": "abc-123"})
	if got := r.header.Get("X-Request-Id"); got != "abc-123" {
		t.Errorf("X-Request-Id %q, want abc-123", got)
	}
	minted := checkDelegated(t, r)
	r = do(t, http.MethodPost, e.srv.URL+pathDelegation, "application/json", body, map[string]string{"X-Request-Id": "bad id\" with=stuff"})
	if got := r.header.Get("X-Request-Id"); got == "" || strings.ContainsAny(got, " \"=") {
		t.Errorf("X-Request-Id %q: want a fresh one", got)
	}
	logs := e.log.String()
	for _, want := range []string{
		`msg="http request" method=POST path=/delegation status=200`,
		"client_id=demo-app", "request_id=abc-123", `msg="deputy exchange" outcome=ok`,
	} {
		if !strings.Contains(logs, want) {
			t.Errorf("log lacks %q:\n%s", want, logs)
		}
	}
	if strings.Contains(logs, src) || strings.Contains(logs, minted) {
		t.Error("log holds a token")
	}
}

// TestBodyTooLargeChunked checks the cap on a body without Content-Length,
// which only reading can find too large.
func TestBodyTooLargeChunked(t *testing.T) {
	e := newTestEnv(t, nil, nil)
	body := io.MultiReader(strings.NewReader("client_id=demo-app&pad="), strings.NewReader(strings.Repeat("x", 70<<10)))
	req, err := http.NewRequest(http.MethodPost, e.srv.URL+pathDelegation, io.NopCloser(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	if req.ContentLength != 0 {
		t.Fatalf("request has a length: %d", req.ContentLength)
	}
	checkError(t, reply{status: res.StatusCode, header: res.Header, body: b}, http.StatusRequestEntityTooLarge, "invalid_request")
}

// TestPanicRecovered checks that a panic below the middleware answers 500
// server_error and is logged with the request.
func TestPanicRecovered(t *testing.T) {
	logs := &syncBuffer{}
	s := &server{log: slog.New(requestIDHandler{newTestLogger(logs).Handler()})}
	h := s.withRequestInfo(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { panic("boom") }))
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, pathDelegation, nil))
	checkError(t, reply{status: rec.Code, header: rec.Header(), body: rec.Body.Bytes()}, 500, "server_error")
	if !strings.Contains(logs.String(), "panic=boom") || !strings.Contains(logs.String(), "status=500") {
		t.Errorf("log:\n%s", logs)
	}
}
