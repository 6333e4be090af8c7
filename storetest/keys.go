package storetest

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"fmt"
	"slices"
	"sync"
	"testing"

	"github.com/go-jose/go-jose/v4"

	"github.com/deputyauth/deputy/store"
)

// TestKeyStore checks a KeyStore. newStore must return a fresh store holding
// exactly keys, given in the order they were added, oldest first. Every key
// is a private key with a kid and an algorithm (RS256, ES256 and EdDSA; two
// of ES256).
//
// If the store implements [KeyAdder] or [KeyRemover], the suite also checks
// rotation: the key of an algorithm added last signs, a removed key neither signs
// nor verifies, slices already returned are unchanged, and keys can be added
// and removed while lookups run.
func TestKeyStore(t *testing.T, newStore func(t *testing.T, keys []jose.JSONWebKey) store.KeyStore) {
	open := func(t *testing.T) (store.KeyStore, []jose.JSONWebKey) {
		t.Helper()
		keys := sampleKeys(t)
		s := newStore(t, slices.Clone(keys))
		if s == nil {
			t.Fatal("factory returned a nil KeyStore")
		}
		return s, keys
	}
	signing := func(t *testing.T, s store.KeyStore, alg string) *jose.JSONWebKey {
		t.Helper()
		k, err := s.SigningKey(t.Context(), alg)
		if err != nil {
			t.Fatalf("SigningKey(%q): %v", alg, err)
		}
		if k == nil {
			t.Fatalf("SigningKey(%q) returned nil and no error", alg)
		}
		return k
	}
	verification := func(t *testing.T, s store.KeyStore, kid string) []jose.JSONWebKey {
		t.Helper()
		ks, err := s.VerificationKeys(t.Context(), kid)
		if err != nil {
			t.Fatalf("VerificationKeys(%q): %v", kid, err)
		}
		return ks
	}

	t.Run("SigningKeyIsNewestOfAlg", func(t *testing.T) {
		s, keys := open(t)
		for alg, kid := range map[string]string{"RS256": "rs256-1", "ES256": "es256-new", "EdDSA": "eddsa-1"} {
			got := signing(t, s, alg)
			if got.KeyID != kid {
				t.Errorf("SigningKey(%q) has kid %q, want %q", alg, got.KeyID, kid)
			}
			if got.IsPublic() {
				t.Errorf("SigningKey(%q) returned a public key (%T)", alg, got.Key)
			}
			diff(t, fmt.Sprintf("SigningKey(%q) as a JWK", alg), jwkFields(t, findKey(keys, kid)), jwkFields(t, *got))
		}
	})

	t.Run("SigningKeySignsForItsPublicHalf", func(t *testing.T) {
		s, _ := open(t)
		for _, alg := range []jose.SignatureAlgorithm{jose.RS256, jose.ES256, jose.EdDSA} {
			priv := signing(t, s, string(alg))
			signer, err := jose.NewSigner(jose.SigningKey{Algorithm: alg, Key: priv}, nil)
			if err != nil {
				t.Errorf("NewSigner with SigningKey(%q): %v", alg, err)
				continue
			}
			jws, err := signer.Sign([]byte("payload"))
			if err != nil {
				t.Errorf("signing with SigningKey(%q): %v", alg, err)
				continue
			}
			pub := verification(t, s, priv.KeyID)
			if len(pub) != 1 {
				t.Errorf("VerificationKeys(%q) returned %d keys, want 1", priv.KeyID, len(pub))
				continue
			}
			if _, err := jws.Verify(&pub[0]); err != nil {
				t.Errorf("a JWS signed with SigningKey(%q) does not verify with VerificationKeys(%q): %v", alg, priv.KeyID, err)
			}
		}
	})

	t.Run("SigningKeyNotFound", func(t *testing.T) {
		s, _ := open(t)
		// An RSA key of RS256 must not sign RS384 or PS256.
		for _, alg := range []string{"ES384", "ES512", "RS384", "PS256", "HS256", "none", "", "es256"} {
			k, err := s.SigningKey(t.Context(), alg)
			checkNotFound(t, fmt.Sprintf("SigningKey(%q)", alg), err, k != nil)
		}
	})

	t.Run("VerificationKeysByKID", func(t *testing.T) {
		s, keys := open(t)
		for _, k := range keys {
			diff(t, fmt.Sprintf("VerificationKeys(%q)", k.KeyID), jwkList(t, publicHalves([]jose.JSONWebKey{k})), jwkList(t, verification(t, s, k.KeyID)))
		}
	})

	t.Run("VerificationKeysAllOldestFirst", func(t *testing.T) {
		s, keys := open(t)
		diff(t, `VerificationKeys("")`, jwkList(t, publicHalves(keys)), jwkList(t, verification(t, s, "")))
	})

	t.Run("VerificationKeysNotFound", func(t *testing.T) {
		s, _ := open(t)
		for _, kid := range []string{"nope", "ES256-NEW", "es256", "es256-new ", "rs256-1x"} {
			ks, err := s.VerificationKeys(t.Context(), kid)
			checkNotFound(t, fmt.Sprintf("VerificationKeys(%q)", kid), err, len(ks) != 0)
		}
	})

	t.Run("VerificationKeysEmptyStore", func(t *testing.T) {
		s := newStore(t, nil)
		if s == nil {
			t.Fatal("factory returned a nil KeyStore")
		}
		for _, kid := range []string{"", "rs256-1"} {
			ks, err := s.VerificationKeys(t.Context(), kid)
			checkNotFound(t, fmt.Sprintf("VerificationKeys(%q) of an empty store", kid), err, len(ks) != 0)
		}
		k, err := s.SigningKey(t.Context(), "ES256")
		checkNotFound(t, `SigningKey("ES256") of an empty store`, err, k != nil)
	})

	t.Run("NoPrivateMaterialInVerificationKeys", func(t *testing.T) {
		s, keys := open(t)
		var all []jose.JSONWebKey
		all = append(all, verification(t, s, "")...)
		for _, k := range keys {
			all = append(all, verification(t, s, k.KeyID)...)
		}
		for _, k := range all {
			checkPublic(t, k)
		}
	})

	t.Run("KeysNameTheirAlg", func(t *testing.T) {
		s, keys := open(t)
		for _, want := range keys {
			got := signing(t, s, want.Algorithm)
			if got.Algorithm != want.Algorithm || got.KeyID == "" {
				t.Errorf("SigningKey(%q) has alg %q and kid %q", want.Algorithm, got.Algorithm, got.KeyID)
			}
			for _, k := range verification(t, s, want.KeyID) {
				if k.Algorithm != want.Algorithm || k.KeyID != want.KeyID {
					t.Errorf("VerificationKeys(%q) holds a key with alg %q and kid %q, want %q and %q", want.KeyID, k.Algorithm, k.KeyID, want.Algorithm, want.KeyID)
				}
			}
		}
		for _, k := range verification(t, s, "") {
			if !store.IsAsymmetric(k.Algorithm) || k.KeyID == "" {
				t.Errorf(`VerificationKeys("") holds a key with alg %q and kid %q`, k.Algorithm, k.KeyID)
			}
		}
	})

	for _, cc := range ctxCases {
		t.Run(cc.name, func(t *testing.T) {
			s, _ := open(t)
			for _, alg := range []string{"ES256", "ES512"} {
				k, err := s.SigningKey(cc.ctx(t), alg)
				checkCtxErr(t, fmt.Sprintf("SigningKey(%q)", alg), err, cc.want)
				if k != nil {
					t.Errorf("SigningKey(%q) returned a key along with the error", alg)
				}
			}
			for _, kid := range []string{"", "es256-old", "nope"} {
				ks, err := s.VerificationKeys(cc.ctx(t), kid)
				checkCtxErr(t, fmt.Sprintf("VerificationKeys(%q)", kid), err, cc.want)
				if len(ks) != 0 {
					t.Errorf("VerificationKeys(%q) returned keys along with the error", kid)
				}
			}
		})
	}

	t.Run("ConcurrentReaders", func(t *testing.T) {
		s, keys := open(t)
		wantAll := jwkList(t, publicHalves(keys))
		var wg sync.WaitGroup
		for range goroutines {
			wg.Go(func() {
				for range iterations {
					k, err := s.SigningKey(t.Context(), "ES256")
					if err != nil || k == nil || k.KeyID != "es256-new" {
						t.Errorf(`SigningKey("ES256") = %v, %v; want es256-new`, k, err)
						return
					}
					all, err := s.VerificationKeys(t.Context(), "")
					if err != nil {
						t.Errorf(`VerificationKeys(""): %v`, err)
						return
					}
					diff(t, `VerificationKeys("")`, wantAll, jwkList(t, all))
				}
			})
		}
		wg.Wait()
	})

	t.Run("RemoveKey", func(t *testing.T) {
		s, keys := open(t)
		r, ok := s.(KeyRemover)
		if !ok {
			t.Skip("store does not implement storetest.KeyRemover")
		}
		before := verification(t, s, "")
		wantBefore := jwkList(t, publicHalves(keys))

		r.RemoveKey("es256-new")
		ks, err := s.VerificationKeys(t.Context(), "es256-new")
		checkNotFound(t, `VerificationKeys("es256-new") after RemoveKey`, err, len(ks) != 0)
		if k := signing(t, s, "ES256"); k.KeyID != "es256-old" {
			t.Errorf(`SigningKey("ES256") after removing es256-new has kid %q, want es256-old`, k.KeyID)
		}
		rest := slices.DeleteFunc(slices.Clone(keys), func(k jose.JSONWebKey) bool { return k.KeyID == "es256-new" })
		diff(t, `VerificationKeys("") after RemoveKey`, jwkList(t, publicHalves(rest)), jwkList(t, verification(t, s, "")))
		diff(t, `VerificationKeys("") returned before RemoveKey`, wantBefore, jwkList(t, before))

		r.RemoveKey("eddsa-1")
		k, err := s.SigningKey(t.Context(), "EdDSA")
		checkNotFound(t, `SigningKey("EdDSA") after removing its only key`, err, k != nil)

		r.RemoveKey("never-added")
		rest = slices.DeleteFunc(rest, func(k jose.JSONWebKey) bool { return k.KeyID == "eddsa-1" })
		diff(t, `VerificationKeys("") after removing an unknown kid`, jwkList(t, publicHalves(rest)), jwkList(t, verification(t, s, "")))
	})

	t.Run("AddKey", func(t *testing.T) {
		s, keys := open(t)
		a, ok := s.(KeyAdder)
		if !ok {
			t.Skip("store does not implement storetest.KeyAdder")
		}
		before := verification(t, s, "")
		wantBefore := jwkList(t, publicHalves(keys))
		oldSigner := signing(t, s, "ES256")
		wantOldSigner := jwkFields(t, *oldSigner)

		added := newECKey(t, randomID("es256-added-"))
		if err := a.AddKey(added); err != nil {
			t.Fatalf("AddKey: %v", err)
		}
		diff(t, `SigningKey("ES256") after AddKey`, jwkFields(t, added), jwkFields(t, *signing(t, s, "ES256")))
		diff(t, `VerificationKeys("") after AddKey`, jwkList(t, publicHalves(append(slices.Clone(keys), added))), jwkList(t, verification(t, s, "")))
		diff(t, fmt.Sprintf("VerificationKeys(%q)", added.KeyID), jwkList(t, publicHalves([]jose.JSONWebKey{added})), jwkList(t, verification(t, s, added.KeyID)))
		diff(t, `VerificationKeys("") returned before AddKey`, wantBefore, jwkList(t, before))
		diff(t, `SigningKey("ES256") returned before AddKey`, wantOldSigner, jwkFields(t, *oldSigner))
	})

	t.Run("ConcurrentRotation", func(t *testing.T) {
		s, keys := open(t)
		a, ok := s.(KeyAdder)
		if !ok {
			t.Skip("store does not implement storetest.KeyAdder")
		}
		r, _ := s.(KeyRemover) // optional: without it, keys only pile up
		rotated := make([]jose.JSONWebKey, 10)
		for i := range rotated {
			rotated[i] = newECKey(t, fmt.Sprintf("rotated-%d", i))
		}
		known := map[string]bool{}
		for _, k := range append(slices.Clone(keys), rotated...) {
			known[k.KeyID] = true
		}
		var wg sync.WaitGroup
		wg.Go(func() {
			for _, k := range rotated {
				if err := a.AddKey(k); err != nil {
					t.Errorf("AddKey(%q): %v", k.KeyID, err)
					return
				}
				if r != nil {
					r.RemoveKey(k.KeyID)
				}
			}
		})
		for range goroutines {
			wg.Go(func() {
				for range iterations {
					k, err := s.SigningKey(t.Context(), "ES256")
					if err != nil || k == nil {
						t.Errorf(`SigningKey("ES256") during rotation: %v, %v`, k, err)
						return
					}
					if k.IsPublic() || k.Algorithm != "ES256" || !known[k.KeyID] {
						t.Errorf(`SigningKey("ES256") during rotation returned kid %q, alg %q, %T`, k.KeyID, k.Algorithm, k.Key)
					}
					all, err := s.VerificationKeys(t.Context(), "")
					if err != nil {
						t.Errorf(`VerificationKeys("") during rotation: %v`, err)
						return
					}
					for _, k := range all {
						checkPublic(t, k)
						if !known[k.KeyID] {
							t.Errorf(`VerificationKeys("") during rotation holds unknown kid %q`, k.KeyID)
						}
					}
				}
			})
		}
		wg.Wait()
		want := keys
		if r == nil {
			want = append(slices.Clone(keys), rotated...)
		}
		diff(t, `VerificationKeys("") after rotation`, jwkList(t, publicHalves(want)), jwkList(t, verification(t, s, "")))
	})
}

// Key material is costly to generate (RSA above all), so the suite makes it
// once per test binary.
var (
	keyMaterialOnce sync.Once
	keyMaterial     struct {
		rsa    *rsa.PrivateKey
		es1    *ecdsa.PrivateKey
		es2    *ecdsa.PrivateKey
		ed     ed25519.PrivateKey
		failed error
	}
)

// sampleKeys returns the seed of every KeyStore subtest, oldest first: an
// RS256 key, two ES256 keys with an EdDSA key between them. The older ES256
// kid sorts after the newer, so a store ordering by kid is caught.
func sampleKeys(t *testing.T) []jose.JSONWebKey {
	t.Helper()
	keyMaterialOnce.Do(func() {
		m := &keyMaterial
		var err error
		if m.rsa, err = rsa.GenerateKey(rand.Reader, 2048); err != nil {
			m.failed = err
			return
		}
		if m.es1, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader); err != nil {
			m.failed = err
			return
		}
		if m.es2, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader); err != nil {
			m.failed = err
			return
		}
		_, m.ed, m.failed = ed25519.GenerateKey(rand.Reader)
	})
	m := &keyMaterial
	if m.failed != nil {
		t.Fatalf("generating keys: %v", m.failed)
	}
	return []jose.JSONWebKey{
		{Key: m.rsa, KeyID: "rs256-1", Algorithm: "RS256"},
		{Key: m.es1, KeyID: "es256-old", Algorithm: "ES256"},
		{Key: m.ed, KeyID: "eddsa-1", Algorithm: "EdDSA"},
		{Key: m.es2, KeyID: "es256-new", Algorithm: "ES256"},
	}
}

// newECKey returns a fresh private ES256 key.
func newECKey(t *testing.T, kid string) jose.JSONWebKey {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatalf("generating a P-256 key: %v", err)
	}
	return jose.JSONWebKey{Key: k, KeyID: kid, Algorithm: "ES256"}
}

// publicHalves returns the public half of each key.
func publicHalves(keys []jose.JSONWebKey) []jose.JSONWebKey {
	out := make([]jose.JSONWebKey, len(keys))
	for i := range keys {
		out[i] = keys[i].Public()
	}
	return out
}

// findKey returns the key with the given kid.
func findKey(keys []jose.JSONWebKey, kid string) jose.JSONWebKey {
	return keys[slices.IndexFunc(keys, func(k jose.JSONWebKey) bool { return k.KeyID == kid })]
}

// jwkFields returns k as its JSON members (RFC 7517), which name the key
// material, kid and alg, and compare well: the crypto types hold unexported
// fields cmp cannot see into.
func jwkFields(t *testing.T, k jose.JSONWebKey) map[string]any {
	t.Helper()
	b, err := k.MarshalJSON()
	if err != nil {
		t.Errorf("encoding key %q (%T) as a JWK: %v", k.KeyID, k.Key, err)
		return nil
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Errorf("decoding JWK %q: %v", k.KeyID, err)
	}
	return m
}

// jwkList returns jwkFields of each key.
func jwkList(t *testing.T, keys []jose.JSONWebKey) []map[string]any {
	t.Helper()
	out := make([]map[string]any, len(keys))
	for i, k := range keys {
		out[i] = jwkFields(t, k)
	}
	return out
}

// checkPublic fails the test if k holds private material.
func checkPublic(t *testing.T, k jose.JSONWebKey) {
	t.Helper()
	switch k.Key.(type) {
	case *rsa.PublicKey, *ecdsa.PublicKey, ed25519.PublicKey:
	default:
		t.Errorf("verification key %q is a %T, want a public key type", k.KeyID, k.Key)
	}
	if !k.IsPublic() {
		t.Errorf("verification key %q: IsPublic() = false", k.KeyID)
	}
	fields := jwkFields(t, k)
	for _, member := range []string{"d", "p", "q", "dp", "dq", "qi", "k"} {
		if _, ok := fields[member]; ok {
			t.Errorf("verification key %q has the private JWK member %q", k.KeyID, member)
		}
	}
}
