// Package clientauth authenticates the requester of a token exchange in
// ways other than comparing a plaintext client secret: hashed secrets,
// private_key_jwt (RFC 7523 §2.2) and mutual-TLS client authentication
// (RFC 8705). Each authenticator implements engine.ClientAuthenticator and
// is set as engine.Config.ClientAuth.
//
// The package imports no net/http: an HTTP host hands the TLS client
// certificates to the engine through the request's context with
// WithPeerCertificates.
package clientauth
