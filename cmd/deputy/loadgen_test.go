package main

// The host's throughput budget (issue 11): `deputy serve` answering an
// HS256 delegation must manage at least 0.7 times the requests per second
// of a bare net/http handler returning a fixed JSON body, both driven by
// the same load generator in the same run.
//
//	go test -run '^$' -bench HostVsBare -benchtime 20000x ./cmd/deputy/
//	go test -run '^$' -bench HostVsBare -benchtime 20000x -loadgen.conns 8 ./cmd/deputy/
//
// The load generator speaks HTTP/1.1 on raw keep-alive connections
// (one goroutine each) so that the client's own cost stays small next to
// the servers'. deputy runs through runServe, as "deputy serve --config"
// does, its log lines written to /dev/null through a real file: the
// access log and the audit event are both paid for.

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/deputyauth/deputy/engine"
)

var (
	loadgenConns  = flag.Int("loadgen.conns", 4, "connections the HostVsBare benchmark drives against each server")
	loadgenArgs   = flag.String("loadgen.args", "", "extra flags for HostVsBare's deputy serve, space-separated (e.g. --log-level=warn to price the logs)")
	loadgenRounds = flag.Int("loadgen.rounds", 10, "HostVsBare alternates between the two servers this many times")
	loadgenClient = flag.String("loadgen.client", "nethttp", "HostVsBare's client: nethttp (Go's http.Client, as most load tools cost) or raw (hand-written HTTP/1.1, as cheap as a client gets)")
)

// BenchmarkHostVsBare runs b.N requests against a bare net/http handler
// and b.N HS256 delegations against deputy serve, and reports each one's
// requests per second, p50 and p99 latency, and deputy's ratio to bare.
// It also runs b.N delegations against a floor server (startFloor) that
// does nothing but the exchange: floor-ratio is the most any host can
// reach with this engine on this machine, and host-ratio (deputy over
// floor) what deputy's host keeps of it.
func BenchmarkHostVsBare(b *testing.B) {
	fc := testConfig(b)
	hc, err := buildConfig(fc, "")
	if err != nil {
		b.Fatal(err)
	}
	src := (&testEnv{hc: hc, fc: fc}).mint(b, demoApp, demoSubject, nil, 24*time.Hour)
	body := seedBody(demoApp, src, demoAPI, "openid", "app")
	deputyAddr := serveForLoad(b, writeConfig(b, fc))

	// The bare handler answers a body as long as deputy's answer.
	probe, err := loadConn(deputyAddr, delegationRequest(body))
	if err != nil {
		b.Fatal(err)
	}
	answer, err := probe.do()
	probe.Close()
	if err != nil {
		b.Fatal(err)
	}
	fixed := append([]byte(`{"token_type":"Bearer","expires_in":36000,"id_token":"`), bytes.Repeat([]byte("x"), max(len(answer)-57, 1))...)
	fixed = append(fixed, `"}`...)
	bareAddr := startBare(b, fixed)
	floorAddr := startFloor(b, hc, body)

	// The two servers take turns, so that whatever else the machine does
	// weighs on both alike.
	bt := newTarget(b, bareAddr, delegationRequest(body))
	ft := newTarget(b, floorAddr, delegationRequest(body))
	dt := newTarget(b, deputyAddr, delegationRequest(body))
	rounds := max(*loadgenRounds, 1)
	for i := range rounds {
		n := b.N / rounds
		if i == rounds-1 {
			n = b.N - (rounds-1)*(b.N/rounds)
		}
		bt.round(n)
		ft.round(n)
		dt.round(n)
	}
	bare, floor, dep := bt.load(), ft.load(), dt.load()
	b.ReportMetric(0, "ns/op")
	b.ReportMetric(bare.rps, "bare-req/s")
	b.ReportMetric(dep.rps, "deputy-req/s")
	b.ReportMetric(dep.rps/bare.rps, "ratio")
	b.ReportMetric(floor.rps, "floor-req/s")
	b.ReportMetric(floor.rps/bare.rps, "floor-ratio")
	// What deputy keeps of the floor's throughput: the host's own cost
	// (parsing, authentication, headers, the two log lines), apart from
	// the exchange's.
	b.ReportMetric(dep.rps/floor.rps, "host-ratio")
	b.ReportMetric(float64(floor.p50.Microseconds()), "floor-p50-µs")
	b.ReportMetric(float64(floor.p99.Microseconds()), "floor-p99-µs")
	b.ReportMetric(float64(bare.p50.Microseconds()), "bare-p50-µs")
	b.ReportMetric(float64(bare.p99.Microseconds()), "bare-p99-µs")
	b.ReportMetric(float64(dep.p50.Microseconds()), "deputy-p50-µs")
	b.ReportMetric(float64(dep.p99.Microseconds()), "deputy-p99-µs")
}

// delegationRequest is the raw HTTP/1.1 request of one seed delegation.
func delegationRequest(body string) []byte {
	return []byte("POST " + pathDelegation + " HTTP/1.1\r\nHost: 127.0.0.1\r\n" +
		"Content-Type: application/json\r\nContent-Length: " + strconv.Itoa(len(body)) + "\r\n\r\n" + body)
}

var loadListeningRE = regexp.MustCompile(`deputy: listening on http://(\S+)`)

// serveForLoad runs "deputy serve --config path" on a free port until the
// benchmark ends and returns its address.
func serveForLoad(b *testing.B, path string) string {
	b.Helper()
	devnull, err := os.OpenFile(os.DevNull, os.O_WRONLY, 0)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { devnull.Close() })
	addr := make(chan string, 1)
	w := &addrWatcher{out: devnull, found: addr}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan int)
	args := append([]string{"--config", path, "--addr", "127.0.0.1:0"}, strings.Fields(*loadgenArgs)...)
	go func() { done <- runServe(ctx, args, io.Discard, w) }()
	b.Cleanup(func() { cancel(); <-done })
	select {
	case a := <-addr:
		return a
	case code := <-done:
		b.Fatalf("deputy serve exited with %d", code)
	case <-time.After(30 * time.Second):
		b.Fatal("deputy serve did not start")
	}
	return ""
}

// addrWatcher passes writes on to out and sends the first listening
// address it sees to found.
type addrWatcher struct {
	out   io.Writer
	once  sync.Once
	seen  atomic.Bool
	found chan<- string
}

func (w *addrWatcher) Write(p []byte) (int, error) {
	if !w.seen.Load() {
		if m := loadListeningRE.FindSubmatch(p); m != nil {
			w.once.Do(func() { w.seen.Store(true); w.found <- string(m[1]) })
		}
	}
	return w.out.Write(p)
}

// startBare serves body as application/json on every request, with the
// http.Server settings of deputy serve.
func startBare(b *testing.B, body []byte) string {
	b.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	length := strconv.Itoa(len(body))
	srv := &http.Server{
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			io.Copy(io.Discard, r.Body)
			h := w.Header()
			h.Set("Content-Type", "application/json")
			h.Set("Content-Length", length)
			w.Write(body)
		}),
		ReadHeaderTimeout: readHeaderTimeout,
		ReadTimeout:       readTimeout,
		WriteTimeout:      writeTimeout,
		IdleTimeout:       idleTimeout,
		MaxHeaderBytes:    maxHeaderBytes,
	}
	go srv.Serve(ln)
	b.Cleanup(func() { srv.Close() })
	return ln.Addr().String()
}

// startFloor serves the delegation with nothing but the engine: the body
// read and dropped, Exchange on a request parsed once beforehand, the
// answer written; no parsing, hooks, logs or middleware. It is the most
// any host could manage with this engine on this machine, and shows what
// of deputy serve's cost is the exchange's own.
func startFloor(b *testing.B, hc *hostConfig, body string) string {
	b.Helper()
	x, err := engine.New(engine.Config{Issuer: hc.Issuer, Clients: hc.Store, Keys: hc.Store,
		Minters: addonMinters(), Lifetime: hc.Lifetime, ClockSkew: hc.ClockSkew})
	if err != nil {
		b.Fatal(err)
	}
	parsed, err := engine.ParseJSON([]byte(body))
	if err != nil {
		b.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		req := *parsed
		res, err := x.Exchange(r.Context(), &req)
		if err != nil {
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		out, _ := res.MarshalJSON()
		h := w.Header()
		h.Set("Content-Type", "application/json")
		h.Set("Content-Length", strconv.Itoa(len(out)))
		w.Write(out)
	})}
	go srv.Serve(ln)
	b.Cleanup(func() { srv.Close() })
	return ln.Addr().String()
}

// target is one server under load: its connections and what they
// measured so far.
type target struct {
	b         *testing.B
	cs        []doer
	latencies []time.Duration
	elapsed   time.Duration
}

// newTarget opens *loadgenConns keep-alive connections to addr and warms
// them up. Any answer other than 200 fails the benchmark.
func newTarget(b *testing.B, addr string, req []byte) *target {
	b.Helper()
	t := &target{b: b, cs: make([]doer, max(*loadgenConns, 1))}
	for i := range t.cs {
		c, err := newDoer(addr, req)
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { c.Close() })
		t.cs[i] = c
		for range 50 { // warm-up: connections, caches, the prepared signer
			if _, err := c.do(); err != nil {
				b.Fatal(err)
			}
		}
	}
	return t
}

// round sends n requests over all the connections at once.
func (t *target) round(n int) {
	t.b.Helper()
	var (
		left      atomic.Int64
		wg        sync.WaitGroup
		latencies = make([][]time.Duration, len(t.cs))
		errs      = make([]error, len(t.cs))
	)
	left.Store(int64(n))
	start := time.Now()
	for i, c := range t.cs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			lat := make([]time.Duration, 0, n/len(t.cs)+1)
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
	t.elapsed += time.Since(start)
	if err := errors.Join(errs...); err != nil {
		t.b.Fatal(err)
	}
	t.latencies = slices.Concat(append(latencies, t.latencies)...)
}

// load is what a target measured over all its rounds.
type load struct {
	rps      float64
	p50, p99 time.Duration
}

func (t *target) load() load {
	all := slices.Clone(t.latencies)
	slices.Sort(all)
	return load{
		rps: float64(len(all)) / t.elapsed.Seconds(),
		p50: all[len(all)*50/100],
		p99: all[len(all)*99/100],
	}
}

// doer sends one request and reads its answer's body.
type doer interface {
	do() ([]byte, error)
	Close() error
}

// newDoer returns a connection of the kind -loadgen.client names.
func newDoer(addr string, req []byte) (doer, error) {
	switch *loadgenClient {
	case "raw":
		return loadConn(addr, req)
	case "nethttp":
		return newHTTPConn(addr, req)
	}
	return nil, fmt.Errorf("-loadgen.client %q: want nethttp or raw", *loadgenClient)
}

// httpConn sends the request with its own http.Client over one
// keep-alive connection.
type httpConn struct {
	client *http.Client
	url    string
	ctype  string
	body   []byte
	buf    bytes.Buffer
}

func newHTTPConn(addr string, raw []byte) (*httpConn, error) {
	r, err := http.ReadRequest(bufio.NewReader(bytes.NewReader(raw)))
	if err != nil {
		return nil, err
	}
	body, err := io.ReadAll(r.Body)
	if err != nil {
		return nil, err
	}
	tr := &http.Transport{MaxIdleConnsPerHost: 1, MaxConnsPerHost: 1, DisableCompression: true}
	return &httpConn{client: &http.Client{Transport: tr}, url: "http://" + addr + r.URL.Path, ctype: r.Header.Get("Content-Type"), body: body}, nil
}

func (c *httpConn) do() ([]byte, error) {
	res, err := c.client.Post(c.url, c.ctype, bytes.NewReader(c.body))
	if err != nil {
		return nil, err
	}
	defer res.Body.Close()
	c.buf.Reset()
	if _, err := c.buf.ReadFrom(res.Body); err != nil {
		return nil, err
	}
	if res.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("answer %d %s", res.StatusCode, c.buf.Bytes())
	}
	return c.buf.Bytes(), nil
}

func (c *httpConn) Close() error {
	c.client.CloseIdleConnections()
	return nil
}

// rawConn is one keep-alive HTTP/1.1 connection sending the same request.
type rawConn struct {
	c   net.Conn
	r   *bufio.Reader
	req []byte
	buf []byte
}

func loadConn(addr string, req []byte) (*rawConn, error) {
	c, err := net.Dial("tcp", addr)
	if err != nil {
		return nil, err
	}
	return &rawConn{c: c, r: bufio.NewReaderSize(c, 16<<10), req: req}, nil
}

func (c *rawConn) Close() error { return c.c.Close() }

var (
	statusOK      = []byte("HTTP/1.1 200 ")
	contentLength = []byte("content-length:")
)

// do sends the request and reads the answer, returning its body. It
// understands exactly what both servers send: a status line, headers
// with Content-Length, a body.
func (c *rawConn) do() ([]byte, error) {
	if _, err := c.c.Write(c.req); err != nil {
		return nil, err
	}
	line, err := c.r.ReadSlice('\n')
	if err != nil {
		return nil, err
	}
	if !bytes.HasPrefix(line, statusOK) {
		return nil, fmt.Errorf("answer %q", bytes.TrimSpace(line))
	}
	length := -1
	for {
		line, err := c.r.ReadSlice('\n')
		if err != nil {
			return nil, err
		}
		if len(line) <= 2 {
			break
		}
		if len(line) > len(contentLength) && bytes.EqualFold(line[:len(contentLength)], contentLength) {
			if length, err = strconv.Atoi(string(bytes.TrimSpace(line[len(contentLength):]))); err != nil {
				return nil, err
			}
		}
	}
	if length < 0 {
		return nil, errors.New("answer without Content-Length")
	}
	if cap(c.buf) < length {
		c.buf = make([]byte, length)
	}
	c.buf = c.buf[:length]
	_, err = io.ReadFull(c.r, c.buf)
	return c.buf, err
}

// BenchmarkHostHandler is one HS256 delegation through the host's whole
// handler (request id, access log, CORS, mux, oauthhttp, the engine and
// its audit event, both logged as text to /dev/null), in-process: the
// host's cost per request without the network's.
func BenchmarkHostHandler(b *testing.B) {
	hc, body, devnull := hostBenchSetup(b)
	benchHostHandler(b, hc, body, slog.New(slog.NewTextHandler(devnull, nil)))
}

// hostBenchSetup returns the demo host's configuration, an HS256
// delegation request's body and /dev/null, closed when b ends.
func hostBenchSetup(b *testing.B) (*hostConfig, string, *os.File) {
	b.Helper()
	fc := testConfig(b)
	hc, err := buildConfig(fc, "")
	if err != nil {
		b.Fatal(err)
	}
	devnull, err := os.OpenFile(os.DevNull, os.O_WRONLY, 0)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { devnull.Close() })
	src := (&testEnv{hc: hc, fc: fc}).mint(b, demoApp, demoSubject, nil, 24*time.Hour)
	return hc, seedBody(demoApp, src, demoAPI, "openid", "app"), devnull
}

// benchHostHandler serves body to the host's handler, logging to l, b.N
// times; any answer but 200 fails b.
func benchHostHandler(b *testing.B, hc *hostConfig, body string, l *slog.Logger) {
	b.Helper()
	s, err := newServer(serverConfig{hostConfig: *hc, Logger: l})
	if err != nil {
		b.Fatal(err)
	}
	h := s.Handler()
	b.ReportAllocs()
	for b.Loop() {
		req := httptest.NewRequest(http.MethodPost, pathDelegation, strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != http.StatusOK {
			b.Fatalf("status %d: %s", rec.Code, rec.Body)
		}
	}
}

// BenchmarkHostLogging is BenchmarkHostHandler's request with the access
// log and the audit event written as text, written as JSON (each line one
// write, or buffered as deputy serve writes them), and not written at all:
// what the two log lines cost.
func BenchmarkHostLogging(b *testing.B) {
	hc, body, devnull := hostBenchSetup(b)
	buffered := newLogBuffer(devnull, logFlushInterval, logBufferSize)
	defer buffered.Close()
	for _, tc := range []struct {
		name string
		l    *slog.Logger
	}{
		{"text", slog.New(slog.NewTextHandler(devnull, nil))},
		{"json", slog.New(slog.NewJSONHandler(devnull, nil))},
		// As deputy serve logs: through a logBuffer (logging.go).
		{"text-buffered", newLogger(logText, slog.LevelInfo, buffered)},
		{"json-buffered", newLogger(logJSON, slog.LevelInfo, buffered)},
		{"off", slog.New(slog.DiscardHandler)},
	} {
		b.Run(tc.name, func(b *testing.B) { benchHostHandler(b, hc, body, tc.l) })
	}
}
