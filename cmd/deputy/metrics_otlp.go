//go:build !deputy_no_otlp

package main

import (
	"context"

	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
)

// newOTLPExporter exports spans over OTLP/HTTP. Endpoint, headers, TLS and
// timeout come from the standard OTEL_EXPORTER_OTLP_* variables (default
// http://localhost:4318); nothing is sent before the first batch, so an
// unreachable collector does not stop serve. The exporter brings gRPC's
// and protobuf's packages into the binary (about 7 MB): build with
// -tags deputy_no_otlp to leave it out.
func newOTLPExporter(ctx context.Context) (sdktrace.SpanExporter, error) {
	return otlptracehttp.New(ctx)
}
