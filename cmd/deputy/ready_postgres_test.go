package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/deputyauth/deputy/store/postgres"
	"github.com/deputyauth/deputy/store/postgres/pgtest"
)

// TestReadinessPostgres checks /readyz over the shared store: ready while
// the database answers, 503 "client store unreachable" within the probe's
// timeout when the database is cut off or hangs, ready again once it is
// back.
func TestReadinessPostgres(t *testing.T) {
	proxy, dsn := pgtest.NewProxy(t, pgtest.DSN(t))
	aesKey := make([]byte, 32)
	rand.Read(aesKey)
	st, err := postgres.Open(t.Context(), dsn, postgres.Config{
		EncryptionKeys: map[string][]byte{"k1": aesKey}, ActiveKey: "k1",
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(st.Close)
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	if err := st.AddKey(t.Context(), jose.JSONWebKey{Key: priv, KeyID: "es-1", Algorithm: "ES256", Use: "sig"}); err != nil {
		t.Fatal(err)
	}
	logs := &syncBuffer{}
	rd := newReadiness(st, st, []string{"ES256", "HS256"}, nil, newTestLogger(logs))
	rd.timeout = 500 * time.Millisecond
	probe := func() (int, string, time.Duration) {
		start := time.Now()
		rec := httptest.NewRecorder()
		rd.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, pathReady, nil))
		var ans readyAnswer
		reply{status: rec.Code, body: rec.Body.Bytes()}.decode(t, &ans)
		return rec.Code, ans.Reason, time.Since(start)
	}
	if code, reason, _ := probe(); code != 200 {
		t.Fatalf("database up: %d %q", code, reason)
	}
	for _, tc := range []struct {
		name   string
		breaks func()
	}{
		{"cut", proxy.Cut},
		{"stalled", proxy.Stall},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.breaks()
			code, reason, took := probe()
			if code != http.StatusServiceUnavailable || reason != "client store unreachable" {
				t.Errorf("database %s: %d %q\n%s", tc.name, code, reason, logs)
			}
			if took > 2*time.Second {
				t.Errorf("the probe took %v with a %v timeout", took, rd.timeout)
			}
			proxy.Restore()
			deadline := time.Now().Add(10 * time.Second)
			for {
				code, reason, _ := probe()
				if code == 200 {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("still not ready after Restore: %d %q", code, reason)
				}
				time.Sleep(50 * time.Millisecond)
			}
		})
	}
}
