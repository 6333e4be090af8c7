// Package deputy is an embeddable token exchange engine: an identity
// platform embeds it in its own authorization server to let one client trade
// a user's token for a token meant for another client or API, with the
// user's claims cut down to what the requested scope allows.
//
// It speaks two dialects over one core:
//
//   - Delegation, Auth0's POST /delegation: grant_type
//     urn:ietf:params:oauth:grant-type:jwt-bearer with client_id, id_token or
//     refresh_token, target, scope and api_type; the answer is
//     {"token_type":"Bearer","expires_in":36000,"id_token":"…"}.
//   - Token exchange, RFC 8693: grant_type
//     urn:ietf:params:oauth:grant-type:token-exchange with a subject token
//     (id_token, access_token, jwt or refresh_token), an optional actor
//     token, audience or resource and scope; the answer carries an RFC 9068
//     access token (or an id_token) in access_token, with issued_token_type,
//     and records who acts for the user in the act claim, so that a chain
//     of services can pass a user on, each hop narrower and never longer
//     lived than the last.
//
// The packages, from the bottom up:
//
//   - claims: a JWT claim set as the engine decodes it (numbers kept as
//     encoding/json.Number), typed accessors, the claims the engine owns;
//     standard library only.
//   - scope: RFC 6749 scope syntax, canonical scope sets, and the mapping of
//     scopes to claims (OIDC Core §5.4 built in).
//   - store: the storage interfaces the engine reads (clients, refresh
//     grants, profiles, replay cache, keys) and an in-memory implementation.
//   - storetest: the conformance suite every store implementation runs.
//   - engine: Exchanger, which verifies, decides and mints; Config.Policy
//     lets the host add its own rules and claims, Config.ClientAuth decide
//     how requesters authenticate.
//   - clientauth: ready ClientAuth authenticators — hashed secrets,
//     private_key_jwt (RFC 7523), mutual TLS (RFC 8705), per-client method.
//   - signer: a crypto.Signer (KMS, HSM) as a KeyStore signing key.
//   - addons (a module of its own): the firebase and azure add-on minters
//     for Auth0's api_type values.
//   - oauthhttp: the HTTP layer an embedder mounts: a token endpoint for
//     each dialect, the JWK set, RFC 8414 metadata, WriteError.
//   - cmd/deputy (a module of its own): the reference HTTP host and CLI,
//     built on oauthhttp.
//
// The core packages have no HTTP; oauthhttp has it all, so embedding takes
// a store, a config and handlers to mount:
//
//	st := store.NewMemory() // or your database adapter
//	x, err := engine.New(engine.Config{Issuer: "https://id.example.com/", Clients: st, Keys: st})
//	if err != nil {
//		log.Fatal(err)
//	}
//	delegation, err := oauthhttp.NewTokenHandler(x, oauthhttp.Delegation()) // Auth0's POST /delegation
//	if err != nil {
//		log.Fatal(err)
//	}
//	token, err := oauthhttp.NewTokenHandler(x, oauthhttp.Token()) // RFC 6749 POST /oauth/token, RFC 8693
//	if err != nil {
//		log.Fatal(err)
//	}
//	jwks, err := oauthhttp.NewJWKSHandler(st, oauthhttp.JWKSOptions{})
//	if err != nil {
//		log.Fatal(err)
//	}
//	http.Handle("POST /delegation", delegation)
//	http.Handle("POST /oauth/token", token)
//	http.Handle("GET /.well-known/jwks.json", jwks)
package deputy
