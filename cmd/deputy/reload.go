package main

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"strings"
	"sync"
	"sync/atomic"
)

// What SIGHUP does: "deputy serve" builds a whole new server from the
// config file (clients, keys, key schedule, issuer, lifetimes, CORS, rate
// limit, trusted proxies) and re-reads the TLS certificate and key, then
// swaps both in at once. Requests already running finish on the old
// server; connections stay open. A reload that fails anywhere changes
// nothing and logs every problem. The listen address, the log format and
// the flags themselves are not reloaded (flags keep overriding the file).

type hangupKey struct{}

// withHangups returns ctx carrying the channel SIGHUP is delivered on.
// main registers it for the life of the process; run passes it to serve.
func withHangups(ctx context.Context, c <-chan os.Signal) context.Context {
	return context.WithValue(ctx, hangupKey{}, c)
}

// hangupsFrom returns the SIGHUP channel of ctx, nil when there is none
// (serve then registers its own).
func hangupsFrom(ctx context.Context) <-chan os.Signal {
	c, _ := ctx.Value(hangupKey{}).(<-chan os.Signal)
	return c
}

// host is the http.Handler a serving process installs: it passes each
// request to the current server, which a reload replaces.
type host struct {
	cur atomic.Pointer[server]
}

func newHost(s *server) *host {
	h := &host{}
	h.cur.Store(s)
	return h
}

func (h *host) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h.cur.Load().Handler().ServeHTTP(w, r)
}

// certSource serves the TLS certificate of a key pair on disk, which
// reload re-reads: new handshakes get the new certificate, established
// connections keep theirs.
type certSource struct {
	certFile, keyFile string
	cert              atomic.Pointer[tls.Certificate]
}

// loadCert reads the key pair without installing it.
func (c *certSource) loadCert() (*tls.Certificate, error) {
	cert, err := tls.LoadX509KeyPair(c.certFile, c.keyFile)
	if err != nil {
		return nil, fmt.Errorf("--tls-cert/--tls-key: %v", err)
	}
	return &cert, nil
}

// getCertificate is tls.Config.GetCertificate.
func (c *certSource) getCertificate(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	return c.cert.Load(), nil
}

// reloader carries out reloads. build and certs may be nil: with --demo
// there is no file to read again, and without --tls-cert no certificate.
type reloader struct {
	host  *host
	build func(ctx context.Context) (*server, error) // a new server from the config file
	certs *certSource
	log   *slog.Logger

	mu sync.Mutex // one reload at a time
}

// reload builds everything anew and swaps it in only if all of it
// succeeded. Each problem is logged (a config error report line by line)
// and the error returned lists them all.
func (rl *reloader) reload(ctx context.Context) error {
	rl.mu.Lock()
	defer rl.mu.Unlock()
	if rl.build == nil && rl.certs == nil {
		rl.log.Info("deputy: reload: nothing to reload (no config file, no certificate files)")
		return nil
	}
	var (
		problems []string
		next     *server
		cert     *tls.Certificate
		err      error
	)
	if rl.build != nil {
		if next, err = rl.build(ctx); err != nil {
			var ce configError
			if errors.As(err, &ce) {
				for _, fe := range ce {
					problems = append(problems, "config: "+fe.Error())
				}
			} else {
				problems = append(problems, err.Error())
			}
		}
	}
	if rl.certs != nil {
		if cert, err = rl.certs.loadCert(); err != nil {
			problems = append(problems, err.Error())
		}
	}
	if len(problems) > 0 {
		for _, p := range problems {
			rl.log.Error("deputy: reload failed, still serving the previous configuration", "problem", p)
		}
		return errors.New(strings.Join(problems, "\n"))
	}
	if next != nil {
		prev := rl.host.cur.Load()
		keepLimiter(prev, next)
		rl.host.cur.Store(next)
	}
	if cert != nil {
		rl.certs.cert.Store(cert)
	}
	rl.log.Info("deputy: reloaded", "config", next != nil, "tls_certificate", cert != nil)
	return nil
}

// keepLimiter hands the previous server's rate limiter to next when the
// limit is unchanged, so that a reload does not give every caller a fresh
// budget.
func keepLimiter(prev, next *server) {
	if prev != nil && prev.limiter != nil && next.limiter != nil && prev.limiter.limit == next.limiter.limit {
		next.limiter = prev.limiter
	}
}

// watch reloads on every value from hangups until ctx is done.
func (rl *reloader) watch(ctx context.Context, hangups <-chan os.Signal) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-hangups:
			rl.log.Info("deputy: SIGHUP: reloading")
			rl.reload(ctx) // logs its own problems
		}
	}
}
