package main

import (
	"math"
	"net/http"
	"net/netip"
	"strconv"

	"github.com/deputyauth/deputy/engine"
	"github.com/deputyauth/deputy/oauthhttp"
)

// Media types of request bodies.
const (
	mediaForm = "application/x-www-form-urlencoded"
	mediaJSON = "application/json"
)

// maxBody caps request bodies: the engine refuses larger requests anyway,
// so reading more would only cost memory.
const maxBody = engine.MaxRequestSize

// tokenOptions returns the options of one token endpoint with the host's
// rate limit and access log hooked in.
func (s *server) tokenOptions(opts oauthhttp.TokenOptions) oauthhttp.TokenOptions {
	opts.MaxBodyBytes = maxBody
	opts.Gate = limitGate{s}
	opts.Observe = observeClient
	return opts
}

// observeClient gives the access log the requester's client ID, which
// oauthhttp reports as sent only for a requester that authenticated:
// whatever else the caller sent may be a token or a secret pasted into
// the wrong field.
func observeClient(r *http.Request, o oauthhttp.Observation) {
	if info := infoFrom(r.Context()); info != nil {
		info.clientID = o.ClientID
	}
}

// limitGate is the host's rate limit, in two steps, so that it is
// decided before the body is read and still gives each requester a
// budget of its own. Every request is first counted in its address's
// shared bucket; when that is empty the answer is 429 and the body is
// never read. A request whose caller then shows itself to be a usable
// requester (engine.Exchanger's Authenticate, run by oauthhttp) is moved
// to the requester's own bucket: the shared one is refunded, and the
// headers report the requester's bucket. Everyone else stays in the
// shared bucket and the headers report it, the same for an invented ID as
// for a registered one. A usable requester whose address's bucket has
// been emptied by others is refused in the first step: its identity is in
// the body, which is not read by then.
//
// It reads s.limiter on every request, so that tests can set one on a
// built server.
type limitGate struct{ s *server }

func (g limitGate) Enter(w http.ResponseWriter, r *http.Request) (oauthhttp.Pass, error) {
	s := g.s
	if s.limiter == nil {
		return nil, nil
	}
	shared := limitKey{addr: s.clientAddr(r)}
	// Malformed and oversized requests count too, so that they cannot be
	// sent for free.
	counted := s.limiter.allow(shared, s.now())
	if !counted.ok {
		// The body stays unread: the connection goes with it.
		w.Header().Set("Connection", "close")
	}
	if err := s.rateHeaders(w, counted); err != nil {
		return nil, err
	}
	return &limitPass{s: s, shared: shared, counted: counted}, nil
}

// limitPass is the second step of limitGate for one request.
type limitPass struct {
	s       *server
	shared  limitKey
	counted verdict
}

func (p *limitPass) Authenticated(w http.ResponseWriter, r *http.Request, clientID string) error {
	own := p.s.limiter.allow(limitKey{addr: p.shared.addr, client: clientID}, p.s.now())
	if own.ok {
		// Its own bucket pays for this request. A requester over its
		// budget keeps the address's charge, so that its further bodies
		// are refused before they are read.
		p.s.limiter.refund(p.shared, p.counted)
	}
	return p.s.rateHeaders(w, own)
}

// remoteAddr is the TCP peer's address; the zero Addr when RemoteAddr
// does not parse (all such callers then share one bucket).
func remoteAddr(r *http.Request) netip.Addr {
	ap, err := netip.ParseAddrPort(r.RemoteAddr)
	if err != nil {
		return netip.Addr{}
	}
	return ap.Addr()
}

// rateHeaders sets the X-RateLimit-* headers from v, replacing any set
// before. When v refused the request it sets Retry-After and returns the
// 429 to answer.
func (s *server) rateHeaders(w http.ResponseWriter, v verdict) error {
	h := w.Header()
	h.Set("X-RateLimit-Limit", strconv.Itoa(v.limit))
	h.Set("X-RateLimit-Remaining", strconv.Itoa(v.remaining))
	h.Set("X-RateLimit-Reset", strconv.FormatInt(v.reset.Unix(), 10))
	if v.ok {
		return nil
	}
	wait := int64(math.Ceil(v.reset.Sub(s.now()).Seconds()))
	h.Set("Retry-After", strconv.FormatInt(max(wait, 1), 10))
	return oauthhttp.Refuse(http.StatusTooManyRequests, "too_many_requests", "rate limit exceeded; retry later")
}
