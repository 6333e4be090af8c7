package signer_test

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/asn1"
	"errors"
	"io"
	"math/big"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
	"github.com/google/go-cmp/cmp"

	"github.com/deputyauth/deputy/engine"
	"github.com/deputyauth/deputy/signer"
	"github.com/deputyauth/deputy/store"
)

const issuer = "https://id.example.com/"

var now = time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)

// Keys are made once per test binary: RSA generation is slow.
var (
	keysOnce         sync.Once
	rsa2048, rsa3072 *rsa.PrivateKey
	p256, p384, p521 *ecdsa.PrivateKey
	edPriv           ed25519.PrivateKey
	rsa1024          *rsa.PrivateKey
)

func keys(t testing.TB) {
	t.Helper()
	keysOnce.Do(func() {
		must := func(err error) {
			if err != nil {
				panic(err)
			}
		}
		var err error
		rsa2048, err = rsa.GenerateKey(rand.Reader, 2048)
		must(err)
		rsa3072, err = rsa.GenerateKey(rand.Reader, 3072)
		must(err)
		rsa1024, err = rsa.GenerateKey(rand.Reader, 1024)
		must(err)
		p256, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		must(err)
		p384, err = ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
		must(err)
		p521, err = ecdsa.GenerateKey(elliptic.P521(), rand.Reader)
		must(err)
		_, edPriv, err = ed25519.GenerateKey(rand.Reader)
		must(err)
	})
}

// device stands for a KMS or HSM: it exposes only crypto.Signer, counts
// its calls, and can be told to fail or to answer with other bytes.
type device struct {
	key    crypto.Signer
	calls  atomic.Int64
	err    error
	mangle func(sig []byte) []byte
}

func (d *device) Public() crypto.PublicKey { return d.key.Public() }

func (d *device) Sign(r io.Reader, digest []byte, opts crypto.SignerOpts) ([]byte, error) {
	d.calls.Add(1)
	if d.err != nil {
		return nil, d.err
	}
	sig, err := d.key.Sign(r, digest, opts)
	if err == nil && d.mangle != nil {
		sig = d.mangle(sig)
	}
	return sig, err
}

// algKeys pairs every supported algorithm with a key that fits it.
func algKeys(t testing.TB) []struct {
	alg string
	key crypto.Signer
} {
	keys(t)
	return []struct {
		alg string
		key crypto.Signer
	}{
		{"RS256", rsa2048}, {"RS384", rsa3072}, {"RS512", rsa2048},
		{"PS256", rsa2048}, {"PS384", rsa2048}, {"PS512", rsa3072},
		{"ES256", p256}, {"ES384", p384}, {"ES512", p521},
		{"EdDSA", edPriv},
	}
}

// exchangeWorld is an engine over a store.Memory holding the opaque key
// jwk, with an HS256 app allowed to delegate to a target that signs with
// alg.
type exchangeWorld struct {
	st     *store.Memory
	x      *engine.Exchanger
	secret []byte
}

func newExchangeWorld(t testing.TB, alg string, jwk jose.JSONWebKey) *exchangeWorld {
	t.Helper()
	w := &exchangeWorld{st: store.NewMemory(), secret: make([]byte, 32)}
	rand.Read(w.secret)
	w.st.SetClock(func() time.Time { return now })
	if err := w.st.AddKey(jwk); err != nil {
		t.Fatal(err)
	}
	for _, c := range []store.Client{
		{ID: "app", SigningAlg: "HS256", Secrets: []store.Secret{{ID: "s1", Value: w.secret}}, Grants: []string{engine.GrantTypeJWTBearer}},
		{ID: "api", SigningAlg: alg, AllowedSources: []string{"app"}},
	} {
		if err := w.st.PutClient(c); err != nil {
			t.Fatal(err)
		}
	}
	x, err := engine.New(engine.Config{Issuer: issuer, Clients: w.st, Keys: w.st, Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	w.x = x
	return w
}

// request is a delegation from app to api with a fresh id_token.
func (w *exchangeWorld) request(t testing.TB) *engine.Request {
	t.Helper()
	s, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.HS256, Key: w.secret}, nil)
	if err != nil {
		t.Fatal(err)
	}
	tok, err := jwt.Signed(s).Claims(jwt.Claims{
		Issuer: issuer, Subject: "user-1", Audience: jwt.Audience{"app"},
		Expiry: jwt.NewNumericDate(now.Add(time.Hour)), IssuedAt: jwt.NewNumericDate(now),
	}).Serialize()
	if err != nil {
		t.Fatal(err)
	}
	return &engine.Request{GrantType: engine.GrantTypeJWTBearer, ClientID: "app", IDToken: tok, Target: "api", Scope: "openid"}
}

// verify checks tok with go-jose against the store's published key for
// kid, and returns its subject.
func (w *exchangeWorld) verify(t *testing.T, tok, alg, kid string) string {
	t.Helper()
	pubs, err := w.st.VerificationKeys(context.Background(), kid)
	if err != nil {
		t.Fatal(err)
	}
	if len(pubs) != 1 || !pubs[0].IsPublic() || !pubs[0].Valid() {
		t.Fatalf("published key %q = %+v, want one valid public key", kid, pubs)
	}
	parsed, err := jwt.ParseSigned(tok, []jose.SignatureAlgorithm{jose.SignatureAlgorithm(alg)})
	if err != nil {
		t.Fatal(err)
	}
	if got := parsed.Headers[0].KeyID; got != kid {
		t.Errorf("kid = %q, want %q", got, kid)
	}
	var c jwt.Claims
	if err := parsed.Claims(pubs[0].Key, &c); err != nil {
		t.Fatalf("go-jose cannot verify the minted token: %v", err)
	}
	return c.Subject
}

// TestEngineSignsWithOpaqueKey is the acceptance test: a key
// behind crypto.Signer signs tokens, through the engine, that go-jose
// verifies with the published public key, for every algorithm.
func TestEngineSignsWithOpaqueKey(t *testing.T) {
	for _, tc := range algKeys(t) {
		t.Run(tc.alg, func(t *testing.T) {
			d := &device{key: tc.key}
			jwk, err := signer.New(d, tc.alg, "kms-"+tc.alg)
			if err != nil {
				t.Fatal(err)
			}
			w := newExchangeWorld(t, tc.alg, jwk)
			res, err := w.x.Exchange(context.Background(), w.request(t))
			if err != nil {
				t.Fatal(err)
			}
			if got := w.verify(t, res.IDToken, tc.alg, "kms-"+tc.alg); got != "user-1" {
				t.Errorf("sub = %q, want user-1", got)
			}
			if got := d.calls.Load(); got != 1 {
				t.Errorf("device signed %d times, want 1", got)
			}
		})
	}
}

// TestGoJoseSignsWithOpaqueKey: the key is a go-jose OpaqueSigner, so
// jose.NewSigner takes it as well, directly or as a JSONWebKey.
func TestGoJoseSignsWithOpaqueKey(t *testing.T) {
	for _, tc := range algKeys(t) {
		t.Run(tc.alg, func(t *testing.T) {
			jwk, err := signer.New(&device{key: tc.key}, tc.alg, "k")
			if err != nil {
				t.Fatal(err)
			}
			for name, key := range map[string]any{"OpaqueSigner": jwk.Key, "JSONWebKey": jwk} {
				s, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.SignatureAlgorithm(tc.alg), Key: key}, nil)
				if err != nil {
					t.Fatalf("%s: %v", name, err)
				}
				obj, err := s.Sign([]byte("payload"))
				if err != nil {
					t.Fatalf("%s: %v", name, err)
				}
				got, err := obj.Verify(tc.key.Public())
				if err != nil || string(got) != "payload" {
					t.Errorf("%s: Verify = %q, %v", name, got, err)
				}
			}
		})
	}
}

func TestNewRefuses(t *testing.T) {
	keys(t)
	for _, tc := range []struct {
		name     string
		key      crypto.Signer
		alg, kid string
	}{
		{"no kid", p256, "ES256", ""},
		{"kid not UTF-8", p256, "ES256", "\xff"},
		{"none", p256, "none", "k"},
		{"HMAC", p256, "HS256", "k"},
		{"unknown alg", p256, "ES256K", "k"},
		{"EC curve too small for alg", p256, "ES384", "k"},
		{"EC curve too large for alg", p521, "ES256", "k"},
		{"EC key as RSA", p256, "RS256", "k"},
		{"RSA key as EC", rsa2048, "ES256", "k"},
		{"RSA key as EdDSA", rsa2048, "EdDSA", "k"},
		{"Ed25519 key as ES256", edPriv, "ES256", "k"},
		{"RSA 1024", rsa1024, "RS256", "k"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			jwk, err := signer.New(&device{key: tc.key}, tc.alg, tc.kid)
			if !errors.Is(err, signer.ErrInvalidKey) {
				t.Fatalf("New = %v, %v; want ErrInvalidKey", jwk.Key, err)
			}
		})
	}
	if _, err := signer.New(nil, "ES256", "k"); !errors.Is(err, signer.ErrInvalidKey) {
		t.Errorf("New(nil) = %v, want ErrInvalidKey", err)
	}
	if _, err := signer.NewFunc(p256.Public(), nil, "ES256", "k"); !errors.Is(err, signer.ErrInvalidKey) {
		t.Errorf("NewFunc(nil func) = %v, want ErrInvalidKey", err)
	}
}

// TestStoreHoldsOpaqueKey: ValidateKey accepts the key, the store
// publishes its public half and hands out the signer itself.
func TestStoreHoldsOpaqueKey(t *testing.T) {
	keys(t)
	jwk, err := signer.New(&device{key: p256}, "ES256", "kms-1")
	if err != nil {
		t.Fatal(err)
	}
	if err := store.ValidateKey(&jwk); err != nil {
		t.Fatal(err)
	}
	st := store.NewMemory()
	if err := st.AddKey(jwk); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	pubs, err := st.VerificationKeys(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	want := []jose.JSONWebKey{{Key: p256.Public(), KeyID: "kms-1", Algorithm: "ES256", Use: "sig"}}
	if diff := cmp.Diff(want, pubs, cmp.Comparer(func(a, b jose.JSONWebKey) bool {
		ta, _ := a.Thumbprint(crypto.SHA256)
		tb, _ := b.Thumbprint(crypto.SHA256)
		return a.KeyID == b.KeyID && a.Algorithm == b.Algorithm && a.Use == b.Use && a.IsPublic() && b.IsPublic() && string(ta) == string(tb)
	})); diff != "" {
		t.Errorf("published keys (-want +got):\n%s", diff)
	}
	sk, err := st.SigningKey(ctx, "ES256")
	if err != nil {
		t.Fatal(err)
	}
	if sk.Key != jwk.Key {
		t.Errorf("SigningKey returned %T, want the opaque signer", sk.Key)
	}
	if got := st.Keys(); len(got) != 1 || !got[0].IsPublic() {
		t.Errorf("Keys() = %+v, want the public half", got)
	}
}

// liar is an OpaqueSigner that reports a public key not fitting its
// declared algorithm, or more than it should.
type liar struct {
	pub  *jose.JSONWebKey
	algs []jose.SignatureAlgorithm
}

func (l *liar) Public() *jose.JSONWebKey        { return l.pub }
func (l *liar) Algs() []jose.SignatureAlgorithm { return l.algs }
func (l *liar) SignPayload([]byte, jose.SignatureAlgorithm) ([]byte, error) {
	return nil, errors.New("no")
}

func TestValidateKeyRefusesBadOpaque(t *testing.T) {
	keys(t)
	es := []jose.SignatureAlgorithm{jose.ES256}
	for _, tc := range []struct {
		name string
		o    jose.OpaqueSigner
	}{
		{"no public key", &liar{algs: es}},
		{"private key as public", &liar{pub: &jose.JSONWebKey{Key: p256}, algs: es}},
		{"wrong curve", &liar{pub: &jose.JSONWebKey{Key: p384.Public()}, algs: es}},
		{"RSA under ES256", &liar{pub: &jose.JSONWebKey{Key: rsa2048.Public()}, algs: es}},
		{"small RSA", &liar{pub: &jose.JSONWebKey{Key: rsa1024.Public()}, algs: []jose.SignatureAlgorithm{jose.RS256}}},
		{"alg not offered", &liar{pub: &jose.JSONWebKey{Key: p256.Public()}, algs: []jose.SignatureAlgorithm{jose.ES384}}},
		{"other kid", &liar{pub: &jose.JSONWebKey{Key: p256.Public(), KeyID: "other"}, algs: es}},
		{"other alg", &liar{pub: &jose.JSONWebKey{Key: p256.Public(), Algorithm: "ES384"}, algs: es}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			alg := "ES256"
			if tc.name == "small RSA" {
				alg = "RS256"
			}
			k := jose.JSONWebKey{Key: tc.o, KeyID: "k", Algorithm: alg}
			if err := store.ValidateKey(&k); !errors.Is(err, store.ErrInvalidKey) {
				t.Fatalf("ValidateKey = %v, want ErrInvalidKey", err)
			}
			if err := store.NewMemory().AddKey(k); !errors.Is(err, store.ErrInvalidKey) {
				t.Fatalf("AddKey = %v, want ErrInvalidKey", err)
			}
		})
	}
}

// TestSignerFailures: a device that fails or answers with something that
// is not a valid signature makes the exchange a server_error, and no
// token comes back.
func TestSignerFailures(t *testing.T) {
	keys(t)
	derOf := func(r, s *big.Int) []byte {
		b, err := asn1.Marshal(struct{ R, S *big.Int }{r, s})
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	one := big.NewInt(1)
	for _, tc := range []struct {
		name   string
		alg    string
		key    crypto.Signer
		err    error
		mangle func([]byte) []byte
	}{
		{name: "device error", alg: "ES256", key: p256, err: errors.New("kms: throttled")},
		{name: "device error RSA", alg: "RS256", key: rsa2048, err: errors.New("hsm: session closed")},
		{name: "garbage DER", alg: "ES256", key: p256, mangle: func([]byte) []byte { return []byte("\x30\x06garbage") }},
		{name: "empty signature", alg: "ES256", key: p256, mangle: func([]byte) []byte { return nil }},
		{name: "R||S instead of DER", alg: "ES256", key: p256, mangle: func(b []byte) []byte { return make([]byte, 64) }},
		{name: "DER with trailing bytes", alg: "ES256", key: p256, mangle: func(b []byte) []byte { return append(b, 0) }},
		{name: "DER truncated", alg: "ES256", key: p256, mangle: func(b []byte) []byte { return b[:len(b)-1] }},
		{name: "DER non-minimal length", alg: "ES256", key: p256, mangle: func(b []byte) []byte {
			return append([]byte{0x30, 0x81, b[1]}, b[2:]...)
		}},
		{name: "DER with junk inside the SEQUENCE", alg: "ES256", key: p256, mangle: func(b []byte) []byte {
			out := append([]byte{0x30, b[1] + 3}, b[2:]...)
			return append(out, 0x05, 0x01, 0x00)
		}},
		{name: "DER zero R", alg: "ES256", key: p256, mangle: func([]byte) []byte { return derOf(big.NewInt(0), one) }},
		{name: "DER negative S", alg: "ES256", key: p256, mangle: func([]byte) []byte { return derOf(one, big.NewInt(-1)) }},
		{name: "DER value too large", alg: "ES256", key: p256, mangle: func([]byte) []byte { return derOf(new(big.Int).Lsh(one, 300), one) }},
		{name: "DER well-formed, wrong signature", alg: "ES256", key: p256, mangle: func([]byte) []byte { return derOf(one, one) }},
		{name: "RSA flipped bit", alg: "RS256", key: rsa2048, mangle: func(b []byte) []byte { b[10] ^= 1; return b }},
		{name: "PSS short", alg: "PS256", key: rsa2048, mangle: func(b []byte) []byte { return b[1:] }},
		{name: "EdDSA flipped bit", alg: "EdDSA", key: edPriv, mangle: func(b []byte) []byte { b[0] ^= 1; return b }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := &device{key: tc.key, err: tc.err, mangle: tc.mangle}
			jwk, err := signer.New(d, tc.alg, "kms")
			if err != nil {
				t.Fatal(err)
			}
			w := newExchangeWorld(t, tc.alg, jwk)
			res, err := w.x.Exchange(context.Background(), w.request(t))
			if !errors.Is(err, engine.ErrServerError) {
				t.Fatalf("Exchange error = %v, want server_error", err)
			}
			if res != nil {
				t.Fatalf("Exchange returned a response %+v with its error", res)
			}
			if tc.err != nil && !errors.Is(err, tc.err) {
				t.Errorf("cause %v does not wrap the device's error", err)
			}
			if tc.mangle != nil && !errors.Is(err, signer.ErrBadSignature) {
				t.Errorf("cause of %v is not ErrBadSignature", err)
			}
			if d.calls.Load() != 1 {
				t.Errorf("device called %d times, want 1", d.calls.Load())
			}
		})
	}
}

// TestSignPayloadRefusesOtherAlg: a key signs only its own algorithm.
func TestSignPayloadRefusesOtherAlg(t *testing.T) {
	keys(t)
	jwk, err := signer.New(&device{key: rsa2048}, "RS256", "k")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := jwk.Key.(*signer.Opaque).SignPayload([]byte("x"), jose.PS256); err == nil {
		t.Fatal("RS256 key signed PS256")
	}
}

// TestContextReachesSignFunc: NewFunc's SignFunc gets the exchange's
// context, so a remote call ends with the request.
func TestContextReachesSignFunc(t *testing.T) {
	keys(t)
	type ctxKey struct{}
	var got any
	jwk, err := signer.NewFunc(p256.Public(), func(ctx context.Context, digest []byte, opts crypto.SignerOpts) ([]byte, error) {
		got = ctx.Value(ctxKey{})
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		return p256.Sign(rand.Reader, digest, opts)
	}, "ES256", "kms")
	if err != nil {
		t.Fatal(err)
	}
	w := newExchangeWorld(t, "ES256", jwk)
	ctx := context.WithValue(context.Background(), ctxKey{}, "request-7")
	res, err := w.x.Exchange(ctx, w.request(t))
	if err != nil {
		t.Fatal(err)
	}
	w.verify(t, res.IDToken, "ES256", "kms")
	if got != "request-7" {
		t.Errorf("SignFunc saw context value %v, want request-7", got)
	}
}

// countingOpaque counts how often the engine prepares a signer for it:
// preparing asks Algs once (and so does the store's validation).
type countingOpaque struct {
	*signer.Opaque
	prepared atomic.Int64
}

func (c *countingOpaque) Algs() []jose.SignatureAlgorithm {
	c.prepared.Add(1)
	return c.Opaque.Algs()
}

// TestSignerCacheKeepsOpaqueSigner: the engine prepares the signer once
// while the store hands out the same opaque key, and again once the key
// is replaced.
func TestSignerCacheKeepsOpaqueSigner(t *testing.T) {
	keys(t)
	jwk, err := signer.New(&device{key: p256}, "ES256", "kms-1")
	if err != nil {
		t.Fatal(err)
	}
	c1 := &countingOpaque{Opaque: jwk.Key.(*signer.Opaque)}
	jwk.Key = c1
	w := newExchangeWorld(t, "ES256", jwk)
	c1.prepared.Store(0) // AddKey's validation asked too
	ctx := context.Background()
	for range 5 {
		res, err := w.x.Exchange(ctx, w.request(t))
		if err != nil {
			t.Fatal(err)
		}
		w.verify(t, res.IDToken, "ES256", "kms-1")
	}
	if got := c1.prepared.Load(); got != 1 {
		t.Errorf("signer prepared %d times for 5 exchanges with one key, want 1", got)
	}

	// A new key takes over: the cache must not sign with the old one.
	jwk2, err := signer.New(&device{key: p256}, "ES256", "kms-2")
	if err != nil {
		t.Fatal(err)
	}
	c2 := &countingOpaque{Opaque: jwk2.Key.(*signer.Opaque)}
	jwk2.Key = c2
	if err := w.st.StageKey(store.Key{JSONWebKey: jwk2, SignFrom: now.Add(time.Second)}); err != nil {
		t.Fatal(err)
	}
	c2.prepared.Store(0)
	w.st.SetClock(func() time.Time { return now.Add(time.Minute) })
	for range 3 {
		res, err := w.x.Exchange(ctx, w.request(t))
		if err != nil {
			t.Fatal(err)
		}
		w.verify(t, res.IDToken, "ES256", "kms-2")
	}
	if got := c2.prepared.Load(); got != 1 {
		t.Errorf("new signer prepared %d times, want 1", got)
	}
}

// valueOpaque is an OpaqueSigner held by value whose type cannot be
// compared (it holds a slice): the cache must not panic comparing it.
type valueOpaque struct {
	o    *signer.Opaque
	algs []jose.SignatureAlgorithm
}

func (v valueOpaque) Public() *jose.JSONWebKey        { return v.o.Public() }
func (v valueOpaque) Algs() []jose.SignatureAlgorithm { return v.algs }
func (v valueOpaque) SignPayload(p []byte, alg jose.SignatureAlgorithm) ([]byte, error) {
	return v.o.SignPayload(p, alg)
}

func TestUncomparableOpaqueSigner(t *testing.T) {
	keys(t)
	jwk, err := signer.New(&device{key: edPriv}, "EdDSA", "kms")
	if err != nil {
		t.Fatal(err)
	}
	jwk.Key = valueOpaque{o: jwk.Key.(*signer.Opaque), algs: []jose.SignatureAlgorithm{jose.EdDSA}}
	w := newExchangeWorld(t, "EdDSA", jwk)
	for range 2 {
		res, err := w.x.Exchange(context.Background(), w.request(t))
		if err != nil {
			t.Fatal(err)
		}
		w.verify(t, res.IDToken, "EdDSA", "kms")
	}
}

// derOpaque is a third-party OpaqueSigner that forgets to convert ECDSA
// signatures: the engine refuses its DER answer by size.
type derOpaque struct{ key *ecdsa.PrivateKey }

func (d *derOpaque) Public() *jose.JSONWebKey {
	return &jose.JSONWebKey{Key: d.key.Public(), KeyID: "kms", Algorithm: "ES256"}
}
func (d *derOpaque) Algs() []jose.SignatureAlgorithm { return []jose.SignatureAlgorithm{jose.ES256} }
func (d *derOpaque) SignPayload(p []byte, _ jose.SignatureAlgorithm) ([]byte, error) {
	return (&device{key: d.key}).Sign(rand.Reader, sha256Sum(p), crypto.SHA256)
}

func TestEngineRefusesDERFromThirdPartySigner(t *testing.T) {
	keys(t)
	w := newExchangeWorld(t, "ES256", jose.JSONWebKey{Key: &derOpaque{key: p256}, KeyID: "kms", Algorithm: "ES256"})
	res, err := w.x.Exchange(context.Background(), w.request(t))
	if !errors.Is(err, engine.ErrServerError) || res != nil {
		t.Fatalf("Exchange = %+v, %v; want server_error and no response", res, err)
	}
}
