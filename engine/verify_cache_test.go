package engine_test

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	josejson "github.com/go-jose/go-jose/v4/json"

	"github.com/deputyauth/deputy/claims"
	"github.com/deputyauth/deputy/engine"
)

// TestHeaderCacheChangesNoAnswer: once a token's header is cached (its
// token verified), every token with that header text gets the answer an
// Exchanger that never saw it gives: tampered payloads and signatures,
// other secrets, undecodable parts, failed claim checks, another client
// presenting it, and spellings go-jose accepts.
func TestHeaderCacheChangesNoAnswer(t *testing.T) {
	w := newWorld(t, nil)
	fresh := func() *engine.Exchanger {
		x, err := engine.New(engine.Config{Issuer: issuer, Clients: w.st, Keys: w.st, Now: func() time.Time { return fixedNow }})
		if err != nil {
			t.Fatal(err)
		}
		return x
	}
	tok := w.idToken(t, appHS, nil)
	other := w.idToken(t, appHS, func(c claims.Set) { c["name"] = "Someone Else" })
	h, p, s := parts(tok)
	_, p2, _ := parts(other)
	mac := hmac.New(sha256.New, randomSecret(t, 32))
	mac.Write([]byte(h + "." + p))
	foreign := base64.RawURLEncoding.EncodeToString(mac.Sum(nil))
	spare := p
	if i := strings.IndexByte(b64Alphabet, p[len(p)-1]); len(p)%4 == 2 || len(p)%4 == 3 {
		spare = p[:len(p)-1] + string(b64Alphabet[i|1])
	}

	if spare == p {
		t.Fatalf("payload %q has no spare bits", p)
	}
	accepted := map[string]bool{"the token": true, "another token, same header": true, "payload with a spare bit set": true}
	for _, tc := range []struct {
		name string
		req  *engine.Request
	}{
		{"the token", delegation(appHS, tok, apiHS, "")},
		{"another token, same header", delegation(appHS, other, apiHS, "")},
		{"payload swapped", delegation(appHS, h+"."+p2+"."+s, apiHS, "")},
		{"signed with another secret", delegation(appHS, h+"."+p+"."+foreign, apiHS, "")},
		{"no signature", delegation(appHS, h+"."+p+".", apiHS, "")},
		{"payload not base64url", delegation(appHS, h+".!!!."+s, apiHS, "")},
		{"signature not base64url", delegation(appHS, h+"."+p+".***", apiHS, "")},
		{"payload with a spare bit set", delegation(appHS, h+"."+spare+"."+s, apiHS, "")},
		{"expired", delegation(appHS, w.idToken(t, appHS, func(c claims.Set) { c["exp"] = float64(fixedNow.Add(-time.Hour).Unix()) }), apiHS, "")},
		{"another audience", delegation(appHS, w.idToken(t, appHS, func(c claims.Set) { c["aud"] = apiHS }), apiHS, "")},
		{"presented by another HS256 client", delegation(apiHS, tok, appHS, "")},
		{"minted header", delegation(appHS, w.sign(t, appHS, claimsOf(t, tok), (&jose.SignerOptions{}).WithType("JWT").WithHeader("deputy", true)), apiHS, "")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cold := outcome(fresh(), tc.req)
			if wantOK := accepted[tc.name]; (cold == "ok") != wantOK {
				t.Fatalf("never cached: %s; want accepted = %v", cold, wantOK)
			}
			warm := fresh()
			if got := outcome(warm, delegation(appHS, tok, apiHS, "")); got != "ok" {
				t.Fatalf("warming up: %s", got)
			}
			if got := outcome(warm, tc.req); got != cold {
				t.Errorf("with the header cached: %s; never cached: %s", got, cold)
			}
		})
	}
}

const b64Alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"

func parts(tok string) (h, p, s string) {
	h, rest, _ := strings.Cut(tok, ".")
	p, s, _ = strings.Cut(rest, ".")
	return h, p, s
}

// claimsOf returns a token's claims, unverified.
func claimsOf(t *testing.T, tok string) claims.Set {
	t.Helper()
	jws, err := jose.ParseSignedCompact(tok, []jose.SignatureAlgorithm{jose.HS256})
	if err != nil {
		t.Fatal(err)
	}
	var c claims.Set
	if err := josejson.Unmarshal(jws.UnsafePayloadWithoutVerification(), &c); err != nil {
		t.Fatal(err)
	}
	return c
}

// outcome is "ok", or the refusal's code and description.
func outcome(x *engine.Exchanger, req *engine.Request) string {
	r := *req
	res, err := x.Exchange(context.Background(), &r)
	var xe *engine.Error
	switch {
	case err == nil && res != nil:
		return "ok"
	case errors.As(err, &xe) && res == nil:
		return xe.Code + ": " + xe.Description
	}
	return "unexpected: " + err.Error()
}
