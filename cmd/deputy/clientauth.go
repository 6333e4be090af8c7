package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/deputyauth/deputy/clientauth"
	"github.com/deputyauth/deputy/engine"
	"github.com/deputyauth/deputy/store"
)

// secretHashConfig is a client secret stored only as its hash, as
// "deputy hash-secret" (clientauth.HashSecret) prints it; NotAfter is
// RFC 3339.
type secretHashConfig struct {
	ID       string `json:"id"`
	Hash     string `json:"hash"`
	NotAfter string `json:"not_after,omitempty"`
}

// clientAuthRegistry is how each client of a config file authenticates
// at the token endpoint: its token_endpoint_auth_method and, for
// private_key_jwt, its public keys. It is built once by buildConfig and
// only read afterwards.
type clientAuthRegistry struct {
	methods map[string]string            // client ID → method; absent: ""
	keys    map[string][]jose.JSONWebKey // private_key_jwt clients' keys
	used    bool                         // some client needs more than the engine's own check
}

// authMethods are the token_endpoint_auth_method values the host serves.
var authMethods = []string{
	"", clientauth.MethodNone, clientauth.MethodSecretBasic, clientauth.MethodSecretPost, clientauth.MethodPrivateKeyJWT,
}

// authenticatesWithoutSecrets reports whether a client's registration
// authenticates it by something else than plaintext secrets, so that it
// may be confidential without any.
func authenticatesWithoutSecrets(cc *clientConfig) bool {
	return cc.TokenEndpointAuthMethod == clientauth.MethodPrivateKeyJWT || len(cc.SecretHashes) > 0
}

// add checks cc's authentication settings, records them and appends its
// hashed secrets to c.Secrets. It reports whether all was well.
func (r *clientAuthRegistry) add(cc *clientConfig, c *store.Client, p, baseDir string, bad func(path, format string, a ...any)) bool {
	ok := true
	fail := func(field, format string, a ...any) {
		ok = false
		bad(joinPath(p, field), format, a...)
	}
	m := cc.TokenEndpointAuthMethod
	if !slices.Contains(authMethods, m) {
		fail("token_endpoint_auth_method", "%q not supported (none, client_secret_basic, client_secret_post or private_key_jwt)", m)
	}
	hasJWKS := len(cc.JWKS) > 0 || cc.JWKSFile != ""
	switch {
	case m == clientauth.MethodPrivateKeyJWT && !hasJWKS:
		fail("jwks", "private_key_jwt needs the client's public keys in jwks or jwks_file")
	case m != clientauth.MethodPrivateKeyJWT && hasJWKS:
		fail("jwks", "only a private_key_jwt client has keys")
	case len(cc.JWKS) > 0 && cc.JWKSFile != "":
		fail("jwks_file", "give jwks or jwks_file, not both")
	}
	if m == clientauth.MethodPrivateKeyJWT && len(cc.SecretHashes) > 0 {
		fail("secret_hashes", "a private_key_jwt client authenticates with its keys, not secrets")
	}
	if m == clientauth.MethodNone && cc.Confidential {
		fail("token_endpoint_auth_method", "a confidential client cannot use none")
	}
	if len(cc.SecretHashes) > 0 && !cc.Confidential {
		// Otherwise a request naming the client and no secret at all
		// passes, as it does for any client that is not confidential.
		fail("confidential", "a client with secret_hashes must be confidential: true")
	}
	if len(cc.SecretHashes) > 0 && store.IsHMAC(cc.SigningAlg) {
		fail("secret_hashes", "%s clients sign with their secrets, which must be kept in plaintext (secrets)", cc.SigningAlg)
	}
	var keys []jose.JSONWebKey
	if m == clientauth.MethodPrivateKeyJWT && hasJWKS {
		var err error
		if keys, err = clientJWKS(cc, baseDir); err != nil {
			field := "jwks"
			if cc.JWKSFile != "" {
				field = "jwks_file"
			}
			fail(field, "%v", err)
		}
	}
	for j, h := range cc.SecretHashes {
		hp := fmt.Sprintf("secret_hashes[%d]", j)
		s := store.Secret{ID: h.ID, Value: []byte(h.Hash)}
		switch {
		case h.ID == "":
			fail(hp+".id", "required")
		case slices.ContainsFunc(c.Secrets, func(o store.Secret) bool { return o.ID == h.ID }):
			fail(hp+".id", "duplicate %q", h.ID)
		}
		if !clientauth.IsHash(s.Value) || len(s.Value) < store.MinSecretSize {
			fail(hp+".hash", "not a secret hash (make one with: deputy hash-secret)")
		}
		if h.NotAfter != "" {
			var err error
			if s.NotAfter, err = time.Parse(time.RFC3339, h.NotAfter); err != nil {
				fail(hp+".not_after", "want an RFC 3339 time such as 2030-01-02T15:04:05Z")
			}
		}
		c.Secrets = append(c.Secrets, s)
	}
	if !ok {
		return false
	}
	if m != "" || len(cc.SecretHashes) > 0 {
		r.used = true
	}
	if m != "" {
		if r.methods == nil {
			r.methods = make(map[string]string)
		}
		r.methods[cc.ID] = m
	}
	if keys != nil {
		if r.keys == nil {
			r.keys = make(map[string][]jose.JSONWebKey)
		}
		r.keys[cc.ID] = keys
	}
	return true
}

// clientJWKS reads a private_key_jwt client's JWK set: public signing
// keys only, each with a kid.
func clientJWKS(cc *clientConfig, baseDir string) ([]jose.JSONWebKey, error) {
	data := []byte(cc.JWKS)
	if cc.JWKSFile != "" {
		var err error
		if data, err = os.ReadFile(resolvePath(baseDir, cc.JWKSFile)); err != nil {
			return nil, err
		}
	}
	var set jose.JSONWebKeySet
	if err := json.Unmarshal(data, &set); err != nil {
		return nil, fmt.Errorf("not a JWK set: %v", err)
	}
	if len(set.Keys) == 0 {
		return nil, fmt.Errorf("no keys")
	}
	for i, k := range set.Keys {
		switch {
		case !k.IsPublic():
			return nil, fmt.Errorf("keys[%d] is not a public key: a client's private key stays with the client", i)
		case k.KeyID == "":
			return nil, fmt.Errorf("keys[%d] has no kid", i)
		case k.Algorithm != "" && !store.IsAsymmetric(k.Algorithm):
			return nil, fmt.Errorf("keys[%d] alg %q is not an asymmetric signing algorithm", i, k.Algorithm)
		case k.Use != "" && k.Use != "sig":
			return nil, fmt.Errorf("keys[%d] use %q is not sig", i, k.Use)
		}
	}
	return set.Keys, nil
}

// authenticator is the engine's ClientAuth for these registrations, or
// nil when every client authenticates the engine's own way. Secrets
// (method "", client_secret_basic, client_secret_post) may be plaintext
// or hashes; private_key_jwt assertions must name the issuer or one of
// the token endpoints as aud, and are single-use through replay.
func (r *clientAuthRegistry) authenticator(issuer string, skew time.Duration, replay store.ReplayCache, now func() time.Time) (engine.ClientAuthenticator, error) {
	if r == nil || !r.used {
		return nil, nil
	}
	secrets := clientauth.HashedSecrets(clientauth.SecretsConfig{AllowPlaintext: true, Now: now})
	auths := map[string]engine.ClientAuthenticator{
		"":                           secrets,
		clientauth.MethodSecretBasic: secrets,
		clientauth.MethodSecretPost:  secrets,
		clientauth.MethodNone:        clientauth.Public,
	}
	if len(r.keys) > 0 {
		// The issuer only, not the token endpoints' URLs (which RFC 7523
		// also allows): a client tricked by a rogue server's metadata into
		// signing an assertion for "its" token endpoint can be made to sign
		// for ours, but never for our issuer, which the client checks
		// (audience injection; draft-ietf-oauth-rfc7523bis).
		a, err := clientauth.PrivateKeyJWT(clientauth.JWTConfig{
			Audience:  []string{issuer},
			Keys:      r.clientKeys,
			Replay:    replay,
			ClockSkew: skew,
			Now:       now,
		})
		if err != nil {
			return nil, err
		}
		auths[clientauth.MethodPrivateKeyJWT] = a
	}
	return clientauth.ByMethod(func(_ context.Context, c *store.Client) (string, error) {
		return r.methods[c.ID], nil
	}, auths)
}

// clientKeys is PrivateKeyJWT's key lookup.
func (r *clientAuthRegistry) clientKeys(_ context.Context, clientID string) ([]jose.JSONWebKey, error) {
	if ks, ok := r.keys[clientID]; ok {
		return ks, nil
	}
	return nil, fmt.Errorf("client has no registered keys: %w", store.ErrNotFound)
}

// runHashSecret is "deputy hash-secret": it reads one client secret from
// stdin (never from the command line, which other users of the machine
// can see) and prints its hash for a client's secret_hashes.
func runHashSecret(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("hash-secret", flag.ContinueOnError)
	fs.SetOutput(stderr)
	iterations := fs.Int("iterations", 0, "PBKDF2 iterations (0: the default)")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: deputy hash-secret [-iterations N] < secret\n\nReads one secret (at least 32 bytes) from stdin and prints the hash to\nput in a client's secret_hashes; the secret itself is never stored.")
		fs.PrintDefaults()
	}
	if code, stop := parseFlags(fs, args); stop {
		return code
	}
	line, err := bufio.NewReader(io.LimitReader(stdin, 4096)).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		fmt.Fprintf(stderr, "deputy hash-secret: %v\n", err)
		return exitFailure
	}
	hash, err := clientauth.HashSecret(strings.TrimRight(line, "\r\n"), *iterations)
	if err != nil {
		fmt.Fprintf(stderr, "deputy hash-secret: %v\n", err)
		return exitUsage
	}
	fmt.Fprintln(stdout, hash)
	return exitOK
}
