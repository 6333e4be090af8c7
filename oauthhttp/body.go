package oauthhttp

import (
	"net/url"
	"unicode/utf8"

	"github.com/deputyauth/deputy/engine"
)

// parseJSON is engine.ParseJSON with a fast path. A body that is a flat
// object of plain strings — no escape, no null, no array, no repeated key,
// at most engine.MaxParameters members, valid UTF-8 — means exactly what
// the form with the same parameters means, and engine.ParseRequest builds
// that without a general JSON decoder (which costs about as much as the
// rest of the handler). Every other body, well-formed or not, goes to
// engine.ParseJSON, which stays the reference for what is accepted and
// how it is refused.
func parseJSON(body []byte) (*engine.Request, error) {
	if form, ok := plainJSONForm(body); ok {
		return engine.ParseRequest(form)
	}
	return engine.ParseJSON(body)
}

// plainJSONForm returns the members of body as form values when body is a
// flat JSON object of plain strings (see parseJSON), and false otherwise.
func plainJSONForm(body []byte) (url.Values, bool) {
	if len(body) > engine.MaxRequestSize || !utf8.Valid(body) {
		return nil, false
	}
	// One string holds every key and value, and one array every value
	// slice: the strings the parameters become are substrings of it.
	text := string(body)
	vals := make([]string, 0, 16)
	i := 0
	ws := func() {
		for i < len(body) && (body[i] == ' ' || body[i] == '\t' || body[i] == '\n' || body[i] == '\r') {
			i++
		}
	}
	// str returns the string starting at body[i], which must have no
	// escape and no control character.
	str := func() (string, bool) {
		if i >= len(body) || body[i] != '"' {
			return "", false
		}
		start := i + 1
		for i = start; i < len(body); i++ {
			switch c := body[i]; {
			case c == '"':
				s := text[start:i]
				i++
				return s, true
			case c == '\\', c < 0x20:
				return "", false
			}
		}
		return "", false
	}
	ws()
	if i >= len(body) || body[i] != '{' {
		return nil, false
	}
	i++
	form := make(url.Values, 8)
	ws()
	if i < len(body) && body[i] == '}' {
		i++
		ws()
		return form, i == len(body)
	}
	for {
		ws()
		k, ok := str()
		if !ok {
			return nil, false
		}
		ws()
		if i >= len(body) || body[i] != ':' {
			return nil, false
		}
		i++
		ws()
		v, ok := str()
		if !ok {
			return nil, false
		}
		if _, dup := form[k]; dup || len(form) == engine.MaxParameters {
			return nil, false
		}
		vals = append(vals, v)
		form[k] = vals[len(vals)-1 : len(vals) : len(vals)]
		ws()
		if i >= len(body) {
			return nil, false
		}
		switch body[i] {
		case ',':
			i++
		case '}':
			i++
			ws()
			return form, i == len(body)
		default:
			return nil, false
		}
	}
}
