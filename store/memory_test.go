package store_test

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"math/big"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/google/go-cmp/cmp"

	"github.com/deputyauth/deputy/claims"
	"github.com/deputyauth/deputy/store"
	"github.com/deputyauth/deputy/storetest"
)

// Memory runs the whole conformance suite, optional capabilities included.
var (
	_ storetest.ClientPutter       = (*store.Memory)(nil)
	_ storetest.RefreshTokenPutter = (*store.Memory)(nil)
	_ storetest.ProfilePutter      = (*store.Memory)(nil)
	_ storetest.KeyAdder           = (*store.Memory)(nil)
	_ storetest.KeyRemover         = (*store.Memory)(nil)
)

func TestMemoryClientStore(t *testing.T) {
	t.Parallel()
	storetest.TestClientStore(t, func(t *testing.T, clients []store.Client) store.ClientStore {
		m := store.NewMemory()
		for _, c := range clients {
			if err := m.PutClient(c); err != nil {
				t.Fatal(err)
			}
		}
		return m
	})
}

func TestMemoryRefreshTokenStore(t *testing.T) {
	t.Parallel()
	storetest.TestRefreshTokenStore(t, func(t *testing.T, grants map[[32]byte]store.RefreshGrant) store.RefreshTokenStore {
		m := store.NewMemory()
		for h, g := range grants {
			m.PutRefreshGrant(h, g)
		}
		return m
	})
}

func TestMemoryProfileStore(t *testing.T) {
	t.Parallel()
	storetest.TestProfileStore(t, func(t *testing.T, profiles map[string]claims.Set) store.ProfileStore {
		m := store.NewMemory()
		for sub, c := range profiles {
			m.PutProfile(sub, c)
		}
		return m
	})
}

func TestMemoryReplayCache(t *testing.T) {
	t.Parallel()
	storetest.TestReplayCache(t, func(t *testing.T) store.ReplayCache { return store.NewMemory() })
}

func TestMemoryKeyStore(t *testing.T) {
	t.Parallel()
	storetest.TestKeyStore(t, func(t *testing.T, keys []jose.JSONWebKey) store.KeyStore {
		m := store.NewMemory()
		for _, k := range keys {
			if err := m.AddKey(k); err != nil {
				t.Fatal(err)
			}
		}
		return m
	})
}

func TestMemoryKeyRotation(t *testing.T) {
	t.Parallel()
	storetest.TestKeyRotation(t, func(t *testing.T, keys []store.Key, now func() time.Time) store.KeyStore {
		m := store.NewMemory()
		m.SetClock(now)
		for _, k := range keys {
			if err := m.StageKey(k); err != nil {
				t.Fatal(err)
			}
		}
		return m
	})
}

func TestMemoryPutClientRefusesInvalid(t *testing.T) {
	t.Parallel()
	secret := func(id string, n int) store.Secret { return store.Secret{ID: id, Value: make([]byte, n)} }
	tests := []struct {
		name   string
		change func(c *store.Client)
	}{
		{"empty ID", func(c *store.Client) { c.ID = "" }},
		{`alg "none"`, func(c *store.Client) { c.SigningAlg = "none" }},
		{`alg ""`, func(c *store.Client) { c.SigningAlg = "" }},
		{"unknown alg", func(c *store.Client) { c.SigningAlg = "HS1024" }},
		{"alg in lower case", func(c *store.Client) { c.SigningAlg = "hs256" }},
		{"HS256 without secret", func(c *store.Client) { c.Secrets = nil }},
		{"HS256 secret of 31 bytes", func(c *store.Client) { c.Secrets = []store.Secret{secret("s", 31)} }},
		{"HS384 secret of 47 bytes", func(c *store.Client) {
			c.SigningAlg = "HS384"
			c.Secrets = []store.Secret{secret("s", 48), secret("t", 47)}
		}},
		{"duplicate secret IDs", func(c *store.Client) { c.Secrets = []store.Secret{secret("s", 32), secret("s", 32)} }},
		{"secret without ID", func(c *store.Client) { c.Secrets = []store.Secret{secret("", 32)} }},
		{"empty secret of an EdDSA client", func(c *store.Client) {
			c.SigningAlg = "EdDSA"
			c.Secrets = []store.Secret{secret("s", 0)}
		}},
		{"negative lifetime", func(c *store.Client) { c.Lifetime = -time.Second }},
		{"sub-second lifetime", func(c *store.Client) { c.Lifetime = 500 * time.Millisecond }},
		{"fractional lifetime", func(c *store.Client) { c.Lifetime = 1500 * time.Millisecond }},
		{"ID not UTF-8", func(c *store.Client) { c.ID = "app\xff" }},
		{"secret ID not UTF-8", func(c *store.Client) { c.Secrets = []store.Secret{secret("s\xff", 32)} }},
		{"empty scope", func(c *store.Client) { c.Scopes = []string{"openid", ""} }},
		{"api type settings not JSON", func(c *store.Client) { c.APITypes = map[string]json.RawMessage{"firebase": json.RawMessage("{")} }},
		{"default api type not enabled", func(c *store.Client) {
			c.APITypes = map[string]json.RawMessage{"firebase": json.RawMessage("{}")}
			c.DefaultAPIType = "azure_sb"
		}},
		{"default api type without any enabled", func(c *store.Client) { c.DefaultAPIType = "firebase" }},
	}
	valid := func() store.Client {
		return store.Client{ID: "app", SigningAlg: "HS256", Secrets: []store.Secret{secret("s", 32)}}
	}

	// Each case changes one thing about a client PutClient accepts.
	if err := store.NewMemory().PutClient(valid()); err != nil {
		t.Fatalf("PutClient of the valid baseline: %v", err)
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := valid()
			c.ID = "changed-" + tt.name
			tt.change(&c)
			m := store.NewMemory()
			err := m.PutClient(c)
			if !errors.Is(err, store.ErrInvalidClient) {
				t.Fatalf("PutClient = %v, want an error wrapping store.ErrInvalidClient", err)
			}
			if _, err := m.Client(t.Context(), c.ID); !errors.Is(err, store.ErrNotFound) {
				t.Errorf("Client(%q) after a refused PutClient: %v, want store.ErrNotFound", c.ID, err)
			}
		})
	}
}

// TestWeakSecretsRefused (issue 12, item 7): every client secret is at
// least 32 bytes, whatever the client's algorithm, since for an asymmetric
// client it is still the credential that authenticates the client. HMAC
// clients need at least their hash size. The error names the secret's ID,
// never its value.
func TestWeakSecretsRefused(t *testing.T) {
	t.Parallel()
	secret := func(id string, n int) store.Secret {
		return store.Secret{ID: id, Value: bytes.Repeat([]byte{'Q'}, n)}
	}
	tests := []struct {
		name    string
		alg     string
		secrets []store.Secret
		want    string // "" when the client is accepted
	}{
		{"RS256 confidential, one byte", "RS256", []store.Secret{secret("rs-1", 1)}, `store: invalid client "c": secret "rs-1" shorter than 32 bytes`},
		{"RS256, 31 bytes", "RS256", []store.Secret{secret("rs-31", 31)}, `store: invalid client "c": secret "rs-31" shorter than 32 bytes`},
		{"RS256, 32 bytes", "RS256", []store.Secret{secret("rs-32", 32)}, ""},
		{"ES256, second secret short", "ES256", []store.Secret{secret("a", 64), secret("b", 16)}, `store: invalid client "c": secret "b" shorter than 32 bytes`},
		{"EdDSA, empty", "EdDSA", []store.Secret{secret("e", 0)}, `store: invalid client "c": secret "e" shorter than 32 bytes`},
		{"PS512, 33 bytes", "PS512", []store.Secret{secret("p", 33)}, ""},
		{"HS256, 31 bytes", "HS256", []store.Secret{secret("h", 31)}, `store: invalid client "c": secret "h" shorter than 32 bytes`},
		{"HS384, 47 bytes", "HS384", []store.Secret{secret("h", 47)}, `store: invalid client "c": secret "h" shorter than 48 bytes`},
		{"HS512, 63 bytes", "HS512", []store.Secret{secret("h", 63)}, `store: invalid client "c": secret "h" shorter than 64 bytes`},
		{"HS512, 64 bytes", "HS512", []store.Secret{secret("h", 64)}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := store.Client{ID: "c", SigningAlg: tt.alg, Confidential: true, Secrets: tt.secrets}
			err := c.Validate()
			got := ""
			if err != nil {
				got = err.Error()
				if !errors.Is(err, store.ErrInvalidClient) {
					t.Errorf("Validate = %v, want an error wrapping store.ErrInvalidClient", err)
				}
				if strings.Contains(got, "Q") {
					t.Errorf("Validate error %q quotes a secret's value", got)
				}
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("Validate error mismatch (-want +got):\n%s", diff)
			}
			if err := store.NewMemory().PutClient(c); (err == nil) != (tt.want == "") {
				t.Errorf("PutClient = %v, want refused %v", err, tt.want != "")
			}
		})
	}
}

func TestMemoryPutClientReportsEveryProblem(t *testing.T) {
	t.Parallel()
	err := store.NewMemory().PutClient(store.Client{SigningAlg: "none", Lifetime: -1})
	var joined interface{ Unwrap() []error }
	if !errors.As(err, &joined) || len(joined.Unwrap()) != 3 {
		t.Fatalf("PutClient = %v, want 3 problems: empty ID, negative lifetime, alg none", err)
	}
	for _, e := range joined.Unwrap() {
		if !errors.Is(e, store.ErrInvalidClient) {
			t.Errorf("problem %q does not wrap store.ErrInvalidClient", e)
		}
	}
}

// rsaKey is generated once: RSA generation is slow under -race.
var rsaKey = sync.OnceValue(func() *rsa.PrivateKey {
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		panic(err)
	}
	return k
})

func TestMemoryAddKeyRefusesInvalid(t *testing.T) {
	t.Parallel()
	rk := rsaKey()
	p256, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	_, ed, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	rsa1024 := &rsa.PublicKey{N: new(big.Int).Rsh(rk.N, 1024), E: 65537}
	exponent3 := rk.PublicKey
	exponent3.E = 3

	// Each valid key is refused once one thing about it changes.
	for _, k := range []jose.JSONWebKey{
		{Key: rk, KeyID: "rsa", Algorithm: "RS256"},
		{Key: &rk.PublicKey, KeyID: "rsa-public", Algorithm: "PS512"},
		{Key: p256, KeyID: "ec", Algorithm: "ES256"},
		{Key: ed, KeyID: "ed", Algorithm: "EdDSA"},
	} {
		if err := store.ValidateKey(&k); err != nil {
			t.Errorf("ValidateKey of valid key %q: %v", k.KeyID, err)
		}
	}
	tests := []struct {
		name string
		key  jose.JSONWebKey
	}{
		{"RSA of 1024 bits", jose.JSONWebKey{Key: rsa1024, KeyID: "k", Algorithm: "RS256"}},
		{"RSA with exponent 3", jose.JSONWebKey{Key: &exponent3, KeyID: "k", Algorithm: "RS256"}},
		{"P-256 declared ES384", jose.JSONWebKey{Key: p256, KeyID: "k", Algorithm: "ES384"}},
		{"RSA declared ES256", jose.JSONWebKey{Key: rk, KeyID: "k", Algorithm: "ES256"}},
		{"Ed25519 declared RS256", jose.JSONWebKey{Key: ed, KeyID: "k", Algorithm: "RS256"}},
		{"P-256 declared EdDSA", jose.JSONWebKey{Key: &p256.PublicKey, KeyID: "k", Algorithm: "EdDSA"}},
		{"missing kid", jose.JSONWebKey{Key: p256, Algorithm: "ES256"}},
		{"missing alg", jose.JSONWebKey{Key: p256, KeyID: "k"}},
		{"alg none", jose.JSONWebKey{Key: p256, KeyID: "k", Algorithm: "none"}},
		{"symmetric key", jose.JSONWebKey{Key: make([]byte, 32), KeyID: "k", Algorithm: "HS256"}},
		{"symmetric key declared ES256", jose.JSONWebKey{Key: make([]byte, 32), KeyID: "k", Algorithm: "ES256"}},
		{"no key", jose.JSONWebKey{KeyID: "k", Algorithm: "ES256"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := store.ValidateKey(&tt.key); !errors.Is(err, store.ErrInvalidKey) {
				t.Errorf("ValidateKey = %v, want an error wrapping store.ErrInvalidKey", err)
			}
			m := store.NewMemory()
			if err := m.AddKey(tt.key); !errors.Is(err, store.ErrInvalidKey) {
				t.Errorf("AddKey = %v, want an error wrapping store.ErrInvalidKey", err)
			}
			if ks, err := m.VerificationKeys(t.Context(), ""); !errors.Is(err, store.ErrNotFound) {
				t.Errorf("VerificationKeys after a refused AddKey = %d keys, %v; want store.ErrNotFound", len(ks), err)
			}
		})
	}
}

func TestMemoryAddKeyRefusesDuplicateKID(t *testing.T) {
	t.Parallel()
	first, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	second, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	m := store.NewMemory()
	if err := m.AddKey(jose.JSONWebKey{Key: first, KeyID: "k", Algorithm: "ES256"}); err != nil {
		t.Fatal(err)
	}
	for name, k := range map[string]any{"same key": first, "other key": second, "public half": &first.PublicKey} {
		if err := m.AddKey(jose.JSONWebKey{Key: k, KeyID: "k", Algorithm: "ES256"}); !errors.Is(err, store.ErrInvalidKey) {
			t.Errorf("AddKey of the %s under a kid already present = %v, want an error wrapping store.ErrInvalidKey", name, err)
		}
	}
	signer, err := m.SigningKey(t.Context(), "ES256")
	if err != nil {
		t.Fatal(err)
	}
	if signer.Key != any(first) {
		t.Error("a refused AddKey replaced the signing key")
	}
	if ks, err := m.VerificationKeys(t.Context(), ""); err != nil || len(ks) != 1 {
		t.Errorf(`VerificationKeys("") = %d keys, %v; want 1`, len(ks), err)
	}
}

// A public-only key verifies but never signs.
func TestMemoryPublicKeyVerifiesOnly(t *testing.T) {
	t.Parallel()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	m := store.NewMemory()
	if err := m.AddKey(jose.JSONWebKey{Key: &k.PublicKey, KeyID: "upstream", Algorithm: "ES256"}); err != nil {
		t.Fatal(err)
	}
	if _, err := m.SigningKey(t.Context(), "ES256"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf(`SigningKey("ES256") with only a public key: %v, want store.ErrNotFound`, err)
	}
	ks, err := m.VerificationKeys(t.Context(), "upstream")
	if err != nil || len(ks) != 1 || ks[0].Key != any(&k.PublicKey) {
		t.Errorf(`VerificationKeys("upstream") = %v, %v; want the public key`, ks, err)
	}
}

// Memory documents that lookups allocate nothing.
func TestMemoryLookupsDoNotAllocate(t *testing.T) {
	m := store.NewMemory()
	if err := m.PutClient(store.Client{ID: "app", SigningAlg: "ES256"}); err != nil {
		t.Fatal(err)
	}
	m.PutRefreshToken("token", store.RefreshGrant{ClientID: "app", Subject: "u"})
	m.PutProfile("u", claims.Set{"name": "U"})
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	if err := m.AddKey(jose.JSONWebKey{Key: k, KeyID: "k", Algorithm: "ES256"}); err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	hash := sha256.Sum256([]byte("token"))
	for name, lookup := range map[string]func() error{
		"Client":           func() error { _, err := m.Client(ctx, "app"); return err },
		"RefreshToken":     func() error { _, err := m.RefreshToken(ctx, hash); return err },
		"Profile":          func() error { _, err := m.Profile(ctx, "u"); return err },
		"SigningKey":       func() error { _, err := m.SigningKey(ctx, "ES256"); return err },
		"VerificationKeys": func() error { _, err := m.VerificationKeys(ctx, "k"); return err },
		"VerificationKeys(\"\")": func() error {
			_, err := m.VerificationKeys(ctx, "")
			return err
		},
	} {
		if err := lookup(); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if n := testing.AllocsPerRun(100, func() { lookup() }); n != 0 {
			t.Errorf("%s allocates %v times per call, want 0", name, n)
		}
	}
}

// A removed kid is never accepted again: an ID names one key material
// forever, and relying parties may cache keys by kid.
func TestMemoryRemovedKIDNotReused(t *testing.T) {
	t.Parallel()
	k1, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	k2, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	m := store.NewMemory()
	if err := m.AddKey(jose.JSONWebKey{Key: k1, KeyID: "k", Algorithm: "ES256"}); err != nil {
		t.Fatal(err)
	}
	m.RemoveKey("k")
	if err := m.AddKey(jose.JSONWebKey{Key: k2, KeyID: "k", Algorithm: "ES256"}); !errors.Is(err, store.ErrInvalidKey) {
		t.Errorf("AddKey of a removed kid = %v, want an error wrapping store.ErrInvalidKey", err)
	}
	m.RemoveKey("never-added") // removing an unknown kid retires nothing
	if err := m.AddKey(jose.JSONWebKey{Key: k2, KeyID: "never-added", Algorithm: "ES256"}); err != nil {
		t.Errorf("AddKey after removing an unknown kid: %v", err)
	}
}

// A miss quotes only a short prefix of the id asked for, which may be a
// token pasted by mistake.
func TestMemoryMissDoesNotEchoLongIDs(t *testing.T) {
	t.Parallel()
	long := strings.Repeat("x", 1000)
	_, err := store.NewMemory().Client(t.Context(), long)
	if !errors.Is(err, store.ErrNotFound) || len(err.Error()) > 200 {
		t.Errorf("miss error = %d bytes (%v), want ErrNotFound in under 200 bytes", len(err.Error()), errors.Is(err, store.ErrNotFound))
	}
}
