package claims_test

import (
	"encoding/json"
	"errors"
	"math"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/deputyauth/deputy/claims"
)

// wantErr names the sentinel an accessor error must wrap; nil means success.
func checkErr(t *testing.T, err, want error) {
	t.Helper()
	switch {
	case want == nil && err != nil:
		t.Fatalf("unexpected error: %v", err)
	case want != nil && err == nil:
		t.Fatalf("error = nil, want one wrapping %v", want)
	case want != nil && !errors.Is(err, want):
		t.Fatalf("error = %v, want one wrapping %v", err, want)
	}
	if want == nil {
		return
	}
	var ce *claims.Error
	if !errors.As(err, &ce) {
		t.Fatalf("error %v (%T) is not a *claims.Error", err, err)
	}
	other := claims.ErrMissing
	if want == claims.ErrMissing {
		other = claims.ErrInvalid
	}
	if errors.Is(err, other) {
		t.Fatalf("error %v wraps both ErrMissing and ErrInvalid", err)
	}
}

func TestStringValue(t *testing.T) {
	set := claims.Set{
		"str":    "hello",
		"empty":  "",
		"null":   nil,
		"num":    float64(42),
		"bool":   true,
		"map":    map[string]any{"a": "b"},
		"array":  []any{"a"},
		"strs":   []string{"a"},
		"intnum": 7,
	}
	tests := []struct {
		name    string
		claim   string
		want    string
		wantErr error
	}{
		{"present", "str", "hello", nil},
		{"empty string present", "empty", "", nil},
		{"absent", "nope", "", claims.ErrMissing},
		{"null", "null", "", claims.ErrInvalid},
		{"number", "num", "", claims.ErrInvalid},
		{"bool", "bool", "", claims.ErrInvalid},
		{"object", "map", "", claims.ErrInvalid},
		{"array", "array", "", claims.ErrInvalid},
		{"string slice", "strs", "", claims.ErrInvalid},
		{"go int", "intnum", "", claims.ErrInvalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := set.StringValue(tt.claim)
			checkErr(t, err, tt.wantErr)
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("StringValue(%q) mismatch (-want +got):\n%s", tt.claim, diff)
			}
			if err != nil {
				var ce *claims.Error
				errors.As(err, &ce)
				if ce.Claim != tt.claim {
					t.Errorf("Error.Claim = %q, want %q", ce.Claim, tt.claim)
				}
			}
		})
	}
	var nilSet claims.Set
	if _, err := nilSet.StringValue("sub"); !errors.Is(err, claims.ErrMissing) {
		t.Errorf("nil Set: StringValue error = %v, want ErrMissing", err)
	}
}

func TestHas(t *testing.T) {
	set := claims.Set{"null": nil, "s": "x"}
	tests := []struct {
		claim string
		want  bool
	}{
		{"null", true},
		{"s", true},
		{"absent", false},
		{"S", false},
	}
	for _, tt := range tests {
		if got := set.Has(tt.claim); got != tt.want {
			t.Errorf("Has(%q) = %v, want %v", tt.claim, got, tt.want)
		}
	}
}

func TestNumericDate(t *testing.T) {
	const maxDate = 253402300799 // 9999-12-31T23:59:59Z
	tests := []struct {
		name    string
		value   any
		absent  bool
		want    time.Time
		wantErr error
	}{
		{name: "integer", value: float64(1700000000), want: time.Unix(1700000000, 0).UTC()},
		{name: "half second", value: 1700000000.5, want: time.Unix(1700000000, 500_000_000).UTC()},
		{name: "quarter second", value: 1.25, want: time.Unix(1, 250_000_000).UTC()},
		{name: "zero is 1970", value: float64(0), want: time.Date(1970, 1, 1, 0, 0, 0, 0, time.UTC)},
		{name: "negative zero is 1970", value: math.Copysign(0, -1), want: time.Date(1970, 1, 1, 0, 0, 0, 0, time.UTC)},
		{name: "last second of 9999", value: float64(maxDate), want: time.Date(9999, 12, 31, 23, 59, 59, 0, time.UTC)},
		{name: "absent", absent: true, wantErr: claims.ErrMissing},
		{name: "string", value: "1700000000", wantErr: claims.ErrInvalid},
		{name: "bool", value: true, wantErr: claims.ErrInvalid},
		{name: "null", value: nil, wantErr: claims.ErrInvalid},
		{name: "object", value: map[string]any{}, wantErr: claims.ErrInvalid},
		{name: "array", value: []any{float64(1)}, wantErr: claims.ErrInvalid},
		{name: "go int", value: 1700000000, wantErr: claims.ErrInvalid},
		{name: "NaN", value: math.NaN(), wantErr: claims.ErrInvalid},
		{name: "+Inf", value: math.Inf(1), wantErr: claims.ErrInvalid},
		{name: "-Inf", value: math.Inf(-1), wantErr: claims.ErrInvalid},
		{name: "negative", value: float64(-1), wantErr: claims.ErrInvalid},
		{name: "negative fraction", value: -0.5, wantErr: claims.ErrInvalid},
		{name: "smallest negative", value: -math.SmallestNonzeroFloat64, wantErr: claims.ErrInvalid},
		{name: "1e300", value: 1e300, wantErr: claims.ErrInvalid},
		{name: "max float", value: math.MaxFloat64, wantErr: claims.ErrInvalid},
		{name: "first second of 10000", value: float64(maxDate + 1), wantErr: claims.ErrInvalid},
		{name: "just after 9999 by a fraction", value: maxDate + 0.5, wantErr: claims.ErrInvalid},
		{name: "beyond int64", value: 1e19, wantErr: claims.ErrInvalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			set := claims.Set{}
			if !tt.absent {
				set["exp"] = tt.value
			}
			got, err := set.NumericDate("exp")
			checkErr(t, err, tt.wantErr)
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("NumericDate mismatch (-want +got):\n%s", diff)
			}
			if err == nil && got.Location() != time.UTC {
				t.Errorf("NumericDate location = %v, want UTC", got.Location())
			}
			// ToTime applies the same checks to the bare number.
			if f, ok := tt.value.(float64); ok && !tt.absent {
				got2, err2 := claims.ToTime("exp", f)
				checkErr(t, err2, tt.wantErr)
				if diff := cmp.Diff(tt.want, got2); diff != "" {
					t.Errorf("ToTime mismatch (-want +got):\n%s", diff)
				}
			}
		})
	}
}

func TestAudience(t *testing.T) {
	tests := []struct {
		name    string
		value   any
		absent  bool
		want    []string
		wantErr error
	}{
		{name: "string", value: "api", want: []string{"api"}},
		{name: "array of one", value: []any{"api"}, want: []string{"api"}},
		{name: "array of several", value: []any{"a", "b", "a"}, want: []string{"a", "b", "a"}},
		{name: "absent", absent: true, wantErr: claims.ErrMissing},
		{name: "null", value: nil, wantErr: claims.ErrInvalid},
		{name: "empty array", value: []any{}, wantErr: claims.ErrInvalid},
		{name: "non-string member", value: []any{"A", float64(5)}, wantErr: claims.ErrInvalid},
		{name: "null member", value: []any{"A", nil}, wantErr: claims.ErrInvalid},
		{name: "nested array member", value: []any{[]any{"A"}}, wantErr: claims.ErrInvalid},
		{name: "empty string member", value: []any{""}, wantErr: claims.ErrInvalid},
		{name: "empty string among others", value: []any{"A", ""}, wantErr: claims.ErrInvalid},
		{name: "empty string", value: "", wantErr: claims.ErrInvalid},
		{name: "number", value: float64(5), wantErr: claims.ErrInvalid},
		{name: "bool", value: true, wantErr: claims.ErrInvalid},
		{name: "object", value: map[string]any{"a": "b"}, wantErr: claims.ErrInvalid},
		{name: "go string slice", value: []string{"a"}, wantErr: claims.ErrInvalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			set := claims.Set{}
			if !tt.absent {
				set[claims.Audience] = tt.value
			}
			got, err := set.Audience()
			checkErr(t, err, tt.wantErr)
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("Audience mismatch (-want +got):\n%s", diff)
			}

			// HasAudience agrees with Audience on validity and count.
			for _, probe := range []string{"api", "a", "b", "A", "zzz", ""} {
				found, n, err := set.HasAudience(probe)
				checkErr(t, err, tt.wantErr)
				wantFound := slices.Contains(tt.want, probe)
				if found != wantFound || n != len(tt.want) {
					t.Errorf("HasAudience(%q) = %v, %d; want %v, %d", probe, found, n, wantFound, len(tt.want))
				}
			}
		})
	}
}

func TestAudienceFresh(t *testing.T) {
	arr := []any{"a", "b"}
	set := claims.Set{"aud": arr}
	got, err := set.Audience()
	if err != nil {
		t.Fatal(err)
	}
	got[0] = "mutated"
	if diff := cmp.Diff([]any{"a", "b"}, arr); diff != "" {
		t.Errorf("mutating Audience result changed the claim (-want +got):\n%s", diff)
	}
}

func TestHasAudience(t *testing.T) {
	tests := []struct {
		name      string
		aud       any
		want      string
		wantFound bool
		wantN     int
	}{
		{"string match", "api", "api", true, 1},
		{"string no match", "api", "other", false, 1},
		{"string case-exact", "api", "API", false, 1},
		{"array first", []any{"a", "b", "c"}, "a", true, 3},
		{"array last", []any{"a", "b", "c"}, "c", true, 3},
		{"array none", []any{"a", "b", "c"}, "d", false, 3},
		{"array duplicates counted", []any{"a", "a"}, "a", true, 2},
		{"array prefix not a match", []any{"abc"}, "ab", false, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			found, n, err := claims.Set{"aud": tt.aud}.HasAudience(tt.want)
			if err != nil {
				t.Fatalf("HasAudience: %v", err)
			}
			if found != tt.wantFound || n != tt.wantN {
				t.Errorf("HasAudience(%q) = %v, %d; want %v, %d", tt.want, found, n, tt.wantFound, tt.wantN)
			}
		})
	}
	// An invalid member after the match still invalidates the claim.
	found, n, err := claims.Set{"aud": []any{"A", float64(5)}}.HasAudience("A")
	if !errors.Is(err, claims.ErrInvalid) || found || n != 0 {
		t.Errorf(`HasAudience on ["A",5] = %v, %d, %v; want false, 0, ErrInvalid`, found, n, err)
	}
}

func TestHasAudienceAllocs(t *testing.T) {
	set := claims.Set{"aud": []any{"a", "b", "c"}}
	allocs := testing.AllocsPerRun(100, func() {
		if found, _, _ := set.HasAudience("c"); !found {
			t.Fatal("not found")
		}
	})
	if allocs != 0 {
		t.Errorf("HasAudience allocates %v times per call, want 0", allocs)
	}
}

var ownedNames = []string{
	"iss", "sub", "aud", "exp", "nbf", "iat", "jti", "azp", "act", "may_act",
	"scope", "client_id", "nonce", "at_hash", "c_hash", "auth_time", "sid", "cnf",
}

func TestIsOwned(t *testing.T) {
	for _, n := range append(slices.Clone(ownedNames), "ISS", "Sub", "AUD", "ſub") {
		if !claims.IsOwned(n) {
			t.Errorf("IsOwned(%q) = false, want true", n)
		}
	}
	notOwned := []string{
		"", "email", "name", "email_verified", "phone_number", "address",
		"updated_at", "groups", "roles", "iss ", " iss",
		"iss\x00", "client-id", "clientid", "scp", "x5t#S256", "KID", "Email",
	}
	for _, n := range notOwned {
		if claims.IsOwned(n) {
			t.Errorf("IsOwned(%q) = true, want false", n)
		}
	}
}

func TestOwnedNames(t *testing.T) {
	got := claims.OwnedNames()
	slices.Sort(got)
	want := slices.Sorted(slices.Values(ownedNames))
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("OwnedNames mismatch (-want +got):\n%s", diff)
	}
	// The caller owns the slice: changing it affects nothing.
	got[0] = "email"
	if claims.IsOwned("email") {
		t.Error("mutating the OwnedNames result made email owned")
	}
	if diff := cmp.Diff(want, slices.Sorted(slices.Values(claims.OwnedNames()))); diff != "" {
		t.Errorf("OwnedNames changed after mutating a previous result (-want +got):\n%s", diff)
	}
}

func TestOwnedConstants(t *testing.T) {
	got := []string{
		claims.Issuer, claims.Subject, claims.Audience, claims.Expiry, claims.NotBefore,
		claims.IssuedAt, claims.ID, claims.AuthorizedParty, claims.Actor, claims.MayAct,
		claims.Scope, claims.ClientID, claims.Nonce, claims.AccessTokenHash, claims.CodeHash,
		claims.AuthTime, claims.SessionID, claims.Confirmation,
	}
	if diff := cmp.Diff(ownedNames, got); diff != "" {
		t.Errorf("claim name constants mismatch (-want +got):\n%s", diff)
	}
}

// newNested builds a fresh claim set with nested objects and arrays.
func newNested() claims.Set {
	return claims.Set{
		"sub":   "user",
		"n":     float64(1),
		"null":  nil,
		"flag":  true,
		"roles": []any{"a", "b"},
		"address": map[string]any{
			"street": "Main",
			"geo":    map[string]any{"lat": float64(1)},
			"lines":  []any{"x", map[string]any{"k": "v"}},
		},
		"deep": []any{[]any{"p"}, map[string]any{"q": []any{"r"}}},
		"strs": []string{"s1", "s2"},
		"set":  claims.Set{"inner": []any{"i"}},
	}
}

// mutate changes every nested map and slice of c in place.
func mutate(c claims.Set) {
	c["roles"].([]any)[0] = "changed"
	addr := c["address"].(map[string]any)
	addr["street"] = "changed"
	addr["new"] = "added"
	addr["geo"].(map[string]any)["lat"] = float64(99)
	lines := addr["lines"].([]any)
	lines[0] = "changed"
	lines[1].(map[string]any)["k"] = "changed"
	deep := c["deep"].([]any)
	deep[0].([]any)[0] = "changed"
	deep[1].(map[string]any)["q"].([]any)[0] = "changed"
	c["strs"].([]string)[0] = "changed"
	switch s := c["set"].(type) {
	case claims.Set:
		s["inner"].([]any)[0] = "changed"
		s["added"] = true
	case map[string]any:
		s["inner"].([]any)[0] = "changed"
		s["added"] = true
	}
	c["sub"] = "changed"
	c["added"] = "x"
	delete(c, "flag")
}

// plain converts Set values to map[string]any so cmp can compare a clone
// (which turns nested Sets into maps) with the original.
func plain(v any) any {
	switch t := v.(type) {
	case claims.Set:
		m := make(map[string]any, len(t))
		for k, e := range t {
			m[k] = plain(e)
		}
		return m
	case map[string]any:
		m := make(map[string]any, len(t))
		for k, e := range t {
			m[k] = plain(e)
		}
		return m
	case []any:
		a := make([]any, len(t))
		for i, e := range t {
			a[i] = plain(e)
		}
		return a
	}
	return v
}

func TestCloneNoAlias(t *testing.T) {
	t.Run("mutate clone", func(t *testing.T) {
		orig := newNested()
		clone := orig.Clone()
		if diff := cmp.Diff(plain(newNested()), plain(clone)); diff != "" {
			t.Fatalf("Clone differs from original (-want +got):\n%s", diff)
		}
		mutate(clone)
		if diff := cmp.Diff(plain(newNested()), plain(orig)); diff != "" {
			t.Errorf("mutating the clone changed the original (-want +got):\n%s", diff)
		}
	})
	t.Run("mutate original", func(t *testing.T) {
		orig := newNested()
		clone := orig.Clone()
		mutate(orig)
		if diff := cmp.Diff(plain(newNested()), plain(clone)); diff != "" {
			t.Errorf("mutating the original changed the clone (-want +got):\n%s", diff)
		}
	})
	t.Run("nil", func(t *testing.T) {
		var s claims.Set
		if got := s.Clone(); got != nil {
			t.Errorf("Clone(nil) = %#v, want nil", got)
		}
	})
	t.Run("empty", func(t *testing.T) {
		got := claims.Set{}.Clone()
		if got == nil || len(got) != 0 {
			t.Errorf("Clone(empty) = %#v, want empty non-nil", got)
		}
	})
}

func TestCloneValue(t *testing.T) {
	scalars := []any{nil, "s", float64(1.5), true, false, 7}
	for _, v := range scalars {
		if diff := cmp.Diff(v, claims.CloneValue(v)); diff != "" {
			t.Errorf("CloneValue(%#v) mismatch (-want +got):\n%s", v, diff)
		}
	}

	t.Run("map", func(t *testing.T) {
		orig := map[string]any{"a": []any{"x"}, "b": map[string]any{"c": "d"}}
		got := claims.CloneValue(orig).(map[string]any)
		got["a"].([]any)[0] = "changed"
		got["b"].(map[string]any)["c"] = "changed"
		got["new"] = 1
		want := map[string]any{"a": []any{"x"}, "b": map[string]any{"c": "d"}}
		if diff := cmp.Diff(want, orig); diff != "" {
			t.Errorf("original changed (-want +got):\n%s", diff)
		}
	})
	t.Run("array", func(t *testing.T) {
		orig := []any{"x", []any{"y"}, map[string]any{"z": "w"}}
		got := claims.CloneValue(orig).([]any)
		got[0] = "changed"
		got[1].([]any)[0] = "changed"
		got[2].(map[string]any)["z"] = "changed"
		want := []any{"x", []any{"y"}, map[string]any{"z": "w"}}
		if diff := cmp.Diff(want, orig); diff != "" {
			t.Errorf("original changed (-want +got):\n%s", diff)
		}
	})
	t.Run("string slice", func(t *testing.T) {
		orig := []string{"a", "b"}
		got := claims.CloneValue(orig).([]string)
		got[0] = "changed"
		if diff := cmp.Diff([]string{"a", "b"}, orig); diff != "" {
			t.Errorf("original changed (-want +got):\n%s", diff)
		}
	})
	t.Run("set", func(t *testing.T) {
		orig := claims.Set{"a": []any{"x"}}
		got, ok := claims.CloneValue(orig).(map[string]any)
		if !ok {
			t.Fatalf("CloneValue(Set) = %T, want map[string]any", claims.CloneValue(orig))
		}
		got["a"].([]any)[0] = "changed"
		got["b"] = "added"
		if diff := cmp.Diff(claims.Set{"a": []any{"x"}}, orig); diff != "" {
			t.Errorf("original changed (-want +got):\n%s", diff)
		}
	})
	t.Run("empty containers stay non-nil", func(t *testing.T) {
		if got := claims.CloneValue([]any{}).([]any); got == nil {
			t.Error("CloneValue([]any{}) = nil")
		}
		if got := claims.CloneValue(map[string]any{}).(map[string]any); got == nil {
			t.Error("CloneValue(map{}) = nil")
		}
	})
}

const samplePayload = `{
	"iss": "https://issuer.example",
	"sub": "auth0|123",
	"aud": ["client-a", "api"],
	"exp": 1700003600,
	"iat": 1700000000.5,
	"nbf": 1699999990,
	"email": "user@example.com",
	"email_verified": true,
	"name": null,
	"address": {"street_address": "1 Main St", "country": "NZ"},
	"groups": ["admin", "dev"],
	"age": 42
}`

// decode decodes a payload to the types the engine's decoder gives:
// numbers as encoding/json.Number, objects as map[string]any, arrays as
// []any. (The engine's decoder, go-jose's, also refuses repeated names;
// engine/claimsparse_test.go tests it and checks that it agrees with this
// one on every payload it accepts.)
func decode(t *testing.T, payload string) claims.Set {
	t.Helper()
	dec := json.NewDecoder(strings.NewReader(payload))
	dec.UseNumber()
	var c claims.Set
	if err := dec.Decode(&c); err != nil {
		t.Fatalf("decode: %v", err)
	}
	return c
}

func TestDecodedPayload(t *testing.T) {
	c := decode(t, samplePayload)
	var err error

	// Numbers decode to json.Number, objects to map[string]any, arrays to
	// []any.
	if diff := cmp.Diff(json.Number("42"), c["age"]); diff != "" {
		t.Errorf("age mismatch (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(json.Number("1700000000.5"), c["iat"]); diff != "" {
		t.Errorf("iat mismatch (-want +got):\n%s", diff)
	}
	if _, ok := c["address"].(map[string]any); !ok {
		t.Errorf("address decoded as %T, want map[string]any", c["address"])
	}
	if _, ok := c["groups"].([]any); !ok {
		t.Errorf("groups decoded as %T, want []any", c["groups"])
	}

	type result struct {
		Iss, Sub, Email string
		Exp, Iat, Nbf   time.Time
		Aud             []string
		HasAPI          bool
		AudN            int
	}
	var got result
	must := func(e error) {
		t.Helper()
		if e != nil {
			t.Fatal(e)
		}
	}
	got.Iss, err = c.StringValue(claims.Issuer)
	must(err)
	got.Sub, err = c.StringValue(claims.Subject)
	must(err)
	got.Email, err = c.StringValue("email")
	must(err)
	got.Exp, err = c.NumericDate(claims.Expiry)
	must(err)
	got.Iat, err = c.NumericDate(claims.IssuedAt)
	must(err)
	got.Nbf, err = c.NumericDate(claims.NotBefore)
	must(err)
	got.Aud, err = c.Audience()
	must(err)
	got.HasAPI, got.AudN, err = c.HasAudience("api")
	must(err)

	want := result{
		Iss:    "https://issuer.example",
		Sub:    "auth0|123",
		Email:  "user@example.com",
		Exp:    time.Unix(1700003600, 0).UTC(),
		Iat:    time.Unix(1700000000, 500_000_000).UTC(),
		Nbf:    time.Unix(1699999990, 0).UTC(),
		Aud:    []string{"client-a", "api"},
		HasAPI: true,
		AudN:   2,
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("accessors on decoded payload mismatch (-want +got):\n%s", diff)
	}

	// Wrong types from a real payload.
	errTests := []struct {
		name string
		err  error
		want error
	}{
		{"name is null", second(c.StringValue("name")), claims.ErrInvalid},
		{"age is not a string", second(c.StringValue("age")), claims.ErrInvalid},
		{"email_verified is not a date", secondT(c.NumericDate("email_verified")), claims.ErrInvalid},
		{"iss is not a date", secondT(c.NumericDate("iss")), claims.ErrInvalid},
		{"auth_time absent", secondT(c.NumericDate("auth_time")), claims.ErrMissing},
		{"nonce absent", second(c.StringValue("nonce")), claims.ErrMissing},
	}
	for _, tt := range errTests {
		t.Run(tt.name, func(t *testing.T) { checkErr(t, tt.err, tt.want) })
	}

	// A decoded clone is deep.
	cl := c.Clone()
	cl["address"].(map[string]any)["country"] = "AU"
	cl["groups"].([]any)[0] = "root"
	if c["address"].(map[string]any)["country"] != "NZ" || c["groups"].([]any)[0] != "admin" {
		t.Error("mutating a clone of a decoded payload changed the original")
	}
}

func second(_ string, err error) error     { return err }
func secondT(_ time.Time, err error) error { return err }

func TestDecodedAudienceEdgeCases(t *testing.T) {
	tests := []struct {
		payload string
		want    error
	}{
		{`{"aud":"api"}`, nil},
		{`{"aud":["api"]}`, nil},
		{`{"aud":[]}`, claims.ErrInvalid},
		{`{"aud":null}`, claims.ErrInvalid},
		{`{"aud":["A",5]}`, claims.ErrInvalid},
		{`{"aud":[""]}`, claims.ErrInvalid},
		{`{"aud":""}`, claims.ErrInvalid},
		{`{"aud":5}`, claims.ErrInvalid},
		{`{"aud":{"a":"b"}}`, claims.ErrInvalid},
		{`{"sub":"x"}`, claims.ErrMissing},
	}
	for _, tt := range tests {
		t.Run(tt.payload, func(t *testing.T) {
			c := decode(t, tt.payload)
			_, err := c.Audience()
			checkErr(t, err, tt.want)
			_, _, err = c.HasAudience("api")
			checkErr(t, err, tt.want)
		})
	}
}

func TestErrorNeverContainsValue(t *testing.T) {
	const secret = "s3cr3t-eyJhbGciOiJIUzI1NiJ9.c2VjcmV0.sig"
	set := claims.Set{
		"str_as_date": secret,
		"aud":         []any{secret, float64(5)},
		"map":         map[string]any{"k": secret},
		"num":         float64(123456789.125),
	}
	errs := []error{
		secondT(set.NumericDate("str_as_date")),
		second(set.StringValue("map")),
		second(set.StringValue("num")),
		secondT(set.NumericDate("map")),
		secondT(claims.Set{"exp": float64(9e15)}.NumericDate("exp")),
		secondT(claims.Set{"exp": -42.125}.NumericDate("exp")),
	}
	_, err := set.Audience()
	errs = append(errs, err)
	_, _, err = set.HasAudience("x")
	errs = append(errs, err)
	_, err = claims.Set{"aud": secret + "\x00"}.Audience() // valid: no error expected
	if err != nil {
		t.Errorf("Audience on a non-empty string: %v", err)
	}
	_, err = claims.Set{"aud": map[string]any{"k": secret}}.Audience()
	errs = append(errs, err)

	forbidden := []string{secret, "s3cr3t", "123456789", "9e+15", "9000000000000000", "42.125"}
	for i, err := range errs {
		if err == nil {
			t.Errorf("case %d: expected an error", i)
			continue
		}
		msg := err.Error()
		for _, f := range forbidden {
			if strings.Contains(msg, f) {
				t.Errorf("case %d: error %q contains the claim value %q", i, msg, f)
			}
		}
	}
}

func TestErrorFormat(t *testing.T) {
	tests := []struct {
		err  *claims.Error
		want string
	}{
		{&claims.Error{Claim: "exp", Err: claims.ErrMissing}, `claims: missing: "exp"`},
		{&claims.Error{Claim: "aud", Reason: "empty", Err: claims.ErrInvalid}, `claims: invalid: "aud": empty`},
	}
	for _, tt := range tests {
		if diff := cmp.Diff(tt.want, tt.err.Error()); diff != "" {
			t.Errorf("Error() mismatch (-want +got):\n%s", diff)
		}
		if !errors.Is(tt.err, tt.err.Err) {
			t.Errorf("errors.Is(%v, %v) = false", tt.err, tt.err.Err)
		}
	}
	// Accessor errors carry the claim name and a reason, not the value.
	_, err := claims.Set{}.StringValue("sub")
	if diff := cmp.Diff(`claims: missing: "sub"`, err.Error()); diff != "" {
		t.Errorf("missing error text mismatch (-want +got):\n%s", diff)
	}
	_, err = claims.Set{"sub": float64(1)}.StringValue("sub")
	if diff := cmp.Diff(`claims: invalid: "sub": not a string`, err.Error()); diff != "" {
		t.Errorf("invalid error text mismatch (-want +got):\n%s", diff)
	}
}
