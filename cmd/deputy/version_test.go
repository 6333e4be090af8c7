package main

import (
	"bufio"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestVersionCommand(t *testing.T) {
	for _, args := range [][]string{{"version"}, {"--version"}, {"-version"}} {
		code, stdout, stderr := runCLI(t, args...)
		if code != 0 || stderr != "" {
			t.Errorf("%q: exit %d, stderr %q", args, code, stderr)
		}
		lines := strings.Split(strings.TrimSuffix(stdout, "\n"), "\n")
		if !strings.HasPrefix(lines[0], "deputy ") {
			t.Errorf("%q: first line %q", args, lines[0])
		}
		want := "go:       " + runtime.Version() + " " + runtime.GOOS + "/" + runtime.GOARCH
		if lines[len(lines)-1] != want {
			t.Errorf("%q: last line %q, want %q", args, lines[len(lines)-1], want)
		}
	}
	if code, _, stderr := runCLI(t, "version", "--json"); code != exitUsage || !strings.Contains(stderr, `unexpected argument "--json"`) {
		t.Errorf("version --json: exit %d, stderr %q", code, stderr)
	}
}

func TestVersionInfo(t *testing.T) {
	for _, tc := range []struct {
		v          versionInfo
		wantShort  string
		wantLines  []string
		buildVer   string
		wantFromBI string
	}{
		{
			v:         versionInfo{Module: "m", Version: "v1.2.3", GoVersion: "go1.26.8", Platform: "linux/amd64"},
			wantShort: "v1.2.3",
			wantLines: []string{"deputy v1.2.3", "module:   m", "go:       go1.26.8 linux/amd64"},
		},
		{
			v: versionInfo{Module: "m", Version: "(devel)", Revision: "0123456789abcdef0123", Time: "2026-12-02T13:00:00Z",
				Modified: "true", GoVersion: "go1.26.8", Platform: "linux/arm64"},
			wantShort: "(devel) 0123456789ab+modified",
			wantLines: []string{"deputy (devel)", "module:   m", "revision: 0123456789abcdef0123", "time:     2026-12-02T13:00:00Z",
				"modified: true", "go:       go1.26.8 linux/arm64"},
		},
	} {
		if got := tc.v.short(); got != tc.wantShort {
			t.Errorf("short %q, want %q", got, tc.wantShort)
		}
		var b strings.Builder
		tc.v.write(&b)
		if diff := cmp.Diff(tc.wantLines, strings.Split(strings.TrimSuffix(b.String(), "\n"), "\n")); diff != "" {
			t.Errorf("lines (-want +got):\n%s", diff)
		}
	}
	// What is set at link time stands in only for what is unknown.
	before := readVersion()
	buildVersion, buildRevision = "v9.9.9-docker", "feedface"
	defer func() { buildVersion, buildRevision = "", "" }()
	got := readVersion()
	wantVersion, wantRevision := before.Version, before.Revision
	if wantVersion == "(devel)" || wantVersion == "(unknown)" {
		wantVersion = "v9.9.9-docker"
	}
	if wantRevision == "" {
		wantRevision = "feedface"
	}
	if got.Version != wantVersion || got.Revision != wantRevision {
		t.Errorf("with link-time values: %q %q, want %q %q", got.Version, got.Revision, wantVersion, wantRevision)
	}
}

// deputyBinary builds the real binary into a temporary directory.
func deputyBinary(t *testing.T) string {
	t.Helper()
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	bin := filepath.Join(t.TempDir(), "deputy")
	// -buildvcs=true: in workspace mode the default (auto) stamps nothing.
	if out, err := exec.Command("go", "build", "-buildvcs=true", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// TestBinaryOperations runs the built binary as an operator would: its
// version carries the VCS stamp; demo-config makes its output file
// private; serve with JSON logs survives a burst of SIGHUPs (through
// main's signal handling), answers healthcheck, and stops on SIGTERM with
// every stderr line a JSON object.
func TestBinaryOperations(t *testing.T) {
	bin := deputyBinary(t)

	out, err := exec.Command(bin, "--version").Output()
	if err != nil {
		t.Fatal(err)
	}
	if rev, err := exec.Command("git", "rev-parse", "HEAD").Output(); err == nil {
		// Built inside a git checkout: the stamp names a commit (HEAD
		// when nobody committed while the test ran) and the tree state.
		if !regexp.MustCompile(`(?m)^revision: [0-9a-f]{40}$`).Match(out) || !regexp.MustCompile(`(?m)^modified: (true|false)$`).Match(out) {
			t.Errorf("--version lacks the VCS stamp (HEAD %s):\n%s", strings.TrimSpace(string(rev)), out)
		}
	}

	dir := t.TempDir()
	cfgPath := filepath.Join(dir, "deputy.json")
	f, err := os.OpenFile(cfgPath, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o644) // as a shell redirect makes it
	if err != nil {
		t.Fatal(err)
	}
	gen := exec.Command(bin, "demo-config", "--issuer", "http://127.0.0.1:8080/")
	gen.Stdout = f
	if err := gen.Run(); err != nil {
		t.Fatal(err)
	}
	f.Close()
	if fi, err := os.Stat(cfgPath); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("demo-config output mode %v (%v), want 0600", fi.Mode().Perm(), err)
	}

	cmd := exec.Command(bin, "serve", "--config", cfgPath, "--addr", "127.0.0.1:0", "--log-format", "json")
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	var log syncBuffer
	logDone := make(chan struct{})
	go func() {
		defer close(logDone)
		sc := bufio.NewScanner(stderr)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			log.Write(append(sc.Bytes(), '\n'))
		}
	}()
	go func() { <-logDone; exited <- cmd.Wait() }()
	t.Cleanup(func() { cmd.Process.Kill() })

	base := log.waitFor(t, regexp.MustCompile(`"msg":"deputy: listening on (http://[0-9.:]+)"`), 20*time.Second)[1]
	for range 3 {
		if err := cmd.Process.Signal(syscall.SIGHUP); err != nil {
			t.Fatal(err)
		}
	}
	log.waitFor(t, regexp.MustCompile(`"msg":"deputy: reloaded"`), 10*time.Second)
	hc := exec.Command(bin, "healthcheck", "--url", base+pathReady)
	if out, err := hc.CombinedOutput(); err != nil {
		t.Errorf("healthcheck after SIGHUP: %v %s\n%s", err, out, log.String())
	}
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-exited:
		if err != nil {
			t.Errorf("exit: %v\n%s", err, log.String())
		}
	case <-time.After(15 * time.Second):
		t.Fatalf("serve did not stop on SIGTERM:\n%s", log.String())
	}
	for i, line := range strings.Split(strings.TrimSuffix(log.String(), "\n"), "\n") {
		var rec map[string]any
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Errorf("stderr line %d is not JSON: %q", i+1, line)
		}
	}
	if n := strings.Count(log.String(), `"msg":"deputy: SIGHUP: reloading"`); n < 1 {
		t.Errorf("no reload logged:\n%s", log.String())
	}
}
