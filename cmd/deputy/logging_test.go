package main

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"os"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestScanLogFormat(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{nil, "text"},
		{[]string{"--demo"}, "text"},
		{[]string{"--log-format", "json"}, "json"},
		{[]string{"-log-format=json", "--demo"}, "json"},
		{[]string{"--log-format=json", "--log-format=text"}, "text"},
		{[]string{"--demo", "stray", "--log-format=json"}, "text"}, // flag stops at the first argument
		{[]string{"--", "--log-format=json"}, "text"},
		{[]string{"--config", "--log-format=json"}, "json"}, // a value, for flag too, which then fails
	} {
		if got := scanLogFormat(tc.args); got != tc.want {
			t.Errorf("%q: %q, want %q", tc.args, got, tc.want)
		}
	}
}

func TestLineLogger(t *testing.T) {
	var buf strings.Builder
	l := &lineLogger{log: slog.New(slog.NewJSONHandler(&buf, nil)), level: slog.LevelError}
	io.WriteString(l, "first line\nsecond ")
	io.WriteString(l, "line\n\n  \nthird, unterminated")
	l.Flush()
	var got []string
	for _, line := range strings.Split(strings.TrimSuffix(buf.String(), "\n"), "\n") {
		var rec struct{ Level, Msg string }
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Fatalf("%q: %v", line, err)
		}
		got = append(got, rec.Level+" "+rec.Msg)
	}
	want := []string{"ERROR first line", "ERROR second line", "ERROR third, unterminated"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("records (-want +got):\n%s", diff)
	}
}

// jsonLines checks that every line of out is a JSON object and returns
// the records.
func jsonLines(t *testing.T, out string) []map[string]any {
	t.Helper()
	var recs []map[string]any
	for i, line := range strings.Split(strings.TrimSuffix(out, "\n"), "\n") {
		var rec map[string]any
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Errorf("line %d is not a JSON object: %q", i+1, line)
			continue
		}
		recs = append(recs, rec)
	}
	return recs
}

// TestJSONLogsEverywhere checks that with --log-format json every line on
// stderr is a JSON object: usage errors, -h, config errors (one record per
// problem), and a whole serve run with a reload and a shutdown; the demo's
// text goes to stdout.
func TestJSONLogsEverywhere(t *testing.T) {
	bad := writeConfig(t, &fileConfig{Issuer: "x", Clients: clientList{{ID: "a"}, {ID: "b", SigningAlg: "HS257"}}})
	for _, tc := range []struct {
		name     string
		args     []string
		wantCode int
		wantMsgs []string // messages among the records, in order
	}{
		{"unknown flag", []string{"--no-such-flag"}, exitUsage, []string{"flag provided but not defined: -no-such-flag", "usage: deputy serve "}},
		{"help", []string{"-h"}, exitOK, []string{"usage: deputy serve "}},
		{"bad flag value", []string{"--demo", "--rate-limit", "lots"}, exitUsage, []string{`deputy serve: --rate-limit: "lots" is not a rate such as "10/m"`}},
		{"bad log level", []string{"--demo", "--log-level", "chatty"}, exitUsage, []string{`deputy serve: --log-level: "chatty" is not debug, info, warn or error`}},
		{"config errors", []string{"--config", bad}, exitUsage, []string{
			"config: clients[0].signing_alg: required (HS256, HS384, HS512, RS256, RS384, RS512, PS256, PS384, PS512, ES256, ES384, ES512 or EdDSA)",
			`config: clients[1].signing_alg: "HS257" not supported (HS256, HS384, HS512, RS256, RS384, RS512, PS256, PS384, PS512, ES256, ES384, ES512 or EdDSA)`,
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, stdout, stderr := runCLI(t, append([]string{"serve", "--log-format", "json"}, tc.args...)...)
			if code != tc.wantCode {
				t.Errorf("exit %d, want %d", code, tc.wantCode)
			}
			if stdout != "" {
				t.Errorf("stdout %q", stdout)
			}
			var msgs []string
			for _, rec := range jsonLines(t, stderr) {
				msgs = append(msgs, rec["msg"].(string))
			}
			i := 0
			for _, m := range msgs {
				if i < len(tc.wantMsgs) && strings.HasPrefix(m, tc.wantMsgs[i]) {
					i++
				}
			}
			if i < len(tc.wantMsgs) {
				t.Errorf("records lack %q (in order); got %q", tc.wantMsgs[i:], msgs)
			}
		})
	}

	t.Run("serve", func(t *testing.T) {
		e := newTestEnv(t, nil, nil)
		cfg := writeConfig(t, e.fc)
		var stdout, stderr syncBuffer
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		hup := make(chan os.Signal, 1)
		done := make(chan int)
		go func() {
			done <- run(withHangups(ctx, hup), []string{"serve", "--config", cfg, "--addr", "127.0.0.1:0", "--log-format", "json", "--log-level", "debug"}, &stdout, &stderr)
		}()
		base := stderr.waitFor(t, regexp.MustCompile(`"msg":"deputy: listening on (http://[0-9.:]+)"`), 20*time.Second)[1]
		do(t, http.MethodGet, base+pathHealth, "", "", nil)
		hup <- syscall.SIGHUP
		stderr.waitFor(t, regexp.MustCompile(`deputy: reloaded`), 10*time.Second)
		cancel()
		if code := <-done; code != 0 {
			t.Errorf("exit %d", code)
		}
		recs := jsonLines(t, stderr.String())
		var probe map[string]any
		for _, rec := range recs {
			if rec["msg"] == "http request" && rec["path"] == pathHealth {
				probe = rec
			}
		}
		if probe == nil || probe["level"] != "DEBUG" {
			t.Errorf("health probe record %v, want one at DEBUG", probe)
		}
		if last := recs[len(recs)-1]["msg"]; last != "deputy: stopped" {
			t.Errorf("last record %q", last)
		}
	})

	t.Run("demo", func(t *testing.T) {
		var stdout, stderr syncBuffer
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		done := make(chan int)
		go func() {
			done <- run(ctx, []string{"serve", "--demo", "--addr", "127.0.0.1:0", "--log-format", "json"}, &stdout, &stderr)
		}()
		stderr.waitFor(t, regexp.MustCompile(`"msg":"deputy: listening on`), 20*time.Second)
		cancel()
		if code := <-done; code != 0 {
			t.Errorf("exit %d", code)
		}
		jsonLines(t, stderr.String())
		if !strings.Contains(stdout.String(), "curl --request POST") {
			t.Errorf("the demo's curl commands are not on stdout:\n%s", stdout.String())
		}
	})
}
