package engine_test

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"log/slog"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/google/go-cmp/cmp"

	"github.com/deputyauth/deputy/engine"
)

func TestSlogHook(t *testing.T) {
	var buf bytes.Buffer
	w := newWorld(t, func(c *engine.Config) {
		c.OnExchange = engine.SlogHook(slog.New(slog.NewJSONHandler(&buf, nil)))
	})
	tok := w.idToken(t, appHS, nil)
	res, err := w.x.Exchange(context.Background(), delegation(appHS, tok, apiHS, "openid email"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.x.Exchange(context.Background(), delegation(appHS, tok+"x", apiHS, "")); err == nil {
		t.Fatal("want a refusal")
	}
	for _, secret := range []string{tok, res.IDToken, string(w.secrets[appHS]), strings.Split(tok, ".")[2]} {
		if strings.Contains(buf.String(), secret) {
			t.Fatalf("log holds a token or secret:\n%s", buf.String())
		}
	}
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	if len(lines) != 2 {
		t.Fatalf("got %d log lines, want 2:\n%s", len(lines), buf.String())
	}
	var ok, refused map[string]any
	if err := json.Unmarshal([]byte(lines[0]), &ok); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal([]byte(lines[1]), &refused); err != nil {
		t.Fatal(err)
	}
	_, minted := w.decode(t, res.IDToken, apiHS)
	sum := sha256Of(tok)
	want := map[string]any{
		"level": "INFO", "msg": "deputy exchange", "outcome": "ok", "grant_type": engine.GrantTypeJWTBearer,
		"requester": appHS, "target": apiHS, "subject": "auth0|ada", "scope": "openid email", "api_type": "",
		"jti": minted["jti"], "kid": apiHS + "-s1", "source_sha256": hex.EncodeToString(sum[:]),
	}
	delete(ok, "time")
	delete(ok, "latency")
	if diff := cmp.Diff(want, ok); diff != "" {
		t.Errorf("success line (-want +got):\n%s", diff)
	}
	if refused["level"] != "WARN" || refused["outcome"] != engine.CodeInvalidGrant || refused["error"] == nil || refused["jti"] != nil ||
		refused["kid"] != nil || refused["reason"] != "token signature is invalid" {
		t.Errorf("refusal line = %v", refused)
	}
}

func TestEventClipsRequestValues(t *testing.T) {
	var got engine.Event
	w := newWorld(t, func(c *engine.Config) {
		c.OnExchange = func(_ context.Context, e engine.Event) { got = e }
	})
	long := w.idToken(t, appHS, nil)
	// 127 ASCII bytes, then two-byte runes: the cut at 128 falls inside one.
	accented := strings.Repeat("a", 127) + strings.Repeat("é", 10)
	w.x.Exchange(context.Background(), delegation(long, long, accented, ""))
	for name, v := range map[string]string{"requester": got.Requester, "target": got.Target} {
		if len(v) > 128+len("…") || strings.Contains(v, long) || !utf8.ValidString(v) {
			t.Errorf("event %s holds %d bytes of the request value (valid UTF-8: %v)", name, len(v), utf8.ValidString(v))
		}
	}
}

func TestSlogHookCancelled(t *testing.T) {
	var buf bytes.Buffer
	w := newWorld(t, func(c *engine.Config) {
		c.OnExchange = engine.SlogHook(slog.New(slog.NewJSONHandler(&buf, nil)))
	})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	w.x.Exchange(ctx, delegation(appHS, w.idToken(t, appHS, nil), apiHS, ""))
	var line map[string]any
	if err := json.Unmarshal(buf.Bytes(), &line); err != nil {
		t.Fatal(err)
	}
	if line["level"] != "INFO" || line["outcome"] != engine.CodeServerError {
		t.Errorf("cancelled exchange logged as %v", line)
	}
}
