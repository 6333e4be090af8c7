package firebase_test

// Review of issue 10: attacks on the firebase minter that it refuses.

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/deputyauth/deputy/addons/firebase"
	"github.com/deputyauth/deputy/claims"
)

// TestReviewUIDBytes: the uid limit counts bytes; a 128-byte subject of
// multi-byte runes passes, one more byte (43 × "€" = 129 bytes, 43
// characters) is refused without quoting it.
func TestReviewUIDBytes(t *testing.T) {
	m := firebase.New()
	s := settingsOf(fields(rsaKey()))
	for _, tc := range []struct {
		uid string
		ok  bool
	}{
		{strings.Repeat("€", 42) + "xx", true}, // 128 bytes
		{strings.Repeat("€", 43), false},       // 129 bytes
		{strings.Repeat("a", 128), true},
		{strings.Repeat("a", 129), false},
		{"\xff\xfe", false},
		{"", false},
	} {
		g := grant(s, nil)
		g.Subject = tc.uid
		res, err := m.Mint(context.Background(), g)
		if tc.ok {
			if err != nil {
				t.Errorf("uid of %d bytes: %v", len(tc.uid), err)
				continue
			}
			_, c := verify(t, res.IDToken, &rsaKey().PublicKey)
			if c["uid"] != tc.uid {
				t.Errorf("uid = %v, want %q", c["uid"], tc.uid)
			}
			continue
		}
		if err == nil || res != nil {
			t.Errorf("uid of %d bytes minted", len(tc.uid))
			continue
		}
		if tc.uid != "" && strings.Contains(err.Error(), tc.uid) {
			t.Errorf("error quotes the uid: %v", err)
		}
	}
}

// TestReviewLifetimeNeverBeyondGrant: exp − iat = expires_in =
// min(lifetime_in_seconds, whole seconds of Grant.Lifetime), whatever the
// fractions of IssuedAt and Lifetime; a grant under a second mints nothing.
func TestReviewLifetimeNeverBeyondGrant(t *testing.T) {
	m := firebase.New()
	f := fields(rsaKey())
	f["lifetime_in_seconds"] = 600
	s := settingsOf(f)
	for _, tc := range []struct {
		lifetime time.Duration
		want     int64
	}{
		{36000 * time.Second, 600},
		{599 * time.Second, 599},
		{1500 * time.Millisecond, 1},
		{999 * time.Millisecond, 0},
		{0, 0},
		{-time.Hour, 0},
	} {
		g := grant(s, nil)
		g.IssuedAt = issuedAt.Add(999 * time.Millisecond)
		g.Lifetime = tc.lifetime
		res, err := m.Mint(context.Background(), g)
		if tc.want == 0 {
			if err == nil {
				t.Errorf("lifetime %v: minted %+v", tc.lifetime, res)
			}
			continue
		}
		if err != nil {
			t.Fatalf("lifetime %v: %v", tc.lifetime, err)
		}
		_, c := verify(t, res.IDToken, &rsaKey().PublicKey)
		iat, _ := c["iat"].(json.Number).Int64()
		exp, _ := c["exp"].(json.Number).Int64()
		if exp-iat != tc.want || res.ExpiresIn != tc.want || iat != issuedAt.Unix() {
			t.Errorf("lifetime %v: iat %d exp-iat %d expires_in %d, want iat %d and %d", tc.lifetime, iat, exp-iat, res.ExpiresIn, issuedAt.Unix(), tc.want)
		}
	}
}

// TestReviewReservedNeverInClaims: every reserved name, and the claims a
// Policy may add that Firebase would refuse, stay out of "claims"; the
// claim set is exactly the rest.
func TestReviewReservedNeverInClaims(t *testing.T) {
	c := claims.Set{"https://example.com/roles": []any{"admin"}, "email": "ada@example.com"}
	for _, n := range []string{"acr", "amr", "at_hash", "aud", "auth_time", "azp", "cnf", "c_hash", "exp",
		"firebase", "iat", "iss", "jti", "nbf", "nonce", "sub"} {
		c[n] = map[string]any{"sign_in_provider": "custom", "x": n}
	}
	res := mint(t, firebase.New(), grant(settingsOf(fields(rsaKey())), c))
	_, got := verify(t, res.IDToken, &rsaKey().PublicKey)
	dev, _ := got["claims"].(map[string]any)
	if len(dev) != 2 || dev["email"] != "ada@example.com" {
		t.Errorf("claims = %v, want only email and the roles", got["claims"])
	}
	for k := range got {
		switch k {
		case "iss", "sub", "aud", "iat", "exp", "uid", "claims":
		default:
			t.Errorf("unexpected top-level claim %q", k)
		}
	}
	if got["sub"] != email || got["iss"] != email || got["aud"] != aud {
		t.Errorf("iss/sub/aud = %v/%v/%v", got["iss"], got["sub"], got["aud"])
	}
}

// TestReviewHostileSettings: settings of every wrong shape are refused by
// Validate and Mint alike, without a panic, and no error carries a value.
func TestReviewHostileSettings(t *testing.T) {
	const mark = "SECRETMARK"
	pemText := pkcs8PEM(rsaKey())
	base := func(mod func(map[string]any)) json.RawMessage {
		f := fields(rsaKey())
		mod(f)
		return settingsOf(f)
	}
	for name, s := range map[string]json.RawMessage{
		"nil":              nil,
		"empty":            json.RawMessage(``),
		"null":             json.RawMessage(`null`),
		"array":            json.RawMessage(`["` + mark + `"]`),
		"string":           json.RawMessage(`"` + mark + `"`),
		"truncated":        json.RawMessage(`{"private_key":"` + mark),
		"trailing data":    append(base(func(map[string]any) {}), []byte(` {"x":"`+mark+`"}`)...),
		"key is a number":  base(func(f map[string]any) { f["private_key"] = 12345 }),
		"key is an object": base(func(f map[string]any) { f["private_key"] = map[string]any{"pem": pemText} }),
		"key null":         base(func(f map[string]any) { f["private_key"] = nil }),
		"key garbage": base(func(f map[string]any) {
			f["private_key"] = "-----BEGIN PRIVATE KEY-----\n" + mark + "\n-----END PRIVATE KEY-----\n"
		}),
		"two keys": base(func(f map[string]any) { f["private_key"] = pemText + pemText }),
		"encrypted header": base(func(f map[string]any) {
			f["private_key"] = strings.Replace(pemText, "-----\n", "-----\nProc-Type: 4,ENCRYPTED\nDEK-Info: "+mark+"\n\n", 1)
		}),
		"public key":                base(func(f map[string]any) { f["private_key"] = strings.ReplaceAll(pemText, "PRIVATE", "PUBLIC") }),
		"1024-bit key":              base(func(f map[string]any) { f["private_key"] = pkcs1PEM(genRSA(1024)) }),
		"email without @":           base(func(f map[string]any) { f["client_email"] = mark }),
		"email with space":          base(func(f map[string]any) { f["client_email"] = " a@" + mark }),
		"email is a bool":           base(func(f map[string]any) { f["client_email"] = true }),
		"kid blank":                 base(func(f map[string]any) { f["private_key_id"] = "  " }),
		"lifetime 3601":             base(func(f map[string]any) { f["lifetime_in_seconds"] = 3601 }),
		"lifetime 0":                base(func(f map[string]any) { f["lifetime_in_seconds"] = 0 }),
		"lifetime -1":               base(func(f map[string]any) { f["lifetime_in_seconds"] = -1 }),
		"lifetime string":           base(func(f map[string]any) { f["lifetime_in_seconds"] = "3600" }),
		"lifetime fraction":         base(func(f map[string]any) { f["lifetime_in_seconds"] = 10.5 }),
		"lifetime exponent":         base(func(f map[string]any) { f["lifetime_in_seconds"] = json.Number("1e3") }),
		"lifetime huge":             base(func(f map[string]any) { f["lifetime_in_seconds"] = json.Number("99999999999999999999999") }),
		"lifetime bool":             base(func(f map[string]any) { f["lifetime_in_seconds"] = true }),
		"duplicate key, 2nd secret": json.RawMessage(`{"private_key_id":"k","client_email":"a@b.c","private_key":` + mustJSON(pemText) + `,"private_key":"` + mark + `"}`),
		"escaped duplicate":         json.RawMessage(`{"private_key_id":"k","client_email":"a@b.c","private_key":` + mustJSON(pemText) + `,"private\u005fkey":"` + mark + `"}`),
	} {
		t.Run(name, func(t *testing.T) {
			verr := firebase.Validate(s)
			res, merr := firebase.New().Mint(context.Background(), grant(s, nil))
			if verr == nil || merr == nil || res != nil {
				t.Fatalf("Validate = %v, Mint = %v / %+v; want both refused", verr, merr, res)
			}
			for _, e := range []error{verr, merr} {
				msg := e.Error()
				if strings.Contains(msg, mark) || strings.Contains(msg, "-----BEGIN") || strings.Contains(msg, kid) ||
					strings.Contains(msg, email) || strings.Contains(msg, "MII") {
					t.Errorf("error carries a value: %q", msg)
				}
			}
		})
	}
}

func mustJSON(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

// TestReviewClaimsLimitNoLeak: claims over Firebase's 1000 bytes are
// refused without quoting them.
func TestReviewClaimsLimitNoLeak(t *testing.T) {
	big := strings.Repeat("S", 1200)
	_, err := firebase.New().Mint(context.Background(), grant(settingsOf(fields(rsaKey())), claims.Set{"https://x/big": big}))
	if err == nil || strings.Contains(err.Error(), big[:50]) {
		t.Errorf("err = %v", err)
	}
}
