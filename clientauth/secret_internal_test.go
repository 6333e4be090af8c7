package clientauth

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/deputyauth/deputy/engine"
	"github.com/deputyauth/deputy/store"
)

// TestVerifiedMemory: only matches are remembered, by client, stored hash
// and secret; a remembered match is used until VerifiedTTL, never for a
// replaced or expired secret, and not at all with a negative TTL.
func TestVerifiedMemory(t *testing.T) {
	const secret = "0123456789abcdef0123456789abcdef-svc"
	hash, err := HashSecret(secret, 0)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	clock := now
	h := HashedSecrets(SecretsConfig{Now: func() time.Time { return clock }}).(*hashedSecrets)
	c := &store.Client{ID: "svc", Secrets: []store.Secret{{ID: "s1", Value: []byte(hash), NotAfter: now.Add(time.Hour)}}}
	ctx := context.Background()
	auth := func(presented string) error {
		return h.AuthenticateClient(ctx, c, &engine.Request{ClientSecret: presented})
	}

	if err := auth("wrong-wrong-wrong-wrong-wrong-wrong"); !errors.Is(err, engine.ErrInvalidClient) {
		t.Fatalf("wrong secret: %v", err)
	}
	if len(h.verified) != 0 {
		t.Fatalf("a failed check was remembered")
	}
	if err := auth(secret); err != nil {
		t.Fatal(err)
	}
	if len(h.verified) != 1 {
		t.Fatalf("a match was not remembered")
	}

	// The memory is consulted: plant a match for another secret.
	planted := "planted-planted-planted-planted-planted"
	h.remember(verifiedKey(c.ID, c.Secrets[0].Value, planted), clock)
	if err := auth(planted); err != nil {
		t.Errorf("remembered match not used: %v", err)
	}
	// … until VerifiedTTL has passed.
	clock = now.Add(DefaultVerifiedTTL + time.Second)
	if err := auth(planted); !errors.Is(err, engine.ErrInvalidClient) {
		t.Errorf("match used after VerifiedTTL: %v", err)
	}
	if err := auth(secret); err != nil {
		t.Errorf("real secret after TTL: %v", err)
	}

	// Never for an expired secret, nor a replaced one.
	clock = now.Add(2 * time.Hour)
	if err := auth(secret); !errors.Is(err, engine.ErrInvalidClient) {
		t.Errorf("expired secret matched from memory: %v", err)
	}
	clock = now
	other, _ := HashSecret(secret+"-new", 0)
	c.Secrets = []store.Secret{{ID: "s2", Value: []byte(other)}}
	if err := auth(secret); !errors.Is(err, engine.ErrInvalidClient) {
		t.Errorf("replaced secret matched from memory: %v", err)
	}

	// A negative TTL remembers nothing.
	h2 := HashedSecrets(SecretsConfig{VerifiedTTL: -1}).(*hashedSecrets)
	if err := h2.AuthenticateClient(ctx, &store.Client{ID: "svc", Secrets: []store.Secret{{ID: "s1", Value: []byte(hash)}}}, &engine.Request{ClientSecret: secret}); err != nil {
		t.Fatal(err)
	}
	if len(h2.verified) != 0 {
		t.Error("VerifiedTTL < 0 remembered a match")
	}
}
