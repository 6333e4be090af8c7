package azure

import (
	"bytes"
	"encoding/json"
	"errors"
	"math"
	"strconv"
	"time"
	"unicode"
	"unicode/utf8"

	josejson "github.com/go-jose/go-jose/v4/json"
)

// defaultExpiration is Auth0's default for both add-ons: 5 minutes.
const defaultExpiration = 5 * time.Minute

// maxExpirationMinutes bounds the expiration setting: one year. A grant's
// lifetime caps every signature anyway; a larger setting is a mistake.
const maxExpirationMinutes = 365 * 24 * 60

// maxSettingsSize bounds the settings object, in bytes.
const maxSettingsSize = 16 << 10

// object is a decoded settings object: member name → raw value, nulls
// dropped.
type object map[string]json.RawMessage

// fieldError reports a bad setting by its name. Its text never carries the
// setting's value.
func fieldError(prefix, field, problem string) error {
	return errors.New(prefix + ": settings field " + strconv.Quote(field) + " " + problem)
}

// decodeObject decodes settings into an object. Its errors carry no text of
// the input (a decoder's syntax error could quote part of a key).
func decodeObject(prefix string, settings json.RawMessage) (object, error) {
	if len(settings) > maxSettingsSize {
		return nil, errors.New(prefix + ": settings larger than " + strconv.Itoa(maxSettingsSize) + " bytes")
	}
	trimmed := bytes.TrimLeft(settings, " \t\r\n")
	if len(trimmed) == 0 || trimmed[0] != '{' {
		return nil, errors.New(prefix + ": settings are not a JSON object")
	}
	// go-jose's decoder refuses a repeated member, which encoding/json
	// would let the last one win: a setting means one thing.
	var m map[string]josejson.RawMessage
	if err := josejson.Unmarshal(settings, &m); err != nil {
		return nil, errors.New(prefix + ": settings are not a valid JSON object, or repeat a member")
	}
	o := make(object, len(m))
	for k, v := range m {
		if string(v) != "null" {
			o[k] = json.RawMessage(v)
		}
	}
	return o, nil
}

// str returns the string member name; "" when absent.
func (o object) str(prefix, name string) (string, error) {
	raw, ok := o[name]
	if !ok {
		return "", nil
	}
	var s string
	if len(raw) == 0 || raw[0] != '"' || json.Unmarshal(raw, &s) != nil {
		return "", fieldError(prefix, name, "must be a string")
	}
	return s, nil
}

// flag returns the boolean member name; false when absent.
func (o object) flag(prefix, name string) (bool, error) {
	raw, ok := o[name]
	if !ok {
		return false, nil
	}
	switch string(raw) {
	case "true":
		return true, nil
	case "false":
		return false, nil
	}
	return false, fieldError(prefix, name, "must be true or false")
}

// expiration returns the expiration member (whole minutes, Auth0's unit)
// as a duration; defaultExpiration when absent.
func (o object) expiration(prefix string) (time.Duration, error) {
	raw, ok := o["expiration"]
	if !ok {
		return defaultExpiration, nil
	}
	var f float64
	if err := json.Unmarshal(raw, &f); err != nil || raw[0] == '"' {
		return 0, fieldError(prefix, "expiration", "must be a number of minutes")
	}
	switch {
	case f != math.Trunc(f):
		return 0, fieldError(prefix, "expiration", "must be a whole number of minutes")
	case f <= 0:
		return 0, fieldError(prefix, "expiration", "must be at least 1 minute")
	case f > maxExpirationMinutes:
		return 0, fieldError(prefix, "expiration", "must be at most "+strconv.Itoa(maxExpirationMinutes)+" minutes (one year)")
	}
	return time.Duration(f) * time.Minute, nil
}

// printable reports whether s is valid UTF-8 without control characters.
func printable(s string) bool {
	if !utf8.ValidString(s) {
		return false
	}
	for _, r := range s {
		if unicode.IsControl(r) {
			return false
		}
	}
	return true
}

// isLowerAlnum reports whether c is an ASCII lowercase letter or digit.
func isLowerAlnum(c byte) bool { return c >= 'a' && c <= 'z' || c >= '0' && c <= '9' }

// isAlnum reports whether c is an ASCII letter or digit.
func isAlnum(c byte) bool { return isLowerAlnum(c) || c >= 'A' && c <= 'Z' }

// expiry returns the signature's expiry: issuedAt plus the smaller of the
// configured expiration and the grant's lifetime, in whole seconds.
func expiry(prefix string, issuedAt time.Time, expiration, lifetime time.Duration) (time.Time, error) {
	if issuedAt.IsZero() {
		return time.Time{}, errors.New(prefix + ": grant has no issue time")
	}
	if lifetime < time.Second {
		return time.Time{}, errors.New(prefix + ": grant has no lifetime")
	}
	d := min(expiration, lifetime).Truncate(time.Second)
	return issuedAt.Truncate(time.Second).Add(d), nil
}
