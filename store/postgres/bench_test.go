package postgres_test

import (
	"context"
	"fmt"
	"runtime"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/deputyauth/deputy/engine"
	"github.com/deputyauth/deputy/store/postgres"
	"github.com/deputyauth/deputy/store/postgres/pgtest"
)

// BenchmarkExchange measures whole delegations on store.Memory and on
// PostgreSQL, with a warm cache and without a cache, in one run, so their
// ratio is measured on one machine at one time. No replay cache: Replay
// costs a round trip, measured by BenchmarkReplayUse.
func BenchmarkExchange(b *testing.B) {
	w := newWorld(b, "")
	stores := []struct {
		name string
		st   func(b *testing.B) allStores
	}{
		{"Memory", func(b *testing.B) allStores { return w.memory(b) }},
		{"PostgresCached", func(b *testing.B) allStores { return w.store(b, func(c *postgres.Config) { c.CacheTTL = time.Hour }) }},
		{"PostgresUncached", func(b *testing.B) allStores { return w.store(b, func(c *postgres.Config) { c.CacheTTL = -1 }) }},
	}
	for _, p := range []struct{ name, source, target string }{
		{"HS256-HS256", appHS, apiHS},
		{"RS256-EdDSA", appRS, apiEd},
	} {
		for _, s := range stores {
			b.Run(p.name+"/"+s.name, func(b *testing.B) {
				x := exchanger(b, s.st(b), false)
				req := delegation(p.source, w.idToken(b, p.source), p.target)
				ctx := context.Background()
				if _, err := x.Exchange(ctx, req); err != nil { // warms the cache
					b.Fatal(err)
				}
				b.ReportAllocs()
				b.ResetTimer()
				b.RunParallel(func(pb *testing.PB) {
					for pb.Next() {
						if _, err := x.Exchange(ctx, req); err != nil {
							b.Error(err)
							return
						}
					}
				})
			})
		}
	}
}

// BenchmarkReplayUse measures ReplayCache.Use of fresh ids with 16
// concurrent callers, with pgxpool's default pool (4 connections on two
// cores) and with 16 connections (pool_max_conns in the DSN).
func BenchmarkReplayUse(b *testing.B) {
	dsn, key := pgtest.DSN(b), newKey()
	for _, pool := range []struct{ name, dsn string }{
		{"DefaultPool", dsn},
		{"Pool16", dsn + " pool_max_conns=16"},
	} {
		b.Run(pool.name, func(b *testing.B) {
			s := open(b, pool.dsn, postgres.Config{EncryptionKeys: map[string][]byte{"k": key}, ActiveKey: "k"})
			var n atomic.Int64
			prefix := fmt.Sprintf("bench-%d-", time.Now().UnixNano())
			b.SetParallelism(max(1, 16/runtime.GOMAXPROCS(0)))
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				ctx := context.Background()
				for pb.Next() {
					first, err := s.Use(ctx, prefix+fmt.Sprint(n.Add(1)), time.Minute)
					if err != nil || !first {
						b.Errorf("Use: %v, %v", first, err)
						return
					}
				}
			})
		})
	}
}

// BenchmarkPropagation measures how long a client disabled or enabled
// through replica A takes to show in replica B's cache, by NOTIFY (B's TTL
// is an hour), from the moment A's write returned: the median and the 99th
// percentile of the run. ns/op includes A's write. It polls B's cache
// every 50µs, leaving the CPU to the listener and the server.
func BenchmarkPropagation(b *testing.B) {
	w := newWorld(b, "")
	a := w.store(b, func(c *postgres.Config) { c.CacheTTL = time.Hour })
	bs := w.store(b, func(c *postgres.Config) { c.CacheTTL = time.Hour })
	waitFor(b, 10*time.Second, "B listening", bs.Listening)
	ctx := context.Background()
	disabled := false
	var delays []time.Duration
	for b.Loop() {
		disabled = !disabled
		start := time.Now()
		if err := a.SetDisabled(ctx, appHS, disabled); err != nil {
			b.Fatal(err)
		}
		wrote := time.Since(start)
		for {
			c, err := bs.Client(ctx, appHS)
			if err != nil {
				b.Fatal(err)
			}
			if c.Disabled == disabled {
				break
			}
			time.Sleep(50 * time.Microsecond)
		}
		delays = append(delays, time.Since(start)-wrote)
	}
	slices.Sort(delays)
	b.ReportMetric(float64(delays[len(delays)/2].Microseconds()), "p50-µs")
	b.ReportMetric(float64(delays[len(delays)*99/100].Microseconds()), "p99-µs")
}

// BenchmarkExchangeInterleaved runs the delegation on store.Memory and on
// PostgreSQL with a warm cache alternately, one of each per op, so both
// see the same machine load, and reports each one's time per exchange and
// the throughput ratio PostgreSQL/Memory (the budget asks at least 0.8).
func BenchmarkExchangeInterleaved(b *testing.B) {
	w := newWorld(b, "")
	for _, p := range []struct{ name, source, target string }{
		{"HS256-HS256", appHS, apiHS},
		{"RS256-EdDSA", appRS, apiEd},
	} {
		b.Run(p.name, func(b *testing.B) {
			xm := exchanger(b, w.memory(b), false)
			xp := exchanger(b, w.store(b, func(c *postgres.Config) { c.CacheTTL = time.Hour }), false)
			req := delegation(p.source, w.idToken(b, p.source), p.target)
			ctx := context.Background()
			for _, x := range []*engine.Exchanger{xm, xp} { // warm up
				if _, err := x.Exchange(ctx, req); err != nil {
					b.Fatal(err)
				}
			}
			var mem, pg time.Duration
			n := 0
			for b.Loop() {
				t0 := time.Now()
				if _, err := xm.Exchange(ctx, req); err != nil {
					b.Fatal(err)
				}
				t1 := time.Now()
				if _, err := xp.Exchange(ctx, req); err != nil {
					b.Fatal(err)
				}
				mem, pg, n = mem+t1.Sub(t0), pg+time.Since(t1), n+1
			}
			b.ReportMetric(float64(mem.Nanoseconds())/float64(n), "memory-ns/exchange")
			b.ReportMetric(float64(pg.Nanoseconds())/float64(n), "postgres-ns/exchange")
			b.ReportMetric(float64(mem)/float64(pg), "throughput-ratio")
		})
	}
}
