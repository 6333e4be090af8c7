package main

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/deputyauth/deputy/engine"
)

// hardeningConfig is the demo world with demo-app confidential (a text
// secret) and a disabled client, gone-app.
func hardeningConfig(t *testing.T) (*fileConfig, string) {
	t.Helper()
	fc, secret := confidentialConfig(t)
	gone := fc.Clients[0]
	gone.ID, gone.Name, gone.Disabled, gone.Confidential = "gone-app", "", true, false
	gone.AllowedSources = nil
	fc.Clients = append(fc.Clients, gone)
	return fc, secret
}

// delegationJSON is a delegation body from client, with a secret when not
// empty, presenting a token that never verifies.
func delegationJSON(client, secret string) string {
	m := map[string]string{
		"grant_type": engine.GrantTypeJWTBearer, "client_id": client, "id_token": "not.a.token",
		"target": demoAPI, "scope": "openid",
	}
	if secret != "" {
		m["client_secret"] = secret
	}
	b, _ := json.Marshal(m)
	return string(b)
}

// TestRateLimitHeadersDoNotRevealClientIDs: with a rate limit, a caller
// that has not shown itself to be a usable requester (registered, enabled,
// allowed the grant, with its secret when it must give one) shares its
// address's bucket with every unknown ID, so X-RateLimit-Remaining reads
// the same for a registered ID as for an invented one. Before the fix,
// any registered ID (disabled and target-only ones included) got a fresh
// bucket, so the headers confirmed which IDs exist.
func TestRateLimitHeadersDoNotRevealClientIDs(t *testing.T) {
	now := time.Date(2026, 11, 25, 12, 0, 10, 0, time.UTC)
	fc, secret := hardeningConfig(t)
	shared := []string{"2", "1", "0"} // three requests drawing on one bucket of 3
	own := []string{"2", "2", "1"}    // the middle one drawing on a bucket of its own
	for _, tc := range []struct {
		name, client, secret string
		code                 string
		remaining            []string
	}{
		{"unknown ID", "nobody", "", "invalid_client", shared},
		{"disabled client", "gone-app", "", "invalid_client", shared},
		{"target-only client", demoEdAPI, "", "unauthorized_client", shared},
		{"client without this grant", demoAPI, "", "unauthorized_client", shared},
		{"confidential client without its secret", demoApp, "", "invalid_client", shared},
		{"confidential client with a wrong secret", demoApp, "wrong-secret", "invalid_client", shared},
		{"public client with a wrong secret", demoRSApp, "wrong-secret", "invalid_client", shared},
		{"an ID that is a token", "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ4In0.c2ln", "", "invalid_client", shared},
		// Usable requesters, which have shown who they are, get their own.
		{"public client", demoRSApp, "", "invalid_grant", own},
		{"confidential client with its secret", demoApp, secret, "invalid_grant", own},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newTestEnv(t, fc, func(c *serverConfig) {
				c.RateLimit = rateLimit{N: 3, Per: time.Minute}
				c.Now = func() time.Time { return now }
			})
			send := func(client, secret string) reply {
				return do(t, http.MethodPost, e.srv.URL+pathDelegation, "application/json", delegationJSON(client, secret), nil)
			}
			var got []string
			for i, r := range []reply{send("x-1", ""), send(tc.client, tc.secret), send("x-2", "")} {
				got = append(got, r.header.Get("X-RateLimit-Remaining"))
				code := "invalid_client"
				if i == 1 {
					code = tc.code
				}
				checkError(t, r, statusOf(code), code)
			}
			if diff := cmp.Diff(tc.remaining, got); diff != "" {
				t.Errorf("X-RateLimit-Remaining (-want +got):\n%s", diff)
			}
		})
	}
}

// statusOf is the HTTP status of an error code.
func statusOf(code string) int {
	return (&engine.Error{Code: code}).HTTPStatus()
}

// readTracker is a request body that records whether it was read.
type readTracker struct {
	r    io.Reader
	read atomic.Bool
}

func (b *readTracker) Read(p []byte) (int, error) {
	b.read.Store(true)
	return b.r.Read(p)
}

// TestRateLimitBeforeBodyParse: once an address's shared bucket is empty,
// its next request is refused with 429 before its body is read, let alone
// parsed, on both token endpoints; while usable requesters, counted in
// buckets of their own, leave the shared bucket untouched until they are
// over their own budget.
func TestRateLimitBeforeBodyParse(t *testing.T) {
	now := time.Date(2026, 11, 25, 12, 0, 10, 0, time.UTC)
	hc, err := buildConfig(testConfig(t), "")
	if err != nil {
		t.Fatal(err)
	}
	s, err := newServer(serverConfig{hostConfig: *hc, Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	s.limiter = newLimiter(rateLimit{N: 2, Per: time.Minute})
	send := func(path, ctype, remote string, body io.Reader) reply {
		req := httptest.NewRequest(http.MethodPost, path, body)
		req.Header.Set("Content-Type", ctype)
		req.RemoteAddr = remote
		rec := httptest.NewRecorder()
		s.Handler().ServeHTTP(rec, req)
		return reply{status: rec.Code, header: rec.Header(), body: rec.Body.Bytes()}
	}
	const a, b = "192.0.2.1:1000", "192.0.2.2:1000"
	deep := `{"client_id":"x","pad":` + strings.Repeat("[", 9990) + strings.Repeat("]", 9990) + `}`
	usable := delegationJSON(demoRSApp, "") // a public client: usable without a secret

	// A usable requester spends its own bucket, not the address's; a
	// request over its own budget is charged to the address's, so that
	// such requests cannot go on being read for free.
	for i, want := range []int{400, 400, 429} {
		r := send(pathDelegation, "application/json", a, strings.NewReader(usable))
		if r.status != want {
			t.Errorf("usable request %d: status %d, want %d", i, r.status, want)
		}
	}
	// The address's shared bucket has one request left, then none.
	for i, want := range []string{"0"} {
		r := send(pathDelegation, "application/json", a, strings.NewReader(delegationJSON("nobody", "")))
		checkError(t, r, 401, "invalid_client")
		if got := r.header.Get("X-RateLimit-Remaining"); got != want {
			t.Errorf("unknown request %d: remaining %q, want %q", i, got, want)
		}
	}
	for _, tc := range []struct{ path, ctype, body string }{
		{pathDelegation, "application/json", deep},
		{pathToken, formType, "client_id=x&pad=" + strings.Repeat("x", 60<<10)},
	} {
		body := &readTracker{r: strings.NewReader(tc.body)}
		r := send(tc.path, tc.ctype, a, body)
		checkError(t, r, http.StatusTooManyRequests, "too_many_requests")
		if body.read.Load() {
			t.Errorf("%s: the body was read before the rate limit refused it", tc.path)
		}
		if r.header.Get("X-RateLimit-Remaining") != "0" || r.header.Get("Retry-After") != "50" {
			t.Errorf("%s: headers %v", tc.path, r.header)
		}
	}
	// Another address is not affected.
	r := send(pathDelegation, "application/json", b, strings.NewReader(deep))
	checkError(t, r, 400, "invalid_request")
	if got := r.header.Get("X-RateLimit-Remaining"); got != "1" {
		t.Errorf("other address: remaining %q, want 1", got)
	}
}

// testToken is a token-shaped value for logging tests: long, made of
// characters a path, a method and a client_id may all carry.
const testToken = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJhdXRoMHx1MSIsImF1ZCI6ImRlbW8tYXBwIn0.dGhpcy1pcy1ub3QtYS1yZWFsLXNpZ25hdHVyZQ"

// checkLogRedacted fails when the log holds any 16-byte piece of secret.
func checkLogRedacted(t *testing.T, logs, secret string) {
	t.Helper()
	for i := 0; i+16 <= len(secret); i += 8 {
		if strings.Contains(logs, secret[i:i+16]) {
			t.Fatalf("log holds %q from the secret value:\n%s", secret[i:i+16], logs)
		}
	}
}

// TestLoggedPathIsClipped: a token sent as the URL path (or as the
// method) reaches the access log only as its length and digest, while the
// paths deputy serves are logged as they are. Before the fix the whole
// path, and the whole method, were logged.
func TestLoggedPathIsClipped(t *testing.T) {
	e := newTestEnv(t, nil, nil)
	r := do(t, http.MethodPost, e.srv.URL+"/"+testToken, formType, "", nil)
	checkError(t, r, http.StatusNotFound, "not_found")
	r = do(t, testToken, e.srv.URL+pathDelegation, formType, "", nil)
	checkError(t, r, http.StatusMethodNotAllowed, "invalid_request")
	do(t, http.MethodGet, e.srv.URL+pathOIDCMetadata, "", "", nil)
	logs := e.log.String()
	checkLogRedacted(t, logs, testToken)
	for _, want := range []string{
		`method=POST path="` + engine.LogValue("/"+testToken) + `" status=404`,
		`method="` + engine.LogValue(testToken) + `" path=/delegation status=405`,
		`method=GET path=/.well-known/openid-configuration status=200`,
	} {
		if !strings.Contains(logs, want) {
			t.Errorf("log lacks %q:\n%s", want, logs)
		}
	}
}

// TestLoggedValuesRedacted: the access log writes client_id as it is only
// for a usable requester; anything else, such as a token or secret pasted
// into client_id, or a registered ID sent with a wrong secret, is logged as
// engine.LogValue gives it. Before the fix the first 128 bytes of whatever
// was sent were logged.
func TestLoggedValuesRedacted(t *testing.T) {
	const longID = "https://gateway.example.test/services/orders" // registered, over 31 bytes
	fc := testConfig(t)
	gw := fc.Clients[0]
	gw.ID, gw.Name, gw.AllowedSources = longID, "", nil
	gw.Secrets = secretList{{ID: "gw-1", Value: "text:" + strings.Repeat("g", 40)}}
	gw.Confidential = true
	fc.Clients = append(fc.Clients, gw)
	e := newTestEnv(t, fc, nil)
	const pastedSecret = "Zm9vYmFyYmF6cXV4cXV1eGNvcmdlZ3JhdWx0Z2FycGx5d2FsZG8"
	for _, tc := range []struct {
		name, client, secret, code, logged string
	}{
		{"token pasted into client_id", testToken, "", "invalid_client", engine.LogValue(testToken)},
		{"secret pasted into client_id", pastedSecret, "", "invalid_client", engine.LogValue(pastedSecret)},
		{"registered ID with a wrong secret", longID, "wrong-secret", "invalid_client", engine.LogValue(longID)},
		{"usable requester", longID, strings.Repeat("g", 40), "invalid_grant", longID},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := do(t, http.MethodPost, e.srv.URL+pathDelegation, "application/json", delegationJSON(tc.client, tc.secret), nil)
			checkError(t, r, statusOf(tc.code), tc.code)
			want := `client_id="` + tc.logged + `"`
			if !strings.ContainsAny(tc.logged, " \"=") {
				want = "client_id=" + tc.logged
			}
			if !strings.Contains(e.log.String(), want) {
				t.Errorf("log lacks %s:\n%s", want, e.log.String())
			}
		})
	}
	// The access log's own lines; the engine's events are the engine's.
	var access strings.Builder
	for line := range strings.Lines(e.log.String()) {
		if strings.Contains(line, `msg="http request"`) {
			access.WriteString(line)
		}
	}
	checkLogRedacted(t, access.String(), testToken)
	checkLogRedacted(t, access.String(), pastedSecret)
}
