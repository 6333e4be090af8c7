package engine_test

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"time"

	"github.com/deputyauth/deputy/engine"
)

// ExampleHooks sends every event to the audit log and to a counter of
// refusals by reason, the way the metrics and tracing adapters are
// added beside engine.SlogHook.
func ExampleHooks() {
	refusals := map[string]int{}
	countRefusals := func(_ context.Context, e engine.Event) {
		if e.Outcome != "ok" {
			refusals[e.Outcome+": "+e.Reason]++
		}
	}
	logger := slog.New(slog.NewTextHandler(os.Stdout, &slog.HandlerOptions{
		// Drop time and latency so the output is the same every run.
		ReplaceAttr: func(_ []string, a slog.Attr) slog.Attr {
			if a.Key == slog.TimeKey || a.Key == "latency" {
				return slog.Attr{}
			}
			return a
		},
	}))
	hook := engine.Hooks(engine.SlogHook(logger), countRefusals)

	// What Exchange reports for a disabled target: the client is told
	// invalid_target, "target not available to this client", as for an
	// unknown one; the log and the counter see why.
	hook(context.Background(), engine.Event{
		Outcome: engine.CodeInvalidTarget, Reason: "target disabled",
		Dialect: engine.DialectDelegation, GrantType: engine.GrantTypeJWTBearer,
		Requester: "app", RequesterKnown: true, Target: "reports-api", Latency: time.Millisecond,
	})
	fmt.Println(refusals)
	// Output:
	// level=WARN msg="deputy exchange" outcome=invalid_target grant_type=urn:ietf:params:oauth:grant-type:jwt-bearer requester=app target=reports-api subject="" scope="" api_type="" reason="target disabled"
	// map[invalid_target: target disabled:1]
}
