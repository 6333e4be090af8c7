package main

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"flag"
	"fmt"
	"io"
	"net/url"
	"strings"

	"github.com/go-jose/go-jose/v4"

	"github.com/deputyauth/deputy/engine"
)

// The demo world: two source apps and two target APIs, one of each per
// algorithm family. Keys and secrets are fresh on every start.
const (
	demoApp     = "demo-app"      // HS256 source app; also its own target (auth0-js renewals)
	demoAPI     = "demo-api"      // HS256 target API
	demoRSApp   = "demo-rs-app"   // RS256 source app
	demoEdAPI   = "demo-ed-api"   // EdDSA target API
	demoFB      = "demo-firebase" // Firebase project: the firebase add-on, its default
	demoSubject = "auth0|demo-user"
	// demoFBEmail is the demo's Firebase service account.
	demoFBEmail = "deputy-demo@deputy-demo.iam.gserviceaccount.com"
)

// defaultDemoIssuer is the issuer demo-config writes: the URL serve
// listens on by default.
const defaultDemoIssuer = "http://127.0.0.1:8080/"

// demoConfig returns the demo world as a config document, so that
// "serve --demo" and "demo-config" go through the same checks as any
// config file.
func demoConfig(issuer string) (*fileConfig, error) {
	suffix := randomHex(4) // key IDs name one key material forever
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return nil, err
	}
	_, edKey, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, err
	}
	keys, err := json.Marshal(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{
		{Key: rsaKey, KeyID: "demo-rs-" + suffix, Algorithm: "RS256", Use: "sig"},
		{Key: edKey, KeyID: "demo-ed-" + suffix, Algorithm: "EdDSA", Use: "sig"},
	}})
	if err != nil {
		return nil, err
	}
	fbSettings, err := demoFirebaseSettings()
	if err != nil {
		return nil, err
	}
	secret := func(client string) secretConfig {
		b := make([]byte, 32)
		rand.Read(b)
		return secretConfig{ID: client + "-" + suffix, Value: "base64url:" + base64.RawURLEncoding.EncodeToString(b)}
	}
	refreshToken := newRefreshToken()
	profile, err := json.Marshal(demoClaims)
	if err != nil {
		return nil, err
	}
	sources := []string{demoApp, demoRSApp}
	// The apps may use both grants; demo-api, as the middle service of a
	// chain, may exchange the access tokens it receives for demo-ed-api.
	grants := []string{engine.GrantTypeJWTBearer, engine.GrantTypeTokenExchange}
	return &fileConfig{
		demoRefreshToken: refreshToken,
		Issuer:           issuer,
		Lifetime:         "10h",
		ClockSkew:        "30s",
		Keys:             keys,
		Clients: clientList{
			{ID: demoApp, Name: "Demo app (HS256 source)", SigningAlg: "HS256", Grants: grants,
				AllowedSources: []string{demoApp}, Secrets: secretList{secret(demoApp)}},
			{ID: demoAPI, Name: "Demo API (HS256 target)", SigningAlg: "HS256",
				Grants:         []string{engine.GrantTypeTokenExchange},
				AllowedSources: sources, Secrets: secretList{secret(demoAPI)}},
			{ID: demoRSApp, Name: "Demo app (RS256 source)", SigningAlg: "RS256", Grants: grants,
				AllowedSources: []string{demoRSApp}},
			{ID: demoEdAPI, Name: "Demo API (EdDSA target)", SigningAlg: "EdDSA",
				AllowedSources: []string{demoApp, demoRSApp, demoAPI}},
			// A Firebase project: api_type firebase (and no api_type, its
			// default) answers a Firebase custom token; api_type app an
			// RS256 id_token.
			{ID: demoFB, Name: "Demo Firebase project (firebase add-on)", SigningAlg: "RS256",
				AllowedSources: []string{demoApp},
				APITypes:       map[string]json.RawMessage{"firebase": fbSettings}, DefaultAPIType: "firebase"},
		},
		// The demo user's profile and a refresh token of demo-app's for
		// them, kept by its hash.
		Profiles: profileList{{Subject: demoSubject, Claims: profile}},
		RefreshGrants: grantList{{
			TokenSHA256: tokenHashHex(refreshToken), ClientID: demoApp, Subject: demoSubject,
			Scope: "openid profile email",
		}},
	}, nil
}

// demoFirebaseSettings returns the firebase add-on settings of a fresh
// service account: a new RSA-2048 key (PKCS#8 PEM, as in a Google key
// file), a random key ID, and demoFBEmail.
func demoFirebaseSettings() (json.RawMessage, error) {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return nil, err
	}
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, err
	}
	return json.Marshal(struct {
		PrivateKeyID string `json:"private_key_id"`
		PrivateKey   string `json:"private_key"`
		ClientEmail  string `json:"client_email"`
	}{randomHex(20), string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})), demoFBEmail})
}

// newRefreshToken returns a fresh refresh token: 32 random bytes,
// base64url (43 characters).
func newRefreshToken() string {
	b := make([]byte, 32)
	rand.Read(b) // never fails (crypto/rand)
	return base64.RawURLEncoding.EncodeToString(b)
}

// tokenHashHex is a refresh token's token_sha256.
func tokenHashHex(tok string) string {
	h := sha256.Sum256([]byte(tok))
	return hex.EncodeToString(h[:])
}

func randomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b) // never fails (crypto/rand)
	return hex.EncodeToString(b)
}

// runDemoConfig implements "deputy demo-config": it writes the demo world,
// keys and secrets included, as a config file.
func runDemoConfig(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("demo-config", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), "usage: deputy demo-config [--issuer URL] > deputy.json\n\n"+
			"Writes a complete config with the demo clients and freshly generated keys and\n"+
			"secrets. It holds private keys: keep it private.\n\n")
		fs.PrintDefaults()
	}
	issuer := fs.String("issuer", defaultDemoIssuer, "issuer of the demo tokens")
	if code, stop := parseFlags(fs, args); stop {
		return code
	}
	fc, err := demoConfig(*issuer)
	if err == nil {
		_, err = buildConfig(fc, "") // what we write must load
	}
	if err != nil {
		fmt.Fprintf(stderr, "deputy demo-config: %v\n", err)
		return exitFailure
	}
	b, err := json.MarshalIndent(fc, "", "  ")
	if err != nil {
		fmt.Fprintf(stderr, "deputy demo-config: %v\n", err)
		return exitFailure
	}
	if err := restrictFile(stdout); err != nil { // it holds private keys: mode 0600 before they are written
		fmt.Fprintf(stderr, "deputy demo-config: cannot make the output file private: %v\n", err)
		return exitFailure
	}
	stdout.Write(append(b, '\n'))
	// The config keeps the refresh token's hash only; this is its one
	// showing, on stderr so that the redirected config stays JSON.
	fmt.Fprintf(stderr, "deputy demo-config: refresh token of %s for %s (refresh_grants[0], kept by its hash): %s\n", demoApp, demoSubject, fc.demoRefreshToken)
	return exitOK
}

// delegationBody is the seed's JSON request body, fields in its order.
type delegationBody struct {
	ClientID     string `json:"client_id"`
	GrantType    string `json:"grant_type"`
	IDToken      string `json:"id_token,omitempty"`
	RefreshToken string `json:"refresh_token,omitempty"`
	Target       string `json:"target"`
	Scope        string `json:"scope"`
	APIType      string `json:"api_type"`
}

// printDemo tells the user what the demo world holds and prints a curl
// command performing a delegation with a fresh demo id_token, on one line
// so that it can be pasted.
func printDemo(w io.Writer, baseURL string, fc *fileConfig, idToken, caFile string) {
	var apiSecret, apiKid string
	for _, c := range fc.Clients {
		if c.ID == demoAPI {
			apiSecret = strings.TrimPrefix(c.Secrets[0].Value, "base64url:")
			apiKid = c.Secrets[0].ID
		}
	}
	body, _ := json.Marshal(delegationBody{
		ClientID: demoApp, GrantType: engine.GrantTypeJWTBearer, IDToken: idToken,
		Target: demoAPI, Scope: "openid profile email", APIType: "app",
	})
	fmt.Fprintf(w, "deputy: demo mode: in-memory clients with fresh keys and secrets, gone at exit\n")
	fmt.Fprintf(w, "deputy:   issuer        %s\n", fc.Issuer)
	fmt.Fprintf(w, "deputy:   %-13s HS256 source app (may also target itself, as auth0-js renewals do)\n", demoApp)
	fmt.Fprintf(w, "deputy:   %-13s HS256 target API; verify its tokens with secret (base64url) %s (kid %s)\n", demoAPI, apiSecret, apiKid)
	fmt.Fprintf(w, "deputy:   %-13s RS256 source app\n", demoRSApp)
	fmt.Fprintf(w, "deputy:   %-13s EdDSA target API; verify its tokens with the keys at %s%s\n", demoEdAPI, baseURL, pathJWKS)
	fmt.Fprintf(w, "deputy:   %-13s Firebase project (add-on firebase, its default api_type); service account %s, key generated at start\n", demoFB, demoFBEmail)
	if caFile != "" {
		fmt.Fprintf(w, "deputy: TLS with a throwaway CA; its certificate is in %s (removed at exit)\n", caFile)
	}
	fmt.Fprintf(w, "deputy: delegate a fresh id_token of %s (valid 1h) from %s to %s:\n", demoSubject, demoApp, demoAPI)
	cacert := ""
	if caFile != "" {
		cacert = " --cacert " + shellQuote(caFile)
	}
	fmt.Fprintf(w, "curl --request POST%s --url %s --header 'content-type: application/json' --data %s\n",
		cacert, shellQuote(baseURL+pathDelegation), shellQuote(string(body)))
	fmt.Fprintf(w, "deputy: for an EdDSA token, set \"target\" to %q; for your own tokens, see deputy demo-config and deputy token\n", demoEdAPI)
	fmt.Fprintf(w, "deputy: or exchange the same id_token for an access token for %s (RFC 8693 token exchange):\n", demoAPI)
	fmt.Fprintf(w, "curl --request POST%s --url %s --header 'content-type: application/x-www-form-urlencoded' --data %s\n",
		cacert, shellQuote(baseURL+pathToken), shellQuote(demoExchangeForm(idToken)))
	fbBody, _ := json.Marshal(delegationBody{
		ClientID: demoApp, GrantType: engine.GrantTypeJWTBearer, IDToken: idToken,
		Target: demoFB, Scope: "openid profile email", APIType: "firebase",
	})
	fmt.Fprintf(w, "deputy: or get a Firebase custom token for the same user (Auth0's firebase add-on), for signInWithCustomToken:\n")
	fmt.Fprintf(w, "curl --request POST%s --url %s --header 'content-type: application/json' --data %s\n",
		cacert, shellQuote(baseURL+pathDelegation), shellQuote(string(fbBody)))
	rtBody, _ := json.Marshal(delegationBody{
		ClientID: demoApp, GrantType: engine.GrantTypeJWTBearer, RefreshToken: fc.demoRefreshToken,
		Target: demoAPI, Scope: "openid profile email", APIType: "app",
	})
	fmt.Fprintf(w, "deputy: or delegate with %s's refresh token for %s, made at start (its claims come from the demo profile):\n", demoApp, demoSubject)
	fmt.Fprintf(w, "curl --request POST%s --url %s --header 'content-type: application/json' --data %s\n",
		cacert, shellQuote(baseURL+pathDelegation), shellQuote(string(rtBody)))
	fmt.Fprintf(w, "deputy: metadata (RFC 8414): %s%s\n", baseURL, pathASMetadata)
}

// demoExchangeForm is the RFC 8693 request the demo prints: demo-app, a
// public client, trades the demo id_token for an access token for
// demo-api.
func demoExchangeForm(idToken string) string {
	return url.Values{
		"grant_type":         {engine.GrantTypeTokenExchange},
		"client_id":          {demoApp},
		"subject_token":      {idToken},
		"subject_token_type": {engine.TokenTypeIDToken},
		"audience":           {demoAPI},
		"scope":              {"openid profile email"},
	}.Encode()
}

// shellQuote quotes s for a POSIX shell.
func shellQuote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
