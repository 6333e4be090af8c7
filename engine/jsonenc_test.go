package engine

import (
	"encoding/json"
	"errors"
	"maps"
	"math"
	"slices"
	"strings"
	"testing"

	josejson "github.com/go-jose/go-jose/v4/json"
	"github.com/google/go-cmp/cmp"

	"github.com/deputyauth/deputy/claims"
)

// TestLargeNumericClaimsKeepValueEncoded (issue 12, item 5): a claim
// decoded by parseClaims and encoded by appendClaims, as the minter does,
// carries every number byte for byte as the source had it, nested ones
// included.
func TestLargeNumericClaimsKeepValueEncoded(t *testing.T) {
	numbers := []string{
		"9007199254740993",     // 2^53 + 1: float64 makes it ...992
		"-9007199254740993",    //
		"12345678901234567891", // beyond 2^64: float64 makes it ...7000
		"18446744073709551617",
		"123456789012345678901234567890123456789",
		"-0",
		"-0.0",
		"1.0",
		"1e400", // overflows float64
		"-1E+400",
		"1e-400", // underflows float64
		"1E2",
		"0.1000000000000000055511151231257827021181583404541015625",
		"1700000000.000000001",
		"42",
	}
	for _, n := range numbers {
		t.Run(n, func(t *testing.T) {
			// Members in sorted order and no spaces: appendClaims writes
			// exactly this back.
			payload := `{"iss":"x","n":` + n + `,"o":{"a":[` + n + `,{"b":` + n + `}],"z":` + n + `}}`
			c, err := parseClaims([]byte(payload))
			if err != nil {
				t.Fatalf("parseClaims: %v", err)
			}
			out := appendJSONString([]byte(`{"iss":`), "x")
			if out, err = appendClaims(out, c, []string{"n", "o"}); err != nil {
				t.Fatalf("appendClaims: %v", err)
			}
			out = append(out, '}')
			if diff := cmp.Diff(payload, string(out)); diff != "" {
				t.Errorf("encoded claims mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

// TestAppendJSONValueMatchesEncodingJSON: for values whose numbers float64
// carries exactly, appendJSONValue writes what encoding/json.Marshal writes.
func TestAppendJSONValueMatchesEncodingJSON(t *testing.T) {
	many := map[string]any{}
	for i := range 40 { // more keys than the sort's stack buffer holds
		many[strings.Repeat("k", i%7)+string(rune('a'+i%26))+string(rune('A'+i/26))] = float64(i)
	}
	tests := []struct {
		name string
		v    any
	}{
		{"string", "plain"},
		{"escapes", "quote\" backslash\\ nl\n tab\t cr\r nul\x00 del\x7f"},
		{"HTML", "<script>&amp;</script>"},
		{"line separators", "a\u2028b\u2029c"},
		{"invalid UTF-8", "a\xffb\xc3"},
		{"non-ASCII", "ſ K 日本 🔑"},
		{"empty string", ""},
		{"true", true},
		{"false", false},
		{"null", nil},
		{"zero", float64(0)},
		{"integer", float64(1700000000)},
		{"negative integer", float64(-42)},
		{"negative zero", math.Copysign(0, -1)},
		{"fraction", 0.1},
		{"large", 1e21},
		{"small", 1e-7},
		{"max float", math.MaxFloat64},
		{"2^53", float64(1 << 53)},
		{"json.Number", json.Number("12")},
		{"go int", 7},
		{"go int64", int64(-1) << 62},
		{"go uint64", uint64(math.MaxUint64)},
		{"go float32", float32(1.5)},
		{"empty object", map[string]any{}},
		{"empty array", []any{}},
		{"nil array", []any(nil)},
		{"nil object", map[string]any(nil)},
		{"object", map[string]any{"b": "x", "a": float64(1), "c": []any{true, nil, "s"}, "": "empty key", "A": 1.5}},
		{"escaped keys", map[string]any{"<k>": 1.0, "q\"": 2.0, "\u2028": 3.0, "\xff": 4.0}},
		{"many keys", many},
		{"claims.Set", claims.Set{"z": "1", "y": map[string]any{"x": claims.Set{"w": []any{}}}}},
		{"string slice", []string{"a", "<b>", ""}},
		{"nil string slice", []string(nil)},
		{"nested arrays", []any{[]any{[]any{}}, map[string]any{"a": []any{map[string]any{}}}}},
		{"map of strings", map[string]string{"b": "1", "a": "2"}},
		{"act", map[string]any{"sub": "svc-a", "act": map[string]any{"sub": "svc-b"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			want, err := json.Marshal(tt.v)
			if err != nil {
				t.Fatalf("json.Marshal: %v", err)
			}
			got, err := appendJSONValue([]byte("prefix"), tt.v)
			if err != nil {
				t.Fatalf("appendJSONValue: %v", err)
			}
			if diff := cmp.Diff("prefix"+string(want), string(got)); diff != "" {
				t.Errorf("appendJSONValue mismatch with encoding/json (-want +got):\n%s", diff)
			}
		})
	}
}

func TestAppendJSONValueRefuses(t *testing.T) {
	cyclic := map[string]any{}
	cyclic["self"] = cyclic
	loop := []any{nil}
	loop[0] = loop
	deep := any("leaf")
	for range maxJSONDepth + 1 {
		deep = []any{deep}
	}
	fine := any("leaf")
	for range maxJSONDepth {
		fine = map[string]any{"a": fine}
	}
	tests := []struct {
		name string
		v    any
		want error // nil: accepted
	}{
		{"empty number", json.Number(""), errJSONNumber},
		{"word", json.Number("secret-value"), errJSONNumber},
		{"space", json.Number("1 "), errJSONNumber},
		{"two numbers", json.Number("1,2"), errJSONNumber},
		{"injection", json.Number(`1,"sub":"admin"`), errJSONNumber},
		{"NaN", json.Number("NaN"), errJSONNumber},
		{"hex", json.Number("0x10"), errJSONNumber},
		{"plus", json.Number("+1"), errJSONNumber},
		{"leading zero", json.Number("01"), errJSONNumber},
		{"go-jose word", josejson.Number("secret-value"), errJSONNumber},
		{"nested bad number", map[string]any{"a": []any{json.Number("x")}}, errJSONNumber},
		{"cyclic map", cyclic, errJSONDepth},
		{"cyclic array", loop, errJSONDepth},
		{"too deep", deep, errJSONDepth},
		{"deepest allowed", fine, nil},
		{"go-jose number", josejson.Number("12345678901234567891"), nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := appendJSONValue(nil, tt.v)
			if !errors.Is(err, tt.want) {
				t.Fatalf("appendJSONValue error = %v, want %v", err, tt.want)
			}
			if err != nil {
				if got != nil {
					t.Errorf("appendJSONValue returned output with an error")
				}
				if strings.Contains(err.Error(), "secret") {
					t.Errorf("error %q quotes the value", err)
				}
				return
			}
			if !json.Valid(got) {
				t.Errorf("output is not valid JSON")
			}
		})
	}
	for _, f := range []float64{math.NaN(), math.Inf(1), math.Inf(-1)} {
		if _, err := appendJSONValue(nil, f); err == nil {
			t.Errorf("appendJSONValue(%v) succeeded", f)
		}
	}
}

// TestAppendJSONValueAllocs: a nested claim of JSON values is written
// without allocating once the buffer is large enough.
func TestAppendJSONValueAllocs(t *testing.T) {
	c, err := parseClaims([]byte(`{"v":{"sub":"svc","n":12345678901234567891,"f":1.5,"a":[1,"x",{"k":null}],"act":{"sub":"x"}}}`))
	if err != nil {
		t.Fatal(err)
	}
	v := c["v"]
	buf := make([]byte, 0, 4096)
	if n := testing.AllocsPerRun(100, func() {
		if _, err := appendJSONValue(buf[:0], v); err != nil {
			t.Fatal(err)
		}
	}); n != 0 {
		t.Errorf("appendJSONValue allocates %v times", n)
	}
	keys := slices.Sorted(maps.Keys(v.(map[string]any)))
	if diff := cmp.Diff([]string{"a", "act", "f", "n", "sub"}, keys); diff != "" {
		t.Fatal(diff)
	}
}
