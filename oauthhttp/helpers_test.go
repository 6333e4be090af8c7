package oauthhttp_test

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/deputyauth/deputy/engine"
	"github.com/deputyauth/deputy/store"
)

const issuer = "https://id.example.test/"

// world is an engine with an HS256 app, a confidential HS256 app and an
// HS256 API that both may obtain tokens for.
type world struct {
	x                           *engine.Exchanger
	st                          *store.Memory
	appSecret, confSecret, apiS []byte
	now                         time.Time
}

func newWorld(t testing.TB) *world {
	t.Helper()
	w := &world{st: store.NewMemory(), now: time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)}
	w.appSecret, w.confSecret, w.apiS = randBytes(32), randBytes(32), randBytes(32)
	grants := []string{engine.GrantTypeJWTBearer, engine.GrantTypeTokenExchange}
	w.st.PutClient(store.Client{ID: "app", SigningAlg: "HS256", Grants: grants,
		Secrets: []store.Secret{{ID: "app-1", Value: w.appSecret}}})
	w.st.PutClient(store.Client{ID: "conf", SigningAlg: "HS256", Grants: grants, Confidential: true,
		Secrets: []store.Secret{{ID: "conf-1", Value: w.confSecret}}})
	w.st.PutClient(store.Client{ID: "api", SigningAlg: "HS256", AllowedSources: []string{"app", "conf"},
		Secrets: []store.Secret{{ID: "api-1", Value: w.apiS}}})
	x, err := engine.New(engine.Config{Issuer: issuer, Clients: w.st, Keys: w.st, Now: func() time.Time { return w.now }})
	if err != nil {
		t.Fatal(err)
	}
	w.x = x
	return w
}

func randBytes(n int) []byte {
	b := make([]byte, n)
	rand.Read(b)
	return b
}

// idToken is an id_token the issuer gave client at login.
func (w *world) idToken(t testing.TB, client string, secret []byte) string {
	t.Helper()
	sig, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.HS256, Key: secret}, (&jose.SignerOptions{}).WithType("JWT"))
	if err != nil {
		t.Fatal(err)
	}
	payload, _ := json.Marshal(map[string]any{
		"iss": issuer, "sub": "auth0|ada", "aud": client, "iat": w.now.Unix(),
		"exp": w.now.Add(time.Hour).Unix(), "email": "ada@example.com",
	})
	jws, err := sig.Sign(payload)
	if err != nil {
		t.Fatal(err)
	}
	tok, err := jws.CompactSerialize()
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// delegationJSON is the seed's JSON body.
func delegationJSON(client, idToken string) string {
	b, _ := json.Marshal(map[string]string{
		"grant_type": engine.GrantTypeJWTBearer, "client_id": client, "id_token": idToken,
		"target": "api", "scope": "openid email",
	})
	return string(b)
}

// exchangeForm is an RFC 8693 form body for an id_token subject.
func exchangeForm(subject string, kv ...string) string {
	v := url.Values{
		"grant_type": {engine.GrantTypeTokenExchange}, "subject_token": {subject},
		"subject_token_type": {engine.TokenTypeIDToken}, "audience": {"api"},
	}
	for i := 0; i+1 < len(kv); i += 2 {
		v.Set(kv[i], kv[i+1])
	}
	return v.Encode()
}

func basic(user, pass string) string {
	return "Basic " + base64.StdEncoding.EncodeToString([]byte(url.QueryEscape(user)+":"+url.QueryEscape(pass)))
}

// answer is a response as a test sees it.
type answer struct {
	Status  int
	Headers map[string]string
	Body    map[string]any
}

// serve runs one request through h in-process and returns the answer
// with the headers named.
func serve(t testing.TB, h http.Handler, req *http.Request, headers ...string) answer {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	a := answer{Status: rec.Code, Headers: map[string]string{}}
	for _, k := range headers {
		if v := rec.Header().Get(k); v != "" {
			a.Headers[k] = v
		}
	}
	if rec.Body.Len() > 0 && req.Method != http.MethodHead {
		if err := json.Unmarshal(rec.Body.Bytes(), &a.Body); err != nil {
			t.Fatalf("body %q: %v", rec.Body, err)
		}
	}
	return a
}

func post(body, ctype string, header ...string) *http.Request {
	r := httptest.NewRequest(http.MethodPost, "/token", strings.NewReader(body))
	if ctype != "" {
		r.Header.Set("Content-Type", ctype)
	}
	for i := 0; i+1 < len(header); i += 2 {
		r.Header.Set(header[i], header[i+1])
	}
	return r
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

func (b *readTracker) Close() error { return nil }

func jsonUnmarshal(b []byte, v any) error { return json.Unmarshal(b, v) }

// dropDescription leaves error_description out of comparisons: its
// wording is not part of the contract.
var dropDescription = cmpopts.IgnoreMapEntries(func(k string, _ any) bool { return k == "error_description" })
