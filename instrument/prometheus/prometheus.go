// Package prometheus counts deputy's exchanges for Prometheus: an
// engine.Config.OnExchange hook that updates a counter and a latency
// histogram.
//
// Metrics:
//
//	deputy_exchanges_total{dialect, outcome}                   counter
//	deputy_exchange_duration_seconds{dialect, outcome}         histogram
//	deputy_exchanges_total{dialect, outcome, requester, target} with Options.ClientLabels
//	deputy_minted_tokens_total{kid}                             counter, with Options.KeyIDLabel
//
// dialect is "delegation", "token-exchange" or "unknown" (a grant type
// deputy does not serve); outcome is "ok" or an OAuth error code of the
// engine (invalid_grant, invalid_target, server_error, …).
//
// Cardinality: every label value comes from a fixed set or from the
// client registry, never from what a request says. requester and target
// are a client's ID only when the engine resolved it (Event.RequesterKnown,
// Event.TargetKnown), "unknown" otherwise, so a caller sending made-up
// client IDs moves the "unknown" series and creates none. Even so a
// series per pair of registered clients can be many: client labels are
// off unless Options.ClientLabels is set, and so is the kid label.
// Event.Reason is never a label: it may quote a request value, bounded in
// length by engine.LogValue but not in variety.
//
// The package is a nested module so that deputy's core does not depend
// on client_golang.
package prometheus

import (
	"context"
	"errors"
	"sync/atomic"

	prom "github.com/prometheus/client_golang/prometheus"

	"github.com/deputyauth/deputy/engine"
)

// Label values used when the event's value may not become a label.
const (
	// Unknown stands for a requester or target that the engine did not
	// resolve, and for an unsupported grant type's dialect.
	Unknown = "unknown"
	// Other stands for an outcome outside the engine's codes. The engine
	// emits none; the hook guards the label set all the same.
	Other = "other"
)

// DefaultBuckets are the latency histogram's buckets in seconds: an
// exchange takes tens of microseconds to sign with HMAC or Ed25519, a few
// milliseconds with RSA, longer when a store is remote.
var DefaultBuckets = []float64{.0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5}

// Options configure the metrics. The zero value is the low-cardinality
// default: labels dialect and outcome only, DefaultBuckets.
type Options struct {
	// ClientLabels adds the labels requester and target to
	// deputy_exchanges_total: registered client IDs when known, else
	// "unknown". Up to (clients+1)² series per dialect and outcome.
	ClientLabels bool
	// KeyIDLabel adds deputy_minted_tokens_total{kid}, the tokens the
	// built-in minter signed per key (for HS* the secret's ID), which shows
	// when a staged key starts signing.
	KeyIDLabel bool
	// Buckets of deputy_exchange_duration_seconds; nil means
	// DefaultBuckets.
	Buckets []float64
	// ConstLabels are added to every metric, e.g. {"instance_role": "eu"}.
	ConstLabels prom.Labels
}

// outcomes are the label values of outcome, in index order.
var outcomes = []string{
	"ok",
	engine.CodeInvalidRequest,
	engine.CodeInvalidClient,
	engine.CodeInvalidGrant,
	engine.CodeUnauthorizedClient,
	engine.CodeUnsupportedGrantType,
	engine.CodeInvalidScope,
	engine.CodeInvalidTarget,
	engine.CodeServerError,
	Other,
}

var outcomeIndex = func() map[string]int {
	m := make(map[string]int, len(outcomes))
	for i, o := range outcomes {
		m[o] = i
	}
	return m
}()

// dialects are the label values of dialect, in index order.
var dialects = [...]string{engine.DialectDelegation, engine.DialectTokenExchange, Unknown}

func dialectIndex(d string) int {
	switch d {
	case engine.DialectDelegation:
		return 0
	case engine.DialectTokenExchange:
		return 1
	}
	return 2
}

// Metrics holds deputy's collectors. Its OnExchange method is the hook;
// it is safe for concurrent use.
type Metrics struct {
	exchanges *prom.CounterVec
	latency   *prom.HistogramVec
	minted    *prom.CounterVec // nil without Options.KeyIDLabel
	clients   bool
	// series caches the children per dialect and outcome once an event
	// created them, so that the common path looks up no labels and
	// allocates nothing; series nobody hit are not exported.
	series [len(dialects)][]atomic.Pointer[children]
}

type children struct {
	count   prom.Counter // nil with ClientLabels
	latency prom.Observer
}

// New creates deputy's metrics and registers them with reg.
func New(reg prom.Registerer, opts Options) (*Metrics, error) {
	if reg == nil {
		return nil, errors.New("prometheus: nil Registerer")
	}
	buckets := opts.Buckets
	if buckets == nil {
		buckets = DefaultBuckets
	}
	labels := []string{"dialect", "outcome"}
	if opts.ClientLabels {
		labels = append(labels, "requester", "target")
	}
	m := &Metrics{clients: opts.ClientLabels}
	m.exchanges = prom.NewCounterVec(prom.CounterOpts{
		Namespace: "deputy", Name: "exchanges_total",
		Help:        "Token exchanges decided, by dialect and outcome (ok or the OAuth error code).",
		ConstLabels: opts.ConstLabels,
	}, labels)
	m.latency = prom.NewHistogramVec(prom.HistogramOpts{
		Namespace: "deputy", Name: "exchange_duration_seconds",
		Help:        "Time the engine took to decide a token exchange, by dialect and outcome.",
		Buckets:     buckets,
		ConstLabels: opts.ConstLabels,
	}, []string{"dialect", "outcome"})
	collectors := []prom.Collector{m.exchanges, m.latency}
	if opts.KeyIDLabel {
		m.minted = prom.NewCounterVec(prom.CounterOpts{
			Namespace: "deputy", Name: "minted_tokens_total",
			Help:        "Tokens the built-in minter signed, by the kid they name (for HS* the secret's ID).",
			ConstLabels: opts.ConstLabels,
		}, []string{"kid"})
		collectors = append(collectors, m.minted)
	}
	for i, c := range collectors {
		if err := reg.Register(c); err != nil {
			for _, done := range collectors[:i] {
				reg.Unregister(done)
			}
			return nil, err
		}
	}
	for d := range m.series {
		m.series[d] = make([]atomic.Pointer[children], len(outcomes))
	}
	return m, nil
}

// OnExchange updates the metrics for one event. Set it as (or fan it out
// with engine.Hooks into) engine.Config.OnExchange.
func (m *Metrics) OnExchange(_ context.Context, e engine.Event) {
	d := dialectIndex(e.Dialect)
	o, ok := outcomeIndex[e.Outcome]
	if !ok {
		o = len(outcomes) - 1 // Other
	}
	slot := &m.series[d][o]
	c := slot.Load()
	if c == nil {
		// Two first events may both get here; WithLabelValues returns
		// the same children to both.
		c = &children{latency: m.latency.WithLabelValues(dialects[d], outcomes[o])}
		if !m.clients {
			c.count = m.exchanges.WithLabelValues(dialects[d], outcomes[o])
		}
		slot.Store(c)
	}
	c.latency.Observe(e.Latency.Seconds())
	if m.clients {
		m.exchanges.WithLabelValues(dialects[d], outcomes[o], known(e.Requester, e.RequesterKnown), known(e.Target, e.TargetKnown)).Inc()
	} else {
		c.count.Inc()
	}
	if m.minted != nil && e.KeyID != "" && e.Outcome == "ok" {
		m.minted.WithLabelValues(e.KeyID).Inc()
	}
}

// known is id when the engine resolved it, else Unknown.
func known(id string, ok bool) string {
	if ok {
		return id
	}
	return Unknown
}
