// Package firebase mints Firebase custom tokens, Auth0's "firebase"
// add-on: a delegation request with api_type=firebase gets, for the user,
// an RS256 JWT signed with the target's Google service account key, which
// the user's app hands to Firebase's signInWithCustomToken.
//
// The target client enables the add-on with its settings, under Auth0's
// field names, in store.Client.APITypes["firebase"]:
//
//	{
//	  "private_key_id": "2f1c…",                       // kid of the token
//	  "private_key": "-----BEGIN PRIVATE KEY-----\n…",  // PEM, PKCS#8 or PKCS#1 RSA, ≥ 2048 bits
//	  "client_email": "x@p.iam.gserviceaccount.com",   // iss and sub
//	  "lifetime_in_seconds": 3600                       // optional, 1..3600, default 3600
//	}
//
// These are the fields of a service account's JSON key file, so the file
// itself is valid settings. Other fields (a key file's project_id,
// client_id, token_uri…, or Auth0's api_key) are ignored whatever their
// type; a known field must appear once, with exactly that spelling, and
// null counts as absent. Validate checks settings when a client is
// registered and names every bad field; Mint checks them again, since a
// store need not have called Validate. No error ever carries the key, the
// settings or a token.
//
// The token has the header {"alg":"RS256","kid":private_key_id,"typ":"JWT"}
// and the claims
//
//	iss, sub  client_email
//	aud       https://identitytoolkit.googleapis.com/google.identity.identitytoolkit.v1.IdentityToolkit
//	iat       Grant.IssuedAt
//	exp       iat + min(lifetime_in_seconds, Grant.Lifetime)
//	uid       Grant.Subject: 1 to 128 bytes of UTF-8, refused (not cut) when longer
//	claims    Grant.Claims without Firebase's reserved names; absent when empty
//
// The reserved names are those the Firebase Admin SDKs refuse as developer
// claims (firebase-admin-go's reservedClaims, the same sixteen in the Auth
// emulator): acr, amr, at_hash, aud, auth_time, azp, cnf, c_hash, exp,
// firebase, iat, iss, jti, nbf, nonce, sub. They are left out silently,
// as the engine's owned claims are. Firebase refuses developer claims whose
// JSON exceeds 1000 bytes; so does Mint, rather than cut claims. The uid
// limit counts bytes, as firebase-admin-go does (len(uid)): the strictest
// of the SDKs' counts, so a uid accepted here is accepted by all of them.
//
// Every time comes from Grant.IssuedAt, never the wall clock, and RS256
// signatures are deterministic, so the token is a function of the key and
// the Grant. Numbers in claims are kept exactly as the engine holds them.
//
// The answer is Auth0's: {"token_type":"Bearer","expires_in":…,"id_token":…}.
package firebase

import (
	"bytes"
	"context"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/go-jose/go-jose/v4"

	"github.com/deputyauth/deputy/engine"
)

// audience is the aud of every Firebase custom token.
const audience = "https://identitytoolkit.googleapis.com/google.identity.identitytoolkit.v1.IdentityToolkit"

const (
	maxLifetime  = 3600 // seconds; Firebase's limit on a custom token
	maxUIDBytes  = 128
	maxClaimsLen = 1000 // bytes of the serialized developer claims
	minRSABits   = 2048
)

// reserved are the names Firebase refuses as developer claims.
var reserved = map[string]bool{
	"acr": true, "amr": true, "at_hash": true, "aud": true, "auth_time": true,
	"azp": true, "cnf": true, "c_hash": true, "exp": true, "firebase": true,
	"iat": true, "iss": true, "jti": true, "nbf": true, "nonce": true, "sub": true,
}

// New returns the minter of api_type "firebase". It is safe for concurrent
// use. It keeps the signers it prepares, keyed by a digest of the settings,
// so that an exchange does not parse the PEM key again.
func New() engine.Minter {
	return &minter{}
}

// Validate checks settings for api_type "firebase". Its error names every
// bad field and never contains a value.
func Validate(settings json.RawMessage) error {
	_, err := parse(settings)
	return err
}

// account is parsed, valid settings.
type account struct {
	kid      string
	email    string
	key      *rsa.PrivateKey
	lifetime int64 // seconds
}

// fieldError returns the error for one bad field. Reasons never quote the
// value.
func fieldError(field, reason string) error {
	return errors.New("firebase: settings: " + field + ": " + reason)
}

// parse checks settings and returns the account they describe. Every bad
// field is reported.
func parse(settings json.RawMessage) (*account, error) {
	fields, err := topLevel(settings)
	if err != nil {
		return nil, err
	}
	var errs []error
	str := func(name string) string {
		raw, ok := fields[name]
		if !ok {
			errs = append(errs, fieldError(name, "missing"))
			return ""
		}
		var s string
		if raw[0] != '"' || json.Unmarshal(raw, &s) != nil {
			errs = append(errs, fieldError(name, "must be a string"))
			return ""
		}
		if strings.TrimSpace(s) == "" {
			errs = append(errs, fieldError(name, "empty"))
			return ""
		}
		return s
	}
	a := &account{lifetime: maxLifetime}
	a.kid = str("private_key_id")
	if a.email = str("client_email"); a.email != "" {
		if i := strings.IndexByte(a.email, '@'); i <= 0 || i == len(a.email)-1 || strings.TrimSpace(a.email) != a.email {
			errs = append(errs, fieldError("client_email", "not an email address"))
		}
	}
	if pemText := str("private_key"); pemText != "" {
		k, reason := parseKey(pemText)
		if reason != "" {
			errs = append(errs, fieldError("private_key", reason))
		}
		a.key = k
	}
	if raw, ok := fields["lifetime_in_seconds"]; ok {
		if c := raw[0]; c != '-' && (c < '0' || c > '9') {
			errs = append(errs, fieldError("lifetime_in_seconds", "must be a number"))
		} else if n, err := strconv.ParseInt(string(raw), 10, 64); err != nil {
			errs = append(errs, fieldError("lifetime_in_seconds", "must be a whole number of seconds"))
		} else if n < 1 || n > maxLifetime {
			errs = append(errs, fieldError("lifetime_in_seconds", "must be between 1 and 3600"))
		} else {
			a.lifetime = n
		}
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return a, nil
}

// known are the settings fields this package reads.
var known = map[string]bool{
	"private_key_id": true, "private_key": true, "client_email": true, "lifetime_in_seconds": true,
}

// topLevel returns settings' known fields by exact name, leaving out nulls.
// Settings must be one JSON object; a known field may appear once.
func topLevel(settings json.RawMessage) (map[string]json.RawMessage, error) {
	notObject := errors.New("firebase: settings: must be a JSON object")
	d := json.NewDecoder(bytes.NewReader(settings))
	d.UseNumber()
	if t, err := d.Token(); err != nil || t != json.Delim('{') {
		return nil, notObject
	}
	fields := make(map[string]json.RawMessage, 4)
	seen := make(map[string]bool, 4)
	var errs []error
	for d.More() {
		t, err := d.Token()
		if err != nil {
			return nil, notObject
		}
		name, _ := t.(string)
		var v json.RawMessage
		if err := d.Decode(&v); err != nil {
			return nil, notObject
		}
		if !known[name] {
			continue
		}
		if seen[name] {
			errs = append(errs, fieldError(name, "appears more than once"))
			continue
		}
		seen[name] = true
		if string(v) != "null" {
			fields[name] = v
		}
	}
	if t, err := d.Token(); err != nil || t != json.Delim('}') {
		return nil, notObject
	}
	if _, err := d.Token(); err == nil {
		return nil, notObject // trailing data
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return fields, nil
}

// parseKey parses one PEM block holding an unencrypted RSA private key of
// at least minRSABits, PKCS#8 ("PRIVATE KEY") or PKCS#1 ("RSA PRIVATE
// KEY"). It returns a reason instead of an error, so that no parser's text
// (which might quote input) reaches the caller.
func parseKey(text string) (*rsa.PrivateKey, string) {
	block, rest := pem.Decode([]byte(text))
	if block == nil {
		return nil, "not a PEM block"
	}
	if len(bytes.TrimSpace(rest)) > 0 {
		return nil, "more than one PEM block"
	}
	if len(block.Headers) > 0 {
		return nil, "PEM block has headers (encrypted keys are not supported)"
	}
	var (
		k   any
		err error
	)
	switch block.Type {
	case "PRIVATE KEY":
		k, err = x509.ParsePKCS8PrivateKey(block.Bytes)
	case "RSA PRIVATE KEY":
		k, err = x509.ParsePKCS1PrivateKey(block.Bytes)
	default:
		return nil, "PEM block is not PRIVATE KEY or RSA PRIVATE KEY"
	}
	if err != nil {
		return nil, "cannot parse the private key"
	}
	rk, ok := k.(*rsa.PrivateKey)
	if !ok {
		return nil, "not an RSA key"
	}
	if rk.N.BitLen() < minRSABits {
		return nil, "RSA key shorter than 2048 bits"
	}
	return rk, ""
}

// prepared is an account with its signer.
type prepared struct {
	*account
	signer jose.Signer
}

// cacheMax bounds the signer cache; it is emptied when full, which only
// costs parsing keys again.
const cacheMax = 256

type minter struct {
	mu    sync.RWMutex
	cache map[[sha256.Size]byte]*prepared
}

// prepare returns the signer for settings, from the cache when these exact
// bytes were prepared before.
func (m *minter) prepare(settings json.RawMessage) (*prepared, error) {
	sum := sha256.Sum256(settings)
	m.mu.RLock()
	p := m.cache[sum]
	m.mu.RUnlock()
	if p != nil {
		return p, nil
	}
	a, err := parse(settings)
	if err != nil {
		return nil, err
	}
	s, err := jose.NewSigner(
		jose.SigningKey{Algorithm: jose.RS256, Key: jose.JSONWebKey{Key: a.key, KeyID: a.kid}},
		(&jose.SignerOptions{}).WithType("JWT"))
	if err != nil {
		return nil, errors.New("firebase: cannot prepare the signer")
	}
	p = &prepared{account: a, signer: s}
	m.mu.Lock()
	if m.cache == nil || len(m.cache) >= cacheMax {
		m.cache = make(map[[sha256.Size]byte]*prepared)
	}
	m.cache[sum] = p
	m.mu.Unlock()
	return p, nil
}

// payload is the custom token's claim set, in this order.
type payload struct {
	Iss    string          `json:"iss"`
	Sub    string          `json:"sub"`
	Aud    string          `json:"aud"`
	Iat    int64           `json:"iat"`
	Exp    int64           `json:"exp"`
	UID    string          `json:"uid"`
	Claims json.RawMessage `json:"claims,omitempty"`
}

// marshal encodes v with encoding/json (json.Number verbatim) without
// escaping HTML characters, and without the trailing newline.
func marshal(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}

// Mint mints the custom token for g.
func (m *minter) Mint(ctx context.Context, g *engine.Grant) (*engine.Response, error) {
	p, err := m.prepare(g.Settings)
	if err != nil {
		return nil, err
	}
	uid := g.Subject
	switch {
	case uid == "":
		return nil, errors.New("firebase: empty subject: a uid is required")
	case len(uid) > maxUIDBytes:
		return nil, fmt.Errorf("firebase: subject is %d bytes, Firebase allows a uid of at most %d", len(uid), maxUIDBytes)
	case !utf8.ValidString(uid):
		return nil, errors.New("firebase: subject is not valid UTF-8")
	}
	lifetime := min(p.lifetime, int64(g.Lifetime/time.Second))
	if lifetime < 1 {
		return nil, errors.New("firebase: the grant's lifetime is under one second")
	}
	var dev map[string]any
	for k, v := range g.Claims {
		if reserved[k] {
			continue
		}
		if dev == nil {
			dev = make(map[string]any, len(g.Claims))
		}
		dev[k] = v
	}
	pl := payload{
		Iss: p.email, Sub: p.email, Aud: audience,
		Iat: g.IssuedAt.Unix(), UID: uid,
	}
	pl.Exp = pl.Iat + lifetime
	if len(dev) > 0 {
		if pl.Claims, err = marshal(dev); err != nil {
			return nil, errors.New("firebase: cannot encode claims")
		}
		if len(pl.Claims) > maxClaimsLen {
			return nil, fmt.Errorf("firebase: claims are %d bytes of JSON, Firebase allows at most %d", len(pl.Claims), maxClaimsLen)
		}
	}
	body, err := marshal(pl)
	if err != nil {
		return nil, errors.New("firebase: cannot encode the token")
	}
	jws, err := p.signer.Sign(body)
	if err != nil {
		return nil, errors.New("firebase: cannot sign the token")
	}
	tok, err := jws.CompactSerialize()
	if err != nil {
		return nil, errors.New("firebase: cannot serialize the token")
	}
	return &engine.Response{TokenType: "Bearer", ExpiresIn: lifetime, IDToken: tok}, nil
}
