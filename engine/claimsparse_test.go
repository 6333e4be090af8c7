package engine

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"

	josejson "github.com/go-jose/go-jose/v4/json"
	"github.com/google/go-cmp/cmp"

	"github.com/deputyauth/deputy/claims"
)

// These tests moved from package claims with the decoder (claims imports
// only the standard library).

func TestParseClaims(t *testing.T) {
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
		{name: "deep nesting", payload: strings.Repeat(`{"a":`, 500) + "1" + strings.Repeat("}", 500), want: nestedSet(500)},

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
			got, err := parseClaims([]byte(tt.payload))
			if tt.wantErr {
				if !errors.Is(err, errMalformedPayload) {
					t.Fatalf("parseClaims = %v, %v; want an error wrapping errMalformedPayload", got, err)
				}
				if got != nil {
					t.Errorf("parseClaims returned %v with an error", got)
				}
				return
			}
			if err != nil {
				t.Fatalf("parseClaims: %v", err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("parseClaims mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

func nestedSet(depth int) claims.Set {
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
// parseClaims, at the top level or nested, keeps the exact text the payload
// carried, and encoding/json writes it back unchanged.
func TestLargeNumericClaimsKeepValue(t *testing.T) {
	for _, n := range exactNumbers {
		t.Run(n[:min(len(n), 24)], func(t *testing.T) {
			payload := `{"n":` + n + `,"o":{"deep":[` + n + `,{"x":` + n + `}]}}`
			c, err := parseClaims([]byte(payload))
			if err != nil {
				t.Fatalf("parseClaims: %v", err)
			}
			want := claims.Set{
				"n": json.Number(n),
				"o": map[string]any{"deep": []any{json.Number(n), map[string]any{"x": json.Number(n)}}},
			}
			if diff := cmp.Diff(want, c); diff != "" {
				t.Errorf("parseClaims mismatch (-want +got):\n%s", diff)
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

// samplePayloadIDToken is a typical id_token payload: 15 claims.
const samplePayloadIDToken = `{"iss":"https://id.example.com/","sub":"auth0|5f7c8ec7c33c6c004bbafe82","aud":"my-client-id-0123456789","exp":1700036000,"iat":1700000000,"nbf":1700000000,"jti":"b0f1c2d3e4f5a6b7c8d9e0f1a2b3c4d5","azp":"my-client-id-0123456789","nonce":"n-0S6_WzA2Mj","auth_time":1699999990,"name":"Ada Lovelace","email":"ada@example.com","email_verified":true,"picture":"https://example.com/ada.png","updated_at":1699990000}`

func BenchmarkParseClaims(b *testing.B) {
	payload := []byte(samplePayloadIDToken)
	b.Run("parseClaims", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := parseClaims(payload); err != nil {
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

// FuzzParseClaims: parseClaims never panics; what it accepts is valid JSON, every
// number in it is a JSON number, and encoding it with encoding/json and
// parsing again gives the same set.
func FuzzParseClaims(f *testing.F) {
	for _, seed := range []string{
		samplePayloadIDToken, `{}`, `{"a":[1,{"b":-0}]}`, `{"n":1e400}`, `{"sub":"a","sub":"b"}`,
		`{"a":1}x`, `{"a":1} {}`, "{\"\xff\":1}", `{"ſub":"x","\u0073":"y"}`, `[{}]`, `null`,
		`{"s":"\ud800\u00e9"}`,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, payload []byte) {
		c, err := parseClaims(payload)
		if err != nil {
			if !errors.Is(err, errMalformedPayload) {
				t.Fatalf("error %v does not wrap errMalformedPayload", err)
			}
			return
		}
		if !json.Valid(payload) {
			t.Fatalf("parseClaims accepted invalid JSON %q", payload)
		}
		checkNumbers(t, map[string]any(c))
		// encoding/json with UseNumber, which claims' own tests decode
		// with, reads an accepted payload to the same set.
		dec := json.NewDecoder(bytes.NewReader(payload))
		dec.UseNumber()
		var std claims.Set
		if err := dec.Decode(&std); err != nil {
			t.Fatalf("encoding/json refuses an accepted payload: %v", err)
		}
		if diff := cmp.Diff(c, std); diff != "" {
			t.Fatalf("encoding/json decodes differently (-parseClaims +encoding/json):\n%s", diff)
		}
		out, err := json.Marshal(c)
		if err != nil {
			t.Fatalf("Marshal: %v", err)
		}
		again, err := parseClaims(out)
		if err != nil {
			t.Fatalf("parseClaims of the re-encoded set: %v", err)
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
			t.Fatalf("parseClaims produced json.Number %q", v)
		}
	case float64, josejson.Number:
		t.Fatalf("parseClaims produced %T", v)
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

// TestParseClaimsNumbers was claims' ExampleParse: a number beyond uint64
// comes out as the encoding/json.Number of its text, encoding/json writes
// every number back as it came, and a repeated name is refused.
func TestParseClaimsNumbers(t *testing.T) {
	payload := `{"sub":"user-1","exp":1700003600,"account":12345678901234567891,"geo":{"lat":-0,"big":1e400}}`
	c, err := parseClaims([]byte(payload))
	if err != nil {
		t.Fatal(err)
	}
	if got := fmt.Sprintf("%T %v", c["account"], c["account"]); got != "json.Number 12345678901234567891" {
		t.Errorf("account = %s, want json.Number 12345678901234567891", got)
	}
	out, err := json.Marshal(c) // encoding/json writes each number as it came
	if err != nil {
		t.Fatal(err)
	}
	const want = `{"account":12345678901234567891,"exp":1700003600,"geo":{"big":1e400,"lat":-0},"sub":"user-1"}`
	if diff := cmp.Diff(want, string(out)); diff != "" {
		t.Errorf("re-encoded mismatch (-want +got):\n%s", diff)
	}
	if _, err := parseClaims([]byte(`{"sub":"a","sub":"b"}`)); !errors.Is(err, errMalformedPayload) {
		t.Errorf("repeated name: error %v, want one wrapping errMalformedPayload", err)
	}
}

// TestNumericDateRefusesGoJoseNumber: claims.Set.NumericDate reads
// encoding/json.Number and float64 only (package claims imports nothing
// but the standard library), so a go-jose json.Number, valid or not, is
// "not a number". parseClaims therefore converts every go-jose number
// (FuzzParseClaims checks that none is left).
func TestNumericDateRefusesGoJoseNumber(t *testing.T) {
	for _, v := range []josejson.Number{"1700000000", "garbage"} {
		got, err := claims.Set{"exp": v}.NumericDate("exp")
		if !errors.Is(err, claims.ErrInvalid) || !strings.HasSuffix(err.Error(), "not a number") {
			t.Errorf("NumericDate(josejson.Number(%q)) = %v, %v; want ErrInvalid, not a number", v, got, err)
		}
	}
	c, err := parseClaims([]byte(`{"exp":1700000000}`))
	if err != nil {
		t.Fatal(err)
	}
	if got, err := c.NumericDate("exp"); err != nil || got.Unix() != 1700000000 {
		t.Errorf("NumericDate of a parsed exp = %v, %v", got, err)
	}
}
