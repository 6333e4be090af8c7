package storetest

import (
	"fmt"
	"maps"
	"slices"
	"sync"
	"testing"

	"github.com/deputyauth/deputy/claims"
	"github.com/deputyauth/deputy/store"
)

// TestProfileStore checks a ProfileStore. newStore must return a fresh store
// holding exactly profiles, keyed by subject. Claim values are JSON values as
// encoding/json decodes them into an any: string, float64, bool, nil,
// map[string]any and []any; the store must return them as such.
//
// If the store implements [ProfilePutter], the suite also checks that
// profiles already returned survive a Put unchanged, that Put copies its
// argument at every depth, and that Put and Profile run safely side by side.
func TestProfileStore(t *testing.T, newStore func(t *testing.T, profiles map[string]claims.Set) store.ProfileStore) {
	open := func(t *testing.T, profiles map[string]claims.Set) store.ProfileStore {
		t.Helper()
		seed := make(map[string]claims.Set, len(profiles))
		for sub, c := range profiles {
			seed[sub] = c.Clone()
		}
		s := newStore(t, seed)
		if s == nil {
			t.Fatal("factory returned a nil ProfileStore")
		}
		return s
	}
	get := func(t *testing.T, s store.ProfileStore, subject string) claims.Set {
		t.Helper()
		c, err := s.Profile(t.Context(), subject)
		if err != nil {
			t.Fatalf("Profile(%q): %v", subject, err)
		}
		return c
	}

	t.Run("Found", func(t *testing.T) {
		profiles := sampleProfiles()
		s := open(t, profiles)
		for sub, want := range profiles {
			diff(t, fmt.Sprintf("Profile(%q)", sub), want, get(t, s, sub), recordOpts)
		}
	})

	t.Run("EmptyProfileIsFound", func(t *testing.T) {
		s := open(t, map[string]claims.Set{"auth0|nobody-special": {}})
		if got := get(t, s, "auth0|nobody-special"); len(got) != 0 {
			t.Errorf(`Profile("auth0|nobody-special") = %v, want no claims`, got)
		}
	})

	t.Run("NotFound", func(t *testing.T) {
		s := open(t, sampleProfiles())
		for _, sub := range []string{"auth0|nobody", "", "AUTH0|ALICE", "auth0|alic", "auth0|alice "} {
			c, err := s.Profile(t.Context(), sub)
			checkNotFound(t, fmt.Sprintf("Profile(%q)", sub), err, len(c) != 0)
		}
	})

	for _, cc := range ctxCases {
		t.Run(cc.name, func(t *testing.T) {
			s := open(t, sampleProfiles())
			for _, sub := range []string{"auth0|alice", "auth0|nobody"} {
				c, err := s.Profile(cc.ctx(t), sub)
				checkCtxErr(t, fmt.Sprintf("Profile(%q)", sub), err, cc.want)
				if len(c) != 0 {
					t.Errorf("Profile(%q) returned claims along with the error", sub)
				}
			}
		})
	}

	t.Run("ConcurrentReaders", func(t *testing.T) {
		profiles := sampleProfiles()
		subjects := append(slices.Sorted(maps.Keys(profiles)), "auth0|nobody")
		s := open(t, profiles)
		var wg sync.WaitGroup
		for g := range goroutines {
			wg.Go(func() {
				for i := range iterations {
					sub := subjects[(g+i)%len(subjects)]
					c, err := s.Profile(t.Context(), sub)
					want, ok := profiles[sub]
					if !ok {
						checkNotFound(t, fmt.Sprintf("Profile(%q)", sub), err, len(c) != 0)
						continue
					}
					if err != nil {
						t.Errorf("Profile(%q): %v", sub, err)
						return
					}
					diff(t, fmt.Sprintf("Profile(%q)", sub), want, c, recordOpts)
				}
			})
		}
		wg.Wait()
	})

	t.Run("SnapshotStable", func(t *testing.T) {
		profiles := sampleProfiles()
		s := open(t, profiles)
		p, ok := s.(ProfilePutter)
		if !ok {
			t.Skip("store does not implement storetest.ProfilePutter")
		}
		before := get(t, s, "auth0|alice")
		v2 := profiles["auth0|alice"].Clone()
		v2["name"] = "Alice Liddell"
		v2["address"].(map[string]any)["locality"] = "Oxford"
		v2["groups"] = []any{"admin"}
		delete(v2, "email")
		p.PutProfile("auth0|alice", v2.Clone())
		diff(t, "profile returned before PutProfile", profiles["auth0|alice"], before, recordOpts)
		diff(t, "profile returned after PutProfile", v2, get(t, s, "auth0|alice"), recordOpts)
	})

	t.Run("PutCopiesInput", func(t *testing.T) {
		s := open(t, nil)
		p, ok := s.(ProfilePutter)
		if !ok {
			t.Skip("store does not implement storetest.ProfilePutter")
		}
		want := sampleProfiles()["auth0|alice"]
		in := want.Clone()
		p.PutProfile("auth0|alice", in)
		in["name"] = "changed"
		in["added"] = "changed"
		address := in["address"].(map[string]any)
		address["locality"] = "changed"
		address["geo"].(map[string]any)["lat"] = 0.0
		in["groups"].([]any)[0] = "changed"
		diff(t, "profile after the caller changed its PutProfile argument", want, get(t, s, "auth0|alice"), recordOpts)
	})

	t.Run("ConcurrentPutAndProfile", func(t *testing.T) {
		const sub = "auth0|alice"
		s := open(t, map[string]claims.Set{sub: profileVersion(0)})
		p, ok := s.(ProfilePutter)
		if !ok {
			t.Skip("store does not implement storetest.ProfilePutter")
		}
		var wg sync.WaitGroup
		for w := range 2 {
			wg.Go(func() {
				for i := range iterations {
					p.PutProfile(sub, profileVersion(1+w*iterations+i))
				}
			})
		}
		for range goroutines {
			wg.Go(func() {
				for range iterations {
					c, err := s.Profile(t.Context(), sub)
					if err != nil {
						t.Errorf("Profile(%q): %v", sub, err)
						return
					}
					name, _ := c["name"].(string)
					var n int
					fmt.Sscanf(name, "version %d", &n)
					diff(t, fmt.Sprintf("profile %q read during PutProfile", name), profileVersion(n), c, recordOpts)
				}
			})
		}
		wg.Wait()
	})
}

// sampleProfiles returns profiles holding every kind of JSON value, nested.
func sampleProfiles() map[string]claims.Set {
	return map[string]claims.Set{
		"auth0|alice": {
			"name":           "Alice",
			"email":          "alice@example.com",
			"email_verified": true,
			"updated_at":     1.7e9,
			"logins":         42.0,
			"ratio":          -0.25,
			"address": map[string]any{
				"street_address": "1 Main St\nApt 2",
				"locality":       "Springfield",
				"country":        "US",
				"geo":            map[string]any{"lat": 51.5, "lng": -0.125},
			},
			"groups":   []any{"admin", "dev", []any{"nested", 1.0}, map[string]any{"k": false}},
			"nickname": "ålîçé ✓",
		},
		"auth0|bob":  {"name": "Bob", "email_verified": false},
		"google|123": {"email": "carol@example.com", "groups": []any{}},
	}
}

// profileVersion returns version n of a profile; every claim that can name
// n does.
func profileVersion(n int) claims.Set {
	v := fmt.Sprintf("version %d", n)
	return claims.Set{
		"name":    v,
		"address": map[string]any{"locality": v},
		"groups":  []any{v},
		"logins":  float64(n),
	}
}
