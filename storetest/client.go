package storetest

import (
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/deputyauth/deputy/store"
)

// TestClientStore checks a ClientStore. newStore must return a fresh store
// holding exactly clients; every client given is valid (store.Client.Validate
// accepts it).
//
// If the store implements [ClientPutter], the suite also checks that records
// already returned survive a Put unchanged, that Put copies its argument, and
// that Put and Client run safely side by side.
func TestClientStore(t *testing.T, newStore func(t *testing.T, clients []store.Client) store.ClientStore) {
	open := func(t *testing.T, clients []store.Client) store.ClientStore {
		t.Helper()
		seed := make([]store.Client, len(clients))
		for i := range clients {
			seed[i] = cloneClient(clients[i])
		}
		s := newStore(t, seed)
		if s == nil {
			t.Fatal("factory returned a nil ClientStore")
		}
		return s
	}
	get := func(t *testing.T, s store.ClientStore, id string) *store.Client {
		t.Helper()
		c, err := s.Client(t.Context(), id)
		if err != nil {
			t.Fatalf("Client(%q): %v", id, err)
		}
		if c == nil {
			t.Fatalf("Client(%q) returned nil and no error", id)
		}
		return c
	}

	t.Run("Found", func(t *testing.T) {
		clients := sampleClients()
		s := open(t, clients)
		for _, want := range clients {
			diff(t, fmt.Sprintf("Client(%q)", want.ID), &want, get(t, s, want.ID), recordOpts)
		}
	})

	t.Run("NotFound", func(t *testing.T) {
		s := open(t, sampleClients())
		for _, id := range []string{"nobody", "", "App2", "Ap"} {
			c, err := s.Client(t.Context(), id)
			checkNotFound(t, fmt.Sprintf("Client(%q)", id), err, c != nil)
		}
	})

	t.Run("EmptyStore", func(t *testing.T) {
		s := open(t, nil)
		c, err := s.Client(t.Context(), "App")
		checkNotFound(t, `Client("App")`, err, c != nil)
	})

	t.Run("IDsAreCaseSensitive", func(t *testing.T) {
		s := open(t, []store.Client{minimalClient("App")})
		for _, id := range []string{"app", "APP", "aPP"} {
			c, err := s.Client(t.Context(), id)
			checkNotFound(t, fmt.Sprintf("Client(%q) with only %q stored", id, "App"), err, c != nil)
		}
	})

	t.Run("IDsDifferingInCaseAreDistinct", func(t *testing.T) {
		clients := []store.Client{minimalClient("App"), minimalClient("app"), minimalClient("APP")}
		for i := range clients {
			clients[i].Name = fmt.Sprintf("client %d", i)
		}
		s := open(t, clients)
		for _, want := range clients {
			diff(t, fmt.Sprintf("Client(%q)", want.ID), &want, get(t, s, want.ID), recordOpts)
		}
	})

	t.Run("IDsAreMatchedExactly", func(t *testing.T) {
		// IDs that trip up pattern matching, trimming, collation and
		// quoting in a database.
		ids := []string{"a_c", "100%", "o'brien", `back\slash`, "ünïcödé", "https://client.example/cb?x=1&y=2"}
		clients := make([]store.Client, len(ids))
		for i, id := range ids {
			clients[i] = minimalClient(id)
		}
		s := open(t, clients)
		for _, want := range clients {
			diff(t, fmt.Sprintf("Client(%q)", want.ID), &want, get(t, s, want.ID), recordOpts)
		}
		for _, id := range []string{"abc", "a%", "100", "1000%", "a_c ", " a_c", "O'BRIEN", "unicode", "https://client.example/cb"} {
			c, err := s.Client(t.Context(), id)
			checkNotFound(t, fmt.Sprintf("Client(%q)", id), err, c != nil)
		}
	})

	for _, cc := range ctxCases {
		t.Run(cc.name, func(t *testing.T) {
			s := open(t, sampleClients())
			for _, id := range []string{"App", "nobody"} {
				c, err := s.Client(cc.ctx(t), id)
				checkCtxErr(t, fmt.Sprintf("Client(%q)", id), err, cc.want)
				if c != nil {
					t.Errorf("Client(%q) returned a record along with the error", id)
				}
			}
		})
	}

	t.Run("ConcurrentReaders", func(t *testing.T) {
		clients := sampleClients()
		s := open(t, clients)
		var wg sync.WaitGroup
		for g := range goroutines {
			wg.Go(func() {
				for i := range iterations {
					k := (g + i) % (len(clients) + 1)
					if k == len(clients) {
						c, err := s.Client(t.Context(), "nobody")
						checkNotFound(t, `Client("nobody")`, err, c != nil)
						continue
					}
					want := &clients[k]
					got, err := s.Client(t.Context(), want.ID)
					if err != nil {
						t.Errorf("Client(%q): %v", want.ID, err)
						return
					}
					diff(t, fmt.Sprintf("Client(%q)", want.ID), want, got, recordOpts)
				}
			})
		}
		wg.Wait()
	})

	t.Run("SnapshotStable", func(t *testing.T) {
		clients := sampleClients()
		s := open(t, clients)
		p, ok := s.(ClientPutter)
		if !ok {
			t.Skip("store does not implement storetest.ClientPutter")
		}
		before := get(t, s, "App")
		v2 := cloneClient(clients[0])
		v2.Name = "App, version 2"
		v2.Disabled = true
		v2.Secrets = append([]store.Secret{{ID: "secret-3", Value: randomBytes(32)}}, v2.Secrets...)
		v2.Secrets[1].NotAfter = date(2026, time.March, 1)
		v2.Scopes = append(v2.Scopes, "email")
		v2.APITypes["firebase"] = json.RawMessage(`{"project":"p-2"}`)
		if err := p.PutClient(cloneClient(v2)); err != nil {
			t.Fatalf("PutClient: %v", err)
		}
		diff(t, "client returned before PutClient", &clients[0], before, recordOpts)
		diff(t, "client returned after PutClient", &v2, get(t, s, "App"), recordOpts)
	})

	t.Run("PutCopiesInput", func(t *testing.T) {
		clients := sampleClients()
		s := open(t, nil)
		p, ok := s.(ClientPutter)
		if !ok {
			t.Skip("store does not implement storetest.ClientPutter")
		}
		in := cloneClient(clients[0])
		if err := p.PutClient(in); err != nil {
			t.Fatalf("PutClient: %v", err)
		}
		in.Secrets[0].Value[0] ^= 0xff
		in.Secrets[1] = store.Secret{ID: "changed", Value: randomBytes(32)}
		in.AllowedSources[0] = "changed"
		in.Grants[0] = "changed"
		in.Scopes[0] = "changed"
		in.APITypes["firebase"][2] = 'X'
		in.APITypes["changed"] = json.RawMessage(`{}`)
		diff(t, "client after the caller changed its PutClient argument", &clients[0], get(t, s, "App"), recordOpts)
	})

	t.Run("ConcurrentPutAndClient", func(t *testing.T) {
		s := open(t, []store.Client{clientVersion(0)})
		p, ok := s.(ClientPutter)
		if !ok {
			t.Skip("store does not implement storetest.ClientPutter")
		}
		var wg sync.WaitGroup
		for w := range 2 {
			wg.Go(func() {
				for i := range iterations {
					if err := p.PutClient(clientVersion(1 + w*iterations + i)); err != nil {
						t.Errorf("PutClient: %v", err)
						return
					}
				}
			})
		}
		for range goroutines {
			wg.Go(func() {
				for range iterations {
					c, err := s.Client(t.Context(), "App")
					if err != nil {
						t.Errorf(`Client("App"): %v`, err)
						return
					}
					// Every field of a version names that version: a
					// mixture means a torn read.
					if c.Name == "" {
						t.Errorf(`Client("App") returned a record with no Name: %+v`, c)
						return
					}
					var n int
					fmt.Sscanf(c.Name, "version %d", &n)
					diff(t, fmt.Sprintf("client %q read during PutClient", c.Name), ptr(clientVersion(n)), c, recordOpts)
				}
			})
		}
		wg.Wait()
	})
}

// sampleClients returns clients that use every field of store.Client.
func sampleClients() []store.Client {
	return []store.Client{
		{
			ID:       "App",
			Name:     "Example app",
			Disabled: false,
			Secrets: []store.Secret{
				{ID: "secret-2", Value: randomBytes(32)},
				{ID: "secret-1", Value: randomBytes(48), NotAfter: date(2021, time.June, 30)},
			},
			Confidential:   true,
			SigningAlg:     "HS256",
			AllowedSources: []string{"api", "other-app"},
			Grants:         []string{"urn:ietf:params:oauth:grant-type:jwt-bearer", "urn:ietf:params:oauth:grant-type:token-exchange"},
			Lifetime:       3600 * time.Second,
			Scopes:         []string{"openid", "profile"},
			APITypes: map[string]json.RawMessage{
				"firebase": json.RawMessage(`{"project":"p-1","lifetime":3600}`),
				"app":      json.RawMessage(`{}`),
			},
			DefaultAPIType: "firebase",
		},
		{
			ID:             "api",
			Name:           "Resource server",
			Disabled:       true,
			SigningAlg:     "RS256",
			AllowedSources: []string{"*"},
			Lifetime:       600 * time.Second,
		},
		{
			ID:         "public-app",
			SigningAlg: "ES256",
			Secrets:    []store.Secret{{ID: "pw", Value: []byte("a password for an ES256 client: 40 bytes"), NotAfter: date(2031, time.January, 2)}},
			Grants:     []string{"urn:ietf:params:oauth:grant-type:token-exchange"},
		},
		minimalClient("minimal"),
	}
}

// minimalClient returns a valid client with only the required fields set.
func minimalClient(id string) store.Client {
	return store.Client{ID: id, SigningAlg: "EdDSA"}
}

// clientVersion returns version n of client "App"; every field that can
// name n does.
func clientVersion(n int) store.Client {
	v := fmt.Sprintf("version %d", n)
	return store.Client{
		ID:             "App",
		Name:           v,
		Secrets:        []store.Secret{{ID: v, Value: []byte(fmt.Sprintf("%-32s", v))}},
		SigningAlg:     "HS256",
		AllowedSources: []string{v},
		Scopes:         []string{v, "openid"},
		Lifetime:       time.Duration(n) * time.Second,
		APITypes:       map[string]json.RawMessage{v: json.RawMessage(`{}`)},
	}
}

// cloneClient returns a deep copy of c.
func cloneClient(c store.Client) store.Client {
	c.Secrets = slices.Clone(c.Secrets)
	for i := range c.Secrets {
		c.Secrets[i].Value = slices.Clone(c.Secrets[i].Value)
	}
	c.AllowedSources = slices.Clone(c.AllowedSources)
	c.Grants = slices.Clone(c.Grants)
	c.Scopes = slices.Clone(c.Scopes)
	if c.APITypes != nil {
		c.APITypes = maps.Clone(c.APITypes)
		for k, v := range c.APITypes {
			c.APITypes[k] = slices.Clone(v)
		}
	}
	return c
}

func ptr[T any](v T) *T { return &v }
