// Package oauthhttp serves a deputy engine over HTTP, so that an embedder
// mounts handlers instead of writing HTTP code: a token endpoint for each
// dialect (Auth0's POST /delegation with JSON or form bodies, RFC 6749's
// POST /oauth/token with form bodies and HTTP Basic for RFC 8693 token
// exchange), the JWK set of a store.KeyStore, the RFC 8414 metadata
// document, and WriteError for the host's own error answers.
//
//	x, err := engine.New(engine.Config{Issuer: issuer, Clients: st, Keys: st})
//	if err != nil {
//		return err
//	}
//	delegation, err := oauthhttp.NewTokenHandler(x, oauthhttp.Delegation())
//	if err != nil {
//		return err
//	}
//	token, err := oauthhttp.NewTokenHandler(x, oauthhttp.Token())
//	if err != nil {
//		return err
//	}
//	jwks, err := oauthhttp.NewJWKSHandler(st, oauthhttp.JWKSOptions{})
//	if err != nil {
//		return err
//	}
//	mux := http.NewServeMux()
//	mux.Handle("POST "+oauthhttp.PathDelegation, delegation)
//	mux.Handle("POST "+oauthhttp.PathToken, token)
//	mux.Handle("GET "+oauthhttp.PathJWKS, jwks)
//
// The handlers are plain http.Handlers: they work under any router (chi,
// gin through gin.WrapH) and behind any middleware. They do no logging of
// their own; TokenOptions.Observe reports each request's outcome, and
// TokenOptions.Gate lets a host refuse a request before its body is read
// (rate limiting) and again once its requester has authenticated. The
// engine's own audit hook, engine.Config.OnExchange, is unaffected.
//
// The token endpoint reads bodies into pooled buffers, parses the common
// JSON body without a general decoder and writes its answers without
// reflection: it adds a few microseconds to an exchange
// (BenchmarkTokenHandler).
//
// The core packages (claims, scope, store, engine) never import net/http;
// this package is where HTTP starts.
package oauthhttp
