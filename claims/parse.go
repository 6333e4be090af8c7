package claims

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"unicode/utf8"

	josejson "github.com/go-jose/go-jose/v4/json"
)

// ErrMalformed is wrapped by Parse errors.
var ErrMalformed = errors.New("claims: malformed payload")

// Parse decodes a JWT payload (RFC 7519 §7.2: one JSON object, UTF-8) into a
// Set. It uses go-jose's JSON decoder, which refuses an object with a
// repeated member name, and it refuses invalid UTF-8, any value but an
// object, and anything but JSON whitespace after the object. Errors wrap
// ErrMalformed.
//
// Numbers, nested ones included, are kept as the text the payload carried,
// as encoding/json.Number: 9007199254740993, 12345678901234567891, -0 and
// 1e400 come out exactly as they went in when the set is encoded again with
// encoding/json or the engine. NumericDate reads such numbers.
func Parse(payload []byte) (Set, error) {
	if !utf8.Valid(payload) {
		return nil, fmt.Errorf("%w: not UTF-8", ErrMalformed)
	}
	dec := josejson.NewDecoder(bytes.NewReader(payload))
	dec.SetNumberType(josejson.UnmarshalJSONNumber)
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrMalformed, err)
	}
	m, ok := v.(map[string]any)
	if !ok {
		return nil, fmt.Errorf("%w: not a JSON object", ErrMalformed)
	}
	// Decode finds io.EOF only when nothing but whitespace is left.
	if err := dec.Decode(new(josejson.RawMessage)); err != io.EOF {
		return nil, fmt.Errorf("%w: data after the object", ErrMalformed)
	}
	stdNumbers(m)
	return Set(m), nil
}

// stdNumbers replaces, in place, every go-jose json.Number in m and the
// values nested in it by the same text as an encoding/json.Number, which
// encoding/json writes verbatim (go-jose's type it would write as a string).
func stdNumbers(m map[string]any) {
	for k, v := range m {
		switch t := v.(type) {
		case josejson.Number:
			m[k] = json.Number(t)
		case map[string]any:
			stdNumbers(t)
		case []any:
			stdNumbersArray(t)
		}
	}
}

func stdNumbersArray(a []any) {
	for i, v := range a {
		switch t := v.(type) {
		case josejson.Number:
			a[i] = json.Number(t)
		case map[string]any:
			stdNumbers(t)
		case []any:
			stdNumbersArray(t)
		}
	}
}

// ValidNumber reports whether s is a JSON number (RFC 8259 §6) and nothing
// else: an optional minus, an integer part without leading zeros, optional
// fraction and exponent, no spaces. A json.Number that fails it must not be
// written into a token verbatim.
func ValidNumber(s string) bool {
	i := 0
	if i < len(s) && s[i] == '-' {
		i++
	}
	switch {
	case i < len(s) && s[i] == '0':
		i++
	case i < len(s) && '1' <= s[i] && s[i] <= '9':
		for i++; i < len(s) && isDigit(s[i]); i++ {
		}
	default:
		return false
	}
	if i < len(s) && s[i] == '.' {
		i++
		if i == len(s) || !isDigit(s[i]) {
			return false
		}
		for i++; i < len(s) && isDigit(s[i]); i++ {
		}
	}
	if i < len(s) && (s[i] == 'e' || s[i] == 'E') {
		i++
		if i < len(s) && (s[i] == '+' || s[i] == '-') {
			i++
		}
		if i == len(s) || !isDigit(s[i]) {
			return false
		}
		for i++; i < len(s) && isDigit(s[i]); i++ {
		}
	}
	return i == len(s)
}

func isDigit(c byte) bool { return '0' <= c && c <= '9' }
