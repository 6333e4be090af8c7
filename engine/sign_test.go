package engine_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/base64"
	"strings"
	"testing"

	"github.com/go-jose/go-jose/v4"
	"github.com/google/go-cmp/cmp"

	"github.com/deputyauth/deputy/store"
)

// TestMintEveryAlgorithm mints for a target on each supported algorithm and
// verifies the result with go-jose, so deputy's signer interoperates.
func TestMintEveryAlgorithm(t *testing.T) {
	w := newWorld(t, nil)
	ec := func(c elliptic.Curve) *ecdsa.PrivateKey {
		k, err := ecdsa.GenerateKey(c, rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		return k
	}
	for _, k := range []jose.JSONWebKey{
		{Key: rsaKey2, KeyID: "rs384", Algorithm: "RS384"},
		{Key: rsaKey2, KeyID: "rs512", Algorithm: "RS512"},
		{Key: rsaKey2, KeyID: "ps256", Algorithm: "PS256"},
		{Key: rsaKey2, KeyID: "ps384", Algorithm: "PS384"},
		{Key: rsaKey2, KeyID: "ps512", Algorithm: "PS512"},
		{Key: ec(elliptic.P384()), KeyID: "es384", Algorithm: "ES384"},
		{Key: ec(elliptic.P521()), KeyID: "es512", Algorithm: "ES512"},
	} {
		if err := w.st.AddKey(k); err != nil {
			t.Fatal(err)
		}
	}
	for _, alg := range []string{"HS256", "HS384", "HS512", "RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"} {
		t.Run(alg, func(t *testing.T) {
			c := store.Client{ID: "t-" + alg, SigningAlg: alg, AllowedSources: []string{appHS}}
			if alg[:2] == "HS" {
				c.Secrets = []store.Secret{{ID: "s-" + alg + `"\`, Value: randomSecret(t, 64)}}
			}
			putClient(t, w.st, c)
			res, err := w.x.Exchange(context.Background(), delegation(appHS, w.idToken(t, appHS, nil), c.ID, "openid email"))
			if err != nil {
				t.Fatal(err)
			}
			w.checkMinted(t, res, c.ID) // parses and verifies with go-jose
			raw, err := base64.RawURLEncoding.DecodeString(strings.Split(res.IDToken, ".")[0])
			if err != nil {
				t.Fatal(err)
			}
			h, _ := w.decode(t, res.IDToken, c.ID)
			want := `{"alg":"` + alg + `","deputy":1,"kid":` + jsonString(h.KeyID) + `,"typ":"JWT"}`
			if diff := cmp.Diff(want, string(raw)); diff != "" {
				t.Errorf("header (-want +got):\n%s", diff)
			}
		})
	}
}

func jsonString(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for _, r := range s {
		if r == '"' || r == '\\' {
			b.WriteByte('\\')
		}
		b.WriteRune(r)
	}
	b.WriteByte('"')
	return b.String()
}
