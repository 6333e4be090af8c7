//go:build deputy_no_otlp

package main

import (
	"context"
	"errors"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
)

// newOTLPExporter refuses: this binary was built with -tags deputy_no_otlp.
func newOTLPExporter(context.Context) (sdktrace.SpanExporter, error) {
	return nil, errors.New("this deputy was built without OTLP (-tags deputy_no_otlp); use --trace-exporter stdout")
}
