package storetest

import (
	"fmt"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/deputyauth/deputy/store"
)

// KeyStager is implemented by key stores that can stage a key at run time:
// published at once, signing within its window.
type KeyStager interface {
	// StageKey adds k, or returns an error if the store refuses it.
	StageKey(k store.Key) error
}

// KeyRetirer is implemented by key stores that can end a key's signing
// window at run time, keeping it published.
type KeyRetirer interface {
	// RetireKey ends the signing window of kid at at (now when zero); an
	// unknown kid wraps store.ErrNotFound.
	RetireKey(kid string, at time.Time) error
}

// TestKeyRotation checks the signing windows of a KeyStore: a key is
// published from the moment it is added, signs only within its window, and
// SigningKey picks the key whose window began last. newStore must return a
// fresh store holding exactly keys, added in the order given, that reads
// the time from now whenever it needs it (key windows are judged at lookup,
// never when a record is loaded or cached). now is the suite's clock; it
// starts at a fixed instant, the time at which the keys are added, and the
// suite moves it.
//
// If the store implements [KeyStager] and [KeyRetirer], the suite also
// stages and retires keys at run time.
func TestKeyRotation(t *testing.T, newStore func(t *testing.T, keys []store.Key, now func() time.Time) store.KeyStore) {
	t0 := date(2030, time.March, 1)
	open := func(t *testing.T, keys []store.Key) (store.KeyStore, *testClock) {
		t.Helper()
		clock := newTestClock(t0)
		s := newStore(t, slices.Clone(keys), clock.now)
		if s == nil {
			t.Fatal("factory returned a nil KeyStore")
		}
		return s, clock
	}
	// signer reports the kid SigningKey(alg) returns, or "" for a miss.
	signer := func(t *testing.T, s store.KeyStore, alg string) string {
		t.Helper()
		k, err := s.SigningKey(t.Context(), alg)
		if err != nil {
			checkNotFound(t, fmt.Sprintf("SigningKey(%q)", alg), err, k != nil)
			return ""
		}
		if k == nil {
			t.Fatalf("SigningKey(%q) returned nil and no error", alg)
		}
		if k.IsPublic() {
			t.Errorf("SigningKey(%q) returned the public-only key %q", alg, k.KeyID)
		}
		return k.KeyID
	}
	published := func(t *testing.T, s store.KeyStore) []string {
		t.Helper()
		ks, err := s.VerificationKeys(t.Context(), "")
		if err != nil {
			t.Fatalf(`VerificationKeys(""): %v`, err)
		}
		kids := make([]string, len(ks))
		for i, k := range ks {
			checkPublic(t, k)
			kids[i] = k.KeyID
		}
		return kids
	}
	a, b, c := newECKey(t, "es-a"), newECKey(t, "es-b"), newECKey(t, "es-c")
	at := func(k jose.JSONWebKey, from, until time.Duration) store.Key {
		sk := store.Key{JSONWebKey: k}
		if from != 0 {
			sk.SignFrom = t0.Add(from)
		}
		if until != 0 {
			sk.SignUntil = t0.Add(until)
		}
		return sk
	}
	// A step of a timeline: at t0+offset, alg ES256 signs with want
	// ("" for no key).
	type step struct {
		offset time.Duration
		want   string
	}
	timelines := []struct {
		name  string
		keys  []store.Key
		steps []step
	}{
		{
			name: "StagedKeyPublishedBeforeItSigns",
			keys: []store.Key{at(a, -time.Hour, 0), at(b, 10*time.Minute, 0)},
			steps: []step{
				{0, "es-a"}, {10*time.Minute - time.Second, "es-a"},
				{10 * time.Minute, "es-b"}, {24 * time.Hour, "es-b"},
			},
		},
		{
			name: "RetiredKeyStopsSigning",
			keys: []store.Key{at(a, -2*time.Hour, 0), at(b, -time.Hour, time.Minute)},
			steps: []step{
				{0, "es-b"}, {time.Minute - time.Second, "es-b"},
				{time.Minute, "es-a"}, {time.Hour, "es-a"},
			},
		},
		{
			name:  "LatestStartSignsNotLastAdded",
			keys:  []store.Key{at(a, -time.Minute, 0), at(b, -time.Hour, 0)},
			steps: []step{{0, "es-a"}, {time.Hour, "es-a"}},
		},
		{
			name:  "EqualStartsLastAddedSigns",
			keys:  []store.Key{at(a, -time.Hour, 0), at(b, -time.Hour, 0)},
			steps: []step{{0, "es-b"}},
		},
		{
			name: "ZeroStartIsTheTimeOfAdding",
			// es-b has no start: it starts at t0, after es-a and before es-c.
			keys: []store.Key{at(a, -time.Hour, 0), at(b, 0, 0), at(c, time.Hour, 0)},
			steps: []step{
				{0, "es-b"}, {time.Hour - time.Second, "es-b"}, {time.Hour, "es-c"},
			},
		},
		{
			name: "NothingInItsWindow",
			keys: []store.Key{at(a, time.Hour, 2*time.Hour)},
			steps: []step{
				{0, ""}, {time.Hour, "es-a"}, {2*time.Hour - time.Second, "es-a"}, {2 * time.Hour, ""},
			},
		},
		{
			name:  "PublicOnlyKeyNeverSigns",
			keys:  []store.Key{at(a, -time.Hour, 0), {JSONWebKey: b.Public(), SignFrom: t0.Add(-time.Minute)}},
			steps: []step{{0, "es-a"}},
		},
		{
			// A whole rotation: es-b staged ten minutes ahead while es-a
			// signs, es-a retired when es-b starts, es-c staged next.
			name: "FullRotation",
			keys: []store.Key{
				at(a, -24*time.Hour, 10*time.Minute),
				at(b, 10*time.Minute, 70*time.Minute),
				at(c, 70*time.Minute, 0),
			},
			steps: []step{
				{0, "es-a"}, {9 * time.Minute, "es-a"}, {10 * time.Minute, "es-b"},
				{69 * time.Minute, "es-b"}, {70 * time.Minute, "es-c"}, {48 * time.Hour, "es-c"},
			},
		},
	}
	for _, tl := range timelines {
		t.Run(tl.name, func(t *testing.T) {
			s, clock := open(t, tl.keys)
			var wantPublished []string
			for _, k := range tl.keys {
				wantPublished = append(wantPublished, k.KeyID)
			}
			for _, st := range tl.steps {
				clock.set(t0.Add(st.offset))
				got := signer(t, s, "ES256")
				if got != st.want {
					t.Errorf("at t0+%v: SigningKey(\"ES256\") is %q, want %q", st.offset, got, st.want)
				}
				kids := published(t, s)
				diff(t, fmt.Sprintf("published kids at t0+%v", st.offset), wantPublished, kids)
				if got != "" && !slices.Contains(kids, got) {
					t.Errorf("at t0+%v: signing key %q is not published", st.offset, got)
				}
				for _, kid := range wantPublished {
					ks, err := s.VerificationKeys(t.Context(), kid)
					if err != nil || len(ks) != 1 || ks[0].KeyID != kid {
						t.Errorf("at t0+%v: VerificationKeys(%q) = %d keys, %v; want the key", st.offset, kid, len(ks), err)
					}
				}
			}
		})
	}

	t.Run("OtherAlgorithmsUnaffected", func(t *testing.T) {
		ed := sampleKeys(t)[2] // EdDSA
		s, clock := open(t, []store.Key{at(a, time.Hour, 0), {JSONWebKey: ed}})
		for _, off := range []time.Duration{0, 2 * time.Hour} {
			clock.set(t0.Add(off))
			if got := signer(t, s, "EdDSA"); got != ed.KeyID {
				t.Errorf("at t0+%v: SigningKey(\"EdDSA\") is %q, want %q", off, got, ed.KeyID)
			}
		}
	})

	t.Run("StageAndRetireAtRunTime", func(t *testing.T) {
		s, clock := open(t, []store.Key{at(a, -time.Hour, 0)})
		stager, ok := s.(KeyStager)
		if !ok {
			t.Skip("store does not implement storetest.KeyStager")
		}
		retirer, ok := s.(KeyRetirer)
		if !ok {
			t.Skip("store does not implement storetest.KeyRetirer")
		}
		if err := stager.StageKey(at(b, 5*time.Minute, 0)); err != nil {
			t.Fatalf("StageKey: %v", err)
		}
		if got := signer(t, s, "ES256"); got != "es-a" {
			t.Errorf("after staging es-b for t0+5m, at t0 SigningKey is %q, want es-a", got)
		}
		diff(t, "published kids after StageKey", []string{"es-a", "es-b"}, published(t, s))
		clock.set(t0.Add(5 * time.Minute))
		if got := signer(t, s, "ES256"); got != "es-b" {
			t.Errorf("at t0+5m SigningKey is %q, want es-b", got)
		}
		if err := retirer.RetireKey("es-b", time.Time{}); err != nil {
			t.Fatalf("RetireKey(es-b, now): %v", err)
		}
		if got := signer(t, s, "ES256"); got != "es-a" {
			t.Errorf("after retiring es-b now, SigningKey is %q, want es-a", got)
		}
		if err := retirer.RetireKey("es-a", t0.Add(10*time.Minute)); err != nil {
			t.Fatalf("RetireKey(es-a, t0+10m): %v", err)
		}
		if got := signer(t, s, "ES256"); got != "es-a" {
			t.Errorf("before es-a's end, SigningKey is %q, want es-a", got)
		}
		clock.set(t0.Add(10 * time.Minute))
		if got := signer(t, s, "ES256"); got != "" {
			t.Errorf("after every key retired, SigningKey is %q, want a miss", got)
		}
		diff(t, "published kids after retiring both", []string{"es-a", "es-b"}, published(t, s))
		err := retirer.RetireKey("never-added", time.Time{})
		checkNotFound(t, "RetireKey(never-added)", err, false)
	})
}

// testClock is the suite's clock, safe to read from the store's goroutines.
type testClock struct{ ns atomic.Int64 }

func newTestClock(t time.Time) *testClock {
	c := &testClock{}
	c.set(t)
	return c
}

func (c *testClock) set(t time.Time) { c.ns.Store(t.UnixNano()) }

func (c *testClock) now() time.Time { return time.Unix(0, c.ns.Load()).UTC() }
