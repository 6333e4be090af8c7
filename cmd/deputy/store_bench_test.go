package main

// End-to-end load on the shared store (issue 9): requests per second and
// p50/p99 latency of deputy serve answering a delegation, with one replica
// and with two replicas over one PostgreSQL database, next to the same
// delegation on the in-memory config in the same run.
//
//	go test -run '^$' -bench Replicas -benchtime 20000x ./cmd/deputy/
//
// The load generator is loadgen_test.go's: raw HTTP/1.1 keep-alive
// connections, -loadgen.conns of them in all, dealt round-robin to the
// replicas. Everything (load generator, replicas, PostgreSQL) shares the
// machine, so with two cores a second replica adds no CPU: the two-replica
// figure shows what sharing the database costs, not what scaling out gains.
//
// Two sources: an HS256 id_token (clients and keys come from each
// replica's cache; the database is not queried per request) and a refresh
// token (the grant and the profile are read from the database on every
// request). Replay is off, so that one source token can be sent again.

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/deputyauth/deputy/engine"
)

func BenchmarkReplicas(b *testing.B) {
	b.Logf("GOMAXPROCS %d, NumCPU %d", runtime.GOMAXPROCS(0), runtime.NumCPU())

	// The same world twice: in a config file, and in the database.
	fc := testConfig(b)
	memConf := writeConfig(b, fc)
	hc, err := buildConfig(fc, "")
	if err != nil {
		b.Fatal(err)
	}
	memToken := (&testEnv{hc: hc, fc: fc}).mint(b, demoApp, demoSubject, nil, 24*time.Hour)

	e := newAdminEnv(b)
	ctx := b.Context()
	e.must(b, "", "client", "put", "--id", "app", "--signing-alg", "HS256", "--grant", engine.GrantTypeJWTBearer,
		"--allowed-source", "app", "--generate-secret")
	e.must(b, "", "client", "put", "--id", "api", "--signing-alg", "HS256", "--allowed-source", "app", "--generate-secret")
	e.must(b, "", "profile", "put", "--subject", demoSubject, "--claims", `{"name": "Demo User", "email": "demo-user@example.com"}`)
	rt := strings.TrimSpace(e.must(b, "", "grant", "issue", "--client", "app", "--subject", demoSubject, "--scope", "openid profile email"))
	st := e.open(b)
	app, err := st.Client(ctx, "app")
	if err != nil {
		b.Fatal(err)
	}
	pgToken, err := mintSourceToken(ctx, st, testIssuer, app, demoSubject, demoClaims, 24*time.Hour, time.Now())
	if err != nil {
		b.Fatal(err)
	}
	pgConf := filepath.Join(e.dir, "deputy.json")
	if err := os.WriteFile(pgConf, []byte(fmt.Sprintf(`{"issuer": %q, "store": %q, "encryption_keys": %q}`,
		testIssuer, e.dsnRef, "file:"+e.keyFile)), 0o600); err != nil {
		b.Fatal(err)
	}
	pg1 := serveForLoad(b, pgConf)
	pg2 := serveForLoad(b, pgConf)
	mem := serveForLoad(b, memConf)

	idReq := delegationRequest(seedBody("app", pgToken, "api", "openid", "app"))
	rtReq := delegationRequest(refreshBody("app", rt, "api", "openid profile email"))
	for _, bc := range []struct {
		name  string
		addrs []string
		req   []byte
	}{
		{"memory/id_token/replicas=1", []string{mem}, delegationRequest(seedBody(demoApp, memToken, demoAPI, "openid", "app"))},
		{"postgres/id_token/replicas=1", []string{pg1}, idReq},
		{"postgres/id_token/replicas=2", []string{pg1, pg2}, idReq},
		{"postgres/refresh_token/replicas=1", []string{pg1}, rtReq},
		{"postgres/refresh_token/replicas=2", []string{pg1, pg2}, rtReq},
	} {
		b.Run(bc.name, func(b *testing.B) {
			l := driveReplicas(b, bc.addrs, bc.req, b.N)
			b.ReportMetric(0, "ns/op")
			b.ReportMetric(l.rps, "req/s")
			b.ReportMetric(float64(l.p50.Microseconds()), "p50-µs")
			b.ReportMetric(float64(l.p99.Microseconds()), "p99-µs")
		})
	}
}

// driveReplicas is loadgen_test.go's drive over several servers: its
// -loadgen.conns connections are dealt round-robin to addrs, and the
// latencies of all of them make one distribution.
func driveReplicas(b *testing.B, addrs []string, req []byte, n int) load {
	b.Helper()
	conns := max(*loadgenConns, len(addrs))
	cs := make([]*rawConn, conns)
	for i := range cs {
		c, err := loadConn(addrs[i%len(addrs)], req)
		if err != nil {
			b.Fatal(err)
		}
		defer c.c.Close()
		cs[i] = c
		for range 50 { // warm-up: connections, caches, prepared statements
			if _, err := c.do(); err != nil {
				b.Fatal(err)
			}
		}
	}
	var (
		left      atomic.Int64
		wg        sync.WaitGroup
		latencies = make([][]time.Duration, conns)
		errs      = make([]error, conns)
	)
	left.Store(int64(n))
	b.ResetTimer()
	start := time.Now()
	for i, c := range cs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			lat := make([]time.Duration, 0, n/conns+1)
			for left.Add(-1) >= 0 {
				t0 := time.Now()
				if _, err := c.do(); err != nil {
					errs[i] = err
					return
				}
				lat = append(lat, time.Since(t0))
			}
			latencies[i] = lat
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	b.StopTimer()
	if err := errors.Join(errs...); err != nil {
		b.Fatal(err)
	}
	all := slices.Concat(latencies...)
	slices.Sort(all)
	return load{
		rps: float64(len(all)) / elapsed.Seconds(),
		p50: all[len(all)*50/100],
		p99: all[len(all)*99/100],
	}
}
