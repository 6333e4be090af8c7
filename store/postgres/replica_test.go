package postgres_test

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"sync"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/deputyauth/deputy/engine"
	"github.com/deputyauth/deputy/store"
	"github.com/deputyauth/deputy/store/postgres"
	"github.com/deputyauth/deputy/store/postgres/pgtest"
)

// longTTL is a cache TTL no test waits out: a change seen within a test
// that uses it came by NOTIFY.
const longTTL = 10 * time.Minute

// replicas opens two Stores, A and B, on w's database, each with its own
// cache and Exchanger, and waits until both listen.
func replicas(t *testing.T, w *world, mod func(*postgres.Config)) (a, b *postgres.Store, xa, xb *engine.Exchanger) {
	t.Helper()
	a, b = w.store(t, mod), w.store(t, mod)
	for _, s := range []*postgres.Store{a, b} {
		waitFor(t, 10*time.Second, "listener up", s.Listening)
	}
	return a, b, exchanger(t, a, false), exchanger(t, b, false)
}

// TestReplicasPropagate changes the store through replica A and measures
// how long replica B, whose cache TTL is far longer than the test, takes to
// honour the change: the NOTIFY path.
func TestReplicasPropagate(t *testing.T) {
	// Each subtest has a database and replicas of its own.
	setup := func(t *testing.T) (w *world, a, b *postgres.Store, xb *engine.Exchanger, ctx context.Context) {
		w = newWorld(t, "")
		a, b, _, xb = replicas(t, w, func(c *postgres.Config) { c.CacheTTL = longTTL })
		return w, a, b, xb, t.Context()
	}

	t.Run("DisableClient", func(t *testing.T) {
		w, a, _, xb, ctx := setup(t)
		tok := w.idToken(t, appHS)
		if c, _ := exchange(t, xb, delegation(appHS, tok, apiHS)); c != "" {
			t.Fatalf("before: %s", c)
		}
		if err := a.SetDisabled(ctx, appHS, true); err != nil {
			t.Fatal(err)
		}
		d := waitFor(t, 5*time.Second, "B refusing the disabled client", func() bool {
			c, _ := exchange(t, xb, delegation(appHS, tok, apiHS))
			return c == engine.CodeInvalidClient
		})
		t.Logf("propagation delay, disable client (NOTIFY): %v", d)
		if err := a.SetDisabled(ctx, appHS, false); err != nil {
			t.Fatal(err)
		}
		waitFor(t, 5*time.Second, "B accepting the re-enabled client", func() bool {
			c, _ := exchange(t, xb, delegation(appHS, tok, apiHS))
			return c == ""
		})
	})

	t.Run("RevokeGrant", func(t *testing.T) {
		_, a, _, xb, ctx := setup(t)
		req := &engine.Request{GrantType: engine.GrantTypeJWTBearer, ClientID: appHS, RefreshToken: "rt-ada", Target: apiHS, Scope: "openid email"}
		if c, _ := exchange(t, xb, req); c != "" {
			t.Fatalf("before: %s", c)
		}
		if err := a.RevokeRefreshToken(ctx, sha256.Sum256([]byte("rt-ada"))); err != nil {
			t.Fatal(err)
		}
		// Grants are never cached: the very next request is refused.
		c, res := exchange(t, xb, req)
		if c != engine.CodeInvalidGrant || res != nil {
			t.Errorf("refresh token revoked through A, exchanged through B: code %q, response %v; want invalid_grant, none", c, res)
		}
		t.Logf("propagation delay, revoke refresh grant: 0 (grants are read from the database on every request)")
	})

	t.Run("RemoveKey", func(t *testing.T) {
		w, a, _, xb, ctx := setup(t)
		tok := w.idToken(t, appRS)
		if c, _ := exchange(t, xb, delegation(appRS, tok, apiHS)); c != "" {
			t.Fatalf("before: %s", c)
		}
		if err := a.RemoveKey(ctx, w.rs.KeyID); err != nil {
			t.Fatal(err)
		}
		d := waitFor(t, 5*time.Second, "B refusing tokens of the removed key", func() bool {
			c, _ := exchange(t, xb, delegation(appRS, tok, apiHS))
			return c == engine.CodeInvalidGrant
		})
		t.Logf("propagation delay, remove key (NOTIFY): %v", d)
	})

	t.Run("AddSigningKey", func(t *testing.T) {
		w, a, _, xb, ctx := setup(t)
		tok := w.idToken(t, appHS)
		c, res := exchange(t, xb, delegation(appHS, tok, apiEd))
		if c != "" || mintedKID(t, res.IDToken) != w.ed.KeyID {
			t.Fatalf("before: code %q", c)
		}
		_, edKey, _ := ed25519.GenerateKey(rand.Reader)
		if err := a.AddKey(ctx, jose.JSONWebKey{Key: edKey, KeyID: "ed-2", Algorithm: "EdDSA"}); err != nil {
			t.Fatal(err)
		}
		d := waitFor(t, 5*time.Second, "B signing with the new key", func() bool {
			c, res := exchange(t, xb, delegation(appHS, tok, apiEd))
			return c == "" && mintedKID(t, res.IDToken) == "ed-2"
		})
		t.Logf("propagation delay, new signing key (NOTIFY): %v", d)
	})

	t.Run("RotateSecret", func(t *testing.T) {
		w, a, _, xb, ctx := setup(t)
		old := w.idToken(t, appHS)
		if c, _ := exchange(t, xb, delegation(appHS, old, apiHS)); c != "" {
			t.Fatalf("before: %s", c)
		}
		s2 := randomBytes(32)
		if err := a.AddSecret(ctx, appHS, store.Secret{ID: appHS + "-s2", Value: s2}); err != nil {
			t.Fatal(err)
		}
		if err := a.ExpireSecret(ctx, appHS, appHS+"-s1", time.Time{}); err != nil {
			t.Fatal(err)
		}
		d := waitFor(t, 5*time.Second, "B refusing tokens of the expired secret", func() bool {
			c, _ := exchange(t, xb, delegation(appHS, old, apiHS))
			return c == engine.CodeInvalidGrant
		})
		t.Logf("propagation delay, rotate secret (NOTIFY): %v", d)
		fresh := w.idTokenWith(t, jose.HS256, jose.JSONWebKey{Key: s2, KeyID: appHS + "-s2"}, appHS)
		if c, _ := exchange(t, xb, delegation(appHS, fresh, apiHS)); c != "" {
			t.Errorf("B refuses a token signed with the new secret: %s", c)
		}
	})

	t.Run("PutClient", func(t *testing.T) {
		w, a, b, xb, ctx := setup(t)
		tok := w.idToken(t, appHS)
		if c, _ := exchange(t, xb, delegation(appHS, tok, apiHS)); c != "" {
			t.Fatalf("before: %s", c)
		}
		api, err := b.Client(ctx, apiHS)
		if err != nil {
			t.Fatal(err)
		}
		closed := *api
		closed.AllowedSources = []string{"someone-else"}
		if err := a.PutClient(ctx, closed); err != nil {
			t.Fatal(err)
		}
		d := waitFor(t, 5*time.Second, "B honouring the target's new allowed sources", func() bool {
			c, _ := exchange(t, xb, delegation(appHS, tok, apiHS))
			return c == engine.CodeInvalidTarget
		})
		t.Logf("propagation delay, replace client (NOTIFY): %v", d)
	})
}

// TestReplicasListenerDown cuts replica B's listener connection: B then
// honours changes by its cache TTL, and listens again once the connection
// can be made.
func TestReplicasListenerDown(t *testing.T) {
	const ttl = 500 * time.Millisecond
	w := newWorld(t, "")
	proxy, listenDSN := pgtest.NewProxy(t, w.dsn)
	a := w.store(t, func(c *postgres.Config) { c.CacheTTL = longTTL })
	b := w.store(t, func(c *postgres.Config) { c.CacheTTL = ttl; c.ListenDSN = listenDSN })
	xb := exchanger(t, b, false)
	waitFor(t, 10*time.Second, "B listening", b.Listening)

	proxy.Cut()
	waitFor(t, 10*time.Second, "B noticing its listener is down", func() bool { return !b.Listening() })
	tok := w.idToken(t, appHS)
	if c, _ := exchange(t, xb, delegation(appHS, tok, apiHS)); c != "" {
		t.Fatalf("before: %s", c)
	}
	if err := a.SetDisabled(t.Context(), appHS, true); err != nil {
		t.Fatal(err)
	}
	d := waitFor(t, ttl+2*time.Second, "B refusing the disabled client by TTL", func() bool {
		c, _ := exchange(t, xb, delegation(appHS, tok, apiHS))
		return c == engine.CodeInvalidClient
	})
	t.Logf("propagation delay with the listener down (TTL %v): %v", ttl, d)
	if d > ttl+time.Second {
		t.Errorf("with the listener down, B took %v to honour a change; its cache TTL is %v", d, ttl)
	}

	proxy.Restore()
	d = waitFor(t, 10*time.Second, "B listening again", b.Listening)
	t.Logf("listener reconnected %v after the connection was restored", d)
	// Cache the disabled client in B, then enable it through A: B must
	// learn it by NOTIFY, well within its TTL.
	if c, _ := exchange(t, xb, delegation(appHS, tok, apiHS)); c != engine.CodeInvalidClient {
		t.Fatalf("B before re-enabling: %q", c)
	}
	if err := a.SetDisabled(t.Context(), appHS, false); err != nil {
		t.Fatal(err)
	}
	d = waitFor(t, ttl, "B honouring a change after reconnecting", func() bool {
		c, _ := exchange(t, xb, delegation(appHS, tok, apiHS))
		return c == ""
	})
	t.Logf("propagation delay after the listener reconnected: %v", d)
	if d >= ttl/2 {
		t.Errorf("after reconnecting, B took %v to honour a change: not by NOTIFY (TTL %v)", d, ttl)
	}
}

// TestReplicasReplayOneToken sends 100 concurrent RFC 8693 exchanges of one
// subject token, half to each replica: exactly one gets a token, the others
// invalid_request (RFC 8693 §2.2.2: an invalid subject_token) and none.
func TestReplicasReplayOneToken(t *testing.T) {
	w := newWorld(t, "")
	for _, client := range []string{appHS, appRS} {
		t.Run(client, func(t *testing.T) {
			a := w.store(t, nil)
			b := w.store(t, nil)
			xs := []*engine.Exchanger{exchanger(t, a, true), exchanger(t, b, true)}
			req := &engine.Request{
				GrantType: engine.GrantTypeTokenExchange, ClientID: client,
				SubjectToken: w.idToken(t, client), SubjectTokenType: engine.TokenTypeIDToken,
				Audience: []string{apiHS}, Scope: "openid email",
			}
			const n = 100
			codes := make([]string, n)
			tokens := make([]bool, n)
			var wg sync.WaitGroup
			start := make(chan struct{})
			for i := range n {
				wg.Go(func() {
					<-start
					res, err := xs[i%2].Exchange(context.Background(), req)
					codes[i] = code(err)
					tokens[i] = res != nil && res.AccessToken != ""
				})
			}
			close(start)
			wg.Wait()
			won := 0
			for i := range n {
				switch {
				case codes[i] == "" && tokens[i]:
					won++
				case codes[i] == engine.CodeInvalidRequest && !tokens[i]:
				default:
					t.Errorf("exchange %d: code %q, token %v; want a token or invalid_request without one", i, codes[i], tokens[i])
				}
			}
			if won != 1 {
				t.Errorf("%d concurrent exchanges of one token over two replicas: %d tokens, want exactly 1", n, won)
			}
		})
	}
}

// TestReplicasDatabaseDown cuts the database from under replica A mid-run:
// every exchange then fails with server_error and no token, and A recovers
// once the database is back.
func TestReplicasDatabaseDown(t *testing.T) {
	w := newWorld(t, "")
	proxy, dsn := pgtest.NewProxy(t, w.dsn)
	for _, tc := range []struct {
		name  string
		ttl   time.Duration
		stall bool
	}{
		{"CachedCut", longTTL, false},
		{"UncachedCut", -1, false},
		{"CachedStalled", longTTL, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rw := *w
			rw.dsn = dsn
			a := rw.store(t, func(c *postgres.Config) {
				c.CacheTTL = tc.ttl
				c.QueryTimeout = 300 * time.Millisecond
			})
			xa := exchanger(t, a, true)
			for _, client := range []string{appHS, appRS} {
				if c, _ := exchange(t, xa, delegation(client, w.idToken(t, client), apiEd)); c != "" {
					t.Fatalf("before the outage, %s: %s", client, c)
				}
			}
			if tc.stall {
				proxy.Stall()
			} else {
				proxy.Cut()
			}
			for range 3 {
				for _, client := range []string{appHS, appRS} {
					start := time.Now()
					c, res := exchange(t, xa, delegation(client, w.idToken(t, client), apiEd))
					if c != engine.CodeServerError || res != nil {
						t.Errorf("database down, %s: code %q, response %v; want server_error and no token", client, c, res)
					}
					if d := time.Since(start); d > 5*time.Second {
						t.Errorf("database down: an exchange took %v", d)
					}
				}
			}
			proxy.Restore()
			d := waitFor(t, 15*time.Second, "recovery", func() bool {
				c, _ := exchange(t, xa, delegation(appRS, w.idToken(t, appRS), apiEd))
				return c == ""
			})
			t.Logf("recovered %v after the database came back", d)
		})
	}
}

// TestCancelledContextDuringOutage checks that a lookup cancelled while the
// database hangs returns an error wrapping ctx.Err(), not a miss.
func TestCancelledContextDuringOutage(t *testing.T) {
	w := newWorld(t, "")
	proxy, dsn := pgtest.NewProxy(t, w.dsn)
	rw := *w
	rw.dsn = dsn
	s := rw.store(t, func(c *postgres.Config) { c.CacheTTL = -1; c.QueryTimeout = -1 })
	proxy.Stall()
	defer proxy.Restore()
	ctx, cancel := context.WithTimeout(t.Context(), 200*time.Millisecond)
	defer cancel()
	_, err := s.Client(ctx, appHS)
	checkCtxErr(t, "Client during a stall", err, context.DeadlineExceeded)
	ctx2, cancel2 := context.WithTimeout(t.Context(), 200*time.Millisecond)
	defer cancel2()
	first, err := s.Use(ctx2, "jti-1", time.Minute)
	checkCtxErr(t, "Use during a stall", err, context.DeadlineExceeded)
	if first {
		t.Error("Use during a stall reported first")
	}
}

// TestSharedCacheFill checks that callers waiting on one cache fill do not
// fail because the caller that started it gave up.
func TestSharedCacheFill(t *testing.T) {
	w := newWorld(t, "")
	proxy, dsn := pgtest.NewProxy(t, w.dsn)
	rw := *w
	rw.dsn = dsn
	s := rw.store(t, func(c *postgres.Config) { c.CacheTTL = longTTL })
	proxy.Stall()
	impatient, cancel := context.WithTimeout(t.Context(), 100*time.Millisecond)
	defer cancel()
	var wg sync.WaitGroup
	var impatientErr, patientErr error
	var patientGot *store.Client
	wg.Go(func() { _, impatientErr = s.Client(impatient, appHS) })
	time.Sleep(20 * time.Millisecond) // the impatient caller starts the fill
	wg.Go(func() { patientGot, patientErr = s.Client(t.Context(), appHS) })
	time.Sleep(200 * time.Millisecond)
	proxy.Restore()
	wg.Wait()
	checkCtxErr(t, "impatient Client", impatientErr, context.DeadlineExceeded)
	if patientErr != nil || patientGot == nil || patientGot.ID != appHS {
		t.Errorf("patient Client: %v, %v; want the client", patientGot, patientErr)
	}
}

// TestListenerDSNWithPoolParameters: a DSN may carry pgxpool's pool_*
// parameters, which a plain connection would send to the server as
// settings, and be refused; the listener must connect all the same.
func TestListenerDSNWithPoolParameters(t *testing.T) {
	dsn, key := pgtest.DSN(t), newKey()
	for _, tc := range []struct{ name, dsn, listen string }{
		{"DSN", dsn + " pool_max_conns=16", ""},
		{"ListenDSN", dsn, dsn + " pool_min_conns=1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := postgres.Config{EncryptionKeys: map[string][]byte{"k1": key}, ActiveKey: "k1", ListenDSN: tc.listen}
			s := open(t, tc.dsn, cfg)
			waitFor(t, 10*time.Second, "listener up", s.Listening)
		})
	}
}
