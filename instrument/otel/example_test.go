package otel_test

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"time"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/deputyauth/deputy/engine"
	deputyotel "github.com/deputyauth/deputy/instrument/otel"
)

// Example records a span per exchange beside the audit log. A host passes
// its own TracerProvider (with an OTLP exporter, say) or leaves
// TracerProvider nil to use the global one.
func Example() {
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	defer tp.Shutdown(context.Background())

	tracer := deputyotel.New(deputyotel.Options{TracerProvider: tp})
	cfg := engine.Config{
		// Issuer, Clients, Keys, … as usual.
		OnExchange: engine.Hooks(engine.SlogHook(slog.New(slog.NewJSONHandler(os.Stderr, nil))), tracer.OnExchange),
	}
	_ = cfg

	// What the engine reports for a disabled target:
	tracer.OnExchange(context.Background(), engine.Event{
		Outcome: engine.CodeInvalidTarget, Reason: "target disabled", Dialect: engine.DialectDelegation,
		GrantType: engine.GrantTypeJWTBearer, Requester: "app", RequesterKnown: true, Target: "api",
		Latency: 40 * time.Microsecond,
	})
	s := rec.Ended()[0]
	fmt.Println(s.Name(), s.EndTime().Sub(s.StartTime()))
	for _, kv := range s.Attributes() {
		fmt.Printf("%s=%s\n", kv.Key, kv.Value.String())
	}
	// Output:
	// deputy.exchange 40µs
	// deputy.outcome=invalid_target
	// deputy.dialect=delegation
	// deputy.grant_type=urn:ietf:params:oauth:grant-type:jwt-bearer
	// deputy.requester=app
	// deputy.requester.known=true
	// deputy.target=api
	// deputy.target.known=false
	// deputy.reason=target disabled
	// error.type=invalid_target
}
