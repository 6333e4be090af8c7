package engine_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/google/go-cmp/cmp"

	"github.com/deputyauth/deputy/claims"
	"github.com/deputyauth/deputy/engine"
	"github.com/deputyauth/deputy/store"
)

// TestRefreshGrantScopeBounds: a grant's scope bounds every exchange, and an
// empty one — nil as a database may return it, or empty — grants nothing.
func TestRefreshGrantScopeBounds(t *testing.T) {
	w := newRefreshWorld(t)
	w.st.PutRefreshToken("rt-nil", store.RefreshGrant{ClientID: appHS, Subject: "auth0|ada"})
	w.st.PutRefreshToken("rt-empty", store.RefreshGrant{ClientID: appHS, Subject: "auth0|ada", Scope: []string{}})
	for _, tok := range []string{"rt-nil", "rt-empty"} {
		for _, sc := range []string{"", "openid", "openid email phone profile", "passthrough"} {
			t.Run(tok+"/"+sc, func(t *testing.T) {
				res, err := w.x.Exchange(context.Background(), refreshReq(appHS, tok, apiEd, sc))
				assertRefused(t, res, err, engine.CodeInvalidScope, tok)
			})
		}
	}
}

// TestKeysTriedWithoutKid: a token without kid is tried against at most
// three keys of the client's algorithm; with more, it must name its key.
func TestKeysTriedWithoutKid(t *testing.T) {
	w := newWorld(t, nil)
	noKid := func() string {
		s, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.RS256, Key: rsaKey}, (&jose.SignerOptions{}).WithType("JWT"))
		if err != nil {
			t.Fatal(err)
		}
		payload, _ := json.Marshal(sourceClaims(func(c claims.Set) { c["aud"] = appRS }))
		jws, err := s.Sign(payload)
		if err != nil {
			t.Fatal(err)
		}
		tok, _ := jws.CompactSerialize()
		return tok
	}()
	// rsa-1 plus two more RS256 keys: three candidates, still tried.
	for i := range 2 {
		if err := w.st.AddKey(jose.JSONWebKey{Key: &rsaKey2.PublicKey, KeyID: fmt.Sprint("extra-", i), Algorithm: "RS256"}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := w.x.Exchange(context.Background(), delegation(appRS, noKid, apiHS, "")); err != nil {
		t.Fatalf("three candidates: %v", err)
	}
	if err := w.st.AddKey(jose.JSONWebKey{Key: &rsaKey2.PublicKey, KeyID: "extra-2", Algorithm: "RS256"}); err != nil {
		t.Fatal(err)
	}
	res, err := w.x.Exchange(context.Background(), delegation(appRS, noKid, apiHS, ""))
	assertRefused(t, res, err, engine.CodeInvalidGrant, noKid)
	if _, err := w.x.Exchange(context.Background(), delegation(appRS, w.idToken(t, appRS, nil), apiHS, "")); err != nil {
		t.Fatalf("token naming its kid among four keys: %v", err)
	}
}

// TestUnusableTargetKeyKeepsToken: a target that cannot sign fails with
// server_error before one-time use, so the source token stays good.
func TestUnusableTargetKeyKeepsToken(t *testing.T) {
	w := newWorld(t, func(c *engine.Config) { c.Replay = store.NewMemory() })
	putClient(t, w.st, store.Client{ID: "stale", SigningAlg: "HS256", AllowedSources: []string{appHS},
		Secrets: []store.Secret{{ID: "old", Value: randomSecret(t, 32), NotAfter: fixedNow.Add(-time.Hour)}}})
	tok := w.idToken(t, appHS, nil)
	res, err := w.x.Exchange(context.Background(), delegation(appHS, tok, "stale", ""))
	assertRefused(t, res, err, engine.CodeServerError, tok)
	putClient(t, w.st, store.Client{ID: "stale", SigningAlg: "HS256", AllowedSources: []string{appHS}})
	if _, err := w.x.Exchange(context.Background(), delegation(appHS, tok, "stale", "")); err != nil {
		t.Fatalf("token burnt by a server-side failure: %v", err)
	}
}

// TestMinterGetsCopies: a Minter cannot change the stored clients, and
// does not see the caller's secret or tokens.
func TestMinterGetsCopies(t *testing.T) {
	var seen engine.Request
	w := newWorld(t, func(c *engine.Config) {
		c.Minters = map[string]engine.Minter{"evil": engine.MinterFunc(func(_ context.Context, g *engine.Grant) (*engine.Response, error) {
			g.Target.AllowedSources[0] = "*"
			g.Requester.Grants[0] = "everything"
			seen = *g.Request
			return &engine.Response{TokenType: "Bearer", ExpiresIn: 1, IDToken: "x"}, nil
		})}
	})
	putClient(t, w.st, store.Client{ID: "m", SigningAlg: "EdDSA", AllowedSources: []string{appHS}, APITypes: map[string]json.RawMessage{"evil": nil}})
	req := delegation(appHS, w.idToken(t, appHS, nil), "m", "")
	req.APIType, req.ClientSecret = "evil", string(w.secrets[appHS])
	if _, err := w.x.Exchange(context.Background(), req); err != nil {
		t.Fatal(err)
	}
	target, _ := w.st.Client(context.Background(), "m")
	requester, _ := w.st.Client(context.Background(), appHS)
	if diff := cmp.Diff([]string{appHS}, target.AllowedSources); diff != "" {
		t.Errorf("minter changed the stored target (-want +got):\n%s", diff)
	}
	if requester.Grants[0] != engine.GrantTypeJWTBearer {
		t.Errorf("minter changed the stored requester: %v", requester.Grants)
	}
	if seen.ClientSecret != "" || seen.IDToken != "" || seen.RefreshToken != "" || seen.APIType != "evil" {
		t.Errorf("minter saw request %+v; want credentials blanked", seen)
	}
}

// TestMinterErrorCodeNotMatched: a Minter returning an engine sentinel
// yields server_error, and errors.Is matches only that.
func TestMinterErrorCodeNotMatched(t *testing.T) {
	w := newWorld(t, func(c *engine.Config) {
		c.Minters = map[string]engine.Minter{"m": engine.MinterFunc(func(context.Context, *engine.Grant) (*engine.Response, error) {
			return nil, fmt.Errorf("wrapped: %w", engine.ErrInvalidClient)
		})}
	})
	putClient(t, w.st, store.Client{ID: "t", SigningAlg: "EdDSA", AllowedSources: []string{appHS}, APITypes: map[string]json.RawMessage{"m": nil}})
	req := delegation(appHS, w.idToken(t, appHS, nil), "t", "")
	req.APIType = "m"
	res, err := w.x.Exchange(context.Background(), req)
	assertRefused(t, res, err, engine.CodeServerError)
	if errors.Is(err, engine.ErrInvalidClient) || !errors.Is(err, engine.ErrServerError) {
		t.Errorf("errors.Is matches a code from the cause chain: %v", err)
	}
}

func TestOversizeTokenNotHashed(t *testing.T) {
	var ev engine.Event
	w := newWorld(t, func(c *engine.Config) { c.OnExchange = func(_ context.Context, e engine.Event) { ev = e } })
	huge := strings.Repeat("a", 1<<20)
	res, err := w.x.Exchange(context.Background(), delegation(appHS, huge, apiHS, ""))
	assertRefused(t, res, err, engine.CodeInvalidGrant)
	if ev.SourceHash != ([32]byte{}) {
		t.Error("an oversize token was hashed")
	}
}

func TestTypApplicationJWT(t *testing.T) {
	w := newWorld(t, nil)
	for typ, ok := range map[string]bool{"JWT": true, "jwt": true, "application/jwt": true, "APPLICATION/JWT": true, "application/": false, "application/at+jwt": false, "at+jwt": false} {
		t.Run(typ, func(t *testing.T) {
			c := sourceClaims(nil)
			tok := w.sign(t, appHS, c, (&jose.SignerOptions{}).WithType(jose.ContentType(typ)))
			res, err := w.x.Exchange(context.Background(), delegation(appHS, tok, apiHS, ""))
			if ok {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			assertRefused(t, res, err, engine.CodeInvalidGrant, tok)
		})
	}
}

func TestMarshalByValue(t *testing.T) {
	e := engine.Error{Code: engine.CodeInvalidGrant, Description: "d", Err: errors.New("cause")}
	got, err := json.Marshal(e)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(`{"error":"invalid_grant","error_description":"d"}`, string(got)); diff != "" {
		t.Errorf("Error by value (-want +got):\n%s", diff)
	}
	got, err = json.Marshal(engine.Response{TokenType: "Bearer", ExpiresIn: 5, IDToken: "t"})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(`{"token_type":"Bearer","expires_in":5,"id_token":"t"}`, string(got)); diff != "" {
		t.Errorf("Response by value (-want +got):\n%s", diff)
	}
}

func TestParseJSONRefusesInvalidUTF8(t *testing.T) {
	got, err := engine.ParseJSON([]byte("{\"client_secret\":\"\xff\xfe\"}"))
	assertParseRefused(t, got, err, engine.CodeInvalidRequest)
}

func TestParseJSONOnlyJSONWhitespace(t *testing.T) {
	for _, body := range []string{"\u00a0{\"client_id\":\"a\"}", "{\"client_id\":\"a\"}\u0085"} {
		got, err := engine.ParseJSON([]byte(body))
		assertParseRefused(t, got, err, engine.CodeInvalidRequest)
	}
	if _, err := engine.ParseJSON([]byte(" \t\r\n{\"client_id\":\"a\"}\n")); err != nil {
		t.Errorf("JSON whitespace refused: %v", err)
	}
}

// TestKIDNeverReachesStoreUnbounded: a kid with control characters or over
// 256 bytes is refused before any KeyStore lookup.
func TestKIDNeverReachesStoreUnbounded(t *testing.T) {
	f := &fault{err: errBroken}
	w := newWorld(t, func(c *engine.Config) { c.Keys = faultyKeys{c.Keys, f} })
	for name, kid := range map[string]string{"NUL": "a\x00b", "newline": "a\nb", "long": strings.Repeat("k", 257)} {
		t.Run(name, func(t *testing.T) {
			k, _ := w.st.SigningKey(context.Background(), "RS256")
			bad := *k
			bad.KeyID = kid
			s, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.RS256, Key: bad}, (&jose.SignerOptions{}).WithType("JWT"))
			if err != nil {
				t.Fatal(err)
			}
			payload, _ := json.Marshal(sourceClaims(func(c claims.Set) { c["aud"] = appRS }))
			jws, _ := s.Sign(payload)
			tok, _ := jws.CompactSerialize()
			res, err := w.x.Exchange(context.Background(), delegation(appRS, tok, apiHS, ""))
			assertRefused(t, res, err, engine.CodeInvalidGrant, tok)
		})
	}
	if n := f.calls.Load(); n != 0 {
		t.Errorf("the key store was asked %d times", n)
	}
}
