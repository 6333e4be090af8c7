package engine_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/deputyauth/deputy/claims"
	"github.com/deputyauth/deputy/engine"
	"github.com/deputyauth/deputy/store"
)

// Regression tests for the second red-team pass (issue 12), named after
// its findings. Each failed before its fix.

// recordingReplay is a replay cache that remembers what it was asked.
type recordingReplay struct {
	mu   sync.Mutex
	ids  []string
	ttls []time.Duration
	seen map[string]bool
}

func (r *recordingReplay) Use(_ context.Context, id string, ttl time.Duration) (bool, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.seen == nil {
		r.seen = map[string]bool{}
	}
	r.ids, r.ttls = append(r.ids, id), append(r.ttls, ttl)
	first := !r.seen[id]
	r.seen[id] = true
	return first, nil
}

// TestReplayCacheGrowthBounded: what one use stores is small and bounded
// whatever the token says — a long jti is refused, the id handed to the
// cache has a fixed size, and an exp far ahead is refused, so no TTL
// exceeds MaxSourceExpiry plus the skew.
func TestReplayCacheGrowthBounded(t *testing.T) {
	rec := &recordingReplay{}
	w := newWorld(t, func(c *engine.Config) {
		c.Replay = rec
		c.ClockSkew = 30 * time.Second
	})
	for _, tc := range []struct {
		name string
		mod  func(claims.Set)
		code string // "" for accepted
	}{
		{"short jti", func(c claims.Set) { c["jti"] = "j" }, ""},
		{"jti of 256 bytes", func(c claims.Set) { c["jti"] = strings.Repeat("j", 256) }, ""},
		{"jti of 257 bytes", func(c claims.Set) { c["jti"] = strings.Repeat("j", 257) }, engine.CodeInvalidGrant},
		{"jti of 5600 bytes", func(c claims.Set) { c["jti"] = strings.Repeat("j", 5600) }, engine.CodeInvalidGrant},
		{"exp at the limit", func(c claims.Set) { c["exp"] = float64(fixedNow.Add(engine.DefaultMaxSourceExpiry).Unix()) }, ""},
		{"exp a minute past the limit", func(c claims.Set) {
			c["exp"] = float64(fixedNow.Add(engine.DefaultMaxSourceExpiry + time.Minute).Unix())
		}, engine.CodeInvalidGrant},
		{"exp in 9999", func(c claims.Set) { c["exp"] = float64(253402300799) }, engine.CodeInvalidGrant},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tok := w.idToken(t, appHS, tc.mod)
			res, err := w.x.Exchange(context.Background(), delegation(appHS, tok, apiHS, ""))
			if tc.code != "" {
				assertRefused(t, res, err, tc.code, tok)
				return
			}
			if err != nil {
				t.Fatal(err)
			}
		})
	}
	if len(rec.ids) != 3 {
		t.Fatalf("cache used %d times, want 3", len(rec.ids))
	}
	for i, id := range rec.ids {
		if len(id) != 43 {
			t.Errorf("id %d has %d bytes, want a 43-byte digest", i, len(id))
		}
		if max := engine.DefaultMaxSourceExpiry + 30*time.Second; rec.ttls[i] > max {
			t.Errorf("ttl %d = %v, beyond %v", i, rec.ttls[i], max)
		}
	}

	t.Run("MaxSourceExpiry set", func(t *testing.T) {
		w := newWorld(t, func(c *engine.Config) { c.MaxSourceExpiry = 2 * time.Hour })
		ok := w.idToken(t, appHS, func(c claims.Set) { c["exp"] = float64(fixedNow.Add(2 * time.Hour).Unix()) })
		if _, err := w.x.Exchange(context.Background(), delegation(appHS, ok, apiHS, "")); err != nil {
			t.Fatal(err)
		}
		far := w.idToken(t, appHS, func(c claims.Set) { c["exp"] = float64(fixedNow.Add(2*time.Hour + time.Second).Unix()) })
		res, err := w.x.Exchange(context.Background(), delegation(appHS, far, apiHS, ""))
		assertRefused(t, res, err, engine.CodeInvalidGrant, far)
	})
	t.Run("config", func(t *testing.T) {
		for _, cfg := range []engine.Config{
			{Issuer: issuer, Clients: store.NewMemory(), MaxSourceExpiry: -time.Hour},
			{Issuer: issuer, Clients: store.NewMemory(), MaxSourceExpiry: 1500 * time.Millisecond},
			{Issuer: issuer, Clients: store.NewMemory(), MaxActDepth: -1},
		} {
			if _, err := engine.New(cfg); err == nil {
				t.Errorf("New accepted MaxSourceExpiry %v, MaxActDepth %d", cfg.MaxSourceExpiry, cfg.MaxActDepth)
			}
		}
	})
}

// TestReplayCrossClientBurn: an HS* client that signs a token for itself
// with another client's jti spends only its own id; the other client's
// real token still works, once.
func TestReplayCrossClientBurn(t *testing.T) {
	for _, dialect := range []string{"delegation", "token exchange"} {
		t.Run(dialect, func(t *testing.T) {
			w := newXWorld(t, func(c *engine.Config) { c.Replay = c.Clients.(*store.Memory) })
			victimJTI := func(c claims.Set) { c["jti"] = "victim-jti" }
			victim := w.idToken(t, svcB, victimJTI)
			forged := w.idToken(t, svcA, victimJTI) // svc-a holds its own HS256 secret
			req := func(client, tok string) *engine.Request {
				if dialect == "delegation" {
					return &engine.Request{GrantType: engine.GrantTypeJWTBearer, ClientID: client, IDToken: tok, Target: svcB}
				}
				return tx(client, tok, engine.TokenTypeIDToken, svcB)
			}
			mustExchange(t, w, req(svcA, forged))
			mustExchange(t, w, req(svcB, victim))
			res, err := w.x.Exchange(context.Background(), req(svcB, victim))
			code := engine.CodeInvalidGrant
			if dialect != "delegation" {
				code = engine.CodeInvalidRequest
			}
			assertRefused(t, res, err, code, victim)
		})
	}
}

// TestLoggedValuesRedacted: a token or secret pasted into client_id or
// target reaches an Event only as its length and a digest; registered IDs
// are logged as they are.
func TestLoggedValuesRedacted(t *testing.T) {
	var got engine.Event
	w := newXWorld(t, func(c *engine.Config) {
		c.OnExchange = func(_ context.Context, e engine.Event) { got = e }
	})
	tok := w.idToken(t, svcA, nil)
	secret := "Zm9vYmFyYmF6cXV4cXV1eGNvcmdlZ3JhdWx0Z2FycGx5" // 44 characters, like a base64 secret
	for _, tc := range []struct {
		name string
		req  *engine.Request
		want engine.Event // Requester, Target, GrantType, APIType
	}{
		{"secret as client_id", delegation(secret, tok, apiHS, ""),
			engine.Event{Requester: engine.LogValue(secret), Target: apiHS, GrantType: engine.GrantTypeJWTBearer}},
		{"token as client_id", delegation(tok, tok, apiHS, ""),
			engine.Event{Requester: engine.LogValue(tok), Target: apiHS, GrantType: engine.GrantTypeJWTBearer}},
		{"secret as target", delegation(svcA, tok, secret, ""),
			engine.Event{Requester: svcA, Target: engine.LogValue(secret), GrantType: engine.GrantTypeJWTBearer}},
		{"secret as audience", tx(svcA, tok, engine.TokenTypeIDToken, secret),
			engine.Event{Requester: svcA, Target: engine.LogValue(secret), GrantType: engine.GrantTypeTokenExchange}},
		{"secret as grant_type and api_type", &engine.Request{GrantType: secret, ClientID: svcA, APIType: secret},
			engine.Event{Requester: engine.LogValue(svcA), GrantType: engine.LogValue(secret), APIType: engine.LogValue(secret)}},
		{"registered long target", tx(svcA, tok, engine.TokenTypeIDToken, orders),
			engine.Event{Requester: svcA, Target: orders, GrantType: engine.GrantTypeTokenExchange}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got = engine.Event{}
			w.x.Exchange(context.Background(), tc.req)
			sel := engine.Event{Requester: got.Requester, Target: got.Target, GrantType: got.GrantType, APIType: got.APIType}
			if diff := cmp.Diff(tc.want, sel); diff != "" {
				t.Errorf("event (-want +got):\n%s", diff)
			}
			cause := ""
			if c := errors.Unwrap(got.Err); c != nil {
				cause = c.Error() // what SlogHook logs as "cause"
			}
			for _, v := range []string{got.Requester, got.Target, got.GrantType, got.APIType, cause} {
				if strings.Contains(v, secret[:16]) || strings.Contains(v, tok[:16]) {
					t.Errorf("event value %q holds part of a secret or token", v)
				}
			}
		})
	}
}

func TestLogValue(t *testing.T) {
	digest := func(s string) string {
		d := sha256.Sum256([]byte(s))
		return "len=" + strconv.Itoa(len(s)) + " sha256=" + hex.EncodeToString(d[:4])
	}
	for _, tc := range []struct {
		in    string
		shown bool
	}{
		{"", true},
		{"app-hs", true},
		{"https://api.example.com/v2", true},
		{"auth0|5f7c8ec7c33c6c004bbafe82", true},
		{strings.Repeat("a", 31), true},
		{strings.Repeat("a", 32), false},
		{"a b", false},
		{"a\nb", false},
		{"é", false},
		{"a\"b", false},
	} {
		want := tc.in
		if !tc.shown {
			want = digest(tc.in)
		}
		if got := engine.LogValue(tc.in); got != want {
			t.Errorf("LogValue(%q) = %q, want %q", tc.in, got, want)
		}
	}
}

// TestAuthenticate: the requester steps alone answer exactly as Exchange
// would at that step, and never look at a token.
func TestAuthenticate(t *testing.T) {
	w := newXWorld(t, nil)
	putClient(t, w.st, store.Client{ID: "conf", SigningAlg: "RS256", Confidential: true, Grants: bothGrants,
		Secrets: []store.Secret{{ID: "conf-s1", Value: []byte(strings.Repeat("k", 32))}}})
	for _, tc := range []struct {
		name string
		req  *engine.Request
		code string // "" for nil
	}{
		{"usable", &engine.Request{GrantType: engine.GrantTypeTokenExchange, ClientID: svcA}, ""},
		{"usable, token never looked at", &engine.Request{GrantType: engine.GrantTypeJWTBearer, ClientID: svcA, IDToken: "garbage"}, ""},
		{"confidential with its secret", &engine.Request{GrantType: engine.GrantTypeJWTBearer, ClientID: "conf", ClientSecret: strings.Repeat("k", 32)}, ""},
		{"confidential without secret", &engine.Request{GrantType: engine.GrantTypeJWTBearer, ClientID: "conf"}, engine.CodeInvalidClient},
		{"wrong secret", &engine.Request{GrantType: engine.GrantTypeJWTBearer, ClientID: "conf", ClientSecret: strings.Repeat("x", 32)}, engine.CodeInvalidClient},
		{"unknown", &engine.Request{GrantType: engine.GrantTypeJWTBearer, ClientID: "nobody"}, engine.CodeInvalidClient},
		{"disabled", &engine.Request{GrantType: engine.GrantTypeJWTBearer, ClientID: offline}, engine.CodeInvalidClient},
		{"grant not allowed", &engine.Request{GrantType: engine.GrantTypeTokenExchange, ClientID: appHS}, engine.CodeUnauthorizedClient},
		{"unknown grant", &engine.Request{GrantType: "password", ClientID: svcA}, engine.CodeUnsupportedGrantType},
		{"nil", nil, engine.CodeInvalidRequest},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := w.x.Authenticate(context.Background(), tc.req)
			if tc.code == "" {
				if err != nil {
					t.Fatalf("Authenticate = %v, want nil", err)
				}
				return
			}
			assertRefused(t, nil, err, tc.code)
		})
	}
}

// TestLargeNumericClaimsKeepTheirValue: a released claim is byte for byte
// the number the source carried — integers past 2^53 and 2^64, negative
// zero, exponents, values beyond float64, long decimals, nested ones — in
// both dialects, so two users with adjacent large IDs stay two users.
// (Object members come out in sorted order, as encoding/json writes them.)
func TestLargeNumericClaimsKeepTheirValue(t *testing.T) {
	mapping := scopeStandardWith("ids", "https://example.com/uid", "https://example.com/nums")
	w := newXWorld(t, func(c *engine.Config) { c.Scopes = mapping })
	const uid = `9007199254740993`
	const nums = `[12345678901234567891,-0,1e400,-1.5E-7,0.10000000000000000000000001,{"m":[1E+2],"n":18446744073709551617}]`
	hdr := map[string]any{"alg": "HS256", "typ": "JWT", "kid": svcA + "-s1"}
	c := sourceClaimsFor(w, svcA)
	delete(c, "scope")
	c["jti"] = "numbers"
	payload := payloadOf(t, c)
	payload = payload[:len(payload)-1] + `,"https://example.com/uid":` + uid + `,"https://example.com/nums":` + nums + `}`
	tok := rawJWS(t, hdr, payload, hs256(w.secrets[svcA]))
	want := []string{`"https://example.com/uid":` + uid, `"https://example.com/nums":` + nums}

	for name, req := range map[string]*engine.Request{
		"delegation":     {GrantType: engine.GrantTypeJWTBearer, ClientID: svcA, IDToken: tok, Target: svcB, Scope: "openid ids"},
		"token exchange": withScope(tx(svcA, tok, engine.TokenTypeIDToken, svcB), "openid ids"),
	} {
		t.Run(name, func(t *testing.T) {
			res := mustExchange(t, w, req)
			minted := res.IDToken + res.AccessToken
			raw, err := parseVerify(minted, "HS256", w.secrets[svcB])
			if err != nil {
				t.Fatal(err)
			}
			for _, member := range want {
				if !strings.Contains(string(raw), member) {
					t.Errorf("minted payload %s\ndoes not hold %s", raw, member)
				}
			}
		})
	}
}

func payloadOf(t testing.TB, c claims.Set) string {
	t.Helper()
	b, err := json.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
