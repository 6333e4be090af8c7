package main

import (
	"errors"
	"fmt"
	"net/http"
	"net/netip"
	"strings"
)

// Headers a trusted proxy may report the client's address in.
const (
	headerXFF       = "X-Forwarded-For"
	headerForwarded = "Forwarded" // RFC 7239
)

// proxyTrust decides a request's client address: the TCP peer, unless the
// peer is a trusted proxy, in which case the address that proxy (and any
// trusted proxy before it) forwarded. The zero value and nil trust no
// proxy, so every address is the TCP peer.
type proxyTrust struct {
	prefixes []netip.Prefix
	// header is the one header read: headerXFF or headerForwarded. Only
	// one, since a proxy that sets one passes the other through as the
	// client sent it.
	header string
}

// enabled reports whether any proxy is trusted.
func (p *proxyTrust) enabled() bool { return p != nil && len(p.prefixes) > 0 }

// String describes p for the startup log.
func (p *proxyTrust) String() string {
	if !p.enabled() {
		return "none"
	}
	s := make([]string, len(p.prefixes))
	for i, pr := range p.prefixes {
		s[i] = pr.String()
	}
	return strings.Join(s, ",") + " via " + p.header
}

func (p *proxyTrust) trusts(a netip.Addr) bool {
	a = a.Unmap().WithZone("")
	for _, pr := range p.prefixes {
		if pr.Contains(a) {
			return true
		}
	}
	return false
}

// newProxyTrust parses trusted proxy CIDRs (a bare IP is one address; an
// element may hold several, comma-separated, as --trusted-proxies does)
// and the header name (empty: X-Forwarded-For). Every problem is reported
// through bad, under cidrPath or headerPath.
func newProxyTrust(cidrs []string, header, cidrPath, headerPath string, bad func(path, format string, a ...any)) *proxyTrust {
	p := &proxyTrust{header: headerXFF}
	switch strings.ToLower(header) {
	case "", "x-forwarded-for":
	case "forwarded":
		p.header = headerForwarded
	default:
		bad(headerPath, "%q is not X-Forwarded-For or Forwarded", header)
	}
	for i, list := range cidrs {
		for s := range strings.SplitSeq(list, ",") {
			pr, err := parsePrefix(strings.TrimSpace(s))
			if err != nil {
				bad(fmt.Sprintf("%s[%d]", cidrPath, i), "%v", err)
				continue
			}
			p.prefixes = append(p.prefixes, pr)
		}
	}
	return p
}

// parsePrefix parses a CIDR or a bare IP address.
func parsePrefix(s string) (netip.Prefix, error) {
	if s == "" {
		return netip.Prefix{}, errors.New("empty; want a CIDR such as 10.0.0.0/8 or an IP address")
	}
	if strings.Contains(s, "/") {
		pr, err := netip.ParsePrefix(s)
		if err != nil {
			return netip.Prefix{}, fmt.Errorf("%q is not a CIDR such as 10.0.0.0/8", s)
		}
		// 4in6 prefixes are compared as IPv4, the way addresses are.
		if pr.Addr().Is4In6() && pr.Bits() >= 96 {
			pr = netip.PrefixFrom(pr.Addr().Unmap(), pr.Bits()-96)
		}
		return pr.Masked(), nil
	}
	a, err := netip.ParseAddr(s)
	if err != nil || a.Zone() != "" {
		return netip.Prefix{}, fmt.Errorf("%q is not a CIDR or an IP address", s)
	}
	a = a.Unmap()
	return netip.PrefixFrom(a, a.BitLen()), nil
}

// maxForwardHops bounds how many forwarded addresses one request can make
// the host parse: a chain of trusted proxies longer than this is not
// believed, and the last trusted hop parsed is taken.
const maxForwardHops = 32

// clientAddr returns r's client address: the TCP peer when it is not a
// trusted proxy. Otherwise the forwarded addresses are walked from the
// right (the hop the nearest proxy added) to the left, and the first one
// that is not a trusted proxy is the client: everything left of it was
// written by the client or by proxies nobody vouches for. When a hop
// cannot be read (Forwarded's "unknown" or an obfuscated identifier,
// garbage) the last trusted proxy read is taken, and when every hop is
// trusted, the left-most.
func (p *proxyTrust) clientAddr(r *http.Request) netip.Addr {
	peer := remoteAddr(r)
	if !p.enabled() || !p.trusts(peer) {
		return peer
	}
	addr, hops := peer, 0
	values := r.Header.Values(p.header)
	for i := len(values) - 1; i >= 0; i-- {
		v := values[i]
		for {
			j := strings.LastIndexByte(v, ',')
			elem := v[j+1:]
			var (
				a  netip.Addr
				ok bool
			)
			if p.header == headerForwarded {
				a, ok = forwardedFor(elem)
			} else {
				a, ok = parseHop(strings.TrimSpace(elem))
			}
			hops++
			if !ok || hops > maxForwardHops {
				return addr
			}
			if !p.trusts(a) {
				return a
			}
			addr = a
			if j < 0 {
				break
			}
			v = v[:j]
		}
	}
	return addr
}

// parseHop parses one forwarded address: an IP, optionally with a port
// ("192.0.2.1:443", "[2001:db8::1]:443", "[2001:db8::1]"). IPv4-mapped
// IPv6 addresses become IPv4 and zones are dropped.
func parseHop(s string) (netip.Addr, bool) {
	if a, err := netip.ParseAddr(s); err == nil {
		return a.Unmap().WithZone(""), true
	}
	if ap, err := netip.ParseAddrPort(s); err == nil {
		return ap.Addr().Unmap().WithZone(""), true
	}
	if len(s) > 2 && s[0] == '[' && s[len(s)-1] == ']' {
		if a, err := netip.ParseAddr(s[1 : len(s)-1]); err == nil && a.Is6() {
			return a.Unmap().WithZone(""), true
		}
	}
	return netip.Addr{}, false
}

// forwardedFor reads the for= parameter of one RFC 7239 forwarded-element
// ("for=192.0.2.60;proto=http;by=203.0.113.43"). Parameter names are
// case-insensitive; the value is a token or a quoted-string, and an IPv6
// address is written "[...]" with an optional port. An element without
// for=, with "unknown" or an obfuscated identifier ("_hidden") is not an
// address.
func forwardedFor(elem string) (netip.Addr, bool) {
	for pair := range strings.SplitSeq(elem, ";") {
		name, value, ok := strings.Cut(strings.TrimSpace(pair), "=")
		if !ok || !strings.EqualFold(name, "for") {
			continue
		}
		if len(value) >= 2 && value[0] == '"' && value[len(value)-1] == '"' {
			value = strings.ReplaceAll(value[1:len(value)-1], `\`, "")
		}
		if strings.HasPrefix(value, "[") {
			// IPv6: "[addr]" or "[addr]:port"; a bare IPv6 is invalid.
			end := strings.IndexByte(value, ']')
			if end < 0 {
				return netip.Addr{}, false
			}
			if rest := value[end+1:]; rest != "" && !strings.HasPrefix(rest, ":") {
				return netip.Addr{}, false
			}
			a, err := netip.ParseAddr(value[1:end])
			if err != nil || !a.Is6() {
				return netip.Addr{}, false
			}
			return a.Unmap().WithZone(""), true
		}
		host, _, _ := strings.Cut(value, ":")
		a, err := netip.ParseAddr(host)
		if err != nil || !a.Is4() {
			return netip.Addr{}, false
		}
		return a, true
	}
	return netip.Addr{}, false
}

// clientAddr is r's client address as the rate limit and the access log
// see it: the TCP peer, or what trusted proxies forwarded.
func (s *server) clientAddr(r *http.Request) netip.Addr { return s.proxies.clientAddr(r) }
