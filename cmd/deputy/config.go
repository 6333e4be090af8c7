package main

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/url"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/deputyauth/deputy/engine"
	"github.com/deputyauth/deputy/scope"
	"github.com/deputyauth/deputy/store"
)

// fileConfig is the JSON configuration file read by "deputy serve --config"
// and "deputy token", and written by "deputy demo-config". README.md
// documents every field. Decoding refuses unknown fields at every level, so
// a misspelt field is an error rather than a silently missing setting.
type fileConfig struct {
	// Issuer is the iss of accepted and minted tokens. Required.
	Issuer string `json:"issuer"`
	// Lifetime of minted tokens when the target sets none, a Go duration
	// in whole seconds ("10h"). Empty means the engine default, 36000s.
	Lifetime string `json:"lifetime,omitempty"`
	// ClockSkew is the leeway for exp, nbf and iat ("30s"). Empty means none.
	ClockSkew string `json:"clock_skew,omitempty"`
	// KeysFile names a JWK set file with the asymmetric keys, relative to
	// the config file. At most one of KeysFile and Keys.
	KeysFile string `json:"keys_file,omitempty"`
	// Keys is an inline JWK set ({"keys":[...]}).
	Keys json.RawMessage `json:"keys,omitempty"`
	// KeySchedule stages keys for rotation by kid: every key is in the
	// JWKS from the start, and a key listed here signs only from sign_from
	// until sign_until (RFC 3339 times; either may be absent). A key
	// without an entry signs at once.
	KeySchedule map[string]keyWindow `json:"key_schedule,omitempty"`
	// Replay makes every source id_token single-use (by iss and jti).
	Replay bool `json:"replay,omitempty"`
	// Clients are the registered clients.
	Clients clientList `json:"clients"`
	// CORSOrigins are the browser origins allowed to call the token
	// endpoints, e.g. "http://localhost:3000".
	CORSOrigins []string `json:"cors_origins,omitempty"`
	// RateLimit is a per-(IP, client) limit such as "10/m"; empty means none.
	RateLimit string `json:"rate_limit,omitempty"`
}

// clientConfig is one client in the config file; see store.Client.
type clientConfig struct {
	ID             string     `json:"id"`
	Name           string     `json:"name,omitempty"`
	Disabled       bool       `json:"disabled,omitempty"`
	Confidential   bool       `json:"confidential,omitempty"`
	SigningAlg     string     `json:"signing_alg"`
	AllowedSources []string   `json:"allowed_sources,omitempty"`
	Grants         []string   `json:"grants,omitempty"`
	Lifetime       string     `json:"lifetime,omitempty"`
	Scopes         []string   `json:"scopes,omitempty"`
	Secrets        secretList `json:"secrets,omitempty"`
	// APITypes enables add-ons (api_type → settings); see addons.go.
	APITypes map[string]json.RawMessage `json:"api_types,omitempty"`
	// DefaultAPIType names the enabled add-on that answers a delegation
	// without api_type; empty means the id_token.
	DefaultAPIType string `json:"default_api_type,omitempty"`
}

// secretConfig is one client secret. Value is "base64url:…", "text:…",
// "env:NAME" or "file:PATH" (see decodeSecret); NotAfter is RFC 3339.
type secretConfig struct {
	ID       string `json:"id"`
	Value    string `json:"value"`
	NotAfter string `json:"not_after,omitempty"`
}

// clientList and secretList decode element by element so that an error
// names the element: encoding/json reports neither indices nor the path of
// an unknown field.
type (
	clientList []clientConfig
	secretList []secretConfig
)

func (l *clientList) UnmarshalJSON(data []byte) error {
	return unmarshalList(data, (*[]clientConfig)(l), "clients")
}

func (l *secretList) UnmarshalJSON(data []byte) error {
	return unmarshalList(data, (*[]secretConfig)(l), "secrets")
}

func unmarshalList[T any](data []byte, out *[]T, name string) error {
	var raws []json.RawMessage
	if err := json.Unmarshal(data, &raws); err != nil {
		return &fieldError{path: name, msg: "must be an array"}
	}
	*out = make([]T, len(raws))
	for i, raw := range raws {
		if err := strictUnmarshal(raw, &(*out)[i], fmt.Sprintf("%s[%d]", name, i)); err != nil {
			return err
		}
	}
	return nil
}

// fieldError is a problem with one field of the configuration. Its path
// uses JSON names and indices: clients[2].secrets[0].value.
type fieldError struct {
	path, msg string
}

func (e *fieldError) Error() string {
	if e.path == "" {
		return e.msg
	}
	return e.path + ": " + e.msg
}

// configError lists every problem found in a configuration, one per line,
// each as "config: <path>: <problem>".
type configError []*fieldError

func (e configError) Error() string {
	var b strings.Builder
	for i, fe := range e {
		if i > 0 {
			b.WriteByte('\n')
		}
		b.WriteString("config: ")
		b.WriteString(fe.Error())
	}
	return b.String()
}

func joinPath(a, b string) string {
	switch {
	case a == "":
		return b
	case b == "":
		return a
	case strings.HasPrefix(b, "["):
		return a + b
	}
	return a + "." + b
}

// strictUnmarshal decodes one JSON value into v, refusing unknown fields and
// trailing data, and turns decoding errors into a *fieldError under path.
func strictUnmarshal(data []byte, v any, path string) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	err := dec.Decode(v)
	if err == nil {
		if _, terr := dec.Token(); terr != io.EOF {
			return &fieldError{path: path, msg: "unexpected data after the JSON value"}
		}
		return nil
	}
	var (
		fe  *fieldError
		te  *json.UnmarshalTypeError
		se  *json.SyntaxError
		msg string
	)
	switch {
	case errors.As(err, &fe):
		return &fieldError{path: joinPath(path, fe.path), msg: fe.msg}
	case errors.As(err, &te):
		return &fieldError{path: joinPath(path, te.Field), msg: "must be " + jsonKind(te.Type) + ", not " + te.Value}
	case errors.As(err, &se):
		// Offset counts the offending byte; report that byte's position.
		line, col := position(data, se.Offset-1)
		msg = fmt.Sprintf("invalid JSON at line %d, column %d: %v", line, col, se)
	case errors.Is(err, io.EOF):
		msg = "empty, want a JSON object"
	case errors.Is(err, io.ErrUnexpectedEOF):
		msg = "truncated JSON"
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		msg = strings.TrimPrefix(err.Error(), "json: ")
	default:
		msg = err.Error()
	}
	return &fieldError{path: path, msg: msg}
}

// jsonKind names the JSON type a Go type decodes from.
func jsonKind(t reflect.Type) string {
	switch t.Kind() {
	case reflect.String:
		return "a string"
	case reflect.Bool:
		return "true or false"
	case reflect.Slice, reflect.Array:
		return "an array"
	case reflect.Map, reflect.Struct:
		return "an object"
	case reflect.Int, reflect.Int64, reflect.Float64:
		return "a number"
	}
	return "a " + t.String()
}

// position converts a byte offset into a 1-based line and column.
func position(data []byte, off int64) (line, col int) {
	off = min(max(off, 0), int64(len(data)))
	before := data[:off]
	line = bytes.Count(before, []byte("\n")) + 1
	col = int(off) - bytes.LastIndexByte(before, '\n')
	return line, col
}

// hostConfig is a checked configuration: everything serve and token need.
type hostConfig struct {
	Issuer      string
	Store       *store.Memory // clients and keys; also the replay cache when Replay
	Lifetime    time.Duration // 0: engine default
	ClockSkew   time.Duration
	Replay      bool
	CORSOrigins []string // normalised origins
	RateLimit   rateLimit
	SigningAlgs []string // algorithms of the enabled clients, sorted
}

// loadConfigFile reads and checks a config file. Relative paths inside it
// (keys_file, file: secrets) are resolved against the file's directory.
func loadConfigFile(path string) (*hostConfig, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, configError{{msg: err.Error()}}
	}
	return parseConfig(data, filepath.Dir(path))
}

// parseConfig decodes and checks a config document.
func parseConfig(data []byte, baseDir string) (*hostConfig, error) {
	var fc fileConfig
	if err := strictUnmarshal(data, &fc, ""); err != nil {
		var fe *fieldError
		errors.As(err, &fe)
		return nil, configError{fe}
	}
	return buildConfig(&fc, baseDir)
}

// hmacMinimum is the shortest secret RFC 7518 §3.2 allows per algorithm;
// store.Client.Validate enforces the same, this names the field.
var hmacMinimum = map[string]int{"HS256": 32, "HS384": 48, "HS512": 64}

// knownGrants are the grant types a client may be given.
var knownGrants = []string{engine.GrantTypeJWTBearer, engine.GrantTypeTokenExchange}

// buildConfig checks fc and builds the store it describes. Every problem is
// reported, each naming its field.
func buildConfig(fc *fileConfig, baseDir string) (*hostConfig, error) {
	var errs configError
	bad := func(path, format string, a ...any) {
		errs = append(errs, &fieldError{path: path, msg: fmt.Sprintf(format, a...)})
	}
	hc := &hostConfig{Issuer: fc.Issuer, Store: store.NewMemory(), Replay: fc.Replay}
	if strings.TrimSpace(fc.Issuer) == "" {
		bad("issuer", "required")
	} else if strings.TrimSpace(fc.Issuer) != fc.Issuer {
		bad("issuer", "has leading or trailing spaces (iss is compared exactly)")
	}
	var err error
	if hc.Lifetime, err = parseSeconds(fc.Lifetime, false); err != nil {
		bad("lifetime", "%v", err)
	}
	if hc.ClockSkew, err = parseSeconds(fc.ClockSkew, true); err != nil {
		bad("clock_skew", "%v", err)
	}
	if hc.RateLimit, err = parseRateLimit(fc.RateLimit); err != nil {
		bad("rate_limit", "%v", err)
	}
	for i, o := range fc.CORSOrigins {
		n, err := parseOrigin(o)
		if err != nil {
			bad(fmt.Sprintf("cors_origins[%d]", i), "%v", err)
			continue
		}
		hc.CORSOrigins = append(hc.CORSOrigins, n)
	}

	keyAlgs := loadKeys(fc, baseDir, hc.Store, bad)

	ids := make(map[string]int, len(fc.Clients))
	for i, cc := range fc.Clients {
		if first, dup := ids[cc.ID]; dup && cc.ID != "" {
			bad(fmt.Sprintf("clients[%d].id", i), "%q already used by clients[%d]", cc.ID, first)
			continue
		}
		ids[cc.ID] = i
	}
	for i := range fc.Clients {
		p := fmt.Sprintf("clients[%d]", i)
		c, ok := buildClient(&fc.Clients[i], p, baseDir, ids, keyAlgs, bad)
		if !ok {
			continue
		}
		if err := hc.Store.PutClient(*c); err != nil {
			// Checks above name the field for everything we know of; this
			// catches whatever store validation adds later.
			bad(p, "%v", err)
		}
		if !c.Disabled && !slices.Contains(hc.SigningAlgs, c.SigningAlg) {
			hc.SigningAlgs = append(hc.SigningAlgs, c.SigningAlg)
		}
	}
	slices.Sort(hc.SigningAlgs)
	if len(errs) > 0 {
		return nil, errs
	}
	return hc, nil
}

// keyWindow is a key's signing window in the config file; see store.Key.
type keyWindow struct {
	SignFrom  string `json:"sign_from,omitempty"`
	SignUntil string `json:"sign_until,omitempty"`
}

// parseWindow returns k staged by w.
func parseWindow(k jose.JSONWebKey, w keyWindow) (store.Key, error) {
	sk := store.Key{JSONWebKey: k}
	for _, f := range []struct {
		name, v string
		t       *time.Time
	}{{"sign_from", w.SignFrom, &sk.SignFrom}, {"sign_until", w.SignUntil, &sk.SignUntil}} {
		if f.v == "" {
			continue
		}
		t, err := time.Parse(time.RFC3339, f.v)
		if err != nil {
			return sk, fmt.Errorf("%s: want an RFC 3339 time such as 2026-12-24T08:00:00Z", f.name)
		}
		*f.t = t
	}
	return sk, nil
}

// loadKeys adds the configured JWK set to st, staged by fc.KeySchedule, and
// returns the algorithms it holds keys for.
func loadKeys(fc *fileConfig, baseDir string, st *store.Memory, bad func(path, format string, a ...any)) map[string]bool {
	algs := make(map[string]bool)
	var (
		data []byte
		path string
	)
	switch {
	case fc.KeysFile != "" && len(fc.Keys) > 0:
		bad("keys_file", "set either keys or keys_file, not both")
		return algs
	case fc.KeysFile != "":
		var err error
		if data, err = os.ReadFile(resolvePath(baseDir, fc.KeysFile)); err != nil {
			bad("keys_file", "%v", err)
			return algs
		}
		path = "keys_file(" + fc.KeysFile + ")"
	case len(fc.Keys) > 0:
		data, path = fc.Keys, "keys"
	default:
		return algs
	}
	var set struct {
		Keys []json.RawMessage `json:"keys"`
	}
	if err := strictUnmarshal(data, &set, path); err != nil {
		var fe *fieldError
		errors.As(err, &fe)
		bad(fe.path, "%s (want a JWK set: {\"keys\":[...]})", fe.msg)
		return algs
	}
	kids := make(map[string]bool)
	for i, raw := range set.Keys {
		p := fmt.Sprintf("%s.keys[%d]", path, i)
		var k jose.JSONWebKey
		if err := k.UnmarshalJSON(raw); err != nil {
			bad(p, "%v", err)
			continue
		}
		kids[k.KeyID] = true
		sk, err := parseWindow(k, fc.KeySchedule[k.KeyID])
		if err != nil {
			bad("key_schedule."+k.KeyID, "%v", err)
			continue
		}
		if err := st.StageKey(sk); err != nil {
			bad(p, "%v", err)
			continue
		}
		algs[k.Algorithm] = true
	}
	for _, kid := range slices.Sorted(maps.Keys(fc.KeySchedule)) {
		if !kids[kid] {
			bad("key_schedule."+kid, "names no key of the JWK set")
		}
	}
	return algs
}

// buildClient checks one client entry; ok is false when it has errors.
func buildClient(cc *clientConfig, p, baseDir string, ids map[string]int, keyAlgs map[string]bool, bad func(path, format string, a ...any)) (_ *store.Client, ok bool) {
	n := 0
	fail := func(field, format string, a ...any) {
		n++
		bad(joinPath(p, field), format, a...)
	}
	c := &store.Client{
		ID: cc.ID, Name: cc.Name, Disabled: cc.Disabled, Confidential: cc.Confidential,
		SigningAlg: cc.SigningAlg, AllowedSources: cc.AllowedSources, Grants: cc.Grants,
		Scopes: cc.Scopes, DefaultAPIType: cc.DefaultAPIType,
	}
	if cc.ID == "" {
		fail("id", "required")
	}
	switch {
	case cc.SigningAlg == "":
		fail("signing_alg", "required (HS256, HS384, HS512, RS256, RS384, RS512, PS256, PS384, PS512, ES256, ES384, ES512 or EdDSA)")
	case store.IsHMAC(cc.SigningAlg):
		if len(cc.Secrets) == 0 {
			fail("secrets", "%s needs at least one secret", cc.SigningAlg)
		}
	case store.IsAsymmetric(cc.SigningAlg):
		if !keyAlgs[cc.SigningAlg] {
			fail("signing_alg", "no key with \"alg\":%q in keys or keys_file", cc.SigningAlg)
		}
	default:
		fail("signing_alg", "%q not supported (HS256, HS384, HS512, RS256, RS384, RS512, PS256, PS384, PS512, ES256, ES384, ES512 or EdDSA)", cc.SigningAlg)
	}
	if cc.Confidential && len(cc.Secrets) == 0 {
		fail("secrets", "a confidential client needs a secret to authenticate with")
	}
	for j, src := range cc.AllowedSources {
		if _, known := ids[src]; !known && src != "*" {
			fail(fmt.Sprintf("allowed_sources[%d]", j), "%q is not a configured client (or \"*\")", src)
		}
	}
	for j, g := range cc.Grants {
		if !slices.Contains(knownGrants, g) {
			fail(fmt.Sprintf("grants[%d]", j), "%q is not a grant type deputy knows (%s)", g, strings.Join(knownGrants, ", "))
		}
	}
	for j, s := range cc.Scopes {
		if err := scope.ValidToken(s); err != nil {
			fail(fmt.Sprintf("scopes[%d]", j), "%q is not a valid scope token", s)
		} else if _, known := scope.Standard[s]; !known {
			fail(fmt.Sprintf("scopes[%d]", j), "%q is not a known scope", s)
		}
	}
	c.APITypes = buildAPITypes(cc, baseDir, fail)
	var err error
	if c.Lifetime, err = parseSeconds(cc.Lifetime, false); err != nil {
		fail("lifetime", "%v", err)
	}
	seen := make(map[string]bool)
	for j, sc := range cc.Secrets {
		sp := fmt.Sprintf("secrets[%d]", j)
		switch {
		case sc.ID == "":
			fail(sp+".id", "required (it becomes the kid of tokens the secret signs)")
		case seen[sc.ID]:
			fail(sp+".id", "duplicate %q", sc.ID)
		}
		seen[sc.ID] = true
		s := store.Secret{ID: sc.ID}
		if s.Value, err = decodeSecret(sc.Value, baseDir); err != nil {
			fail(sp+".value", "%v", err)
		} else if need := max(hmacMinimum[cc.SigningAlg], store.MinSecretSize); len(s.Value) < need {
			fail(sp+".value", "%d bytes; %s needs at least %d", len(s.Value), cc.SigningAlg, need)
		}
		if sc.NotAfter != "" {
			if s.NotAfter, err = time.Parse(time.RFC3339, sc.NotAfter); err != nil {
				fail(sp+".not_after", "want an RFC 3339 time such as 2030-01-02T15:04:05Z")
			}
		}
		c.Secrets = append(c.Secrets, s)
	}
	return c, n == 0
}

// parseSeconds parses a Go duration that must be whole seconds; "" is 0.
// zeroOK allows "0s".
func parseSeconds(s string, zeroOK bool) (time.Duration, error) {
	if s == "" {
		return 0, nil
	}
	d, err := time.ParseDuration(s)
	switch {
	case err != nil:
		return 0, fmt.Errorf("%q is not a duration such as \"10h\" or \"30s\"", s)
	case d < 0 || (d == 0 && !zeroOK):
		return 0, fmt.Errorf("%q must be positive", s)
	case d%time.Second != 0:
		return 0, fmt.Errorf("%q must be whole seconds", s)
	}
	return d, nil
}

// decodeSecret turns a secret reference into its bytes:
//
//	base64url:DATA  DATA base64url-decoded (padding optional): any bytes
//	text:STRING     the UTF-8 bytes of STRING, e.g. an Auth0 client secret
//	env:NAME        the bytes of environment variable NAME
//	file:PATH       the file's bytes exactly (no trimming), relative to the config
//
// A value without one of these prefixes is refused, so that the encoding is
// never guessed. Errors never contain the secret.
func decodeSecret(v, baseDir string) ([]byte, error) {
	kind, rest, _ := strings.Cut(v, ":")
	switch kind {
	case "base64url":
		b, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(rest, "="))
		if err != nil {
			return nil, errors.New("not valid base64url")
		}
		return b, nil
	case "text":
		return []byte(rest), nil
	case "env":
		s, ok := os.LookupEnv(rest)
		if !ok {
			return nil, fmt.Errorf("environment variable %q is not set", rest)
		}
		return []byte(s), nil
	case "file":
		b, err := os.ReadFile(resolvePath(baseDir, rest))
		if err != nil {
			return nil, err // names the path, never the content
		}
		return b, nil
	}
	return nil, errors.New(`must start with "base64url:", "text:", "env:" or "file:"`)
}

func resolvePath(baseDir, p string) string {
	if filepath.IsAbs(p) || baseDir == "" {
		return p
	}
	return filepath.Join(baseDir, p)
}

// parseOrigin checks a CORS origin (scheme://host[:port]) and returns it
// lower-cased, the way browsers send the Origin header.
func parseOrigin(s string) (string, error) {
	if s == "*" || s == "null" {
		return "", fmt.Errorf("%q is not allowed: list each origin", s)
	}
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" ||
		u.User != nil || u.Path != "" || u.RawQuery != "" || u.Fragment != "" || u.Opaque != "" {
		return "", fmt.Errorf("%q is not an origin (scheme://host[:port], no path)", s)
	}
	return strings.ToLower(u.Scheme + "://" + u.Host), nil
}
