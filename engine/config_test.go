package engine_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/deputyauth/deputy/claims"
	"github.com/deputyauth/deputy/engine"
	"github.com/deputyauth/deputy/scope"
	"github.com/deputyauth/deputy/store"
)

func TestNewReportsEveryProblem(t *testing.T) {
	st := store.NewMemory()
	for _, tc := range []struct {
		name string
		cfg  engine.Config
		want []string // substrings, all of which must appear
	}{
		{"empty", engine.Config{}, []string{"Issuer is required", "Clients is required"}},
		{"refresh without profiles", engine.Config{Issuer: issuer, Clients: st, RefreshTokens: st}, []string{"Profiles is required"}},
		{"negative durations", engine.Config{Issuer: issuer, Clients: st, Lifetime: -time.Second, ClockSkew: -time.Second},
			[]string{"Lifetime is negative", "ClockSkew is negative"}},
		{"sub-second durations", engine.Config{Issuer: issuer, Clients: st, Lifetime: 1500 * time.Millisecond, ClockSkew: time.Millisecond},
			[]string{"Lifetime must be whole seconds", "ClockSkew must be whole seconds"}},
		{"negative token size", engine.Config{Issuer: issuer, Clients: st, MaxTokenSize: -1}, []string{"MaxTokenSize is negative"}},
		{"mapping names an owned claim", engine.Config{Issuer: issuer, Clients: st, Scopes: scope.Standard.With("evil", "aud")}, []string{"owned claim"}},
		{"built-in minter replaced", engine.Config{Issuer: issuer, Clients: st, Minters: map[string]engine.Minter{"app": nil, "x": nil}},
			[]string{`"app" is built in`, `"x" has a nil Minter`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			x, err := engine.New(tc.cfg)
			if x != nil || err == nil {
				t.Fatalf("New = %v, %v; want an error", x, err)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
		})
	}
}

// TestNewCopiesConfig: changing the caller's maps after New changes nothing.
func TestNewCopiesConfig(t *testing.T) {
	minters := map[string]engine.Minter{}
	w := newWorld(t, func(c *engine.Config) { c.Minters = minters })
	minters["sneaky"] = engine.MinterFunc(func(context.Context, *engine.Grant) (*engine.Response, error) {
		return &engine.Response{IDToken: "x"}, nil
	})
	putClient(t, w.st, store.Client{ID: "t", SigningAlg: "EdDSA", AllowedSources: []string{appHS}, APITypes: map[string]jsonRaw{"sneaky": nil}})
	req := delegation(appHS, w.idToken(t, appHS, nil), "t", "")
	req.APIType = "sneaky"
	res, err := w.x.Exchange(context.Background(), req)
	assertRefused(t, res, err, engine.CodeInvalidRequest)
}

// TestAsymmetricWithoutKeys: a client on an asymmetric algorithm with no
// KeyStore configured is a server_error at exchange time.
func TestAsymmetricWithoutKeys(t *testing.T) {
	w := newWorld(t, func(c *engine.Config) { c.Keys = nil })
	for name, req := range map[string]*engine.Request{
		"verify": delegation(appRS, w.idToken(t, appRS, nil), apiHS, ""),
		"sign":   delegation(appHS, w.idToken(t, appHS, nil), apiEd, ""),
	} {
		t.Run(name, func(t *testing.T) {
			res, err := w.x.Exchange(context.Background(), req)
			assertRefused(t, res, err, engine.CodeServerError)
		})
	}
}

func TestClockSkew(t *testing.T) {
	const skew = 30 * time.Second
	w := newWorld(t, func(c *engine.Config) { c.ClockSkew = skew })
	now := float64(fixedNow.Unix())
	for _, tc := range []struct {
		name  string
		claim string
		value float64
		ok    bool
	}{
		{"exp just inside the skew", "exp", now - 29, true},
		{"exp at the skew edge", "exp", now - 30, false},
		{"nbf at the skew edge", "nbf", now + 30, true},
		{"nbf past the skew", "nbf", now + 31, false},
		{"iat at the skew edge", "iat", now + 30, true},
		{"iat past the skew", "iat", now + 31, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tok := w.idToken(t, appHS, func(c claims.Set) { c[tc.claim] = tc.value })
			res, err := w.x.Exchange(context.Background(), delegation(appHS, tok, apiHS, ""))
			if tc.ok {
				if err != nil {
					t.Fatalf("want success, got %v", err)
				}
				return
			}
			assertRefused(t, res, err, engine.CodeInvalidGrant, tok)
		})
	}
}

func TestConfidentialClient(t *testing.T) {
	w := newWorld(t, nil)
	c, _ := w.st.Client(context.Background(), appHS)
	n := *c
	n.Confidential = true
	expired := randomSecret(t, 32)
	n.Secrets = append(append([]store.Secret(nil), c.Secrets...), store.Secret{ID: "expired", Value: expired, NotAfter: fixedNow.Add(-time.Second)})
	putClient(t, w.st, n)
	secret := string(w.secrets[appHS])
	for _, tc := range []struct {
		name, secret string
		ok           bool
	}{
		{"no secret", "", false},
		{"wrong secret", "wrong", false},
		{"expired secret", string(expired), false},
		{"prefix of the secret", secret[:16], false},
		{"right secret", secret, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req := delegation(appHS, w.idToken(t, appHS, nil), apiHS, "")
			req.ClientSecret = tc.secret
			res, err := w.x.Exchange(context.Background(), req)
			if tc.ok {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			assertRefused(t, res, err, engine.CodeInvalidClient, secret, tc.secret)
		})
	}
}

func TestUnauthorizedClient(t *testing.T) {
	w := newWorld(t, nil)
	c, _ := w.st.Client(context.Background(), appHS)
	n := *c
	n.Grants = []string{"authorization_code"}
	putClient(t, w.st, n)
	res, err := w.x.Exchange(context.Background(), delegation(appHS, w.idToken(t, appHS, nil), apiHS, ""))
	assertRefused(t, res, err, engine.CodeUnauthorizedClient)
}

func TestErrorModel(t *testing.T) {
	cause := errors.New("cause with secret s3cr3t")
	e := &engine.Error{Code: engine.CodeInvalidGrant, Description: "token expired", Err: cause}
	if got, want := e.Error(), "deputy: invalid_grant: token expired"; got != want {
		t.Errorf("Error() = %q, want %q", got, want)
	}
	if !errors.Is(e, engine.ErrInvalidGrant) || errors.Is(e, engine.ErrInvalidClient) || !errors.Is(e, cause) {
		t.Error("errors.Is does not match by code and cause")
	}
	body, err := e.MarshalJSON()
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(`{"error":"invalid_grant","error_description":"token expired"}`, string(body)); diff != "" {
		t.Errorf("JSON (-want +got):\n%s", diff)
	}
	for code, status := range map[string]int{
		engine.CodeInvalidClient: 401, engine.CodeServerError: 500, engine.CodeInvalidRequest: 400,
		engine.CodeInvalidGrant: 400, engine.CodeInvalidTarget: 400, engine.CodeInvalidScope: 400,
		engine.CodeUnauthorizedClient: 400, engine.CodeUnsupportedGrantType: 400,
	} {
		if got := (&engine.Error{Code: code}).HTTPStatus(); got != status {
			t.Errorf("HTTPStatus(%s) = %d, want %d", code, got, status)
		}
	}
}
