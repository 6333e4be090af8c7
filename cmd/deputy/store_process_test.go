package main

import (
	"encoding/json"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/deputyauth/deputy/engine"
)

// startProcess runs the built binary as "deputy serve args… --addr
// 127.0.0.1:0" in a process of its own until the test ends, and returns its
// base URL.
func startProcess(t *testing.T, bin string, args ...string) *replica {
	t.Helper()
	logs := &syncBuffer{}
	cmd := exec.Command(bin, append(append([]string{"serve"}, args...), "--addr", "127.0.0.1:0")...)
	cmd.Stderr = logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGTERM)
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("deputy serve (pid %d) exited: %v\n%s", cmd.Process.Pid, err, logs.String())
			}
		case <-time.After(15 * time.Second):
			cmd.Process.Kill()
			t.Errorf("deputy serve (pid %d) did not stop on SIGTERM", cmd.Process.Pid)
		}
	})
	m := logs.waitFor(t, listeningRE, 30*time.Second)
	return &replica{url: m[1], log: logs}
}

// TestTwoProcessesOverOneStore is the deployment itself: two "deputy serve
// --config" operating-system processes of the built binary over one
// PostgreSQL database form one service. The requester authenticates with
// the secret "client put --generate-secret" printed, as typed; a one-time
// id_token is one-time across both, and a client disabled with the admin
// command is refused by both, with no token.
func TestTwoProcessesOverOneStore(t *testing.T) {
	bin := deputyBinary(t)
	e := newAdminEnv(t)
	// A confidential requester: the secret printed once is what it sends.
	printed := strings.TrimSpace(e.must(t, "", "client", "put", "--id", "app", "--signing-alg", "HS256", "--grant", engine.GrantTypeJWTBearer,
		"--allowed-source", "app", "--confidential", "--generate-secret"))
	e.must(t, "", "client", "put", "--id", "api", "--signing-alg", "HS256", "--allowed-source", "app", "--generate-secret")

	conf := filepath.Join(e.dir, "deputy.json")
	doc, _ := json.Marshal(map[string]any{
		"issuer": testIssuer, "store": e.dsnRef, "encryption_keys": "file:" + e.keyFile, "replay": true,
	})
	if err := os.WriteFile(conf, doc, 0o600); err != nil {
		t.Fatal(err)
	}
	replicas := []*replica{startProcess(t, bin, "--config", conf), startProcess(t, bin, "--config", conf)}

	st := e.open(t)
	app, err := st.Client(t.Context(), "app")
	if err != nil {
		t.Fatal(err)
	}
	body := func() string {
		tok, err := mintSourceToken(t.Context(), st, testIssuer, app, "auth0|ada", nil, time.Hour, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		var m map[string]string
		if err := json.Unmarshal([]byte(seedBody("app", tok, "api", "openid", "app")), &m); err != nil {
			t.Fatal(err)
		}
		m["client_secret"] = printed
		b, _ := json.Marshal(m)
		return string(b)
	}

	// 10 concurrent uses of one token, split across the processes: one token.
	one := body()
	var (
		wg     sync.WaitGroup
		mu     sync.Mutex
		counts = map[int]int{}
	)
	for i := range 10 {
		wg.Go(func() {
			status, m := replicas[i%2].delegate(t, one)
			if status != http.StatusOK && m["id_token"] != nil {
				t.Errorf("a %d answer carries a token", status)
			}
			mu.Lock()
			counts[status]++
			mu.Unlock()
		})
	}
	wg.Wait()
	if d := cmp.Diff(map[int]int{http.StatusOK: 1, http.StatusBadRequest: 9}, counts); d != "" {
		t.Errorf("statuses of 10 uses of one token across two processes (-want +got):\n%s", d)
	}

	e.must(t, "", "client", "disable", "--id", "api")
	for _, r := range replicas {
		eventually(t, "disabled target refused by "+r.url, func() bool {
			status, m := r.delegate(t, body())
			return refused(t, status, m, engine.CodeInvalidTarget)
		})
	}
}
