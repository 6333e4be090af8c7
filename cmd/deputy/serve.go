package main

import (
	"context"
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/deputyauth/deputy/store"
)

// HTTP server limits. Token requests are small and quick, so the budgets
// are tight: a client that dribbles bytes is cut off rather than holding a
// connection.
const (
	readHeaderTimeout = 5 * time.Second
	readTimeout       = 10 * time.Second
	writeTimeout      = 15 * time.Second
	idleTimeout       = 60 * time.Second
	maxHeaderBytes    = 32 << 10
)

// serveFlags are the flags of "deputy serve".
type serveFlags struct {
	config          string
	demo            bool
	addr            string
	tlsCert, tlsKey string
	tls             bool
	cors            stringList
	rateLimit       string
	trustedProxies  stringList
	clientIPHeader  string
	logFormat       string
	logLevel        string
	drainDelay      time.Duration
	shutdownTimeout time.Duration
	shared          serveStoreFlags // --store, --encryption-key-file, --issuer: store.go
	obs             obsFlags        // --metrics-addr, --metrics-client-labels, --trace-exporter: metrics.go
	gc              gcFlags         // --gc-percent: gc.go
}

func (f *serveFlags) register(fs *flag.FlagSet) {
	f.shared.register(fs)
	f.obs.register(fs)
	f.gc.register(fs)
	fs.StringVar(&f.config, "config", "", "config `file` (see README.md)")
	fs.BoolVar(&f.demo, "demo", false, "serve demo clients with fresh keys, and print a curl command to try them")
	fs.StringVar(&f.addr, "addr", "127.0.0.1:8080", "`host:port` to listen on (port 0: any free port)")
	fs.StringVar(&f.tlsCert, "tls-cert", "", "serve HTTPS with this PEM certificate chain `file`")
	fs.StringVar(&f.tlsKey, "tls-key", "", "PEM private key `file` for --tls-cert")
	fs.BoolVar(&f.tls, "tls", false, "with --demo: serve HTTPS with a throwaway CA written to a temporary file")
	fs.Var(&f.cors, "cors-origin", "allow this browser `origin` (repeatable; adds to the config's cors_origins)")
	fs.StringVar(&f.rateLimit, "rate-limit", "", "per-(IP, client) `rate` such as 10/m (replaces the config's rate_limit)")
	fs.Var(&f.trustedProxies, "trusted-proxies", "`CIDRs` of reverse proxies whose client address header is believed, comma-separated or repeated (replaces the config's trusted_proxies)")
	fs.StringVar(&f.clientIPHeader, "client-ip-header", "", "`header` trusted proxies set: X-Forwarded-For (default) or Forwarded (replaces the config's client_ip_header)")
	fs.StringVar(&f.logFormat, "log-format", logText, "log format on stderr: text or json (json: every line on stderr is a JSON object)")
	fs.StringVar(&f.logLevel, "log-level", "info", "least severe `level` logged: debug (adds probes), info, warn or error")
	fs.DurationVar(&f.drainDelay, "drain-delay", 0, "at SIGTERM/SIGINT, answer /readyz 503 but keep serving this long before shutting down (e.g. 5s behind a load balancer)")
	fs.DurationVar(&f.shutdownTimeout, "shutdown-timeout", 10*time.Second, "how long in-flight requests may take to finish at shutdown")
}

// check refuses contradictory flags.
func (f *serveFlags) check() error {
	switch {
	case f.demo == (f.config != "" || f.shared.dsn != ""):
		return errors.New("give exactly one of --demo and --config (or --store)")
	case f.shared.check(f.config != "") != nil:
		return f.shared.check(f.config != "")
	case (f.tlsCert == "") != (f.tlsKey == ""):
		return errors.New("--tls-cert and --tls-key go together")
	case f.tls && !f.demo:
		return errors.New("--tls works with --demo only; give --tls-cert and --tls-key otherwise")
	case f.tls && f.tlsCert != "":
		return errors.New("give --tls or --tls-cert/--tls-key, not both")
	case f.logFormat != logText && f.logFormat != logJSON:
		return errors.New("--log-format must be text or json")
	case f.drainDelay < 0:
		return errors.New("--drain-delay must not be negative")
	case f.shutdownTimeout <= 0:
		return errors.New("--shutdown-timeout must be positive")
	case f.obs.check() != nil:
		return f.obs.check()
	case f.gc.check() != nil:
		return f.gc.check()
	}
	return nil
}

// runServe implements "deputy serve". It returns when ctx is cancelled,
// the drain delay has passed and in-flight requests have finished (or the
// shutdown timeout has passed). SIGHUP (see reload.go) reloads the config
// file and the TLS certificate meanwhile.
//
// With --log-format json every line it writes to stderr is a JSON object,
// usage and config errors included; the demo's text (curl commands to
// paste) then goes to stdout instead.
func runServe(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	// Everything serve writes to stderr goes through one logBuffer, in
	// order: two log lines per request cost one write every
	// logFlushInterval rather than two system calls.
	out := newLogBuffer(stderr, logFlushInterval, logBufferSize)
	defer out.Close()
	stderr = out
	// errOut receives what is printed rather than logged: usage and
	// config errors, the listening address. With JSON logs each of its
	// lines becomes a record.
	errOut, flush := textOutput(scanLogFormat(args), stderr)
	defer flush()
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	var flagOut strings.Builder
	fs.SetOutput(&flagOut)
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), "usage: deputy serve (--demo | --config FILE | --store DSN --issuer URL) [flags]\n\n"+
			"Serves POST /delegation, POST /oauth/token, GET /.well-known/jwks.json,\n"+
			"GET /.well-known/oauth-authorization-server (and openid-configuration),\n"+
			"GET /healthz (liveness) and GET /readyz (readiness).\n"+
			"SIGHUP reloads the config file and the TLS certificate; SIGTERM and SIGINT\n"+
			"drain (--drain-delay) and shut down gracefully.\n\n")
		fs.PrintDefaults()
	}
	var f serveFlags
	f.register(fs)
	code, stop := parseFlags(fs, args)
	if l, ok := errOut.(*lineLogger); ok && stop && code == exitOK {
		l.level = slog.LevelInfo // -h is no error
	}
	io.WriteString(errOut, flagOut.String())
	if stop {
		return code
	}
	fail := func(code int, format string, a ...any) int {
		fmt.Fprintf(errOut, "deputy serve: "+format+"\n", a...)
		return code
	}
	if err := f.check(); err != nil {
		return fail(exitUsage, "%v", err)
	}
	var cors []string
	for _, o := range f.cors {
		n, err := parseOrigin(o)
		if err != nil {
			return fail(exitUsage, "--cors-origin: %v", err)
		}
		cors = append(cors, n)
	}
	rate, err := parseRateLimit(f.rateLimit)
	if err != nil {
		return fail(exitUsage, "--rate-limit: %v", err)
	}
	level, err := parseLogLevel(f.logLevel)
	if err != nil {
		return fail(exitUsage, "--log-level: %v", err)
	}
	var flagErrs []string
	proxies := newProxyTrust(f.trustedProxies, f.clientIPHeader, "--trusted-proxies", "--client-ip-header",
		func(path, format string, a ...any) { flagErrs = append(flagErrs, path+": "+fmt.Sprintf(format, a...)) })
	if len(flagErrs) > 0 {
		return fail(exitUsage, "%s", strings.Join(flagErrs, "\n"))
	}
	logger := newLogger(f.logFormat, level, stderr)
	gcPercent, restoreGC := f.gc.apply(os.Getenv)
	defer restoreGC()
	// The flags that adjust the config file's settings, applied again at
	// every reload.
	override := func(hc *hostConfig) {
		hc.CORSOrigins = append(hc.CORSOrigins, cors...)
		if rate.enabled() {
			hc.RateLimit = rate
		}
		switch {
		case len(f.trustedProxies) > 0:
			hc.Proxies = proxies
		case f.clientIPHeader != "" && hc.Proxies != nil:
			p := *hc.Proxies
			p.header = proxies.header
			hc.Proxies = &p
		}
	}

	// A config file is checked before listening, so that a bad one never
	// binds the port. The demo needs the address for its issuer, so it is
	// built after.
	var hc *hostConfig
	if !f.demo {
		var closeStore func()
		if hc, closeStore, err = f.shared.loadHost(ctx, f.config); err != nil {
			fmt.Fprintln(errOut, err)
			if _, bad := err.(configError); bad {
				return exitUsage
			}
			return exitFailure
		}
		defer closeStore()
	}
	tlsConfig, certs, caPEM, err := f.tlsConfig()
	if err != nil {
		return fail(exitUsage, "%v", err)
	}
	var caFile string
	if caPEM != nil {
		if caFile, err = writeTemp("deputy-demo-ca-*.pem", caPEM); err != nil {
			return fail(exitFailure, "writing the demo CA: %v", err)
		}
		defer os.Remove(caFile)
	}

	obs, err := f.obs.start(ctx, logger, stdout)
	if err != nil {
		return fail(exitFailure, "%v", err)
	}
	defer obs.close(logger)
	ln, err := net.Listen("tcp", f.addr)
	if err != nil {
		return fail(exitFailure, "%v", err)
	}
	defer ln.Close()
	baseURL := "http://" + reachable(ln.Addr())
	if tlsConfig != nil {
		baseURL = "https://" + reachable(ln.Addr())
		ln = tls.NewListener(ln, tlsConfig)
	}

	var banner func()
	if f.demo {
		var (
			fc  *fileConfig
			tok string
		)
		if fc, hc, tok, err = buildDemo(ctx, baseURL); err != nil {
			return fail(exitFailure, "building the demo: %v", err)
		}
		// The demo's text is for people to paste from: it stays text,
		// on stdout when stderr is JSON.
		demoOut := stderr
		if f.logFormat == logJSON {
			demoOut = stdout
		}
		banner = func() { printDemo(demoOut, baseURL, fc, tok, caFile) }
	}
	override(hc)
	// One-time use outlives reloads: the ids already used stay used
	// whatever store a reload builds.
	var replay store.ReplayCache = store.NewMemory()
	if hc.shared != nil {
		replay = hc.Store // one-time across every replica
	}
	drain := &drainState{}
	newSrv := func(hc *hostConfig) (*server, error) {
		return newServer(serverConfig{hostConfig: *hc, Logger: logger, Drain: drain, ReplayCache: replay, OnExchange: obs.hook})
	}
	s, err := newSrv(hc)
	if err != nil {
		return fail(exitUsage, "%v", err)
	}
	h := newHost(s)
	rl := &reloader{host: h, certs: certs, log: logger}
	if f.config != "" {
		rl.build = func(ctx context.Context) (*server, error) {
			hc, err := f.shared.reloadHost(f.config, hc)
			if err != nil {
				return nil, err
			}
			override(hc)
			return newSrv(hc)
		}
	}
	srv := &http.Server{
		Handler:           obs.wrap(h),
		ReadHeaderTimeout: readHeaderTimeout,
		ReadTimeout:       readTimeout,
		WriteTimeout:      writeTimeout,
		IdleTimeout:       idleTimeout,
		MaxHeaderBytes:    maxHeaderBytes,
		ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
	}
	hangups := hangupsFrom(ctx)
	if hangups == nil {
		// run without main (tests): catch SIGHUP while serving, from
		// before the address is announced.
		c := make(chan os.Signal, 1)
		signal.Notify(c, syscall.SIGHUP)
		defer signal.Stop(c)
		hangups = c
	}
	wctx, stopWatch := context.WithCancel(ctx)
	defer stopWatch()
	go rl.watch(wctx, hangups)

	if banner != nil {
		banner()
	}
	logger.Info("deputy: serving", "version", readVersion().short(), "issuer", hc.Issuer, "clients_from", clientsFrom(f.config, hc),
		"cors_origins", len(hc.CORSOrigins), "rate_limit", hc.RateLimit.String(), "trusted_proxies", hc.Proxies.String(),
		"replay", hc.Replay, "gc_percent", gcPercent)
	if obs.metricsURL != "" {
		logger.Info("deputy: metrics on "+obs.metricsURL, "url", obs.metricsURL)
	}
	if f.logFormat == logJSON {
		logger.Info("deputy: listening on "+baseURL, "url", baseURL)
	} else {
		fmt.Fprintf(stderr, "deputy: listening on %s\n", baseURL)
	}
	out.Flush() // the start-up lines at once: scripts wait for "listening on"

	if err := serveUntilDone(ctx, srv, ln, logger, drain, f.drainDelay, f.shutdownTimeout); err != nil {
		return fail(exitFailure, "%v", err)
	}
	return exitOK
}

// textOutput returns where serve prints text for people: stderr itself
// with text logs, or a lineLogger writing one JSON record per line; flush
// writes out an unterminated last line.
func textOutput(format string, stderr io.Writer) (w io.Writer, flush func()) {
	if format != logJSON {
		return stderr, func() {}
	}
	l := &lineLogger{log: newLogger(logJSON, slog.LevelDebug, stderr), level: slog.LevelError}
	return l, l.Flush
}

// tlsConfig returns the TLS configuration the flags ask for, nil for plain
// HTTP. With --tls-cert the certificate comes from a certSource, which a
// reload refreshes. With --tls it makes a throwaway CA and returns its
// certificate in PEM too.
func (f *serveFlags) tlsConfig() (*tls.Config, *certSource, []byte, error) {
	switch {
	case f.tlsCert != "":
		certs := &certSource{certFile: f.tlsCert, keyFile: f.tlsKey}
		cert, err := certs.loadCert()
		if err != nil {
			return nil, nil, nil, err
		}
		certs.cert.Store(cert)
		return &tls.Config{MinVersion: tls.VersionTLS12, GetCertificate: certs.getCertificate}, certs, nil, nil
	case f.tls:
		cert, caPEM, err := demoTLS(time.Now())
		if err != nil {
			return nil, nil, nil, fmt.Errorf("generating the demo CA: %v", err)
		}
		return &tls.Config{MinVersion: tls.VersionTLS12, Certificates: []tls.Certificate{cert}}, nil, caPEM, nil
	}
	return nil, nil, nil, nil
}

// serveUntilDone serves on ln until ctx is cancelled, then drains and
// shuts down gracefully: /readyz answers 503 at once while everything
// else is served for drainDelay, so that load balancers stop sending new
// requests before the listener closes; then the listener closes and
// in-flight requests get up to timeout to finish, after which they are
// cut off and an error returned.
func serveUntilDone(ctx context.Context, srv *http.Server, ln net.Listener, logger *slog.Logger, drain *drainState, drainDelay, timeout time.Duration) error {
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	drain.start()
	if drainDelay > 0 {
		logger.Info("deputy: draining: /readyz answers 503, still serving", "drain_delay", drainDelay.String())
		t := time.NewTimer(drainDelay)
		select {
		case <-t.C:
		case err := <-errc:
			t.Stop()
			return err
		}
	}
	logger.Info("deputy: shutting down", "timeout", timeout.String())
	sctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	err := srv.Shutdown(sctx)
	<-errc // http.ErrServerClosed once Serve has returned
	if err != nil {
		srv.Close()
		return fmt.Errorf("shutdown: %v (in-flight requests cut off)", err)
	}
	logger.Info("deputy: stopped")
	return nil
}

// buildDemo makes the demo world for a server at baseURL and a demo
// id_token issued to demo-app.
func buildDemo(ctx context.Context, baseURL string) (*fileConfig, *hostConfig, string, error) {
	fc, err := demoConfig(baseURL + "/")
	if err != nil {
		return nil, nil, "", err
	}
	hc, err := buildConfig(fc, "")
	if err != nil {
		return nil, nil, "", err
	}
	app, err := hc.Store.Client(ctx, demoApp)
	if err != nil {
		return nil, nil, "", err
	}
	tok, err := mintSourceToken(ctx, hc.Store, hc.Issuer, app, demoSubject, demoClaims, time.Hour, time.Now())
	if err != nil {
		return nil, nil, "", err
	}
	return fc, hc, tok, nil
}

// demoClaims are the demo user's profile claims in the demo id_token.
var demoClaims = map[string]any{"name": "Demo User", "email": "demo-user@example.com", "email_verified": true}

func configSource(path string) string {
	if path == "" {
		return "demo"
	}
	return path
}

// writeTemp writes data to a new temporary file and returns its name.
func writeTemp(pattern string, data []byte) (string, error) {
	f, err := os.CreateTemp("", pattern)
	if err != nil {
		return "", err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		os.Remove(f.Name())
		return "", err
	}
	return f.Name(), f.Close()
}

// reachable turns a listening address into one a client on this machine
// can connect to: an unspecified IP (0.0.0.0, ::) becomes 127.0.0.1.
func reachable(a net.Addr) string {
	ta, ok := a.(*net.TCPAddr)
	if !ok {
		return a.String()
	}
	ip := ta.IP
	if ip.IsUnspecified() {
		ip = net.IPv4(127, 0, 0, 1)
	}
	return net.JoinHostPort(ip.String(), fmt.Sprint(ta.Port))
}
