package engine_test

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	josejson "github.com/go-jose/go-jose/v4/json"

	"github.com/deputyauth/deputy/claims"
	"github.com/deputyauth/deputy/engine"
	"github.com/deputyauth/deputy/store"
)

// rotationClock is one clock for the engine and the store.
type rotationClock struct{ ns atomic.Int64 }

func (c *rotationClock) now() time.Time          { return time.Unix(0, c.ns.Load()).UTC() }
func (c *rotationClock) set(t time.Time)         { c.ns.Store(t.UnixNano()) }
func (c *rotationClock) advance(d time.Duration) { c.ns.Add(int64(d)) }

// cachingVerifier is a resource server that fetches the JWKS at most once
// per ttl and never on an unknown kid: the least forgiving verifier a
// rotation must survive.
type cachingVerifier struct {
	keys      store.KeyStore
	ttl       time.Duration
	fetchedAt time.Time
	jwks      []jose.JSONWebKey
}

func (v *cachingVerifier) verify(t *testing.T, token string, now time.Time) error {
	t.Helper()
	if v.jwks == nil || now.Sub(v.fetchedAt) >= v.ttl {
		ks, err := v.keys.VerificationKeys(context.Background(), "")
		if err != nil {
			t.Fatalf("fetching the JWKS: %v", err)
		}
		v.jwks, v.fetchedAt = ks, now
	}
	jws, err := jose.ParseSignedCompact(token, []jose.SignatureAlgorithm{jose.EdDSA})
	if err != nil {
		return err
	}
	kid := jws.Signatures[0].Header.KeyID
	i := slices.IndexFunc(v.jwks, func(k jose.JSONWebKey) bool { return k.KeyID == kid })
	if i < 0 {
		return errUnknownKID(kid)
	}
	payload, err := jws.Verify(v.jwks[i].Key)
	if err != nil {
		return err
	}
	var c struct {
		Exp int64 `json:"exp"`
	}
	if err := josejson.Unmarshal(payload, &c); err != nil {
		return err
	}
	if now.Unix() >= c.Exp {
		t.Fatalf("verifying a token after its exp: the test's bookkeeping is wrong")
	}
	return nil
}

type errUnknownKID string

func (e errUnknownKID) Error() string { return "unknown kid " + string(e) }

// rotationRun mints a token every 30 seconds for 40 minutes while rotate
// changes the keys, and has a caching verifier check every token still
// alive at every step. It returns the failed verifications, and fails the
// test if a minted token's kid was ever missing from the JWKS at the
// moment of minting.
func rotationRun(t *testing.T, rotate func(st *store.Memory, clock *rotationClock, step int)) (failures []string) {
	t.Helper()
	const (
		lifetime = 10 * time.Minute
		cacheTTL = 5 * time.Minute
	)
	clock := &rotationClock{}
	clock.set(fixedNow)
	st := store.NewMemory()
	st.SetClock(clock.now)
	w := newWorldOn(t, st, func(c *engine.Config) {
		c.Now = clock.now
		c.Lifetime = lifetime
	})
	v := &cachingVerifier{keys: st, ttl: cacheTTL}
	type live struct {
		token string
		exp   time.Time
	}
	var alive []live
	for step := range 80 {
		rotate(st, clock, step)
		now := clock.now()
		src := w.idToken(t, appHS, func(c claims.Set) {
			c["iat"], c["exp"] = float64(now.Add(-time.Second).Unix()), float64(now.Add(time.Hour).Unix())
		})
		res, err := w.x.Exchange(t.Context(), delegation(appHS, src, apiEd, "openid"))
		if err != nil {
			t.Fatalf("step %d: exchange: %v", step, err)
		}
		jws, err := jose.ParseSignedCompact(res.IDToken, []jose.SignatureAlgorithm{jose.EdDSA})
		if err != nil {
			t.Fatal(err)
		}
		kid := jws.Signatures[0].Header.KeyID
		if ks, err := st.VerificationKeys(t.Context(), kid); err != nil || len(ks) != 1 {
			t.Errorf("step %d: minted with kid %q, which the JWKS does not hold (%v)", step, kid, err)
		}
		alive = append(alive, live{res.IDToken, now.Add(lifetime)})
		alive = slices.DeleteFunc(alive, func(l live) bool { return !now.Before(l.exp) })
		for _, l := range alive {
			if err := v.verify(t, l.token, now); err != nil {
				failures = append(failures, err.Error())
			}
		}
		clock.advance(30 * time.Second)
	}
	return failures
}

func newEdKey(t *testing.T, kid string) jose.JSONWebKey {
	t.Helper()
	_, k, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return jose.JSONWebKey{Key: k, KeyID: kid, Algorithm: "EdDSA"}
}

// TestRotationVerifiersSurvive follows the README's runbook for verifiers
// caching the JWKS for 5 minutes and tokens living 10: the new key is
// staged 5 minutes ahead, the old one retired when the new one starts and
// removed 15 minutes after that. Not one verification fails.
func TestRotationVerifiersSurvive(t *testing.T) {
	next := newEdKey(t, "ed-2")
	failures := rotationRun(t, func(st *store.Memory, clock *rotationClock, step int) {
		switch step {
		case 10: // t0+5m
			start := clock.now().Add(5 * time.Minute)
			if err := st.StageKey(store.Key{JSONWebKey: next, SignFrom: start}); err != nil {
				t.Fatal(err)
			}
			if err := st.RetireKey("ed-1", start); err != nil {
				t.Fatal(err)
			}
		case 50: // t0+25m: the old key's end (t0+10m) + lifetime + cache
			st.RemoveKey("ed-1")
		}
	})
	if len(failures) > 0 {
		t.Errorf("%d verifications failed across a staged rotation, first: %s", len(failures), failures[0])
	}
}

// TestRotationUnstagedBreaksCachingVerifiers is the rotation the staging
// exists for: a key that signs the moment it is added is unknown to a
// verifier whose JWKS is younger than the key, so its tokens fail there
// until the verifier refreshes. (It proves rotationRun can fail.)
func TestRotationUnstagedBreaksCachingVerifiers(t *testing.T) {
	next := newEdKey(t, "ed-2")
	failures := rotationRun(t, func(st *store.Memory, clock *rotationClock, step int) {
		if step == 11 { // just after the verifier fetched the JWKS at t0+5m
			if err := st.AddKey(next); err != nil {
				t.Fatal(err)
			}
		}
	})
	if len(failures) == 0 {
		t.Fatal("an unstaged rotation failed no verification; the rotation test cannot tell staging from none")
	}
	for _, f := range failures {
		if f != "unknown kid ed-2" {
			t.Errorf("failure %q, want only unknown kid ed-2", f)
		}
	}
}
