package main

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"time"
)

// rateLimit is "N requests per Per"; the zero value means no limit.
type rateLimit struct {
	N   int
	Per time.Duration
}

func (r rateLimit) enabled() bool { return r.N > 0 }

func (r rateLimit) String() string {
	if !r.enabled() {
		return "off"
	}
	return fmt.Sprintf("%d/%s", r.N, r.Per)
}

// parseRateLimit parses "N/s", "N/m", "N/h" or "N/<Go duration>" such as
// "100/10m". The empty string means no limit.
func parseRateLimit(s string) (rateLimit, error) {
	if s == "" {
		return rateLimit{}, nil
	}
	ns, per, ok := strings.Cut(s, "/")
	n, err := strconv.Atoi(ns)
	if !ok || err != nil || n < 1 {
		return rateLimit{}, fmt.Errorf("%q is not a rate such as \"10/m\"", s)
	}
	switch per {
	case "s", "m", "h":
		per = "1" + per
	}
	d, err := time.ParseDuration(per)
	if err != nil || d < time.Second || d%time.Second != 0 {
		return rateLimit{}, fmt.Errorf("%q: the period must be s, m, h or whole seconds of at least 1s", s)
	}
	return rateLimit{N: n, Per: d}, nil
}

// limitKey is what a limit counts: one client from one address. IPv6
// addresses count by /64, the block one subscriber usually holds.
type limitKey struct {
	addr   netip.Addr
	client string
}

// limiterMaxKeys bounds the memory of a limiter.
const limiterMaxKeys = 1 << 16

// limiter is a fixed-window rate limiter. Windows are aligned on the clock
// (multiples of Per), so all counters expire together and one window's map
// is simply dropped at the next; no sweeping is needed. When the map is
// full, an arbitrary counter is evicted: a flood of distinct keys can then
// reset someone's counter, but never grow memory or lock anyone out.
type limiter struct {
	limit rateLimit

	mu     sync.Mutex
	window time.Time // start of the current window
	counts map[limitKey]int
	max    int
}

func newLimiter(l rateLimit) *limiter {
	return &limiter{limit: l, counts: make(map[limitKey]int), max: limiterMaxKeys}
}

// verdict is the outcome of one allow call, with what the X-RateLimit-*
// headers report.
type verdict struct {
	ok        bool
	limit     int
	remaining int
	reset     time.Time // end of the current window
	window    time.Time // start of the window the request was counted in
}

// normalize maps k to the key it counts under: IPv4-mapped IPv6 addresses
// as IPv4, other IPv6 addresses by their /64.
func normalize(k limitKey) limitKey {
	if k.addr.Is6() && !k.addr.Is4In6() {
		p, _ := k.addr.Prefix(64)
		k.addr = p.Addr()
	}
	k.addr = k.addr.Unmap()
	return k
}

// allow counts one request for k at now, if k has budget left in the
// window; a refused request is not counted. A now that falls in a window
// older than the current one (a request that read the clock just before
// another moved the window on) counts in the current window, so that
// windows never go back.
func (l *limiter) allow(k limitKey, now time.Time) verdict {
	k = normalize(k)
	window := now.Truncate(l.limit.Per)
	l.mu.Lock()
	defer l.mu.Unlock()
	switch {
	case window.After(l.window):
		l.window = window
		l.counts = make(map[limitKey]int)
	case window.Before(l.window):
		window = l.window
	}
	n, seen := l.counts[k]
	ok := n < l.limit.N
	if ok {
		if !seen && len(l.counts) >= l.max {
			for victim := range l.counts {
				delete(l.counts, victim)
				break
			}
		}
		n++
		l.counts[k] = n
	}
	return verdict{
		ok:        ok,
		limit:     l.limit.N,
		remaining: l.limit.N - n,
		reset:     window.Add(l.limit.Per),
		window:    window,
	}
}

// refund takes back a request that v allowed for k, when v's window is
// still the current one.
func (l *limiter) refund(k limitKey, v verdict) {
	if !v.ok {
		return
	}
	k = normalize(k)
	l.mu.Lock()
	defer l.mu.Unlock()
	if !l.window.Equal(v.window) {
		return
	}
	switch n := l.counts[k]; {
	case n > 1:
		l.counts[k] = n - 1
	case n == 1:
		delete(l.counts, k)
	}
}
