package claims_test

import (
	"encoding/json"
	"errors"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/deputyauth/deputy/claims"
)

// exactNumbers are JSON numbers that float64 cannot carry unchanged, one
// of each syntax (the engine's decoder tests hold a longer list).
var exactNumbers = []string{
	"9007199254740993",     // 2^53 + 1
	"12345678901234567891", // beyond 2^64
	"-0",
	"-1E+400", // beyond float64
	"1e-400",
	"0.1000000000000000055511151231257827021181583404541015625",
}

// foreignNumber stands for a number type of another package, as go-jose's
// json.Number is: a string type that is not encoding/json.Number.
type foreignNumber string

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
		// Another package's number type (go-jose's json.Number is one) is
		// not a number here: decoders hand claims encoding/json.Number.
		{value: foreignNumber("1700000000"), wantErr: true},
		{value: foreignNumber("garbage"), wantErr: true},
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
