package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"runtime"
	"time"

	prom "github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/stdout/stdouttrace"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"

	"github.com/deputyauth/deputy/engine"
	deputyotel "github.com/deputyauth/deputy/instrument/otel"
	deputyprom "github.com/deputyauth/deputy/instrument/prometheus"
)

// Trace exporters --trace-exporter takes.
const (
	traceOff    = ""
	traceOTLP   = "otlp"
	traceStdout = "stdout"
)

// metricsPath is where the metrics listener answers.
const metricsPath = "/metrics"

// obsFlags are serve's observability flags. Both are off by default:
// nothing is exported unless asked for.
type obsFlags struct {
	metricsAddr   string
	clientLabels  bool
	traceExporter string
}

func (f *obsFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&f.metricsAddr, "metrics-addr", "", "serve Prometheus metrics at GET "+metricsPath+" on this `host:port`, a listener of its own (off when empty)")
	fs.BoolVar(&f.clientLabels, "metrics-client-labels", false, "label deputy_exchanges_total with requester and target (registered client IDs only; one series per pair)")
	fs.StringVar(&f.traceExporter, "trace-exporter", "", "record a span per exchange and export it: otlp (OTLP/HTTP, configured by the OTEL_EXPORTER_OTLP_* variables) or stdout (JSON); off when empty")
}

func (f *obsFlags) check() error {
	switch f.traceExporter {
	case traceOff, traceOTLP, traceStdout:
	default:
		return fmt.Errorf("--trace-exporter must be otlp or stdout, not %q", f.traceExporter)
	}
	if f.clientLabels && f.metricsAddr == "" {
		return errors.New("--metrics-client-labels needs --metrics-addr")
	}
	return nil
}

// observability is what serve's observability flags set up for one
// process. Its hook and wrapper outlive reloads: every server a reload
// builds reports to the same metrics and tracer.
type observability struct {
	// hook goes into every engine's OnExchange beside the audit log; nil
	// when neither metrics nor traces are on.
	hook func(context.Context, engine.Event)
	// metricsURL is where the metrics are served; "" when off.
	metricsURL string

	metricsSrv *http.Server
	metricsErr chan error
	tp         *sdktrace.TracerProvider
}

// startObservability binds the metrics listener and builds the tracer
// provider the flags ask for. spans receives the stdout exporter's JSON.
// close stops both, flushing the spans not yet exported.
func (f *obsFlags) start(ctx context.Context, logger *slog.Logger, spans io.Writer) (*observability, error) {
	o := &observability{}
	var hooks []func(context.Context, engine.Event)
	if f.metricsAddr != "" {
		reg := prom.NewRegistry()
		m, err := deputyprom.New(reg, deputyprom.Options{ClientLabels: f.clientLabels, KeyIDLabel: true})
		if err != nil {
			return nil, err
		}
		v := readVersion()
		build := prom.NewGaugeVec(prom.GaugeOpts{
			Namespace: "deputy", Name: "build_info",
			Help: "Always 1; its labels name the running build.",
		}, []string{"version", "goversion"})
		build.WithLabelValues(v.short(), runtime.Version()).Set(1)
		reg.MustRegister(build, collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
		ln, err := net.Listen("tcp", f.metricsAddr)
		if err != nil {
			return nil, fmt.Errorf("--metrics-addr: %v", err)
		}
		mux := http.NewServeMux()
		mux.Handle("GET "+metricsPath, promhttp.HandlerFor(reg, promhttp.HandlerOpts{
			ErrorLog:            slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
			MaxRequestsInFlight: 4,
			Timeout:             10 * time.Second,
		}))
		o.metricsSrv = &http.Server{
			Handler:           mux,
			ReadHeaderTimeout: readHeaderTimeout,
			ReadTimeout:       readTimeout,
			WriteTimeout:      writeTimeout,
			IdleTimeout:       idleTimeout,
			MaxHeaderBytes:    maxHeaderBytes,
			ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
		}
		o.metricsURL = "http://" + reachable(ln.Addr()) + metricsPath
		o.metricsErr = make(chan error, 1)
		go func() {
			err := o.metricsSrv.Serve(ln)
			if !errors.Is(err, http.ErrServerClosed) {
				// The token endpoints go on; the scrape will fail loudly.
				logger.Error("deputy: metrics listener stopped", "error", err)
			}
			o.metricsErr <- err
		}()
		hooks = append(hooks, m.OnExchange)
	}
	if f.traceExporter != traceOff {
		var (
			exp sdktrace.SpanExporter
			err error
		)
		switch f.traceExporter {
		case traceOTLP:
			exp, err = newOTLPExporter(ctx)
		case traceStdout:
			exp, err = stdouttrace.New(stdouttrace.WithWriter(spans))
		}
		if err != nil {
			o.close(logger)
			return nil, fmt.Errorf("--trace-exporter %s: %v", f.traceExporter, err)
		}
		// OTEL_SERVICE_NAME and OTEL_RESOURCE_ATTRIBUTES override these;
		// OTEL_TRACES_SAMPLER chooses the sampler (default: follow the
		// caller's traceparent, else sample everything).
		res, err := resource.Merge(
			resource.NewSchemaless(attribute.String("service.name", "deputy"), attribute.String("service.version", readVersion().short())),
			resource.Environment(),
		)
		if err != nil {
			logger.Warn("deputy: OTEL_RESOURCE_ATTRIBUTES", "error", err)
		}
		o.tp = sdktrace.NewTracerProvider(sdktrace.WithBatcher(exp), sdktrace.WithResource(res))
		hooks = append(hooks, deputyotel.New(deputyotel.Options{TracerProvider: o.tp}).OnExchange)
	}
	o.hook = engine.Hooks(hooks...)
	return o, nil
}

// wrap returns h, taking a W3C traceparent from each request when traces
// are on, so that the exchange's span joins the caller's trace.
func (o *observability) wrap(h http.Handler) http.Handler {
	if o.tp == nil {
		return h
	}
	tc := propagation.TraceContext{}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Traceparent") != "" {
			r = r.WithContext(tc.Extract(r.Context(), propagation.HeaderCarrier(r.Header)))
		}
		h.ServeHTTP(w, r)
	})
}

// close stops the metrics listener and flushes the spans not yet
// exported, each within a few seconds.
func (o *observability) close(logger *slog.Logger) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if o.metricsSrv != nil {
		o.metricsSrv.Shutdown(ctx)
		<-o.metricsErr
	}
	if o.tp != nil {
		if err := o.tp.Shutdown(ctx); err != nil {
			logger.Warn("deputy: flushing traces", "error", err)
		}
	}
}
