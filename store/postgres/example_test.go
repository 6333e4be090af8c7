package postgres_test

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"log"
	"os"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/deputyauth/deputy/engine"
	"github.com/deputyauth/deputy/store"
	"github.com/deputyauth/deputy/store/postgres"
)

// ExampleOpen shows a replica's start: the encryption key comes from the
// environment (in production, a secret manager), the DSN names the shared
// database, and the one Store serves every store interface of the engine.
// It needs a database, so it has no output to check.
func ExampleOpen() {
	ctx := context.Background()
	key, err := base64.StdEncoding.DecodeString(os.Getenv("DEPUTY_ENCRYPTION_KEY"))
	if err != nil {
		log.Fatal(err)
	}
	st, err := postgres.Open(ctx, os.Getenv("DEPUTY_DSN"), postgres.Config{
		EncryptionKeys: map[string][]byte{"2026-11": key},
		ActiveKey:      "2026-11",
		CacheTTL:       2 * time.Second,
	})
	if err != nil {
		log.Fatal(err) // bad config, database unreachable, or a wrong key
	}
	defer st.Close()
	x, err := engine.New(engine.Config{
		Issuer:        "https://id.example.com/",
		Clients:       st,
		Keys:          st,
		RefreshTokens: st,
		Profiles:      st,
		Replay:        st,
	})
	if err != nil {
		log.Fatal(err)
	}
	_ = x // serve requests with x.Exchange
}

// ExampleStore_StageKey rotates the EdDSA signing key the way verifiers
// that cache the JWKS for up to an hour survive: the new key is published
// now and signs from an hour on, when the old one stops; the old one is
// removed once the tokens it signed have expired.
func ExampleStore_StageKey() {
	ctx := context.Background()
	key, err := base64.StdEncoding.DecodeString(os.Getenv("DEPUTY_ENCRYPTION_KEY"))
	if err != nil {
		log.Fatal(err)
	}
	st, err := postgres.Open(ctx, os.Getenv("DEPUTY_DSN"), postgres.Config{
		EncryptionKeys: map[string][]byte{"2026-11": key},
		ActiveKey:      "2026-11",
	})
	if err != nil {
		log.Fatal(err)
	}
	defer st.Close()
	_, priv, _ := ed25519.GenerateKey(rand.Reader)
	switchAt := time.Now().Add(time.Hour).Truncate(time.Second)
	next := store.Key{
		JSONWebKey: jose.JSONWebKey{Key: priv, KeyID: "ed-2026-12", Algorithm: "EdDSA"},
		SignFrom:   switchAt,
	}
	if err := st.StageKey(ctx, next); err != nil {
		log.Fatal(err)
	}
	if err := st.RetireKey(ctx, "ed-2026-11", switchAt); err != nil {
		log.Fatal(err)
	}
	keys, err := st.Keys(ctx)
	if err != nil {
		log.Fatal(err)
	}
	for _, k := range keys {
		fmt.Println(k.KeyID, k.SignFrom, k.SignUntil)
	}
	// Later, after switchAt + the longest token lifetime + an hour:
	// st.RemoveKey(ctx, "ed-2026-11")
}
