package main

import (
	"bufio"
	"encoding/json"
	"io"
	"net/http"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
)

// curlRE picks the URL and the JSON body out of the printed delegation
// curl commands (the id_token one, then the Firebase one), exchangeRE the
// URL and the form body out of the token exchange one.
var (
	curlRE     = regexp.MustCompile(`^curl --request POST --url '([^']+)' --header 'content-type: application/json' --data '([^']+)'$`)
	exchangeRE = regexp.MustCompile(`^curl --request POST --url '([^']+)' --header 'content-type: application/x-www-form-urlencoded' --data '([^']+)'$`)
)

// TestBinaryEndToEnd builds the real binary, runs "serve --demo" on an
// ephemeral port, replays the three curl commands it prints (delegation,
// token exchange, and delegation for a Firebase custom token), and stops it
// with SIGTERM.
func TestBinaryEndToEnd(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Fatalf("go not in PATH: %v", err)
	}
	bin := filepath.Join(t.TempDir(), "deputy")
	build := exec.Command(goTool, "build", "-o", bin, ".")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}

	cmd := exec.Command(bin, "serve", "--demo", "--addr", "127.0.0.1:0")
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var waitErr error
	exited := make(chan struct{}) // closed once cmd.Wait has returned
	t.Cleanup(func() {
		cmd.Process.Kill() // no-op once it has exited
		<-exited
	})

	// Read stderr until the curl and listening lines; keep draining it
	// afterwards so that the server never blocks on a full pipe.
	type found struct{ url, body, xurl, xbody, furl, fbody, base string }
	lines := make(chan found, 1)
	var log strings.Builder
	logDone := make(chan struct{})
	go func() {
		defer close(logDone)
		sc := bufio.NewScanner(stderr)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		var f found
		sent := false
		for sc.Scan() {
			line := sc.Text()
			log.WriteString(line + "\n")
			if m := curlRE.FindStringSubmatch(line); m != nil {
				if strings.Contains(m[2], `"api_type":"firebase"`) {
					f.furl, f.fbody = m[1], m[2]
				} else {
					f.url, f.body = m[1], m[2]
				}
			}
			if m := exchangeRE.FindStringSubmatch(line); m != nil {
				f.xurl, f.xbody = m[1], m[2]
			}
			if m := listeningRE.FindStringSubmatch(line); m != nil {
				f.base = m[1]
			}
			if !sent && f.url != "" && f.xurl != "" && f.furl != "" && f.base != "" {
				lines <- f
				sent = true
			}
		}
		io.Copy(io.Discard, stderr)
	}()
	go func() {
		<-logDone // Wait closes the pipe: read it all first
		waitErr = cmd.Wait()
		close(exited)
	}()

	var f found
	select {
	case f = <-lines:
	case <-exited:
		t.Fatalf("deputy exited early: %v\n%s", waitErr, log.String())
	case <-time.After(20 * time.Second):
		t.Fatal("no curl and listening lines within 20s")
	}
	if !strings.HasPrefix(f.url, f.base+"/") {
		t.Errorf("curl URL %s is not on %s", f.url, f.base)
	}

	res, err := http.Post(f.url, "application/json", strings.NewReader(f.body))
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(res.Body)
	res.Body.Close()
	checkDelegated(t, reply{status: res.StatusCode, header: res.Header, body: b})

	if !strings.HasPrefix(f.xurl, f.base+"/") {
		t.Errorf("exchange curl URL %s is not on %s", f.xurl, f.base)
	}
	res, err = http.Post(f.xurl, "application/x-www-form-urlencoded", strings.NewReader(f.xbody))
	if err != nil {
		t.Fatal(err)
	}
	b, _ = io.ReadAll(res.Body)
	res.Body.Close()
	checkExchanged(t, reply{status: res.StatusCode, header: res.Header, body: b}, "openid email profile")

	if f.furl != f.url || !strings.Contains(f.fbody, `"target":"`+demoFB+`"`) {
		t.Errorf("Firebase curl: URL %s, body %s", f.furl, f.fbody)
	}
	res, err = http.Post(f.furl, "application/json", strings.NewReader(f.fbody))
	if err != nil {
		t.Fatal(err)
	}
	b, _ = io.ReadAll(res.Body)
	res.Body.Close()
	// The key is the binary's own: check the answer's shape and the
	// token's claims; addons_test.go verifies the signature.
	tok := checkFirebaseAnswer(t, reply{status: res.StatusCode, header: res.Header, body: b}, 3600)
	jws, err := jose.ParseSignedCompact(tok, []jose.SignatureAlgorithm{jose.RS256})
	if err != nil {
		t.Fatal(err)
	}
	var claims map[string]any
	if err := json.Unmarshal(jws.UnsafePayloadWithoutVerification(), &claims); err != nil {
		t.Fatal(err)
	}
	if claims["uid"] != demoSubject || claims["iss"] != demoFBEmail || claims["aud"] != firebaseAudience {
		t.Errorf("Firebase custom token claims %v", claims)
	}

	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case <-exited:
		if waitErr != nil {
			t.Errorf("exit after SIGTERM: %v\n%s", waitErr, log.String())
		}
	case <-time.After(15 * time.Second):
		t.Fatal("no exit within 15s of SIGTERM")
	}
	if !strings.Contains(log.String(), "deputy: stopped") {
		t.Errorf("no clean stop in the log:\n%s", log.String())
	}
}
