package postgres

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"golang.org/x/sync/singleflight"

	"github.com/deputyauth/deputy/store"
)

// cache holds clients and the key set read from the database. Entries are
// immutable snapshots, replaced and never modified. Freshness is judged by
// the monotonic clock.
//
// gen counts invalidations. A reader notes gen before it queries and stores
// its result only if no invalidation happened meanwhile, so a record read
// just before a change committed is never cached after the notice of that
// change was applied.
type cache struct {
	ttl    time.Duration
	flight singleflight.Group // one database read per entry at a time

	mu      sync.RWMutex
	gen     uint64
	clients map[string]cachedClient
	keys    *keySet
	keysAt  time.Time
}

type cachedClient struct {
	c  *store.Client
	at time.Time
}

func newCache(ttl time.Duration) *cache {
	return &cache{ttl: ttl, clients: make(map[string]cachedClient)}
}

func (c *cache) client(id string) (*store.Client, bool) {
	c.mu.RLock()
	e, ok := c.clients[id]
	c.mu.RUnlock()
	if !ok || time.Since(e.at) >= c.ttl {
		return nil, false
	}
	return e.c, true
}

// fill runs load once for all concurrent callers with the same key, so an
// expired entry of a busy client costs one query, not one per request. A
// caller joins only a load that began after the latest invalidation (the
// generation is part of the key), so no one is handed a record read before
// a change it could already see. The shared load is detached from the
// first caller's context (bounded by Config.QueryTimeout instead), so no
// caller fails because another gave up; each caller waits only as long as
// its own context allows. load gets the generation it must store under.
func (s *Store) fill(ctx context.Context, key string, load func(ctx context.Context, gen uint64) (any, error)) (any, error) {
	gen := s.cache.generation()
	if s.cfg.QueryTimeout < 0 {
		return load(ctx, gen) // unbounded: a detached load could outlive everyone
	}
	ch := s.cache.flight.DoChan(strconv.FormatUint(gen, 10)+"/"+key, func() (any, error) {
		return load(context.WithoutCancel(ctx), gen)
	})
	select {
	case r := <-ch:
		return r.Val, r.Err
	case <-ctx.Done():
		return nil, fmt.Errorf("postgres: %w", ctx.Err())
	}
}

func (c *cache) generation() uint64 {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.gen
}

// putClient caches cl, read at at, unless an invalidation happened since
// gen was read.
func (c *cache) putClient(cl *store.Client, gen uint64, at time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.gen == gen {
		c.clients[cl.ID] = cachedClient{cl, at}
	}
}

func (c *cache) keySet() (*keySet, bool) {
	c.mu.RLock()
	ks, at := c.keys, c.keysAt
	c.mu.RUnlock()
	if ks == nil || time.Since(at) >= c.ttl {
		return nil, false
	}
	return ks, true
}

func (c *cache) putKeySet(ks *keySet, gen uint64, at time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.gen == gen {
		c.keys, c.keysAt = ks, at
	}
}

// apply applies an invalidation notice (see notice).
func (c *cache) apply(payload string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gen++
	switch {
	case payload == noticeKeys:
		c.keys = nil
	case strings.HasPrefix(payload, noticeClient):
		delete(c.clients, payload[len(noticeClient):])
	default: // noticeAll, or a notice of a newer version: drop everything
		clear(c.clients)
		c.keys = nil
	}
}

// Invalidation notices, the payloads on notifyChannel.
const (
	notifyChannel = "deputy_store"
	noticeClient  = "c:" // followed by the client ID
	noticeKeys    = "k"
	noticeAll     = "*"
	// maxNotice keeps payloads under PostgreSQL's limit of 8000 bytes; a
	// longer client ID is announced as noticeAll.
	maxNotice = 7000
)

func clientNotice(id string) string {
	if len(id) > maxNotice {
		return noticeAll
	}
	return noticeClient + id
}

// notify announces a change within tx, so that other Stores hear of it
// exactly when it commits.
func notify(ctx context.Context, tx pgx.Tx, payload string) error {
	_, err := tx.Exec(ctx, "SELECT pg_notify($1, $2)", notifyChannel, payload)
	return err
}

// changed applies a notice to this Store's own cache after a change
// committed, so its next lookup sees the change without waiting for the
// notification to come back.
func (s *Store) changed(payload string) {
	if s.cache != nil {
		s.cache.apply(payload)
	}
}

// Backoff of the listener's reconnection attempts, and how long it waits
// for a notification before checking that its connection is alive.
const (
	listenBackoffMin = 50 * time.Millisecond
	listenBackoffMax = 5 * time.Second
	listenIdle       = 30 * time.Second
)

// listen keeps a connection LISTENing on notifyChannel and applies what it
// hears to the cache, until ctx is done. When the connection fails it
// reconnects with exponential backoff; meanwhile cached entries expire by
// their TTL, and on reconnecting the whole cache is dropped, as notices may
// have been missed.
func (s *Store) listen(ctx context.Context) {
	backoff := listenBackoffMin
	for ctx.Err() == nil {
		s.listenOnce(ctx, func() { backoff = listenBackoffMin })
		s.listening.Store(false)
		select {
		case <-ctx.Done():
			return
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, listenBackoffMax)
	}
}

func (s *Store) listenOnce(ctx context.Context, connected func()) {
	cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	conn, err := pgx.ConnectConfig(cctx, s.listenCfg.Copy())
	cancel()
	if err != nil {
		return
	}
	defer conn.Close(context.Background())
	if _, err := conn.Exec(ctx, "LISTEN "+notifyChannel); err != nil {
		return
	}
	s.cache.apply(noticeAll)
	s.listening.Store(true)
	connected()
	for {
		wctx, cancel := context.WithTimeout(ctx, listenIdle)
		n, err := conn.WaitForNotification(wctx)
		cancel()
		if ctx.Err() != nil {
			return
		}
		if err != nil {
			if wctx.Err() == nil || conn.IsClosed() {
				return // the connection failed
			}
			// Quiet for a while: make sure the connection still works.
			pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
			err := conn.Ping(pctx)
			cancel()
			if err != nil {
				return
			}
			continue
		}
		s.cache.apply(n.Payload)
	}
}
