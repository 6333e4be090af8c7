package storetest

import (
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/deputyauth/deputy/store"
)

// TestRefreshTokenStore checks a RefreshTokenStore. newStore must return a
// fresh store holding exactly grants, each keyed by the SHA-256 of its
// refresh token.
//
// If the store implements [RefreshTokenPutter], the suite also checks that
// grants already returned survive a Put unchanged (as when a grant is
// revoked), that Put copies its argument, and that Put and RefreshToken run
// safely side by side.
func TestRefreshTokenStore(t *testing.T, newStore func(t *testing.T, grants map[[32]byte]store.RefreshGrant) store.RefreshTokenStore) {
	open := func(t *testing.T, grants []tokenGrant) store.RefreshTokenStore {
		t.Helper()
		seed := make(map[[32]byte]store.RefreshGrant, len(grants))
		for _, g := range grants {
			seed[sha256.Sum256([]byte(g.token))] = cloneGrant(g.grant)
		}
		s := newStore(t, seed)
		if s == nil {
			t.Fatal("factory returned a nil RefreshTokenStore")
		}
		return s
	}
	get := func(t *testing.T, s store.RefreshTokenStore, g tokenGrant) *store.RefreshGrant {
		t.Helper()
		got, err := s.RefreshToken(t.Context(), sha256.Sum256([]byte(g.token)))
		if err != nil {
			t.Fatalf("RefreshToken of the %s grant: %v", g.name, err)
		}
		if got == nil {
			t.Fatalf("RefreshToken of the %s grant returned nil and no error", g.name)
		}
		return got
	}

	t.Run("Found", func(t *testing.T) {
		grants := sampleGrants()
		s := open(t, grants)
		for _, g := range grants {
			diff(t, g.name+" grant", &g.grant, get(t, s, g), recordOpts)
		}
	})

	t.Run("NotFound", func(t *testing.T) {
		grants := sampleGrants()
		s := open(t, grants)
		seeded := sha256.Sum256([]byte(grants[0].token))
		flipped := seeded
		flipped[31] ^= 1
		misses := []struct {
			name string
			hash [32]byte
		}{
			{"hash of another token", sha256.Sum256([]byte(randomToken()))},
			{"hash of a seeded token with a suffix", sha256.Sum256([]byte(grants[0].token + "x"))},
			{"seeded hash with its last bit flipped", flipped},
			{"zero hash", [32]byte{}},
		}
		for _, m := range misses {
			g, err := s.RefreshToken(t.Context(), m.hash)
			checkNotFound(t, "RefreshToken("+m.name+")", err, g != nil)
		}
	})

	t.Run("EmptyStore", func(t *testing.T) {
		s := open(t, nil)
		g, err := s.RefreshToken(t.Context(), sha256.Sum256([]byte(randomToken())))
		checkNotFound(t, "RefreshToken", err, g != nil)
	})

	for _, cc := range ctxCases {
		t.Run(cc.name, func(t *testing.T) {
			grants := sampleGrants()
			s := open(t, grants)
			for _, token := range []string{grants[0].token, randomToken()} {
				g, err := s.RefreshToken(cc.ctx(t), sha256.Sum256([]byte(token)))
				checkCtxErr(t, "RefreshToken", err, cc.want)
				if g != nil {
					t.Error("RefreshToken returned a grant along with the error")
				}
			}
		})
	}

	t.Run("ConcurrentReaders", func(t *testing.T) {
		grants := sampleGrants()
		s := open(t, grants)
		var wg sync.WaitGroup
		for g := range goroutines {
			wg.Go(func() {
				for i := range iterations {
					k := (g + i) % (len(grants) + 1)
					if k == len(grants) {
						got, err := s.RefreshToken(t.Context(), sha256.Sum256([]byte("not a token")))
						checkNotFound(t, "RefreshToken", err, got != nil)
						continue
					}
					want := &grants[k]
					got, err := s.RefreshToken(t.Context(), sha256.Sum256([]byte(want.token)))
					if err != nil {
						t.Errorf("RefreshToken of the %s grant: %v", want.name, err)
						return
					}
					diff(t, want.name+" grant", &want.grant, got, recordOpts)
				}
			})
		}
		wg.Wait()
	})

	t.Run("SnapshotStable", func(t *testing.T) {
		grants := sampleGrants()
		s := open(t, grants)
		p, ok := s.(RefreshTokenPutter)
		if !ok {
			t.Skip("store does not implement storetest.RefreshTokenPutter")
		}
		active := grants[0]
		before := get(t, s, active)
		revoked := cloneGrant(active.grant)
		revoked.Revoked = true
		revoked.Scope = append(revoked.Scope, "email")
		revoked.ExpiresAt = date(2030, time.May, 5)
		p.PutRefreshToken(active.token, cloneGrant(revoked))
		diff(t, "grant returned before PutRefreshToken", &active.grant, before, recordOpts)
		diff(t, "grant returned after PutRefreshToken", &revoked, get(t, s, active), recordOpts)
	})

	t.Run("PutCopiesInput", func(t *testing.T) {
		s := open(t, nil)
		p, ok := s.(RefreshTokenPutter)
		if !ok {
			t.Skip("store does not implement storetest.RefreshTokenPutter")
		}
		want := sampleGrants()[0]
		in := cloneGrant(want.grant)
		p.PutRefreshToken(want.token, in)
		in.Scope[0] = "changed"
		diff(t, "grant after the caller changed its PutRefreshToken argument", &want.grant, get(t, s, want), recordOpts)
	})

	t.Run("ConcurrentPutAndRefreshToken", func(t *testing.T) {
		token := randomToken()
		s := open(t, []tokenGrant{{token: token, grant: grantVersion(0)}})
		p, ok := s.(RefreshTokenPutter)
		if !ok {
			t.Skip("store does not implement storetest.RefreshTokenPutter")
		}
		var wg sync.WaitGroup
		for w := range 2 {
			wg.Go(func() {
				for i := range iterations {
					p.PutRefreshToken(token, grantVersion(1+w*iterations+i))
				}
			})
		}
		for range goroutines {
			wg.Go(func() {
				for range iterations {
					g, err := s.RefreshToken(t.Context(), sha256.Sum256([]byte(token)))
					if err != nil {
						t.Errorf("RefreshToken: %v", err)
						return
					}
					var n int
					fmt.Sscanf(g.Subject, "version %d", &n)
					diff(t, fmt.Sprintf("grant %q read during PutRefreshToken", g.Subject), ptr(grantVersion(n)), g, recordOpts)
				}
			})
		}
		wg.Wait()
	})
}

// tokenGrant is a refresh token and the grant it stands for.
type tokenGrant struct {
	name  string
	token string
	grant store.RefreshGrant
}

// sampleGrants returns grants that use every field of store.RefreshGrant,
// including revoked and expired ones, which a store returns as they are.
func sampleGrants() []tokenGrant {
	return []tokenGrant{
		{"active", randomToken(), store.RefreshGrant{
			ClientID:  "App",
			Subject:   "auth0|user-1",
			Scope:     []string{"openid", "profile", "offline_access"},
			ExpiresAt: date(2031, time.January, 2),
		}},
		{"revoked", randomToken(), store.RefreshGrant{
			ClientID:  "App",
			Subject:   "auth0|user-2",
			Scope:     []string{"openid"},
			ExpiresAt: date(2031, time.February, 3),
			Revoked:   true,
		}},
		{"expired", randomToken(), store.RefreshGrant{
			ClientID:  "other-app",
			Subject:   "auth0|user-1",
			Scope:     []string{"openid", "email"},
			ExpiresAt: date(2001, time.March, 4),
		}},
		{"minimal", randomToken(), store.RefreshGrant{
			ClientID: "api",
			Subject:  "user-3",
		}},
	}
}

// grantVersion returns version n of a grant; every field that can name n
// does.
func grantVersion(n int) store.RefreshGrant {
	v := fmt.Sprintf("version %d", n)
	return store.RefreshGrant{
		ClientID:  v,
		Subject:   v,
		Scope:     []string{"openid", v},
		ExpiresAt: date(2030, time.January, 1).Add(time.Duration(n) * time.Hour),
		Revoked:   n%2 == 1,
	}
}

// randomToken returns an opaque refresh token.
func randomToken() string {
	return base64.RawURLEncoding.EncodeToString(randomBytes(32))
}

// cloneGrant returns a deep copy of g.
func cloneGrant(g store.RefreshGrant) store.RefreshGrant {
	g.Scope = slices.Clone(g.Scope)
	return g
}
