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
	"time"
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
	logFormat       string
	shutdownTimeout time.Duration
}

func (f *serveFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&f.config, "config", "", "config `file` (see README.md)")
	fs.BoolVar(&f.demo, "demo", false, "serve demo clients with fresh keys, and print a curl command to try them")
	fs.StringVar(&f.addr, "addr", "127.0.0.1:8080", "`host:port` to listen on (port 0: any free port)")
	fs.StringVar(&f.tlsCert, "tls-cert", "", "serve HTTPS with this PEM certificate chain `file`")
	fs.StringVar(&f.tlsKey, "tls-key", "", "PEM private key `file` for --tls-cert")
	fs.BoolVar(&f.tls, "tls", false, "with --demo: serve HTTPS with a throwaway CA written to a temporary file")
	fs.Var(&f.cors, "cors-origin", "allow this browser `origin` (repeatable; adds to the config's cors_origins)")
	fs.StringVar(&f.rateLimit, "rate-limit", "", "per-(IP, client) `rate` such as 10/m (replaces the config's rate_limit)")
	fs.StringVar(&f.logFormat, "log-format", "text", "log format on stderr: text or json")
	fs.DurationVar(&f.shutdownTimeout, "shutdown-timeout", 10*time.Second, "how long in-flight requests may take to finish at shutdown")
}

// check refuses contradictory flags.
func (f *serveFlags) check() error {
	switch {
	case f.demo == (f.config != ""):
		return errors.New("give exactly one of --demo and --config")
	case (f.tlsCert == "") != (f.tlsKey == ""):
		return errors.New("--tls-cert and --tls-key go together")
	case f.tls && !f.demo:
		return errors.New("--tls works with --demo only; give --tls-cert and --tls-key otherwise")
	case f.tls && f.tlsCert != "":
		return errors.New("give --tls or --tls-cert/--tls-key, not both")
	case f.logFormat != "text" && f.logFormat != "json":
		return errors.New("--log-format must be text or json")
	case f.shutdownTimeout <= 0:
		return errors.New("--shutdown-timeout must be positive")
	}
	return nil
}

// runServe implements "deputy serve". It returns when ctx is cancelled and
// in-flight requests have finished (or the shutdown timeout has passed).
func runServe(ctx context.Context, args []string, stderr io.Writer) int {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), "usage: deputy serve (--demo | --config FILE) [flags]\n\n"+
			"Serves POST /delegation, POST /oauth/token, GET /.well-known/jwks.json,\n"+
			"GET /.well-known/oauth-authorization-server (and openid-configuration) and GET /healthz.\n\n")
		fs.PrintDefaults()
	}
	var f serveFlags
	f.register(fs)
	if code, stop := parseFlags(fs, args); stop {
		return code
	}
	fail := func(code int, format string, a ...any) int {
		fmt.Fprintf(stderr, "deputy serve: "+format+"\n", a...)
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
	var logger *slog.Logger
	if f.logFormat == "json" {
		logger = slog.New(slog.NewJSONHandler(stderr, nil))
	} else {
		logger = slog.New(slog.NewTextHandler(stderr, nil))
	}

	// A config file is checked before listening, so that a bad one never
	// binds the port. The demo needs the address for its issuer, so it is
	// built after.
	var hc *hostConfig
	if f.config != "" {
		if hc, err = loadConfigFile(f.config); err != nil {
			fmt.Fprintln(stderr, err)
			return exitUsage
		}
	}
	tlsConfig, caPEM, err := f.tlsConfig()
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
		banner = func() { printDemo(stderr, baseURL, fc, tok, caFile) }
	}
	hc.CORSOrigins = append(hc.CORSOrigins, cors...)
	if rate.enabled() {
		hc.RateLimit = rate
	}
	s, err := newServer(serverConfig{hostConfig: *hc, Logger: logger})
	if err != nil {
		return fail(exitUsage, "%v", err)
	}
	srv := &http.Server{
		Handler:           s.Handler(),
		ReadHeaderTimeout: readHeaderTimeout,
		ReadTimeout:       readTimeout,
		WriteTimeout:      writeTimeout,
		IdleTimeout:       idleTimeout,
		MaxHeaderBytes:    maxHeaderBytes,
		ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
	}
	if banner != nil {
		banner()
	}
	logger.Info("deputy: serving", "issuer", hc.Issuer, "clients_from", configSource(f.config),
		"cors_origins", len(hc.CORSOrigins), "rate_limit", hc.RateLimit.String(), "replay", hc.Replay)
	fmt.Fprintf(stderr, "deputy: listening on %s\n", baseURL)
	if err := serveUntilDone(ctx, srv, ln, logger, f.shutdownTimeout); err != nil {
		return fail(exitFailure, "%v", err)
	}
	return exitOK
}

// tlsConfig returns the TLS configuration the flags ask for, nil for plain
// HTTP. With --tls it makes a throwaway CA and returns its certificate in
// PEM too.
func (f *serveFlags) tlsConfig() (*tls.Config, []byte, error) {
	var (
		cert  tls.Certificate
		caPEM []byte
		err   error
	)
	switch {
	case f.tlsCert != "":
		if cert, err = tls.LoadX509KeyPair(f.tlsCert, f.tlsKey); err != nil {
			return nil, nil, fmt.Errorf("--tls-cert/--tls-key: %v", err)
		}
	case f.tls:
		if cert, caPEM, err = demoTLS(time.Now()); err != nil {
			return nil, nil, fmt.Errorf("generating the demo CA: %v", err)
		}
	default:
		return nil, nil, nil
	}
	return &tls.Config{MinVersion: tls.VersionTLS12, Certificates: []tls.Certificate{cert}}, caPEM, nil
}

// serveUntilDone serves on ln until ctx is cancelled, then shuts down
// gracefully: the listener closes at once, in-flight requests get up to
// timeout to finish, after which they are cut off and an error returned.
func serveUntilDone(ctx context.Context, srv *http.Server, ln net.Listener, logger *slog.Logger, timeout time.Duration) error {
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	logger.Info("deputy: shutting down", "timeout", timeout)
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
