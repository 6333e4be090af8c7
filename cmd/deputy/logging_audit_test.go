package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/deputyauth/deputy/engine"
	"github.com/google/go-cmp/cmp"
)

// TestAuditHookMatchesSlogHook checks that the host's audit hook writes
// exactly the record engine.SlogHook writes through requestIDHandler: same
// level, message and attributes in the same order, as text and as JSON,
// with and without a request id, at every outcome.
func TestAuditHookMatchesSlogHook(t *testing.T) {
	noTime := func(groups []string, a slog.Attr) slog.Attr {
		if a.Key == slog.TimeKey && len(groups) == 0 {
			return slog.Attr{}
		}
		return a
	}
	events := []engine.Event{
		{Outcome: "ok", GrantType: "urn:ietf:params:oauth:grant-type:jwt-bearer", Requester: "app", Target: "api", Subject: "alice", Scope: "openid app", APIType: "app", Latency: 21 * time.Microsecond, JTI: "j1", KeyID: "k1", SourceHash: [32]byte{1, 2, 3}},
		{Outcome: "ok", Requester: "app"},
		{Outcome: engine.CodeInvalidGrant, Requester: "app", Reason: "scope \"admin\" not allowed", Err: &engine.Error{Code: engine.CodeInvalidGrant, Description: "bad", Err: errors.New("go-jose: \"x\" = y")}},
		{Outcome: engine.CodeInvalidClient, Err: &engine.Error{Code: engine.CodeInvalidClient, Description: "no"}},
		{Outcome: engine.CodeServerError, Err: fmt.Errorf("store: %w", errors.New("down"))},
		{Outcome: engine.CodeServerError, Err: &engine.Error{Code: engine.CodeServerError, Err: errors.New(strings.Repeat("é", 300))}},
		{Outcome: engine.CodeServerError, Err: &engine.Error{Code: engine.CodeServerError, Err: context.Canceled}},
	}
	for _, format := range []string{logText, logJSON} {
		for _, level := range []slog.Level{slog.LevelDebug, slog.LevelWarn, slog.LevelError + 1} {
			for _, id := range []string{"", "abc-123"} {
				for i, e := range events {
					t.Run(fmt.Sprintf("%s/%v/%q/%d", format, level, id, i), func(t *testing.T) {
						var want, got bytes.Buffer
						newH := func(b *bytes.Buffer) slog.Handler {
							opts := &slog.HandlerOptions{Level: level, ReplaceAttr: noTime}
							if format == logJSON {
								return slog.NewJSONHandler(b, opts)
							}
							return slog.NewTextHandler(b, opts)
						}
						ctx := context.Background()
						if id != "" {
							ctx = context.WithValue(ctx, requestInfoKey{}, &requestInfo{id: id})
						}
						engine.SlogHook(slog.New(requestIDHandler{newH(&want)}))(ctx, e)
						auditHook(requestIDHandler{newH(&got)})(ctx, e)
						if diff := cmp.Diff(want.String(), got.String()); diff != "" {
							t.Errorf("auditHook differs from engine.SlogHook (-want +got):\n%s", diff)
						}
					})
				}
			}
		}
	}
}

// TestNewRequestID checks that generated request ids are distinct, of
// the documented shape, and accepted back as an X-Request-Id.
func TestNewRequestID(t *testing.T) {
	shape := regexp.MustCompile(`^[A-Z2-7]{16}-[A-Z2-7]{1,13}$`)
	seen := make(map[string]bool)
	for range 5000 {
		id := newRequestID()
		if !shape.MatchString(id) || !saneRequestID(id) || seen[id] {
			t.Fatalf("request id %q: bad shape, not sane or repeated", id)
		}
		seen[id] = true
	}
}
