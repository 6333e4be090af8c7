package engine

import (
	"bytes"
	"encoding/json"
	"errors"
	"maps"
	"net/url"
	"slices"
	"strconv"
	"unicode/utf8"

	josejson "github.com/go-jose/go-jose/v4/json"
)

// Grant types deputy knows.
const (
	// GrantTypeJWTBearer is the delegation dialect's grant type (Auth0's
	// /delegation).
	GrantTypeJWTBearer = "urn:ietf:params:oauth:grant-type:jwt-bearer"
	// GrantTypeTokenExchange is RFC 8693's grant type.
	GrantTypeTokenExchange = "urn:ietf:params:oauth:grant-type:token-exchange"
)

// Request is one exchange request as a host received it. ParseRequest and
// ParseJSON build one from the wire; a host may also fill it in itself.
// Empty strings mean "not sent".
type Request struct {
	GrantType    string
	ClientID     string
	ClientSecret string
	// ClientAssertion and ClientAssertionType are RFC 7521 §4.2's
	// client_assertion and client_assertion_type, for a
	// Config.ClientAuth that verifies them (private_key_jwt: RFC 7523).
	ClientAssertion     string
	ClientAssertionType string

	// Delegation dialect.
	IDToken      string
	RefreshToken string
	Target       string
	APIType      string

	// RFC 8693 token exchange.
	SubjectToken       string
	SubjectTokenType   string
	ActorToken         string
	ActorTokenType     string
	RequestedTokenType string
	Audience           []string
	Resource           []string

	Scope string
	// Extra holds parameters deputy does not know, for add-on minters.
	// The engine itself ignores them (RFC 6749 §3.2).
	Extra map[string]string
}

// MaxRequestSize caps the body ParseJSON accepts and the total size of the
// values ParseRequest accepts, in bytes.
const MaxRequestSize = 64 << 10

// Shape limits of a request, checked by ParseJSON before anything is
// decoded and by ParseRequest: a token request has a dozen parameters and
// names one target, so a body of thousands costs work and means nothing.
const (
	// MaxParameters caps the parameters (JSON members) of a request.
	MaxParameters = 64
	// MaxListValues caps the values of audience and of resource.
	MaxListValues = 16
)

// field binds a wire parameter name to its Request field.
type field struct {
	name string
	str  func(*Request) *string
	list func(*Request) *[]string
}

var fields = []field{
	{name: "grant_type", str: func(r *Request) *string { return &r.GrantType }},
	{name: "client_id", str: func(r *Request) *string { return &r.ClientID }},
	{name: "client_secret", str: func(r *Request) *string { return &r.ClientSecret }},
	{name: "client_assertion", str: func(r *Request) *string { return &r.ClientAssertion }},
	{name: "client_assertion_type", str: func(r *Request) *string { return &r.ClientAssertionType }},
	{name: "id_token", str: func(r *Request) *string { return &r.IDToken }},
	{name: "refresh_token", str: func(r *Request) *string { return &r.RefreshToken }},
	{name: "target", str: func(r *Request) *string { return &r.Target }},
	{name: "api_type", str: func(r *Request) *string { return &r.APIType }},
	{name: "subject_token", str: func(r *Request) *string { return &r.SubjectToken }},
	{name: "subject_token_type", str: func(r *Request) *string { return &r.SubjectTokenType }},
	{name: "actor_token", str: func(r *Request) *string { return &r.ActorToken }},
	{name: "actor_token_type", str: func(r *Request) *string { return &r.ActorTokenType }},
	{name: "requested_token_type", str: func(r *Request) *string { return &r.RequestedTokenType }},
	{name: "scope", str: func(r *Request) *string { return &r.Scope }},
	// RFC 8693 §2.1 lets audience and resource repeat.
	{name: "audience", list: func(r *Request) *[]string { return &r.Audience }},
	{name: "resource", list: func(r *Request) *[]string { return &r.Resource }},
}

var fieldByName = func() map[string]*field {
	m := make(map[string]*field, len(fields))
	for i := range fields {
		m[fields[i].name] = &fields[i]
	}
	return m
}()

// ParseRequest builds a Request from form or query values. A parameter sent
// more than once is invalid_request (RFC 6749 §3.1), except audience and
// resource, which RFC 8693 lets repeat (up to MaxListValues times). More
// than MaxParameters parameters are invalid_request. A parameter sent empty
// counts as not sent. Unknown parameters are kept in Extra. Without
// client_id, a JWT client assertion's sub names the client (RFC 7521
// §4.2), unverified: Config.ClientAuth verifies the assertion against
// that client. Errors are *Error.
func ParseRequest(form url.Values) (*Request, error) {
	r := &Request{}
	if len(form) > MaxParameters {
		return nil, invalidRequest("request has too many parameters", nil)
	}
	size := 0
	for name, vals := range form {
		for _, v := range vals {
			size += len(name) + len(v)
		}
		if size > MaxRequestSize {
			return nil, invalidRequest("request too large", nil)
		}
		f := fieldByName[name]
		if len(vals) > 1 && (f == nil || f.list == nil) {
			// Only a prefix of the name: a token sent as a parameter name
			// must not be echoed.
			return nil, invalidRequest("parameter "+strconv.Quote(clip(name, 32))+" sent more than once", nil)
		}
		switch {
		case f == nil:
			if len(vals) == 1 && vals[0] != "" {
				if r.Extra == nil {
					r.Extra = make(map[string]string)
				}
				r.Extra[name] = vals[0]
			}
		case f.list != nil:
			if len(vals) > MaxListValues {
				return nil, invalidRequest("parameter "+strconv.Quote(name)+" has too many values", nil)
			}
			for _, v := range vals {
				if v != "" {
					*f.list(r) = append(*f.list(r), v)
				}
			}
		case len(vals) == 1:
			*f.str(r) = vals[0]
		}
	}
	r.fillAssertedClientID()
	return r, nil
}

// ParseJSON builds a Request from a JSON object body, the seed's wire format
// for POST /delegation. The body must be one flat UTF-8 JSON object: every
// member a string or null, except audience and resource, which may also be
// an array of strings. Anything else is invalid_request, and is refused by
// a single pass over the bytes before anything is decoded, so that a deeply
// nested body costs no more than a flat one of its size: a nested object or
// array, a number or a boolean, under any key, known or not; more than
// MaxParameters members, or more than MaxListValues values in an array, so
// that a wide body costs no more than a narrow one. Duplicate keys are
// invalid_request too. null counts as not sent. Unknown string
// parameters are kept in Extra. Keys are matched exactly (case-sensitive).
func ParseJSON(body []byte) (*Request, error) {
	if len(body) > MaxRequestSize {
		return nil, invalidRequest("request too large", nil)
	}
	body = bytes.Trim(body, " \t\r\n") // JSON's whitespace only (RFC 8259 §2)
	if len(body) == 0 || body[0] != '{' {
		return nil, invalidRequest("request body is not a JSON object", nil)
	}
	if !flatObject(body) {
		return nil, invalidRequest("request body is not a flat JSON object of strings (audience and resource: arrays of strings)", nil)
	}
	if !utf8.Valid(body) {
		// go-jose's json would turn bad bytes into U+FFFD, changing a
		// secret or token silently.
		return nil, invalidRequest("request body is not UTF-8", nil)
	}
	var raw map[string]any
	// go-jose's json rejects duplicate keys and matches keys exactly.
	if err := josejson.Unmarshal(body, &raw); err != nil {
		return nil, invalidRequest("request body is not valid JSON or repeats a key", err)
	}
	r := &Request{}
	for name, v := range raw {
		if v == nil {
			continue
		}
		f := fieldByName[name]
		switch {
		case f == nil:
			s, ok := v.(string)
			if !ok {
				// The name is not echoed: a token sent as a key must not
				// come back.
				return nil, invalidRequest("an unknown parameter must be a string", nil)
			}
			if s != "" {
				if r.Extra == nil {
					r.Extra = make(map[string]string)
				}
				r.Extra[name] = s
			}
		case f.list != nil:
			list, ok := stringList(v)
			if !ok {
				return nil, invalidRequest("parameter "+strconv.Quote(name)+" must be a string or an array of strings", nil)
			}
			*f.list(r) = list
		default:
			s, ok := v.(string)
			if !ok {
				return nil, invalidRequest("parameter "+strconv.Quote(name)+" must be a string", nil)
			}
			*f.str(r) = s
		}
	}
	r.fillAssertedClientID()
	return r, nil
}

// flatObject reports whether b, which has no surrounding whitespace, is
// shaped like a JSON object whose member values are strings, null, or
// arrays of strings. It is one pass over b with no recursion and no
// allocation, and checks only the shape: escapes, UTF-8 and repeated keys
// are left to the decoder that runs after it. Arrays are let through under
// any key; the decoded value's type is checked per parameter.
func flatObject(b []byte) bool {
	i := 0
	ws := func() {
		for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r') {
			i++
		}
	}
	// str skips one string starting at b[i].
	str := func() bool {
		if i >= len(b) || b[i] != '"' {
			return false
		}
		for i++; i < len(b); i++ {
			switch c := b[i]; {
			case c == '\\':
				i++ // the escaped byte; the decoder checks the escape
			case c == '"':
				i++
				return true
			case c < 0x20:
				return false
			}
		}
		return false
	}
	// next skips whitespace and reports whether b[i] is c, consuming it.
	next := func(c byte) bool {
		ws()
		if i < len(b) && b[i] == c {
			i++
			return true
		}
		return false
	}
	if !next('{') {
		return false
	}
	if next('}') {
		return i == len(b)
	}
	for members := 1; ; members++ {
		ws()
		if members > MaxParameters || !str() || !next(':') {
			return false
		}
		ws()
		if i >= len(b) {
			return false
		}
		switch b[i] {
		case '"':
			if !str() {
				return false
			}
		case 'n':
			if !bytes.HasPrefix(b[i:], []byte("null")) {
				return false
			}
			i += len("null")
		case '[':
			i++
			if !next(']') {
				for n := 1; ; n++ {
					ws()
					if n > MaxListValues || !str() {
						return false
					}
					if next(']') {
						break
					}
					if !next(',') {
						return false
					}
				}
			}
		default:
			return false
		}
		if next('}') {
			ws()
			return i == len(b)
		}
		if !next(',') {
			return false
		}
	}
}

func stringList(v any) ([]string, bool) {
	switch t := v.(type) {
	case string:
		if t == "" {
			return nil, true
		}
		return []string{t}, true
	case []any:
		var out []string // nil when nothing was sent, as in ParseRequest
		for _, e := range t {
			s, ok := e.(string)
			if !ok {
				return nil, false
			}
			if s != "" {
				out = append(out, s)
			}
		}
		return out, true
	}
	return nil, false
}

// Response is a successful exchange. It marshals to the wire JSON of its
// dialect: empty fields are omitted, so a delegation answer is exactly
// {"token_type","expires_in","id_token"} and a token exchange answer carries
// access_token, issued_token_type, token_type, expires_in and scope.
type Response struct {
	// TokenType is "Bearer", or "N_A" when the token is not an access token
	// (RFC 8693 §2.2.1).
	TokenType string
	// ExpiresIn is in seconds; it equals exp − iat of the minted token.
	ExpiresIn int64
	// IDToken is the minted token in the delegation dialect.
	IDToken string
	// AccessToken is the minted token in RFC 8693, whatever its type.
	AccessToken string
	// IssuedTokenType is RFC 8693's issued_token_type.
	IssuedTokenType string
	// Scope is the granted scope, when the dialect reports it.
	Scope string
	// Extra holds add-on fields set by a Minter. A key that names one of
	// the fields above is ignored.
	Extra map[string]any
}

var responseFields = map[string]bool{
	"token_type": true, "expires_in": true, "id_token": true, "access_token": true,
	"issued_token_type": true, "scope": true,
}

// MarshalJSON writes the wire form: the set fields in a fixed order, then
// Extra's keys in sorted order. Its receiver is a value so that a Response
// marshals the same way by value or pointer.
func (r Response) MarshalJSON() ([]byte, error) {
	b := make([]byte, 0, 64+len(r.IDToken)+len(r.AccessToken))
	b = append(b, '{')
	str := func(k, v string) {
		if v == "" {
			return
		}
		if len(b) > 1 {
			b = append(b, ',')
		}
		b = appendJSONString(b, k)
		b = append(b, ':')
		b = appendJSONString(b, v)
	}
	if r.AccessToken != "" {
		str("access_token", r.AccessToken)
		str("issued_token_type", r.IssuedTokenType)
	}
	str("token_type", r.TokenType)
	if r.ExpiresIn != 0 {
		if len(b) > 1 {
			b = append(b, ',')
		}
		b = append(b, `"expires_in":`...)
		b = strconv.AppendInt(b, r.ExpiresIn, 10)
	}
	str("id_token", r.IDToken)
	if r.AccessToken == "" {
		str("issued_token_type", r.IssuedTokenType)
	}
	str("scope", r.Scope)
	for _, k := range slices.Sorted(maps.Keys(r.Extra)) {
		if responseFields[k] {
			continue
		}
		v, err := json.Marshal(r.Extra[k])
		if err != nil {
			return nil, errors.Join(errors.New("engine: response extra field "+strconv.Quote(k)), err)
		}
		if len(b) > 1 {
			b = append(b, ',')
		}
		b = appendJSONString(b, k)
		b = append(b, ':')
		b = append(b, v...)
	}
	return append(b, '}'), nil
}
