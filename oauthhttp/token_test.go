package oauthhttp_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/go-jose/go-jose/v4"
	"github.com/google/go-cmp/cmp"

	"github.com/deputyauth/deputy/clientauth"
	"github.com/deputyauth/deputy/engine"
	"github.com/deputyauth/deputy/oauthhttp"
)

// headersChecked are the headers every token endpoint test compares.
var headersChecked = []string{"Content-Type", "Cache-Control", "Pragma", "WWW-Authenticate", "Allow", "Accept-Post", "Connection"}

func noStore(extra ...string) map[string]string {
	h := map[string]string{"Content-Type": "application/json", "Cache-Control": "no-store", "Pragma": "no-cache"}
	for i := 0; i+1 < len(extra); i += 2 {
		h[extra[i]] = extra[i+1]
	}
	return h
}

func refused(code string) map[string]any { return map[string]any{"error": code} }

// TestTokenHandler drives both endpoints through their wire rules: method,
// media types, the body cap, both dialects, HTTP Basic and the grant types
// each serves. Every refusal is compared whole (status, headers, code)
// and carries no token.
func TestTokenHandler(t *testing.T) {
	w := newWorld(t)
	delegation, err := oauthhttp.NewTokenHandler(w.x, oauthhttp.Delegation())
	if err != nil {
		t.Fatal(err)
	}
	token, err := oauthhttp.NewTokenHandler(w.x, oauthhttp.Token())
	if err != nil {
		t.Fatal(err)
	}
	src := w.idToken(t, "app", w.appSecret)
	confSrc := w.idToken(t, "conf", w.confSecret)
	form := "application/x-www-form-urlencoded"
	seedForm := "grant_type=" + engine.GrantTypeJWTBearer + "&client_id=app&target=api&scope=openid+email&id_token=" + src
	huge := "client_id=app&pad=" + strings.Repeat("x", engine.MaxRequestSize)
	ok := func(tokenField string) map[string]any { return map[string]any{tokenField: "<token>"} }
	const challenge = `Basic realm="deputy", charset="UTF-8"`

	for _, tc := range []struct {
		name string
		h    http.Handler
		req  func() *http.Request
		want answer
	}{
		{"delegation JSON", delegation, func() *http.Request { return post(delegationJSON("app", src), "application/json") },
			answer{200, noStore(), ok("id_token")}},
		{"delegation JSON with charset", delegation, func() *http.Request {
			return post(delegationJSON("app", src), "application/json; charset=UTF-8")
		}, answer{200, noStore(), ok("id_token")}},
		{"delegation form", delegation, func() *http.Request { return post(seedForm, form) },
			answer{200, noStore(), ok("id_token")}},
		{"delegation on the token endpoint", token, func() *http.Request { return post(seedForm, form) },
			answer{200, noStore(), ok("id_token")}},
		{"token exchange", token, func() *http.Request { return post(exchangeForm(src, "client_id", "app"), form) },
			answer{200, noStore(), ok("access_token")}},
		{"token exchange by Basic", token, func() *http.Request {
			return post(exchangeForm(confSrc), form, "Authorization", basic("conf", string(w.confSecret)))
		}, answer{200, noStore(), ok("access_token")}},
		{"GET", delegation, func() *http.Request { return httptest.NewRequest(http.MethodGet, "/token", nil) },
			answer{405, noStore("Allow", "POST"), refused("invalid_request")}},
		{"no Content-Type", delegation, func() *http.Request { return post(seedForm, "") },
			answer{415, noStore("Accept-Post", "application/json, application/x-www-form-urlencoded"), refused("invalid_request")}},
		{"JSON on the token endpoint", token, func() *http.Request { return post(delegationJSON("app", src), "application/json") },
			answer{415, noStore("Accept-Post", "application/x-www-form-urlencoded"), refused("invalid_request")}},
		{"charset not UTF-8", delegation, func() *http.Request { return post(seedForm, form+"; charset=ISO-8859-1") },
			answer{415, noStore("Accept-Post", "application/json, application/x-www-form-urlencoded"), refused("invalid_request")}},
		{"body over the cap, announced", delegation, func() *http.Request { return post(huge, form) },
			answer{413, noStore("Connection", "close"), refused("invalid_request")}},
		{"body over the cap, chunked", delegation, func() *http.Request {
			r := post("", form)
			r.Body, r.ContentLength = io.NopCloser(strings.NewReader(huge)), -1
			return r
		}, answer{413, noStore("Connection", "close"), refused("invalid_request")}},
		{"malformed form", token, func() *http.Request { return post("a=%zz", form) },
			answer{400, noStore(), refused("invalid_request")}},
		{"token exchange on /delegation", delegation, func() *http.Request { return post(exchangeForm(src, "client_id", "app"), form) },
			answer{400, noStore(), refused("unsupported_grant_type")}},
		{"wrong Basic password", token, func() *http.Request {
			return post(exchangeForm(confSrc), form, "Authorization", basic("conf", "wrong"))
		}, answer{401, noStore("WWW-Authenticate", challenge), refused("invalid_client")}},
		{"Basic with bad percent-encoding", token, func() *http.Request {
			return post(exchangeForm(confSrc), form, "Authorization", "Basic Y29uZiV6ejp4") // conf%zz:x
		}, answer{401, noStore("WWW-Authenticate", challenge), refused("invalid_client")}},
		{"wrong body secret: no challenge", token, func() *http.Request {
			return post(exchangeForm(confSrc, "client_id", "conf", "client_secret", "wrong"), form)
		}, answer{401, noStore(), refused("invalid_client")}},
		{"Basic and client_secret", token, func() *http.Request {
			return post(exchangeForm(confSrc, "client_secret", string(w.confSecret)), form, "Authorization", basic("conf", string(w.confSecret)))
		}, answer{400, noStore(), refused("invalid_request")}},
		{"Basic user differs from client_id", token, func() *http.Request {
			return post(exchangeForm(confSrc, "client_id", "app"), form, "Authorization", basic("conf", string(w.confSecret)))
		}, answer{400, noStore(), refused("invalid_request")}},
		{"Bearer scheme", token, func() *http.Request {
			return post(exchangeForm(confSrc), form, "Authorization", "Bearer abc")
		}, answer{400, noStore(), refused("invalid_request")}},
		{"Basic ignored on /delegation", delegation, func() *http.Request {
			return post(exchangeForm(confSrc), form, "Authorization", basic("conf", string(w.confSecret)))
		}, answer{400, noStore(), refused("unsupported_grant_type")}},
		{"the query is ignored", token, func() *http.Request {
			r := post(exchangeForm(src, "client_id", "app"), form)
			r.URL.RawQuery = "client_id=conf&subject_token=x"
			return r
		}, answer{200, noStore(), ok("access_token")}},
		{"repeated parameter", token, func() *http.Request {
			return post(exchangeForm(src, "client_id", "app")+"&client_id=app", form)
		}, answer{400, noStore(), refused("invalid_request")}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req := tc.req()
			rec := httptest.NewRecorder()
			tc.h.ServeHTTP(rec, req)
			got := answer{Status: rec.Code, Headers: map[string]string{}}
			for _, k := range headersChecked {
				if v := rec.Header().Get(k); v != "" {
					got.Headers[k] = v
				}
			}
			raw := rec.Body.String()
			if err := jsonUnmarshal(rec.Body.Bytes(), &got.Body); err != nil {
				t.Fatalf("body %q: %v", raw, err)
			}
			minted := ""
			for _, k := range []string{"id_token", "access_token"} {
				if s, ok := got.Body[k].(string); ok {
					minted, got.Body[k] = s, "<token>"
				}
			}
			// Only the fields the test names are compared: the rest of a
			// success is the engine's business.
			for k := range got.Body {
				if _, named := tc.want.Body[k]; !named {
					delete(got.Body, k)
				}
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("answer (-want +got):\n%s", diff)
			}
			if tc.want.Status != 200 {
				if minted != "" {
					t.Error("a refusal carries a token")
				}
				if strings.Contains(raw, src) || strings.Contains(raw, confSrc) || strings.Contains(raw, string(w.confSecret)) {
					t.Error("a refusal echoes a token or a secret")
				}
				return
			}
			jws, err := jose.ParseSignedCompact(minted, []jose.SignatureAlgorithm{jose.HS256})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := jws.Verify(w.apiS); err != nil {
				t.Errorf("minted token does not verify with the target's secret: %v", err)
			}
		})
	}
}

// gate records what a Gate is asked and refuses as told.
type gate struct {
	enterErr, authErr error
	entered           int
	authenticated     []string
}

func (g *gate) Enter(w http.ResponseWriter, r *http.Request) (oauthhttp.Pass, error) {
	g.entered++
	w.Header().Set("X-Gate", "entered")
	if g.enterErr != nil {
		return nil, g.enterErr
	}
	return g, nil
}

func (g *gate) Authenticated(w http.ResponseWriter, r *http.Request, clientID string) error {
	g.authenticated = append(g.authenticated, clientID)
	return g.authErr
}

// TestGate: Enter refuses before the body is read, with the status of
// its *StatusError and its headers kept; Authenticated hears of exactly
// the requesters that authenticated, and its refusal stops the exchange.
func TestGate(t *testing.T) {
	w := newWorld(t)
	src := w.idToken(t, "app", w.appSecret)
	tooMany := oauthhttp.Refuse(http.StatusTooManyRequests, "too_many_requests", "slow down")
	type outcome struct {
		Status        int
		Code          string
		BodyRead      bool
		Entered       int
		Authenticated []string
		Minted        bool
	}
	for _, tc := range []struct {
		name              string
		enterErr, authErr error
		body              string
		want              outcome
	}{
		{"passes", nil, nil, delegationJSON("app", src), outcome{200, "", true, 1, []string{"app"}, true}},
		{"refused on entry", tooMany, nil, delegationJSON("app", src), outcome{429, "too_many_requests", false, 1, nil, false}},
		{"refused once authenticated", nil, tooMany, delegationJSON("app", src), outcome{429, "too_many_requests", true, 1, []string{"app"}, false}},
		{"unknown requester is not reported", nil, nil, delegationJSON("nobody", src), outcome{401, "invalid_client", true, 1, nil, false}},
		{"confidential without its secret is not reported", nil, nil, delegationJSON("conf", src), outcome{401, "invalid_client", true, 1, nil, false}},
		{"a plain error from the gate is server_error", errors.New("limiter down"), nil, delegationJSON("app", src), outcome{500, "server_error", false, 1, nil, false}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := &gate{enterErr: tc.enterErr, authErr: tc.authErr}
			opts := oauthhttp.Delegation()
			opts.Gate = g
			h, err := oauthhttp.NewTokenHandler(w.x, opts)
			if err != nil {
				t.Fatal(err)
			}
			body := &readTracker{r: strings.NewReader(tc.body)}
			req := post("", "application/json")
			req.Body, req.ContentLength = body, int64(len(tc.body))
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			var m map[string]any
			if err := jsonUnmarshal(rec.Body.Bytes(), &m); err != nil {
				t.Fatal(err)
			}
			code, _ := m["error"].(string)
			_, minted := m["id_token"]
			got := outcome{rec.Code, code, body.read.Load(), g.entered, g.authenticated, minted}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
			if rec.Header().Get("X-Gate") != "entered" {
				t.Error("the gate's header is lost")
			}
		})
	}
}

// TestObserve: the observer hears every request that passed the method
// and media checks, with the client ID as a log may show it.
func TestObserve(t *testing.T) {
	w := newWorld(t)
	src := w.idToken(t, "app", w.appSecret)
	type seen struct {
		ClientID      string
		Authenticated bool
		Status        int
		Code          string
	}
	for _, tc := range []struct {
		name string
		req  *http.Request
		want []seen
	}{
		{"success", post(delegationJSON("app", src), "application/json"), []seen{{"app", true, 200, ""}}},
		{"authenticated, refused later", post(delegationJSON("app", "not.a.token"), "application/json"), []seen{{"app", true, 400, "invalid_grant"}}},
		{"unknown requester", post(delegationJSON("nobody", src), "application/json"), []seen{{"nobody", false, 401, "invalid_client"}}},
		{"a token pasted as client_id", post(delegationJSON(src, src), "application/json"), []seen{{engine.LogValue(src), false, 401, "invalid_client"}}},
		{"unparsable", post(`{"client_id":1}`, "application/json"), []seen{{"", false, 400, "invalid_request"}}},
		{"wrong media type is not observed", post("x", "text/plain"), nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var got []seen
			opts := oauthhttp.Delegation()
			opts.Observe = func(r *http.Request, o oauthhttp.Observation) {
				code := ""
				if o.Err != nil {
					code = engine.AsError(o.Err).Code
				}
				got = append(got, seen{o.ClientID, o.Authenticated, o.Status, code})
			}
			h, err := oauthhttp.NewTokenHandler(w.x, opts)
			if err != nil {
				t.Fatal(err)
			}
			h.ServeHTTP(httptest.NewRecorder(), tc.req)
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

// TestPeerCertificates: a request over TLS with client certificates
// reaches the engine's context with them (clientauth.PeerCertificates),
// for RFC 8705 client authentication; one without has none.
func TestPeerCertificates(t *testing.T) {
	w := newWorld(t)
	src := w.idToken(t, "app", w.appSecret)
	cert := &x509.Certificate{Raw: []byte("leaf")}
	for _, tc := range []struct {
		name string
		tls  *tls.ConnectionState
		want []*x509.Certificate
	}{
		{"no TLS", nil, nil},
		{"TLS without client certificate", &tls.ConnectionState{}, nil},
		{"client certificate", &tls.ConnectionState{PeerCertificates: []*x509.Certificate{cert}}, []*x509.Certificate{cert}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var got []*x509.Certificate
			opts := oauthhttp.Delegation()
			opts.Context = func(ctx context.Context, r *http.Request) context.Context {
				got = clientauth.PeerCertificates(ctx)
				return ctx
			}
			h, err := oauthhttp.NewTokenHandler(w.x, opts)
			if err != nil {
				t.Fatal(err)
			}
			req := post(delegationJSON("app", src), "application/json")
			req.TLS = tc.tls
			a := serve(t, h, req)
			if a.Status != 200 {
				t.Fatalf("status %d: %v", a.Status, a.Body)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("certificates (-want +got):\n%s", diff)
			}
		})
	}
}

// TestNewTokenHandlerChecks: every problem with the options is reported
// at once.
func TestNewTokenHandlerChecks(t *testing.T) {
	w := newWorld(t)
	_, err := oauthhttp.NewTokenHandler(nil, oauthhttp.TokenOptions{
		GrantTypes:   []string{"password", engine.GrantTypeJWTBearer, engine.GrantTypeJWTBearer},
		MaxBodyBytes: engine.MaxRequestSize + 1,
		Realm:        `a"b`,
	})
	if err == nil {
		t.Fatal("bad options accepted")
	}
	for _, want := range []string{"no Exchanger", `"password" is not a grant type`, "listed twice", "MaxBodyBytes", "Realm"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %q", err, want)
		}
	}
	if _, err := oauthhttp.NewTokenHandler(w.x, oauthhttp.TokenOptions{}); err == nil || !strings.Contains(err.Error(), "GrantTypes is empty") {
		t.Errorf("empty options: %v", err)
	}
}

// TestMaxBodyBytes: a smaller cap than the engine's is honoured.
func TestMaxBodyBytes(t *testing.T) {
	w := newWorld(t)
	opts := oauthhttp.Delegation()
	opts.MaxBodyBytes = 1024
	h, err := oauthhttp.NewTokenHandler(w.x, opts)
	if err != nil {
		t.Fatal(err)
	}
	a := serve(t, h, post("client_id=app&pad="+strings.Repeat("x", 1024), "application/x-www-form-urlencoded"), "Connection")
	if diff := cmp.Diff(answer{413, map[string]string{"Connection": "close"}, refused("invalid_request")}, a, dropDescription); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}

// TestContextHookNil: a Context hook that returns nil leaves the
// request's context in place instead of crashing the exchange.
func TestContextHookNil(t *testing.T) {
	w := newWorld(t)
	opts := oauthhttp.Delegation()
	opts.Context = func(context.Context, *http.Request) context.Context { return nil }
	h, err := oauthhttp.NewTokenHandler(w.x, opts)
	if err != nil {
		t.Fatal(err)
	}
	if a := serve(t, h, post(delegationJSON("app", w.idToken(t, "app", w.appSecret)), "application/json")); a.Status != 200 {
		t.Errorf("status %d: %v", a.Status, a.Body)
	}
}
