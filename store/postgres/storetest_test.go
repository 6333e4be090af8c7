package postgres_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/deputyauth/deputy/claims"
	"github.com/deputyauth/deputy/store"
	"github.com/deputyauth/deputy/store/postgres"
	"github.com/deputyauth/deputy/store/postgres/pgtest"
	"github.com/deputyauth/deputy/storetest"
)

// suiteStore adapts a Store to storetest's optional writer interfaces,
// whose methods take no context.
type suiteStore struct {
	*postgres.Store
	t *testing.T
}

func (s suiteStore) PutClient(c store.Client) error {
	return s.Store.PutClient(context.Background(), c)
}

func (s suiteStore) PutRefreshToken(token string, g store.RefreshGrant) {
	if err := s.Store.PutRefreshToken(context.Background(), token, g); err != nil {
		s.t.Errorf("PutRefreshToken: %v", err)
	}
}

func (s suiteStore) PutProfile(subject string, c claims.Set) {
	if err := s.Store.PutProfile(context.Background(), subject, c); err != nil {
		s.t.Errorf("PutProfile: %v", err)
	}
}

func (s suiteStore) AddKey(k jose.JSONWebKey) error {
	return s.Store.AddKey(context.Background(), k)
}

func (s suiteStore) StageKey(k store.Key) error {
	return s.Store.StageKey(context.Background(), k)
}

func (s suiteStore) RetireKey(kid string, at time.Time) error {
	return s.Store.RetireKey(context.Background(), kid, at)
}

// RemoveKey: storetest.KeyRemover treats an unknown kid as no error.
func (s suiteStore) RemoveKey(kid string) {
	if err := s.Store.RemoveKey(context.Background(), kid); err != nil && !errors.Is(err, store.ErrNotFound) {
		s.t.Errorf("RemoveKey(%q): %v", kid, err)
	}
}

// suite gives each storetest subtest a fresh Store on one database,
// emptied in between (the suite runs subtests one after another), with and
// without the cache.
type suite struct {
	dsn string
	cfg postgres.Config
}

func newSuite(t *testing.T, cacheTTL time.Duration) *suite {
	cfg := testConfig()
	cfg.CacheTTL = cacheTTL
	return &suite{dsn: pgtest.DSN(t), cfg: cfg}
}

func (s *suite) store(t *testing.T, cfg postgres.Config) suiteStore {
	t.Helper()
	st := open(t, s.dsn, cfg) // migrates a new database
	reset(t, s.dsn)
	return suiteStore{st, t}
}

// caches are the configurations every suite runs under.
var caches = []struct {
	name string
	ttl  time.Duration
}{{"Cached", 0}, {"Uncached", -1}}

func TestClientStore(t *testing.T) {
	for _, c := range caches {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			s := newSuite(t, c.ttl)
			storetest.TestClientStore(t, func(t *testing.T, clients []store.Client) store.ClientStore {
				st := s.store(t, s.cfg)
				for _, cl := range clients {
					if err := st.Store.PutClient(t.Context(), cl); err != nil {
						t.Fatalf("PutClient(%q): %v", cl.ID, err)
					}
				}
				return st
			})
		})
	}
}

func TestRefreshTokenStore(t *testing.T) {
	for _, c := range caches {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			s := newSuite(t, c.ttl)
			storetest.TestRefreshTokenStore(t, func(t *testing.T, grants map[[32]byte]store.RefreshGrant) store.RefreshTokenStore {
				st := s.store(t, s.cfg)
				for h, g := range grants {
					if err := st.PutRefreshGrant(t.Context(), h, g); err != nil {
						t.Fatalf("PutRefreshGrant: %v", err)
					}
				}
				return st
			})
		})
	}
}

func TestProfileStore(t *testing.T) {
	t.Parallel()
	s := newSuite(t, 0)
	storetest.TestProfileStore(t, func(t *testing.T, profiles map[string]claims.Set) store.ProfileStore {
		st := s.store(t, s.cfg)
		for sub, c := range profiles {
			if err := st.Store.PutProfile(t.Context(), sub, c); err != nil {
				t.Fatalf("PutProfile(%q): %v", sub, err)
			}
		}
		return st
	})
}

func TestReplayCache(t *testing.T) {
	t.Parallel()
	s := newSuite(t, 0)
	storetest.TestReplayCache(t, func(t *testing.T) store.ReplayCache {
		return s.store(t, s.cfg)
	})
}

func TestKeyStore(t *testing.T) {
	for _, c := range caches {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			s := newSuite(t, c.ttl)
			storetest.TestKeyStore(t, func(t *testing.T, keys []jose.JSONWebKey) store.KeyStore {
				st := s.store(t, s.cfg)
				for _, k := range keys {
					if err := st.Store.AddKey(t.Context(), k); err != nil {
						t.Fatalf("AddKey(%q): %v", k.KeyID, err)
					}
				}
				return st
			})
		})
	}
}

func TestKeyRotation(t *testing.T) {
	for _, c := range caches {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			s := newSuite(t, c.ttl)
			storetest.TestKeyRotation(t, func(t *testing.T, keys []store.Key, now func() time.Time) store.KeyStore {
				cfg := s.cfg
				cfg.Now = now
				st := s.store(t, cfg)
				for _, k := range keys {
					if err := st.Store.StageKey(t.Context(), k); err != nil {
						t.Fatalf("StageKey(%q): %v", k.KeyID, err)
					}
				}
				return st
			})
		})
	}
}
