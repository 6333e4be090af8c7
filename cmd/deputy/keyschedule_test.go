package main

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"strings"
	"testing"

	"github.com/go-jose/go-jose/v4"
	"github.com/google/go-cmp/cmp"
)

// withStagedKey adds a fresh EdDSA key "ed-next" to fc's JWK set.
func withStagedKey(t *testing.T, fc *fileConfig) {
	t.Helper()
	var set jose.JSONWebKeySet
	if err := json.Unmarshal(fc.Keys, &set); err != nil {
		t.Fatal(err)
	}
	_, k, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	set.Keys = append(set.Keys, jose.JSONWebKey{Key: k, KeyID: "ed-next", Algorithm: "EdDSA"})
	if fc.Keys, err = json.Marshal(set); err != nil {
		t.Fatal(err)
	}
}

// TestConfigKeySchedule checks that a key staged in the config file is
// published at once and signs only from its sign_from.
func TestConfigKeySchedule(t *testing.T) {
	fc := testConfig(t)
	withStagedKey(t, fc)
	fc.KeySchedule = map[string]keyWindow{"ed-next": {SignFrom: "2999-01-01T00:00:00Z"}}
	hc, err := loadConfigFile(writeConfig(t, fc))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	signing, err := hc.Store.SigningKey(ctx, "EdDSA")
	if err != nil {
		t.Fatal(err)
	}
	if signing.KeyID == "ed-next" {
		t.Errorf("a key staged for 2999 signs now")
	}
	if ks, err := hc.Store.VerificationKeys(ctx, "ed-next"); err != nil || len(ks) != 1 {
		t.Errorf("staged key not published: %d keys, %v", len(ks), err)
	}

	fc.KeySchedule = nil
	hc, err = loadConfigFile(writeConfig(t, fc))
	if err != nil {
		t.Fatal(err)
	}
	if k, err := hc.Store.SigningKey(ctx, "EdDSA"); err != nil || k.KeyID != "ed-next" {
		t.Errorf("without a schedule the newest key should sign: %v, %v", k, err)
	}
}

func TestConfigKeyScheduleErrors(t *testing.T) {
	fc := testConfig(t)
	withStagedKey(t, fc)
	fc.KeySchedule = map[string]keyWindow{
		"ed-next": {SignFrom: "tomorrow"},
		"nobody":  {SignUntil: "2030-01-01T00:00:00Z"},
	}
	_, err := loadConfigFile(writeConfig(t, fc))
	if err == nil {
		t.Fatal("a bad key_schedule was accepted")
	}
	var got []string
	for _, line := range strings.Split(err.Error(), "\n") {
		if strings.Contains(line, "key_schedule") {
			got = append(got, strings.TrimSpace(line))
		}
	}
	want := []string{
		"config: key_schedule.ed-next: sign_from: want an RFC 3339 time such as 2026-12-24T08:00:00Z",
		"config: key_schedule.nobody: names no key of the JWK set",
	}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("errors (-want +got):\n%s\nall:\n%v", d, err)
	}
}
