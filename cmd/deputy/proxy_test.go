package main

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"regexp"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// mustTrust returns the trust of the given CIDRs and header, failing the
// test on any problem.
func mustTrust(t *testing.T, header string, cidrs ...string) *proxyTrust {
	t.Helper()
	p := newProxyTrust(cidrs, header, "trusted_proxies", "client_ip_header", func(path, format string, a ...any) {
		t.Fatalf("%s: %s", path, fmt.Sprintf(format, a...))
	})
	return p
}

// TestClientAddr checks which address a request is taken to come from,
// spoofing attempts included: headers count only from a trusted peer, and
// only up to the right-most address no trusted proxy vouches for.
func TestClientAddr(t *testing.T) {
	xff := mustTrust(t, "", "10.0.0.0/8", "2001:db8:1::/48")
	fwd := mustTrust(t, "Forwarded", "10.0.0.0/8")
	const proxy = "10.0.0.1:4711"
	many := strings.TrimSuffix(strings.Repeat("10.9.9.9, ", 40), ", ")
	for _, tc := range []struct {
		name   string
		trust  *proxyTrust
		peer   string
		header map[string][]string
		want   string
	}{
		{"no trust: headers ignored", nil, "192.0.2.7:1234", map[string][]string{headerXFF: {"198.51.100.1"}}, "192.0.2.7"},
		{"untrusted peer spoofs X-Forwarded-For", xff, "192.0.2.7:1234", map[string][]string{headerXFF: {"198.51.100.1"}}, "192.0.2.7"},
		{"untrusted peer spoofs a trusted address", xff, "192.0.2.7:1234", map[string][]string{headerXFF: {"10.0.0.5"}}, "192.0.2.7"},
		{"untrusted peer spoofs Forwarded", fwd, "192.0.2.7:1234", map[string][]string{headerForwarded: {"for=198.51.100.1"}}, "192.0.2.7"},
		{"trusted peer without header", xff, proxy, nil, "10.0.0.1"},
		{"trusted peer", xff, proxy, map[string][]string{headerXFF: {"198.51.100.1"}}, "198.51.100.1"},
		{"client prepends a spoofed hop", xff, proxy, map[string][]string{headerXFF: {"203.0.113.9, 198.51.100.1"}}, "198.51.100.1"},
		{"client prepends a trusted hop", xff, proxy, map[string][]string{headerXFF: {"10.0.0.5, 198.51.100.1"}}, "198.51.100.1"},
		{"chain of trusted proxies", xff, proxy, map[string][]string{headerXFF: {"203.0.113.9, 198.51.100.1, 10.0.0.3,10.0.0.2"}}, "198.51.100.1"},
		{"every hop trusted: the left-most", xff, proxy, map[string][]string{headerXFF: {"10.0.0.3, 10.0.0.2"}}, "10.0.0.3"},
		{"header repeated: lines in order", xff, proxy, map[string][]string{headerXFF: {"203.0.113.9", "198.51.100.1"}}, "198.51.100.1"},
		{"hop with a port", xff, proxy, map[string][]string{headerXFF: {"198.51.100.1:5555"}}, "198.51.100.1"},
		{"IPv6 hop", xff, proxy, map[string][]string{headerXFF: {"[2001:db8:2::7]:443"}}, "2001:db8:2::7"},
		{"IPv4-mapped hop", xff, proxy, map[string][]string{headerXFF: {"::ffff:198.51.100.1"}}, "198.51.100.1"},
		{"unreadable right-most hop: the proxy", xff, proxy, map[string][]string{headerXFF: {"198.51.100.1, not-an-ip"}}, "10.0.0.1"},
		{"empty hop: the last trusted one", xff, proxy, map[string][]string{headerXFF: {"198.51.100.1, 10.0.0.3, "}}, "10.0.0.1"},
		{"unreadable hop behind a trusted one", xff, proxy, map[string][]string{headerXFF: {"junk, 10.0.0.3"}}, "10.0.0.3"},
		{"too many trusted hops", xff, proxy, map[string][]string{headerXFF: {"198.51.100.1, " + many}}, "10.9.9.9"},
		{"trusted IPv6 peer", xff, "[2001:db8:1::5]:443", map[string][]string{headerXFF: {"198.51.100.1"}}, "198.51.100.1"},
		{"X-Forwarded-For ignored when Forwarded is trusted", fwd, proxy, map[string][]string{headerXFF: {"198.51.100.1"}}, "10.0.0.1"},
		{"Forwarded ignored when X-Forwarded-For is trusted", xff, proxy, map[string][]string{headerForwarded: {"for=198.51.100.1"}}, "10.0.0.1"},
		{"Forwarded", fwd, proxy, map[string][]string{headerForwarded: {"for=192.0.2.60;proto=http;by=203.0.113.43"}}, "192.0.2.60"},
		{"Forwarded, case and spaces", fwd, proxy, map[string][]string{headerForwarded: {"proto=https; For=192.0.2.60"}}, "192.0.2.60"},
		{"Forwarded IPv6 with port", fwd, proxy, map[string][]string{headerForwarded: {`for="[2001:db8:cafe::17]:4711"`}}, "2001:db8:cafe::17"},
		{"Forwarded quoted IPv4 with port", fwd, proxy, map[string][]string{headerForwarded: {`for="192.0.2.43:47011"`}}, "192.0.2.43"},
		{"Forwarded chain, spoofed first element", fwd, proxy, map[string][]string{headerForwarded: {"for=203.0.113.9, for=192.0.2.60;proto=https, for=10.0.0.3"}}, "192.0.2.60"},
		{"Forwarded unknown", fwd, proxy, map[string][]string{headerForwarded: {"for=unknown"}}, "10.0.0.1"},
		{"Forwarded obfuscated", fwd, proxy, map[string][]string{headerForwarded: {"for=_hidden, for=10.0.0.3"}}, "10.0.0.3"},
		{"Forwarded without for", fwd, proxy, map[string][]string{headerForwarded: {"proto=https;by=10.0.0.1"}}, "10.0.0.1"},
		{"Forwarded bare IPv6 is invalid", fwd, proxy, map[string][]string{headerForwarded: {"for=2001:db8::1"}}, "10.0.0.1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := httptest.NewRequest(http.MethodPost, pathToken, nil)
			r.RemoteAddr = tc.peer
			for k, vs := range tc.header {
				for _, v := range vs {
					r.Header.Add(k, v)
				}
			}
			if got := tc.trust.clientAddr(r); got != netip.MustParseAddr(tc.want) {
				t.Errorf("client %s, want %s", got, tc.want)
			}
		})
	}
}

// TestProxyConfig checks trusted_proxies and client_ip_header in the
// config file and the flags: accepted forms and every problem named.
func TestProxyConfig(t *testing.T) {
	fc := testConfig(t)
	fc.TrustedProxies = []string{"10.0.0.0/8, 192.168.1.1", "::ffff:172.16.0.0/108", "fd00::/8"}
	fc.ClientIPHeader = "forwarded"
	hc, err := buildConfig(fc, "")
	if err != nil {
		t.Fatal(err)
	}
	if got, want := hc.Proxies.String(), "10.0.0.0/8,192.168.1.1/32,172.16.0.0/12,fd00::/8 via Forwarded"; got != want {
		t.Errorf("proxies %q, want %q", got, want)
	}

	fc = testConfig(t)
	fc.TrustedProxies = []string{"10.0.0.0/33", "10.0.0.1,", "proxy.internal", "fe80::1%eth0"}
	fc.ClientIPHeader = "X-Real-IP"
	_, err = buildConfig(fc, "")
	want := []string{
		`config: client_ip_header: "X-Real-IP" is not X-Forwarded-For or Forwarded`,
		`config: trusted_proxies[0]: "10.0.0.0/33" is not a CIDR such as 10.0.0.0/8`,
		`config: trusted_proxies[1]: empty; want a CIDR such as 10.0.0.0/8 or an IP address`,
		`config: trusted_proxies[2]: "proxy.internal" is not a CIDR or an IP address`,
		`config: trusted_proxies[3]: "fe80::1%eth0" is not a CIDR or an IP address`,
	}
	if err == nil {
		t.Fatal("no error")
	}
	if diff := cmp.Diff(want, strings.Split(err.Error(), "\n")); diff != "" {
		t.Errorf("errors (-want +got):\n%s", diff)
	}

	code, _, stderr := runCLI(t, "serve", "--demo", "--trusted-proxies", "10.0.0.0/8,nope", "--client-ip-header", "via")
	if code != exitUsage || !strings.Contains(stderr, `--trusted-proxies[0]: "nope" is not a CIDR`) ||
		!strings.Contains(stderr, `--client-ip-header: "via" is not X-Forwarded-For or Forwarded`) {
		t.Errorf("exit %d, stderr %s", code, stderr)
	}
}

// TestRateLimitBehindProxy checks that the rate limit counts the client
// address a trusted proxy forwards, that an untrusted peer cannot buy a
// fresh budget by inventing X-Forwarded-For values, and what the access
// log records.
func TestRateLimitBehindProxy(t *testing.T) {
	send := func(e *testEnv, xff string) reply {
		// An unknown requester: it stays in its address's shared bucket.
		return do(t, http.MethodPost, e.srv.URL+pathDelegation, mediaJSON, `{"client_id":"nobody"}`,
			map[string]string{headerXFF: xff})
	}
	t.Run("trusted proxy", func(t *testing.T) {
		// httptest serves on 127.0.0.1: the test client is the proxy.
		e := newTestEnv(t, nil, func(c *serverConfig) {
			c.RateLimit = rateLimit{N: 2, Per: 3600e9}
			c.Proxies = mustTrust(t, "", "127.0.0.0/8")
		})
		var got []int
		for _, client := range []string{"198.51.100.1", "198.51.100.1", "198.51.100.1", "198.51.100.2", "203.0.113.9, 198.51.100.1"} {
			got = append(got, send(e, client).status)
		}
		// The fifth request comes from .1 whatever it claims to its left.
		if diff := cmp.Diff([]int{400, 400, 429, 400, 429}, got); diff != "" {
			t.Errorf("statuses (-want +got):\n%s\n%s", diff, e.log)
		}
		logs := e.log.String()
		if !regexp.MustCompile(`remote=198\.51\.100\.2 peer=127\.0\.0\.1:\d+`).MatchString(logs) {
			t.Errorf("access log lacks the forwarded client and the peer:\n%s", logs)
		}
	})
	t.Run("untrusted peer", func(t *testing.T) {
		e := newTestEnv(t, nil, func(c *serverConfig) {
			c.RateLimit = rateLimit{N: 2, Per: 3600e9}
			c.Proxies = mustTrust(t, "", "10.0.0.0/8")
		})
		var got []int
		for i := range 4 {
			got = append(got, send(e, fmt.Sprintf("198.51.100.%d", i)).status)
		}
		if diff := cmp.Diff([]int{400, 400, 429, 429}, got); diff != "" {
			t.Errorf("statuses (-want +got):\n%s", diff)
		}
		if logs := e.log.String(); strings.Contains(logs, "198.51.100.") {
			t.Errorf("access log records a spoofed address:\n%s", logs)
		}
	})
}
