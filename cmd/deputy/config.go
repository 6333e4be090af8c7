package main

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
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

	"github.com/deputyauth/deputy/claims"
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
	// Store names a shared PostgreSQL store holding the clients, keys,
	// refresh grants, profiles and replay cache, so that several servers
	// form one service: a postgres:// URL, or env:NAME or file:PATH holding
	// the DSN. With it, the file holds none of those records.
	Store string `json:"store,omitempty"`
	// EncryptionKeys names the store's encryption keys, "env:NAME" or
	// "file:PATH" (id:base64key lines, the first active); empty means
	// --encryption-key-file or $DEPUTY_ENCRYPTION_KEYS.
	EncryptionKeys string `json:"encryption_keys,omitempty"`
	// StoreCacheTTL bounds how long a server serves clients and keys from
	// its cache when a change notification is lost ("5s"); empty means
	// the store's default.
	StoreCacheTTL string `json:"store_cache_ttl,omitempty"`
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
	// TrustedProxies are the CIDRs (or IPs) of reverse proxies whose
	// client address header is believed; empty: the TCP peer is the client.
	TrustedProxies []string `json:"trusted_proxies,omitempty"`
	// ClientIPHeader is the header trusted proxies set: "X-Forwarded-For"
	// (empty means this) or "Forwarded" (RFC 7239).
	ClientIPHeader string `json:"client_ip_header,omitempty"`
	// Profiles are the users' claims by subject, for refresh-token
	// delegation: {"auth0|123": {"name": "…", "email": "…"}}.
	Profiles profileList `json:"profiles,omitempty"`
	// RefreshGrants are the refresh tokens the server accepts as a source.
	RefreshGrants grantList `json:"refresh_grants,omitempty"`

	// demoRefreshToken is the demo's refresh token, set by demoConfig
	// only: the config holds its hash, and this is printed once.
	demoRefreshToken string
}

// grantConfig is one refresh grant; see store.RefreshGrant. The token is
// given as exactly one of Token, a reference "env:NAME" or "file:PATH" (the
// file's one line), and TokenSHA256, the hex SHA-256 of the token, so that
// the config never holds the token itself.
type grantConfig struct {
	Token       string `json:"token,omitempty"`
	TokenSHA256 string `json:"token_sha256,omitempty"`
	ClientID    string `json:"client_id"`
	Subject     string `json:"subject"`
	// Scope is space-separated, as OAuth sends it; it bounds every
	// exchange of the token.
	Scope string `json:"scope"`
	// ExpiresAt is RFC 3339; empty means never.
	ExpiresAt string `json:"expires_at,omitempty"`
	Revoked   bool   `json:"revoked,omitempty"`
}

// profileConfig is one entry of the profiles object.
type profileConfig struct {
	Subject string
	Claims  json.RawMessage
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
	// Client authentication at the token endpoint (clientauth.go):
	// TokenEndpointAuthMethod is "" (secrets, as always), "none",
	// "client_secret_basic", "client_secret_post" or "private_key_jwt";
	// JWKS or JWKSFile hold a private_key_jwt client's public keys;
	// SecretHashes are secrets stored only as clientauth.HashSecret hashes.
	TokenEndpointAuthMethod string             `json:"token_endpoint_auth_method,omitempty"`
	JWKS                    json.RawMessage    `json:"jwks,omitempty"`
	JWKSFile                string             `json:"jwks_file,omitempty"`
	SecretHashes            []secretHashConfig `json:"secret_hashes,omitempty"`
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
	grantList  []grantConfig
)

// profileList is the profiles object kept in document order, so that
// problems are reported in order and a repeated subject is an error rather
// than encoding/json's silent last-one-wins.
type profileList []profileConfig

func (l *grantList) UnmarshalJSON(data []byte) error {
	return unmarshalList(data, (*[]grantConfig)(l), "refresh_grants")
}

func (l *profileList) UnmarshalJSON(data []byte) error {
	const path = "profiles"
	// encoding/json has checked the syntax before calling us.
	dec := json.NewDecoder(bytes.NewReader(data))
	if t, _ := dec.Token(); t != json.Delim('{') {
		return &fieldError{path: path, msg: "must be an object of subject → claims"}
	}
	seen := make(map[string]bool)
	for dec.More() {
		t, err := dec.Token()
		if err != nil {
			return &fieldError{path: path, msg: err.Error()}
		}
		sub, _ := t.(string)
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			return &fieldError{path: path, msg: err.Error()}
		}
		if seen[sub] {
			return &fieldError{path: fmt.Sprintf("%s[%q]", path, sub), msg: "repeated"}
		}
		seen[sub] = true
		*l = append(*l, profileConfig{Subject: sub, Claims: raw})
	}
	return nil
}

// MarshalJSON writes the profiles back as one object, for demo-config.
func (l profileList) MarshalJSON() ([]byte, error) {
	var b bytes.Buffer
	b.WriteByte('{')
	for i, p := range l {
		if i > 0 {
			b.WriteByte(',')
		}
		k, err := json.Marshal(p.Subject)
		if err != nil {
			return nil, err
		}
		b.Write(k)
		b.WriteByte(':')
		b.Write(p.Claims)
	}
	b.WriteByte('}')
	return b.Bytes(), nil
}

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
		// Unknown fields are left to unknownFields, which decodeConfig
		// runs over the whole document, so that they stop nothing.
		if err := decodeJSON(raw, &(*out)[i], fmt.Sprintf("%s[%d]", name, i), false); err != nil {
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
	return decodeJSON(data, v, path, true)
}

// decodeJSON is strictUnmarshal, refusing unknown fields only when strict.
func decodeJSON(data []byte, v any, path string, strict bool) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	if strict {
		dec.DisallowUnknownFields()
	}
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

// hostStore is every store the host reads: a *store.Memory built from a
// config file or the demo, or a shared PostgreSQL store (see store.go).
type hostStore interface {
	store.ClientStore
	store.KeyStore
	store.RefreshTokenStore
	store.ProfileStore
	store.ReplayCache
}

// hostConfig is a checked configuration: everything serve and token need.
type hostConfig struct {
	Issuer      string
	Store       hostStore     // clients, keys, refresh grants, profiles; also the replay cache when Replay
	Lifetime    time.Duration // 0: engine default
	ClockSkew   time.Duration
	Replay      bool
	CORSOrigins []string // normalised origins
	RateLimit   rateLimit
	Proxies     *proxyTrust // whose forwarded client address is believed
	SigningAlgs []string    // algorithms of the enabled clients, sorted
	// ClientAuth holds per-client authentication methods (clientauth.go);
	// nil: the engine's own.
	ClientAuth *clientAuthRegistry
	// shared is set when the config names a shared store, which the
	// caller opens (loadHost); Store is nil until then.
	shared *sharedConfig
}

// loadConfigFile reads and checks a config file. Relative paths inside it
// (keys_file, file: secrets) are resolved against the file's directory.
func loadConfigFile(path string) (*hostConfig, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, configError{{msg: err.Error()}}
	}
	hc, err := parseConfig(data, filepath.Dir(path))
	if err == nil && hc.shared != nil {
		// Only serve opens a database.
		return nil, configError{{path: "store", msg: "this command reads clients and keys from the file; with a shared store, use deputy serve and the admin commands"}}
	}
	return hc, err
}

// parseConfig decodes and checks a config document.
// Unknown fields do not stop the checks: they are reported with every
// other problem.
func parseConfig(data []byte, baseDir string) (*hostConfig, error) {
	fc, err := decodeConfig(data)
	if fc == nil {
		return nil, err
	}
	hc, berr := buildConfig(fc, baseDir)
	if err == nil {
		return hc, berr
	}
	errs, _ := err.(configError)
	if more, ok := berr.(configError); ok {
		errs = append(errs, more...)
	}
	return nil, errs
}

// decodeConfig decodes a config document without checking it. Unknown
// fields, at any level, are all reported (a configError) and decoding
// goes on without them: fc is then set as well as the error, so that the
// caller can report the document's other problems too. Any other decoding
// problem (syntax, a wrong type) stops there, with fc nil.
func decodeConfig(data []byte) (fc *fileConfig, err error) {
	var unknown configError
	if json.Valid(data) {
		unknown = unknownFields(data, reflect.TypeFor[fileConfig](), "")
	}
	var doc fileConfig
	if err := decodeJSON(data, &doc, "", false); err != nil {
		var fe *fieldError
		errors.As(err, &fe)
		return nil, append(unknown, fe)
	}
	if len(unknown) > 0 {
		return &doc, unknown
	}
	return &doc, nil
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
	mem := store.NewMemory()
	hc := &hostConfig{Issuer: fc.Issuer, Store: mem, Replay: fc.Replay, ClientAuth: &clientAuthRegistry{}}
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
	hc.Proxies = newProxyTrust(fc.TrustedProxies, fc.ClientIPHeader, "trusted_proxies", "client_ip_header", bad)
	for i, o := range fc.CORSOrigins {
		n, err := parseOrigin(o)
		if err != nil {
			bad(fmt.Sprintf("cors_origins[%d]", i), "%v", err)
			continue
		}
		hc.CORSOrigins = append(hc.CORSOrigins, n)
	}

	if fc.Store != "" || fc.EncryptionKeys != "" || fc.StoreCacheTTL != "" {
		if fc.Store == "" {
			bad("store", "required with encryption_keys and store_cache_ttl")
		}
		hc.shared = checkShared(fc, baseDir, bad)
		hc.Store = nil
		if len(errs) > 0 {
			return nil, errs
		}
		return hc, nil
	}

	keyAlgs := loadKeys(fc, baseDir, mem, bad)

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
		if !hc.ClientAuth.add(&fc.Clients[i], c, p, baseDir, bad) || !ok {
			continue
		}
		if err := mem.PutClient(*c); err != nil {
			// Checks above name the field for everything we know of; this
			// catches whatever store validation adds later.
			bad(p, "%v", err)
		}
		if !c.Disabled && !slices.Contains(hc.SigningAlgs, c.SigningAlg) {
			hc.SigningAlgs = append(hc.SigningAlgs, c.SigningAlg)
		}
	}
	slices.Sort(hc.SigningAlgs)

	subjects := loadProfiles(fc.Profiles, mem, bad)
	loadGrants(fc.RefreshGrants, baseDir, ids, subjects, mem, bad)
	if len(errs) > 0 {
		return nil, errs
	}
	return hc, nil
}

// loadProfiles checks the profiles and puts them in st; it returns the
// subjects that have one.
func loadProfiles(ps profileList, st *store.Memory, bad func(path, format string, a ...any)) map[string]bool {
	subjects := make(map[string]bool, len(ps))
	for _, p := range ps {
		path := fmt.Sprintf("profiles[%q]", p.Subject)
		subjects[p.Subject] = true
		c, msgs := parseProfile(p.Subject, p.Claims)
		for _, m := range msgs {
			bad(joinPath(path, m.path), "%s", m.msg)
		}
		if len(msgs) == 0 {
			st.PutProfile(p.Subject, c)
		}
	}
	return subjects
}

// parseProfile decodes a profile's claims as the engine keeps claims
// (numbers as json.Number) and refuses what the engine would never copy
// into a token: a claim it owns. Paths in the errors are relative to the
// profile. deputy profile put uses it too.
func parseProfile(subject string, raw json.RawMessage) (claims.Set, []*fieldError) {
	var errs []*fieldError
	if strings.TrimSpace(subject) == "" {
		errs = append(errs, &fieldError{msg: "the subject is empty"})
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var c claims.Set
	if err := dec.Decode(&c); err != nil || c == nil {
		return nil, append(errs, &fieldError{msg: "must be an object of claims, such as {\"name\": \"Ada\"}"})
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, append(errs, &fieldError{msg: "unexpected data after the JSON object"})
	}
	for _, name := range slices.Sorted(maps.Keys(c)) {
		if claims.IsOwned(name) {
			errs = append(errs, &fieldError{path: name, msg: "is a claim deputy sets itself, never taken from a profile"})
		}
	}
	return c, errs
}

// minRefreshToken is the shortest refresh token accepted: it is a bearer
// credential, and deputy grant issue makes 43-character ones.
const minRefreshToken = 16

// loadGrants checks the refresh grants and puts them in st.
func loadGrants(gs grantList, baseDir string, clientIDs map[string]int, subjects map[string]bool, st *store.Memory, bad func(path, format string, a ...any)) {
	hashes := make(map[[32]byte]int, len(gs))
	for i, gc := range gs {
		p := fmt.Sprintf("refresh_grants[%d]", i)
		n := 0
		fail := func(field, format string, a ...any) {
			n++
			bad(joinPath(p, field), format, a...)
		}
		hash, err := grantHash(gc, baseDir)
		if err != nil {
			var fe *fieldError
			errors.As(err, &fe)
			fail(fe.path, "%s", fe.msg)
		} else if first, dup := hashes[hash]; dup {
			fail("", "the same token as refresh_grants[%d]", first)
		} else {
			hashes[hash] = i
		}
		if _, known := clientIDs[gc.ClientID]; !known {
			fail("client_id", "%q is not a configured client", gc.ClientID)
		}
		if gc.Subject == "" {
			fail("subject", "required")
		} else if !subjects[gc.Subject] {
			fail("subject", "%q has no entry in profiles (the claims of its tokens come from there)", gc.Subject)
		}
		sc, err := parseScope(gc.Scope)
		if err != nil {
			fail("scope", "%v", err)
		}
		g := store.RefreshGrant{ClientID: gc.ClientID, Subject: gc.Subject, Scope: sc, Revoked: gc.Revoked}
		if gc.ExpiresAt != "" {
			if g.ExpiresAt, err = time.Parse(time.RFC3339, gc.ExpiresAt); err != nil {
				fail("expires_at", "want an RFC 3339 time such as 2030-01-02T15:04:05Z")
			}
		}
		if n == 0 {
			st.PutRefreshGrant(hash, g)
		}
	}
}

// grantHash returns the SHA-256 of a grant's token from whichever of token
// and token_sha256 it gives. Errors are *fieldError relative to the grant
// and never contain the token.
func grantHash(gc grantConfig, baseDir string) ([32]byte, error) {
	var hash [32]byte
	switch {
	case gc.Token != "" && gc.TokenSHA256 != "":
		return hash, &fieldError{path: "token", msg: "give token or token_sha256, not both"}
	case gc.TokenSHA256 != "":
		h, err := parseTokenHash(gc.TokenSHA256)
		if err != nil {
			return hash, &fieldError{path: "token_sha256", msg: err.Error()}
		}
		return h, nil
	case gc.Token == "":
		return hash, &fieldError{path: "token_sha256", msg: "required (or token as env:NAME or file:PATH)"}
	}
	tok, err := readToken(gc.Token, baseDir)
	if err != nil {
		return hash, &fieldError{path: "token", msg: err.Error()}
	}
	return sha256.Sum256([]byte(tok)), nil
}

// readToken reads a refresh token from "env:NAME" or "file:PATH"; a file's
// trailing line break is dropped, as a token never holds one. A literal
// token is refused: the config would then hold a bearer credential that
// token_sha256 can stand for.
func readToken(ref, baseDir string) (string, error) {
	kind, _, _ := strings.Cut(ref, ":")
	if kind != "env" && kind != "file" {
		return "", errors.New(`must be "env:NAME" or "file:PATH"; to keep the grant in this file, give the token's token_sha256 instead`)
	}
	b, err := decodeSecret(ref, baseDir)
	if err != nil {
		return "", err
	}
	tok := strings.TrimSuffix(strings.TrimSuffix(string(b), "\n"), "\r")
	if err := checkToken(tok); err != nil {
		return "", err
	}
	return tok, nil
}

// checkToken refuses what cannot be a usable refresh token.
func checkToken(tok string) error {
	if len(tok) < minRefreshToken {
		return fmt.Errorf("the token is %d bytes; at least %d expected", len(tok), minRefreshToken)
	}
	for i := 0; i < len(tok); i++ {
		if tok[i] <= ' ' || tok[i] >= 0x7f {
			return fmt.Errorf("the token holds a space, control or non-ASCII byte at offset %d", i)
		}
	}
	return nil
}

// parseTokenHash parses the hex SHA-256 of a refresh token, as sha256sum
// prints it.
func parseTokenHash(s string) ([32]byte, error) {
	var h [32]byte
	b, err := hex.DecodeString(s)
	if err != nil || len(b) != len(h) {
		return h, errors.New("want 64 hex digits, the SHA-256 of the token (printf %s \"$TOKEN\" | sha256sum)")
	}
	copy(h[:], b)
	return h, nil
}

// parseScope splits a space-separated scope into known scope tokens.
func parseScope(s string) ([]string, error) {
	sc := strings.Fields(s)
	if len(sc) == 0 {
		return nil, errors.New("required: the space-separated scopes the grant allows (an empty scope allows nothing)")
	}
	for _, v := range sc {
		if err := scope.ValidToken(v); err != nil {
			return nil, fmt.Errorf("%q is not a valid scope token", v)
		}
		if _, known := scope.Standard[v]; !known {
			return nil, fmt.Errorf("%q is not a known scope", v)
		}
	}
	return sc, nil
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
	if cc.Confidential && len(cc.Secrets) == 0 && !authenticatesWithoutSecrets(cc) {
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
