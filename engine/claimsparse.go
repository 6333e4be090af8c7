package engine

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"unicode/utf8"

	josejson "github.com/go-jose/go-jose/v4/json"

	"github.com/deputyauth/deputy/claims"
)

// errMalformedPayload is wrapped by parseClaims errors.
var errMalformedPayload = errors.New("engine: malformed claims payload")

// parseClaims decodes a JWT payload (RFC 7519 §7.2: one JSON object, UTF-8)
// into a claims.Set. It uses go-jose's JSON decoder, which refuses an object
// with a repeated member name, and it refuses invalid UTF-8, any value but
// an object, and anything but JSON whitespace after the object. Errors wrap
// errMalformedPayload.
//
// Numbers, nested ones included, are kept as the text the payload carried,
// as encoding/json.Number: 9007199254740993, 12345678901234567891, -0 and
// 1e400 come out exactly as they went in when the set is encoded again with
// encoding/json or appendClaims. claims.Set.NumericDate reads such numbers.
// Package claims imports only the standard library, so decoding, which
// needs go-jose's decoder, lives here.
func parseClaims(payload []byte) (claims.Set, error) {
	if !utf8.Valid(payload) {
		return nil, fmt.Errorf("%w: not UTF-8", errMalformedPayload)
	}
	dec := josejson.NewDecoder(bytes.NewReader(payload))
	dec.SetNumberType(josejson.UnmarshalJSONNumber)
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, fmt.Errorf("%w: %w", errMalformedPayload, err)
	}
	m, ok := v.(map[string]any)
	if !ok {
		return nil, fmt.Errorf("%w: not a JSON object", errMalformedPayload)
	}
	// Decode finds io.EOF only when nothing but whitespace is left.
	if err := dec.Decode(new(josejson.RawMessage)); err != io.EOF {
		return nil, fmt.Errorf("%w: data after the object", errMalformedPayload)
	}
	stdNumbers(m)
	return claims.Set(m), nil
}

// stdNumbers replaces, in place, every go-jose json.Number in m and the
// values nested in it by the same text as an encoding/json.Number, which
// encoding/json writes verbatim (go-jose's type it would write as a string)
// and claims.Set.NumericDate reads.
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
