package main

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

var metricsRE = regexp.MustCompile(`deputy: metrics on (http://[^\s"]+)`)

// stdoutSpan is the part of a stdouttrace span the test reads.
type stdoutSpan struct {
	Name   string
	Parent struct {
		TraceID string
		SpanID  string
	}
	Attributes []struct {
		Key   string
		Value struct{ Value any }
	}
}

// TestServeMetricsAndTraces runs deputy serve with a metrics listener and
// stdout traces, makes a good and two refused exchanges, and reads
// /metrics and the spans: counts by outcome, nothing a caller made up as
// a label, spans joined to the caller's trace, no token anywhere.
func TestServeMetricsAndTraces(t *testing.T) {
	fc := testConfig(t)
	path := writeConfig(t, fc)
	hc, err := buildConfig(fc, "")
	if err != nil {
		t.Fatal(err)
	}
	env := &testEnv{hc: hc, fc: fc}
	spans, logs := &syncBuffer{}, &syncBuffer{}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan int)
	go func() {
		done <- runServe(ctx, []string{"--config", path, "--addr", "127.0.0.1:0", "--metrics-addr", "127.0.0.1:0",
			"--trace-exporter", "stdout"}, spans, logs)
	}()
	exited := false
	defer func() {
		if !exited {
			cancel()
			<-done
		}
	}()
	base := logs.waitFor(t, listeningRE, 30*time.Second)[1]
	metricsURL := logs.waitFor(t, metricsRE, time.Second)[1]

	tok := env.mint(t, demoApp, demoSubject, nil, time.Hour)
	const (
		traceID  = "4bf92f3577b34da6a3ce929d0e0e4736"
		parentID = "00f067aa0ba902b7"
	)
	traced := map[string]string{"Traceparent": "00-" + traceID + "-" + parentID + "-01"}
	ok := do(t, "POST", base+pathDelegation, "application/json", seedBody(demoApp, tok, demoAPI, "openid", ""), traced)
	if ok.status != 200 {
		t.Fatalf("delegation: %d %s", ok.status, ok.body)
	}
	minted := ok.members(t)["id_token"].(string)
	refused := []string{
		seedBody(demoApp, env.mint(t, demoApp, demoSubject, nil, time.Hour), "made-up-target", "openid", ""),
		seedBody("made-up-client", tok, demoAPI, "openid", ""),
	}
	for _, body := range refused {
		if r := do(t, "POST", base+pathDelegation, "application/json", body, nil); r.status < 400 {
			t.Fatalf("want a refusal, got %d %s", r.status, r.body)
		}
	}

	m := do(t, "GET", metricsURL, "", "", nil)
	if m.status != 200 || !strings.HasPrefix(m.header.Get("Content-Type"), "text/plain") {
		t.Fatalf("GET %s: %d %s", metricsURL, m.status, m.header.Get("Content-Type"))
	}
	text := string(m.body)
	var got []string
	for _, line := range strings.Split(text, "\n") {
		if strings.HasPrefix(line, "deputy_exchanges_total{") || strings.HasPrefix(line, "deputy_minted_tokens_total{") ||
			strings.HasPrefix(line, "deputy_exchange_duration_seconds_count{") {
			got = append(got, line)
		}
	}
	kid := fc.Clients[clientIndex(t, fc, demoAPI)].Secrets[0].ID
	want := []string{
		`deputy_exchange_duration_seconds_count{dialect="delegation",outcome="invalid_client"} 1`,
		`deputy_exchange_duration_seconds_count{dialect="delegation",outcome="invalid_target"} 1`,
		`deputy_exchange_duration_seconds_count{dialect="delegation",outcome="ok"} 1`,
		`deputy_exchanges_total{dialect="delegation",outcome="invalid_client"} 1`,
		`deputy_exchanges_total{dialect="delegation",outcome="invalid_target"} 1`,
		`deputy_exchanges_total{dialect="delegation",outcome="ok"} 1`,
		`deputy_minted_tokens_total{kid="` + kid + `"} 1`,
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("metrics (-want +got):\n%s\n%s", diff, text)
	}
	for _, s := range []string{"deputy_build_info{", "go_goroutines ", "process_start_time_seconds "} {
		if !strings.Contains(text, s) {
			t.Errorf("metrics lack %s", s)
		}
	}
	for _, s := range []string{"made-up", tok, minted} {
		if strings.Contains(text, s) {
			t.Errorf("metrics hold %.24q", s)
		}
	}
	// The token listener does not serve the metrics.
	if r := do(t, "GET", base+metricsPath, "", "", nil); r.status != http.StatusNotFound {
		t.Errorf("GET %s on the token listener: %d, want 404", metricsPath, r.status)
	}

	// Spans are flushed at shutdown.
	cancel()
	exited = true
	if code := <-done; code != exitOK {
		t.Fatalf("serve exited %d:\n%s", code, logs.String())
	}
	out := spans.String()
	for _, s := range []string{tok, minted, strings.Split(tok, ".")[2], strings.Split(minted, ".")[2]} {
		if strings.Contains(out, s) {
			t.Fatalf("spans hold a token:\n%s", out)
		}
	}
	var recorded []stdoutSpan
	dec := json.NewDecoder(strings.NewReader(out))
	for {
		var s stdoutSpan
		if err := dec.Decode(&s); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			t.Fatalf("spans: %v\n%s", err, out)
		}
		recorded = append(recorded, s)
	}
	if len(recorded) != 3 {
		t.Fatalf("got %d spans, want 3:\n%s", len(recorded), out)
	}
	outcomes := map[string]bool{}
	for i, s := range recorded {
		attrs := map[string]any{}
		for _, a := range s.Attributes {
			attrs[a.Key] = a.Value.Value
		}
		outcomes[attrs["deputy.outcome"].(string)] = true
		if s.Name != "deputy.exchange" {
			t.Errorf("span %d named %q", i, s.Name)
		}
		if attrs["deputy.outcome"] == "ok" {
			if s.Parent.TraceID != traceID || s.Parent.SpanID != parentID {
				t.Errorf("traced exchange's parent %+v, want the traceparent's", s.Parent)
			}
			if attrs["deputy.kid"] != kid || attrs["deputy.target"] != demoAPI {
				t.Errorf("ok span attributes %v", attrs)
			}
		}
	}
	if diff := cmp.Diff(map[string]bool{"ok": true, "invalid_target": true, "invalid_client": true}, outcomes); diff != "" {
		t.Errorf("span outcomes (-want +got):\n%s", diff)
	}
}

func clientIndex(t testing.TB, fc *fileConfig, id string) int {
	t.Helper()
	for i, c := range fc.Clients {
		if c.ID == id {
			return i
		}
	}
	t.Fatalf("no client %q", id)
	return -1
}

func TestServeObservabilityFlags(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--trace-exporter", "jaeger"}, `--trace-exporter must be otlp or stdout, not "jaeger"`},
		{[]string{"--metrics-client-labels"}, "--metrics-client-labels needs --metrics-addr"},
	} {
		var stderr strings.Builder
		args := append([]string{"--demo", "--addr", "127.0.0.1:0"}, tc.args...)
		if code := runServe(context.Background(), args, io.Discard, &stderr); code != exitUsage || !strings.Contains(stderr.String(), tc.want) {
			t.Errorf("%v: exit %d, %q; want %d and %q", tc.args, code, stderr.String(), exitUsage, tc.want)
		}
	}
}

// TestObservabilityOff: without the flags nothing is added to the
// exchange path or the handler.
func TestObservabilityOff(t *testing.T) {
	o, err := (&obsFlags{}).start(context.Background(), newTestLogger(io.Discard), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	defer o.close(newTestLogger(io.Discard))
	h := http.NewServeMux()
	if o.hook != nil || o.metricsURL != "" {
		t.Errorf("observability without flags: hook %v, metrics %q", o.hook != nil, o.metricsURL)
	}
	if o.wrap(h) != http.Handler(h) {
		t.Error("handler wrapped without traces")
	}
}
