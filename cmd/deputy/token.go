package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/deputyauth/deputy/store"
)

// runToken implements "deputy token": it mints a source id_token for a
// configured client, as the issuer would have issued it at login.
func runToken(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("token", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), "usage: deputy token --config FILE --client ID --sub SUBJECT [--claims JSON] [--ttl 1h]\n\n"+
			"Mints an id_token as the configured issuer would have issued it to the client\n"+
			"(iss, aud, azp, sub, iat, exp, jti, plus --claims), signed with the client's\n"+
			"algorithm, and prints it to stdout.\n\n")
		fs.PrintDefaults()
	}
	var (
		configPath = fs.String("config", "", "config `file` (as for serve)")
		clientID   = fs.String("client", "", "client `id` the token is issued to (its aud and azp)")
		subject    = fs.String("sub", "", "the user: the token's `subject`")
		claimsJSON = fs.String("claims", "", "extra claims as a JSON `object`, e.g. '{\"name\":\"Ann\",\"email\":\"ann@example.com\"}'")
		ttl        = fs.Duration("ttl", time.Hour, "validity of the token")
	)
	if code, stop := parseFlags(fs, args); stop {
		return code
	}
	var missing []string
	for _, f := range []struct{ name, v string }{{"--config", *configPath}, {"--client", *clientID}, {"--sub", *subject}} {
		if f.v == "" {
			missing = append(missing, f.name)
		}
	}
	if len(missing) > 0 {
		fmt.Fprintf(stderr, "deputy token: %v required\n", missing)
		return exitUsage
	}
	if *ttl < time.Second {
		fmt.Fprintln(stderr, "deputy token: --ttl must be at least 1s")
		return exitUsage
	}
	extra, err := parseClaims(*claimsJSON)
	if err != nil {
		fmt.Fprintf(stderr, "deputy token: --claims: %v\n", err)
		return exitUsage
	}
	hc, err := loadConfigFile(*configPath)
	if err != nil {
		fmt.Fprintln(stderr, err)
		return exitUsage
	}
	c, err := hc.Store.Client(ctx, *clientID)
	if err != nil {
		fmt.Fprintf(stderr, "deputy token: client %q is not in %s\n", *clientID, *configPath)
		return exitUsage
	}
	tok, err := mintSourceToken(ctx, hc.Store, hc.Issuer, c, *subject, extra, *ttl, time.Now())
	if err != nil {
		fmt.Fprintf(stderr, "deputy token: %v\n", err)
		return exitFailure
	}
	fmt.Fprintln(stdout, tok)
	return exitOK
}

// mintedClaims are the claims mintSourceToken sets itself; --claims may not
// replace them, or the token would not be what the flags say.
var mintedClaims = map[string]bool{"iss": true, "sub": true, "aud": true, "azp": true, "iat": true, "exp": true, "jti": true}

// parseClaims decodes --claims. Numbers stay json.Number, so that large
// integers survive unchanged.
func parseClaims(s string) (map[string]any, error) {
	if s == "" {
		return nil, nil
	}
	dec := json.NewDecoder(bytes.NewReader([]byte(s)))
	dec.UseNumber()
	var m map[string]any
	if err := dec.Decode(&m); err != nil || m == nil {
		return nil, errors.New("want a JSON object")
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, errors.New("unexpected data after the JSON object")
	}
	for k := range m {
		if mintedClaims[k] {
			return nil, fmt.Errorf("%q is set from the flags and the config", k)
		}
	}
	return m, nil
}

// mintSourceToken signs an id_token as issuer would have issued it to
// client c: iss, sub, aud and azp (the client), iat, exp, a fresh jti, and
// the extra claims. It is signed with the client's algorithm: for HS* the
// first active secret, for the others the key store's current key of that
// algorithm; the header names the key (kid) and carries typ JWT.
func mintSourceToken(ctx context.Context, keys store.KeyStore, issuer string, c *store.Client, sub string, extra map[string]any, ttl time.Duration, now time.Time) (string, error) {
	if sub == "" {
		return "", errors.New("subject is empty")
	}
	cl := make(map[string]any, len(extra)+7)
	for k, v := range extra {
		if mintedClaims[k] {
			return "", fmt.Errorf("claim %q cannot be set", k)
		}
		cl[k] = v
	}
	cl["iss"], cl["sub"], cl["aud"], cl["azp"] = issuer, sub, c.ID, c.ID
	cl["iat"], cl["exp"], cl["jti"] = now.Unix(), now.Add(ttl).Unix(), rand.Text()
	payload, err := json.Marshal(cl)
	if err != nil {
		return "", fmt.Errorf("cannot encode claims: %w", err)
	}
	var (
		key any
		kid string
	)
	switch {
	case store.IsHMAC(c.SigningAlg):
		for i := range c.Secrets {
			if c.Secrets[i].Active(now) {
				key, kid = c.Secrets[i].Value, c.Secrets[i].ID
				break
			}
		}
		if key == nil {
			return "", fmt.Errorf("client %q has no active secret", c.ID)
		}
	case store.IsAsymmetric(c.SigningAlg):
		k, err := keys.SigningKey(ctx, c.SigningAlg)
		if err != nil {
			return "", fmt.Errorf("no private %s key to sign for client %q", c.SigningAlg, c.ID)
		}
		key, kid = k.Key, k.KeyID
	default:
		return "", fmt.Errorf("client %q: algorithm %q not supported", c.ID, c.SigningAlg)
	}
	opts := (&jose.SignerOptions{}).WithType("JWT").WithHeader("kid", kid)
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.SignatureAlgorithm(c.SigningAlg), Key: key}, opts)
	if err != nil {
		return "", fmt.Errorf("cannot sign for client %q: %w", c.ID, err)
	}
	jws, err := signer.Sign(payload)
	if err != nil {
		return "", fmt.Errorf("cannot sign for client %q: %w", c.ID, err)
	}
	return jws.CompactSerialize()
}
