package engine

import (
	"encoding/json"
	"math"
	"strconv"
	"unicode/utf8"

	"github.com/deputyauth/deputy/claims"
)

const hexDigits = "0123456789abcdef"

// appendJSONString appends s as a JSON string. Control characters, quotes
// and backslashes are escaped; so are <, >, & and U+2028/U+2029 as
// encoding/json does, and invalid UTF-8 becomes U+FFFD.
func appendJSONString(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' && c != '<' && c != '>' && c != '&' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xF])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hexDigits[r&0xF])
			i += size
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}

// appendJSONValue appends a decoded JSON value. Strings, finite numbers,
// booleans and null are written directly; objects and arrays go through
// encoding/json, which sorts object keys.
func appendJSONValue(b []byte, v any) ([]byte, error) {
	switch t := v.(type) {
	case string:
		return appendJSONString(b, t), nil
	case bool:
		return strconv.AppendBool(b, t), nil
	case nil:
		return append(b, "null"...), nil
	case float64:
		if t == math.Trunc(t) && math.Abs(t) < 1e15 && !math.Signbit(t) {
			return strconv.AppendInt(b, int64(t), 10), nil
		}
	}
	enc, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	return append(b, enc...), nil
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
