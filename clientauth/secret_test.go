package clientauth_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/deputyauth/deputy/clientauth"
	"github.com/deputyauth/deputy/engine"
	"github.com/deputyauth/deputy/store"
)

const goodSecret = "0123456789abcdef0123456789abcdef-svc"

func hashOf(t testing.TB, secret string) []byte {
	t.Helper()
	h, err := clientauth.HashSecret(secret, 0)
	if err != nil {
		t.Fatal(err)
	}
	return []byte(h)
}

func TestHashSecret(t *testing.T) {
	h, err := clientauth.HashSecret(goodSecret, 0)
	if err != nil {
		t.Fatal(err)
	}
	if !clientauth.IsHash([]byte(h)) || !strings.HasPrefix(h, clientauth.HashPrefix+"i=1000$") {
		t.Errorf("HashSecret = %q, want %si=1000$…", h, clientauth.HashPrefix)
	}
	if strings.Contains(h, goodSecret) {
		t.Error("hash contains the secret")
	}
	h2, _ := clientauth.HashSecret(goodSecret, 0)
	if h == h2 {
		t.Error("two hashes of one secret are equal: no salt")
	}
	if _, err := clientauth.HashSecret("short", 0); err == nil {
		t.Error("HashSecret accepted a short secret")
	}
	for _, it := range []int{-1, clientauth.MaxIterations + 1} {
		if _, err := clientauth.HashSecret(goodSecret, it); err == nil {
			t.Errorf("HashSecret accepted %d iterations", it)
		}
	}
}

func TestHashedSecrets(t *testing.T) {
	hashed := hashOf(t, goodSecret)
	other := hashOf(t, goodSecret+"-other")
	expired := store.Secret{ID: "old", Value: hashOf(t, goodSecret+"-old"), NotAfter: now.Add(-time.Second)}
	plain := store.Secret{ID: "plain", Value: []byte(goodSecret + "-plain")}
	for _, tc := range []struct {
		name      string
		cfg       clientauth.SecretsConfig
		secrets   []store.Secret
		conf      bool
		presented string
		assertion bool
		code      string // "" means success
	}{
		{name: "hash matches", secrets: []store.Secret{{ID: "s1", Value: hashed}}, presented: goodSecret},
		{name: "second secret matches", secrets: []store.Secret{{ID: "s2", Value: other}, {ID: "s1", Value: hashed}}, presented: goodSecret},
		{name: "wrong secret", secrets: []store.Secret{{ID: "s1", Value: hashed}}, presented: goodSecret + "x", code: engine.CodeInvalidClient},
		{name: "the hash itself is no password", secrets: []store.Secret{{ID: "s1", Value: hashed}}, presented: string(hashed), code: engine.CodeInvalidClient},
		{name: "expired secret", secrets: []store.Secret{expired}, presented: goodSecret + "-old", code: engine.CodeInvalidClient},
		{name: "plaintext refused by default", secrets: []store.Secret{plain}, presented: string(plain.Value), code: engine.CodeInvalidClient},
		{name: "plaintext allowed", cfg: clientauth.SecretsConfig{AllowPlaintext: true}, secrets: []store.Secret{plain}, presented: string(plain.Value)},
		{name: "plaintext allowed, wrong", cfg: clientauth.SecretsConfig{AllowPlaintext: true}, secrets: []store.Secret{plain}, presented: goodSecret, code: engine.CodeInvalidClient},
		{name: "confidential without secret", secrets: []store.Secret{{ID: "s1", Value: hashed}}, conf: true, code: engine.CodeInvalidClient},
		{name: "public without secret", secrets: []store.Secret{{ID: "s1", Value: hashed}}},
		{name: "assertion instead", secrets: []store.Secret{{ID: "s1", Value: hashed}}, assertion: true, code: engine.CodeInvalidClient},
		{name: "malformed stored hash", secrets: []store.Secret{{ID: "s1", Value: []byte(clientauth.HashPrefix + "i=1000$!!!$!!!-padding-padding-padding")}}, presented: goodSecret, code: engine.CodeServerError},
		{name: "absurd stored iterations", secrets: []store.Secret{{ID: "s1", Value: []byte(clientauth.HashPrefix + "i=999999999$c2FsdHNhbHRzYWx0$" + strings.Repeat("A", 43))}}, presented: goodSecret, code: engine.CodeServerError},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.cfg.Now = func() time.Time { return now }
			w := newWorld(t, clientauth.HashedSecrets(tc.cfg), func(c *store.Client) {
				c.Secrets, c.Confidential = tc.secrets, tc.conf
			})
			req := request(t)
			req.ClientSecret = tc.presented
			if tc.assertion {
				req.ClientAssertion, req.ClientAssertionType = "a.b.c", engine.ClientAssertionTypeJWT
			}
			res, err := w.x.Exchange(context.Background(), req)
			if tc.code == "" {
				mustOK(t, res, err)
				return
			}
			assertRefused(t, res, err, tc.code)
			if tc.presented != "" && strings.Contains(err.Error(), tc.presented) {
				t.Error("error quotes the secret")
			}
		})
	}
}

// BenchmarkHashedSecret is the cost one authentication adds: "hashed"
// every time (a first request, or VerifiedTTL < 0), "remembered" for a
// secret that matched within VerifiedTTL.
func BenchmarkHashedSecret(b *testing.B) {
	c := &store.Client{ID: svc, Secrets: []store.Secret{{ID: "s1", Value: hashOf(b, goodSecret)}}}
	req := &engine.Request{ClientSecret: goodSecret}
	for _, v := range []struct {
		name string
		ttl  time.Duration
	}{{"hashed", -1}, {"remembered", 0}} {
		b.Run(v.name, func(b *testing.B) {
			a := clientauth.HashedSecrets(clientauth.SecretsConfig{VerifiedTTL: v.ttl})
			for b.Loop() {
				if err := a.AuthenticateClient(context.Background(), c, req); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
