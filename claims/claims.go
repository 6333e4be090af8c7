// Package claims holds a JWT claim set, the names of the claims deputy owns,
// and typed accessors that never panic on a value of the wrong type.
//
// A Set is a plain map of JSON values as decoded with numbers kept as
// encoding/json.Number: strings are string, numbers json.Number (the
// number's text, so that no claim changes value on its way through deputy),
// objects map[string]any and arrays []any. The engine decodes token
// payloads that way; this package imports only the standard library and
// decodes nothing itself. Sets built in Go (profiles, for instance) may
// hold float64 and other Go numbers too. The accessors check types and
// ranges; the predicates and copy helpers let the engine build an output
// claim set without ever aliasing the caller's values.
package claims

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"
	"time"
	"unicode"
	"unicode/utf8"
)

// Registered and protocol claim names used by deputy.
const (
	Issuer          = "iss"
	Subject         = "sub"
	Audience        = "aud"
	Expiry          = "exp"
	NotBefore       = "nbf"
	IssuedAt        = "iat"
	ID              = "jti"
	AuthorizedParty = "azp"
	Actor           = "act"
	MayAct          = "may_act"
	Scope           = "scope"
	ClientID        = "client_id"
	Nonce           = "nonce"
	AccessTokenHash = "at_hash"
	CodeHash        = "c_hash"
	AuthTime        = "auth_time"
	SessionID       = "sid"
	Confirmation    = "cnf"
)

// owned lists the claims the engine sets or refuses itself. Their values in
// a source token or a profile are never copied into a minted token.
var owned = map[string]struct{}{
	Issuer: {}, Subject: {}, Audience: {}, Expiry: {}, NotBefore: {},
	IssuedAt: {}, ID: {}, AuthorizedParty: {}, Actor: {}, MayAct: {},
	Scope: {}, ClientID: {}, Nonce: {}, AccessTokenHash: {}, CodeHash: {},
	AuthTime: {}, SessionID: {}, Confirmation: {},
}

// maxOwnedLen is the length of the longest owned names, auth_time and
// client_id.
const maxOwnedLen = 9

// IsOwned reports whether the engine owns the claim name: such a claim is
// set by the engine or not at all, never copied from a source token.
//
// Names are compared the way case-insensitive JSON decoders match keys (Go's
// encoding/json among them): with Unicode simple case folding, as
// strings.EqualFold does. So "Sub", "ISS" and "ſub" (with U+017F, which
// folds to s) are owned too: a relying party decoding into a struct would
// read them as sub or iss. IsOwned allocates nothing; a name of ASCII
// bytes without capitals costs one map lookup and a scan of its bytes.
func IsOwned(name string) bool {
	if _, ok := owned[name]; ok {
		return true
	}
	for i := 0; i < len(name); i++ {
		if c := name[i]; c >= utf8.RuneSelf || 'A' <= c && c <= 'Z' {
			return foldsToOwned(name)
		}
	}
	// ASCII without capitals folds to nothing but itself.
	return false
}

// foldsToOwned reports whether name folds to an owned name. Owned names are
// lower-case ASCII, so each rune of name must fold to an ASCII byte; the
// folded name is then looked up.
func foldsToOwned(name string) bool {
	var buf [maxOwnedLen]byte
	n := 0
	for _, r := range name {
		if n == len(buf) {
			return false
		}
		b, ok := foldASCII(r)
		if !ok {
			return false
		}
		buf[n] = b
		n++
	}
	_, ok := owned[string(buf[:n])]
	return ok
}

// foldASCII returns the lower-case ASCII byte that r is equal to under
// simple case folding, if there is one: r itself lowered when ASCII, and
// for others the ASCII member of r's fold orbit (only ſ U+017F → s and the
// Kelvin sign U+212A → k have one).
func foldASCII(r rune) (byte, bool) {
	if r >= utf8.RuneSelf {
		f := unicode.SimpleFold(r)
		for f != r && f >= utf8.RuneSelf {
			f = unicode.SimpleFold(f)
		}
		if f == r {
			return 0, false
		}
		r = f
	}
	if 'A' <= r && r <= 'Z' {
		r += 'a' - 'A'
	}
	return byte(r), true
}

// OwnedNames returns the names of the owned claims, in no particular order.
// The caller owns the returned slice.
func OwnedNames() []string {
	names := make([]string, 0, len(owned))
	for n := range owned {
		names = append(names, n)
	}
	return names
}

// ErrMissing is wrapped by accessor errors for a claim that is absent.
var ErrMissing = errors.New("claims: missing")

// ErrInvalid is wrapped by accessor errors for a claim of the wrong type or
// out of range.
var ErrInvalid = errors.New("claims: invalid")

// Error reports which claim an accessor refused. It wraps ErrMissing or
// ErrInvalid.
type Error struct {
	Claim  string // the claim's name
	Reason string // what is wrong, without the claim's value
	Err    error  // ErrMissing or ErrInvalid
}

// Error names the claim and what is wrong, never the claim's value.
func (e *Error) Error() string {
	if e.Reason == "" {
		return fmt.Sprintf("%v: %q", e.Err, e.Claim)
	}
	return fmt.Sprintf("%v: %q: %s", e.Err, e.Claim, e.Reason)
}

// Unwrap returns ErrMissing or ErrInvalid.
func (e *Error) Unwrap() error { return e.Err }

func missing(name string) error { return &Error{Claim: name, Err: ErrMissing} }

func invalid(name, reason string) error {
	return &Error{Claim: name, Reason: reason, Err: ErrInvalid}
}

// Set is a JWT claim set: claim names mapped to JSON values as decoded with
// numbers as encoding/json.Number: string, json.Number, bool, nil,
// map[string]any and []any. A Set built by hand (a profile, say) may also
// hold float64 (or other values that encoding/json can marshal); the
// accessors accept float64 wherever they accept a json.Number.
type Set map[string]any

// Has reports whether the claim is present, whatever its value (JSON null
// included).
func (s Set) Has(name string) bool {
	_, ok := s[name]
	return ok
}

// StringValue returns a string claim. An absent claim wraps ErrMissing; any
// other JSON type, null included, wraps ErrInvalid.
func (s Set) StringValue(name string) (string, error) {
	v, ok := s[name]
	if !ok {
		return "", missing(name)
	}
	str, ok := v.(string)
	if !ok {
		return "", invalid(name, "not a string")
	}
	return str, nil
}

// maxNumericDate is 9999-12-31T23:59:59Z: later instants are refused so that
// every accepted NumericDate fits time.Time arithmetic with room to spare.
const maxNumericDate = 253402300799

// NumericDate returns a NumericDate claim (RFC 7519 §2: seconds since the
// epoch, fractions allowed). The value is an encoding/json.Number (as a
// decoded Set holds numbers) or a float64. An absent claim wraps
// ErrMissing; any other type (other packages' number types included), a
// json.Number that is not a JSON number, and a number that is NaN,
// infinite, negative or after the year 9999 (1e400 included) wrap
// ErrInvalid.
func (s Set) NumericDate(name string) (time.Time, error) {
	v, ok := s[name]
	if !ok {
		return time.Time{}, missing(name)
	}
	switch t := v.(type) {
	case float64:
		return ToTime(name, t)
	case json.Number:
		return numberToTime(name, string(t))
	}
	return time.Time{}, invalid(name, "not a number")
}

// numberToTime converts the text of a JSON number, with the checks of
// ToTime.
func numberToTime(name, s string) (time.Time, error) {
	if !ValidNumber(s) {
		return time.Time{}, invalid(name, "not a number")
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil { // beyond float64: ±Inf
		if s[0] == '-' {
			return time.Time{}, invalid(name, "before 1970")
		}
		return time.Time{}, invalid(name, "after the year 9999")
	}
	return ToTime(name, f)
}

// ToTime converts a NumericDate value to a time, with the checks of
// Set.NumericDate; name only labels the error.
func ToTime(name string, f float64) (time.Time, error) {
	switch {
	case math.IsNaN(f) || math.IsInf(f, 0):
		return time.Time{}, invalid(name, "not a finite number")
	case f < 0:
		return time.Time{}, invalid(name, "before 1970")
	case f > maxNumericDate:
		return time.Time{}, invalid(name, "after the year 9999")
	}
	sec, frac := math.Modf(f)
	return time.Unix(int64(sec), int64(frac*1e9)).UTC(), nil
}

// Audience returns the aud claim as a list (RFC 7519 §4.1.3: a string or an
// array of strings). An absent claim wraps ErrMissing; null, an empty array,
// a non-string member or an empty string wraps ErrInvalid. The returned slice
// is fresh; the caller owns it.
func (s Set) Audience() ([]string, error) {
	v, ok := s[Audience]
	if !ok {
		return nil, missing(Audience)
	}
	switch a := v.(type) {
	case string:
		if a == "" {
			return nil, invalid(Audience, "empty")
		}
		return []string{a}, nil
	case []any:
		if len(a) == 0 {
			return nil, invalid(Audience, "empty array")
		}
		out := make([]string, len(a))
		for i, m := range a {
			str, ok := m.(string)
			if !ok || str == "" {
				return nil, invalid(Audience, "member not a non-empty string")
			}
			out[i] = str
		}
		return out, nil
	default:
		return nil, invalid(Audience, "neither a string nor an array")
	}
}

// HasAudience reports whether aud is valid and contains want, and how many
// audiences it names. It allocates nothing.
func (s Set) HasAudience(want string) (found bool, n int, err error) {
	v, ok := s[Audience]
	if !ok {
		return false, 0, missing(Audience)
	}
	switch a := v.(type) {
	case string:
		if a == "" {
			return false, 0, invalid(Audience, "empty")
		}
		return a == want, 1, nil
	case []any:
		if len(a) == 0 {
			return false, 0, invalid(Audience, "empty array")
		}
		for _, m := range a {
			str, ok := m.(string)
			if !ok || str == "" {
				return false, 0, invalid(Audience, "member not a non-empty string")
			}
			found = found || str == want
		}
		return found, len(a), nil
	default:
		return false, 0, invalid(Audience, "neither a string nor an array")
	}
}

// Clone returns a deep copy of s: no map or slice of the copy is shared with
// s. Clone of nil is nil.
func (s Set) Clone() Set {
	if s == nil {
		return nil
	}
	out := make(Set, len(s))
	for k, v := range s {
		out[k] = CloneValue(v)
	}
	return out
}

// CloneValue returns a deep copy of a JSON value: objects (map[string]any or
// Set) and arrays ([]any, []string) are copied recursively; other values
// are returned as they are, since strings, numbers (json.Number, float64),
// booleans and nil are immutable.
func CloneValue(v any) any {
	switch t := v.(type) {
	case map[string]any:
		m := make(map[string]any, len(t))
		for k, e := range t {
			m[k] = CloneValue(e)
		}
		return m
	case Set:
		return map[string]any(t.Clone())
	case []any:
		a := make([]any, len(t))
		for i, e := range t {
			a[i] = CloneValue(e)
		}
		return a
	case []string:
		return append([]string(nil), t...)
	default:
		return v
	}
}
