package engine

import (
	"encoding/json"
	"errors"
	"math"
	"slices"
	"strconv"

	josejson "github.com/go-jose/go-jose/v4/json"

	"github.com/deputyauth/deputy/claims"
	"github.com/deputyauth/deputy/internal/jsonstr"
)

// appendJSONString appends s as a JSON string (jsonstr.Append).
func appendJSONString(b []byte, s string) []byte { return jsonstr.Append(b, s) }

// maxJSONDepth bounds the nesting appendJSONValue writes, as go-jose's
// decoder bounds what it reads; a deeper value (or a cycle in a profile
// built in Go) is an error, not a stack overflow.
const maxJSONDepth = 10000

// errJSONDepth and errJSONNumber are the errors of appendJSONValue; neither
// quotes the value.
var (
	errJSONDepth  = errors.New("engine: claim value nested too deeply")
	errJSONNumber = errors.New("engine: claim holds a json.Number that is not a JSON number")
)

// appendJSONValue appends a claim value. Strings, numbers, booleans, null,
// objects (map[string]any, claims.Set) and arrays ([]any, []string) are
// written directly, objects with their keys sorted as encoding/json sorts
// them, so the output is deterministic. A json.Number (encoding/json's, as
// parseClaims decodes every number, or go-jose's) is written verbatim, so
// a number leaves exactly as it came; one that is not a JSON number is an
// error. Other Go values (int, float32, structs …) go through
// encoding/json.
func appendJSONValue(b []byte, v any) ([]byte, error) {
	return appendJSONValueDepth(b, v, 0)
}

func appendJSONValueDepth(b []byte, v any, depth int) ([]byte, error) {
	switch t := v.(type) {
	case string:
		return appendJSONString(b, t), nil
	case bool:
		return strconv.AppendBool(b, t), nil
	case nil:
		return append(b, "null"...), nil
	case json.Number:
		return appendJSONNumber(b, string(t))
	case josejson.Number:
		return appendJSONNumber(b, string(t))
	case float64:
		if t == math.Trunc(t) && math.Abs(t) < 1e15 && !math.Signbit(t) {
			return strconv.AppendInt(b, int64(t), 10), nil
		}
	case map[string]any:
		return appendJSONObject(b, t, depth)
	case claims.Set:
		return appendJSONObject(b, t, depth)
	case []any:
		if t == nil {
			return append(b, "null"...), nil // as encoding/json writes it
		}
		if depth >= maxJSONDepth {
			return nil, errJSONDepth
		}
		b = append(b, '[')
		var err error
		for i, e := range t {
			if i > 0 {
				b = append(b, ',')
			}
			if b, err = appendJSONValueDepth(b, e, depth+1); err != nil {
				return nil, err
			}
		}
		return append(b, ']'), nil
	case []string:
		if t == nil {
			return append(b, "null"...), nil
		}
		b = append(b, '[')
		for i, e := range t {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendJSONString(b, e)
		}
		return append(b, ']'), nil
	}
	enc, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	return append(b, enc...), nil
}

// appendJSONNumber appends the text of a JSON number after checking it: a
// json.Number put into a profile by Go code may hold anything.
func appendJSONNumber(b []byte, n string) ([]byte, error) {
	if !claims.ValidNumber(n) {
		return nil, errJSONNumber
	}
	return append(b, n...), nil
}

// appendJSONObject appends m with its keys in sorted order.
func appendJSONObject(b []byte, m map[string]any, depth int) ([]byte, error) {
	if m == nil {
		return append(b, "null"...), nil // as encoding/json writes it
	}
	if depth >= maxJSONDepth {
		return nil, errJSONDepth
	}
	var buf [16]string
	keys := buf[:0]
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	b = append(b, '{')
	var err error
	for i, k := range keys {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendJSONString(b, k)
		b = append(b, ':')
		if b, err = appendJSONValueDepth(b, m[k], depth+1); err != nil {
			return nil, err
		}
	}
	return append(b, '}'), nil
}

// appendClaims appends the members of c named by names, in that order,
// each preceded by a comma: the caller has written the object's first
// member.
func appendClaims(b []byte, c claims.Set, names []string) ([]byte, error) {
	var err error
	for _, k := range names {
		b = append(b, ',')
		b = appendJSONString(b, k)
		b = append(b, ':')
		if b, err = appendJSONValue(b, c[k]); err != nil {
			return nil, err
		}
	}
	return b, nil
}

// jsonDepthOK reports whether v nests no deeper than maxJSONDepth, which
// also rules out a cycle. It allocates nothing.
func jsonDepthOK(v any, depth int) bool {
	if depth > maxJSONDepth {
		return false
	}
	switch t := v.(type) {
	case map[string]any:
		for _, e := range t {
			if !jsonDepthOK(e, depth+1) {
				return false
			}
		}
	case claims.Set:
		return jsonDepthOK(map[string]any(t), depth)
	case []any:
		for _, e := range t {
			if !jsonDepthOK(e, depth+1) {
				return false
			}
		}
	}
	return true
}
