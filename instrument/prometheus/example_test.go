package prometheus_test

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"time"

	prom "github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/prometheus/common/expfmt"

	"github.com/deputyauth/deputy/engine"
	deputyprom "github.com/deputyauth/deputy/instrument/prometheus"
)

// Example counts exchanges beside the audit log: the hook goes into
// engine.Config.OnExchange, the registry behind /metrics.
func Example() {
	reg := prom.NewRegistry()
	metrics, err := deputyprom.New(reg, deputyprom.Options{})
	if err != nil {
		panic(err)
	}
	cfg := engine.Config{
		// Issuer, Clients, Keys, … as usual.
		OnExchange: engine.Hooks(engine.SlogHook(slog.New(slog.NewJSONHandler(os.Stderr, nil))), metrics.OnExchange),
	}
	_ = cfg
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))

	// What the engine reports for a target the caller made up:
	metrics.OnExchange(context.Background(), engine.Event{
		Outcome: engine.CodeInvalidTarget, Dialect: engine.DialectDelegation,
		Requester: "app", RequesterKnown: true, Target: "made-up", Latency: 40 * time.Microsecond,
	})
	text, err := testutil.CollectAndFormat(reg, expfmt.TypeTextPlain, "deputy_exchanges_total")
	if err != nil {
		panic(err)
	}
	fmt.Print(string(text))
	// Output:
	// # HELP deputy_exchanges_total Token exchanges decided, by dialect and outcome (ok or the OAuth error code).
	// # TYPE deputy_exchanges_total counter
	// deputy_exchanges_total{dialect="delegation",outcome="invalid_target"} 1
}
