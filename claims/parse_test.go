package claims_test

import (
	"encoding/json"
	"errors"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	josejson "github.com/go-jose/go-jose/v4/json"
	"github.com/google/go-cmp/cmp"

	"github.com/deputyauth/deputy/claims"
)

func TestParse(t *testing.T) {
	tests := []struct {
		name    string
		payload string
		want    claims.Set
		wantErr bool
	}{
		{name: "empty object", payload: `{}`, want: claims.Set{}},
		{name: "every JSON type", payload: `{"s":"x","n":1,"f":1.5,"t":true,"z":null,"o":{"a":[1,"b",{"c":2}]},"a":[]}`, want: claims.Set{
			"s": "x", "n": json.Number("1"), "f": json.Number("1.5"), "t": true, "z": nil,
			"o": map[string]any{"a": []any{json.Number("1"), "b", map[string]any{"c": json.Number("2")}}},
			"a": []any{},
		}},
		{name: "whitespace around", payload: " \t\r\n{\"a\":1} \t\r\n", want: claims.Set{"a": json.Number("1")}},
		{name: "escaped names", payload: `{"\u0073ub":"x"}`, want: claims.Set{"sub": "x"}},
		{name: "names differing in case", payload: `{"sub":"x","Sub":"y","ſub":"z"}`, want: claims.Set{"sub": "x", "Sub": "y", "ſub": "z"}},
		{name: "deep nesting", payload: strings.Repeat(`{"a":`, 500) + "1" + strings.Repeat("}", 500), want: nested(500)},

		{name: "empty", payload: ``, wantErr: true},
		{name: "only whitespace", payload: "  ", wantErr: true},
		{name: "null", payload: `null`, wantErr: true},
		{name: "array", payload: `[{"sub":"x"}]`, wantErr: true},
		{name: "string", payload: `"sub"`, wantErr: true},
		{name: "number", payload: `1`, wantErr: true},
		{name: "repeated name", payload: `{"sub":"a","sub":"b"}`, wantErr: true},
		{name: "repeated name escaped", payload: `{"sub":"a","\u0073ub":"b"}`, wantErr: true},
		{name: "repeated nested name", payload: `{"o":{"k":1,"k":2}}`, wantErr: true},
		{name: "second object", payload: `{"sub":"a"}{"sub":"b"}`, wantErr: true},
		{name: "second object after space", payload: `{"sub":"a"} {}`, wantErr: true},
		{name: "trailing number", payload: `{"sub":"a"} 1`, wantErr: true},
		{name: "trailing garbage", payload: `{"sub":"a"}x`, wantErr: true},
		{name: "trailing brace", payload: `{"sub":"a"}}`, wantErr: true},
		{name: "trailing NUL", payload: "{\"sub\":\"a\"}\x00", wantErr: true},
		{name: "trailing non-breaking space", payload: "{\"sub\":\"a\"}\u00a0", wantErr: true},
		{name: "truncated", payload: `{"sub":"a"`, wantErr: true},
		{name: "trailing comma", payload: `{"sub":"a",}`, wantErr: true},
		{name: "NaN", payload: `{"exp":NaN}`, wantErr: true},
		{name: "leading plus", payload: `{"exp":+1}`, wantErr: true},
		{name: "leading zero", payload: `{"exp":01}`, wantErr: true},
		{name: "hex", payload: `{"exp":0x10}`, wantErr: true},
		{name: "invalid UTF-8 in a value", payload: "{\"sub\":\"\xff\"}", wantErr: true},
		{name: "invalid UTF-8 in a name", payload: "{\"\xc3\":1}", wantErr: true},
		{name: "invalid UTF-8 after the object", payload: "{}\xff", wantErr: true},
		{name: "too deep", payload: strings.Repeat(`[`, 10001) + strings.Repeat(`]`, 10001), wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := claims.Parse([]byte(tt.payload))
			if tt.wantErr {
				if !errors.Is(err, claims.ErrMalformed) {
					t.Fatalf("Parse = %v, %v; want an error wrapping ErrMalformed", got, err)
				}
				if got != nil {
					t.Errorf("Parse returned %v with an error", got)
				}
				return
			}
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("Parse mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

func nested(depth int) claims.Set {
	var v any = json.Number("1")
	for range depth - 1 {
		v = map[string]any{"a": v}
	}
	return claims.Set{"a": v}
}

// exactNumbers are JSON numbers that float64 cannot carry unchanged.
var exactNumbers = []string{
	"9007199254740993",     // 2^53 + 1
	"-9007199254740993",    //
	"12345678901234567891", // beyond 2^64
	"18446744073709551617", // 2^64 + 1
	"123456789012345678901234567890123456789",
	"-0",
	"-0.0",
	"0.0",
	"1.0",
	"1e400", // beyond float64
	"-1E+400",
	"1e-400",
	"4.9e-324",
	"1E2",
	"0.1000000000000000055511151231257827021181583404541015625",
	"3.141592653589793238462643383279502884197",
	"1700000000.000000001",
	"100000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000001",
}

// TestLargeNumericClaimsKeepValue (issue 12, item 5): a number decoded by
// Parse, at the top level or nested, keeps the exact text the payload
// carried, and encoding/json writes it back unchanged.
func TestLargeNumericClaimsKeepValue(t *testing.T) {
	for _, n := range exactNumbers {
		t.Run(n[:min(len(n), 24)], func(t *testing.T) {
			payload := `{"n":` + n + `,"o":{"deep":[` + n + `,{"x":` + n + `}]}}`
			c, err := claims.Parse([]byte(payload))
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			want := claims.Set{
				"n": json.Number(n),
				"o": map[string]any{"deep": []any{json.Number(n), map[string]any{"x": json.Number(n)}}},
			}
			if diff := cmp.Diff(want, c); diff != "" {
				t.Errorf("Parse mismatch (-want +got):\n%s", diff)
			}
			out, err := json.Marshal(c)
			if err != nil {
				t.Fatalf("Marshal: %v", err)
			}
			if diff := cmp.Diff(payload, string(out)); diff != "" {
				t.Errorf("re-encoded payload mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

func TestNumericDateNumber(t *testing.T) {
	const maxDate = "253402300799" // 9999-12-31T23:59:59Z
	tests := []struct {
		value   any
		want    time.Time
		wantErr bool
	}{
		{value: json.Number("1700000000"), want: time.Unix(1700000000, 0).UTC()},
		{value: json.Number("1700000000.5"), want: time.Unix(1700000000, 500_000_000).UTC()},
		{value: json.Number("1.7e9"), want: time.Unix(1700000000, 0).UTC()},
		{value: json.Number("17E8"), want: time.Unix(1700000000, 0).UTC()},
		{value: json.Number("0"), want: time.Unix(0, 0).UTC()},
		{value: json.Number("-0"), want: time.Unix(0, 0).UTC()},
		{value: json.Number("1e-400"), want: time.Unix(0, 0).UTC()},
		{value: json.Number(maxDate), want: time.Date(9999, 12, 31, 23, 59, 59, 0, time.UTC)},
		{value: josejson.Number("1700000000"), want: time.Unix(1700000000, 0).UTC()},
		{value: float64(1700000000), want: time.Unix(1700000000, 0).UTC()},

		{value: json.Number("253402300800"), wantErr: true},
		{value: json.Number("1e400"), wantErr: true},
		{value: json.Number("-1e400"), wantErr: true},
		{value: json.Number("12345678901234567891"), wantErr: true},
		{value: json.Number("-1"), wantErr: true},
		{value: json.Number("-0.5"), wantErr: true},
		{value: json.Number(""), wantErr: true},
		{value: json.Number("NaN"), wantErr: true},
		{value: json.Number("Inf"), wantErr: true},
		{value: json.Number("0x10"), wantErr: true},
		{value: json.Number("1_000"), wantErr: true},
		{value: json.Number("+1"), wantErr: true},
		{value: json.Number(" 1"), wantErr: true},
		{value: json.Number("1700000000 "), wantErr: true},
		{value: josejson.Number("garbage"), wantErr: true},
		{value: "1700000000", wantErr: true},
		{value: 1700000000, wantErr: true}, // a Go int is not a decoded number
	}
	for _, tt := range tests {
		got, err := claims.Set{"exp": tt.value}.NumericDate("exp")
		if tt.wantErr {
			if !errors.Is(err, claims.ErrInvalid) {
				t.Errorf("NumericDate(%#v) = %v, %v; want ErrInvalid", tt.value, got, err)
			}
			if err != nil && strings.Contains(err.Error(), "1e400") {
				t.Errorf("NumericDate(%#v) error %q quotes the value", tt.value, err)
			}
			continue
		}
		if err != nil {
			t.Errorf("NumericDate(%#v): %v", tt.value, err)
			continue
		}
		if diff := cmp.Diff(tt.want, got); diff != "" {
			t.Errorf("NumericDate(%#v) mismatch (-want +got):\n%s", tt.value, diff)
		}
	}
}

func TestValidNumber(t *testing.T) {
	valid := append([]string{"0", "-0", "1", "-1", "10", "0.5", "-0.5", "1e5", "1E5", "1e+5", "1e-5", "1.5e-5", "0e0", "0.0e-0"}, exactNumbers...)
	invalid := []string{"", "-", "+1", "01", "-01", "00", ".5", "1.", "1.e5", "1e", "1e+", "e5", "1.5.5", "1e5e5",
		" 1", "1 ", "1\n", "NaN", "Inf", "-Inf", "Infinity", "0x10", "1_000", "１", "1,5", "\"1\"", "true", "null", "1\x00"}
	for _, s := range valid {
		if !claims.ValidNumber(s) {
			t.Errorf("ValidNumber(%q) = false, want true", s)
		}
	}
	for _, s := range invalid {
		if claims.ValidNumber(s) {
			t.Errorf("ValidNumber(%q) = true, want false", s)
		}
	}
	// Random strings over the number alphabet agree with encoding/json,
	// which takes surrounding whitespace and other values too.
	r := rand.New(rand.NewPCG(1, 2))
	const alphabet = "-+.eE0123456789"
	for range 100_000 {
		b := make([]byte, 1+r.IntN(8))
		for i := range b {
			b[i] = alphabet[r.IntN(len(alphabet))]
		}
		var n json.Number
		want := json.Unmarshal(b, &n) == nil
		if got := claims.ValidNumber(string(b)); got != want {
			t.Fatalf("ValidNumber(%q) = %v, encoding/json says %v", b, got, want)
		}
	}
}

// samplePayloadIDToken is a typical id_token payload: 15 claims.
const samplePayloadIDToken = `{"iss":"https://id.example.com/","sub":"auth0|5f7c8ec7c33c6c004bbafe82","aud":"my-client-id-0123456789","exp":1700036000,"iat":1700000000,"nbf":1700000000,"jti":"b0f1c2d3e4f5a6b7c8d9e0f1a2b3c4d5","azp":"my-client-id-0123456789","nonce":"n-0S6_WzA2Mj","auth_time":1699999990,"name":"Ada Lovelace","email":"ada@example.com","email_verified":true,"picture":"https://example.com/ada.png","updated_at":1699990000}`

func BenchmarkParse(b *testing.B) {
	payload := []byte(samplePayloadIDToken)
	b.Run("claims.Parse", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := claims.Parse(payload); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("josejson.Unmarshal", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			var c claims.Set
			if err := josejson.Unmarshal(payload, &c); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// FuzzParse: Parse never panics; what it accepts is valid JSON, every
// number in it is a JSON number, and encoding it with encoding/json and
// parsing again gives the same set.
func FuzzParse(f *testing.F) {
	for _, seed := range []string{
		samplePayloadIDToken, `{}`, `{"a":[1,{"b":-0}]}`, `{"n":1e400}`, `{"sub":"a","sub":"b"}`,
		`{"a":1}x`, `{"a":1} {}`, "{\"\xff\":1}", `{"ſub":"x","\u0073":"y"}`, `[{}]`, `null`,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, payload []byte) {
		c, err := claims.Parse(payload)
		if err != nil {
			if !errors.Is(err, claims.ErrMalformed) {
				t.Fatalf("error %v does not wrap ErrMalformed", err)
			}
			return
		}
		if !json.Valid(payload) {
			t.Fatalf("Parse accepted invalid JSON %q", payload)
		}
		checkNumbers(t, map[string]any(c))
		out, err := json.Marshal(c)
		if err != nil {
			t.Fatalf("Marshal: %v", err)
		}
		again, err := claims.Parse(out)
		if err != nil {
			t.Fatalf("Parse of the re-encoded set: %v", err)
		}
		if diff := cmp.Diff(c, again); diff != "" {
			t.Fatalf("round trip mismatch (-first +second):\n%s", diff)
		}
	})
}

func checkNumbers(t *testing.T, v any) {
	switch v := v.(type) {
	case json.Number:
		if !claims.ValidNumber(string(v)) {
			t.Fatalf("Parse produced json.Number %q", v)
		}
	case float64, josejson.Number:
		t.Fatalf("Parse produced %T", v)
	case map[string]any:
		for _, e := range v {
			checkNumbers(t, e)
		}
	case []any:
		for _, e := range v {
			checkNumbers(t, e)
		}
	}
}
