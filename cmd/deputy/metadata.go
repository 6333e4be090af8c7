package main

import (
	"maps"
	"slices"

	"github.com/deputyauth/deputy/oauthhttp"
	"github.com/deputyauth/deputy/scope"
)

// Paths of the metadata document: RFC 8414 §3 and OpenID Connect
// Discovery 1.0 §4, for an issuer without a path.
const (
	pathASMetadata   = oauthhttp.PathASMetadata
	pathOIDCMetadata = oauthhttp.PathOIDCMetadata
)

// metadata is the document both paths serve; see oauthhttp.Metadata for
// why it has no response_types_supported.
type metadata = oauthhttp.Metadata

// tokenEndpointAuthMethods are the client authentication methods of POST
// /oauth/token: HTTP Basic, client_secret in the body, and none for public
// clients (client_id alone).
var tokenEndpointAuthMethods = []string{"client_secret_basic", "client_secret_post", "none"}

// issuerBase checks that the issuer can name this server's endpoints and
// returns it without a trailing slash, the base every endpoint URL is
// built on (oauthhttp.EndpointURL's rules: https, or http on loopback).
func issuerBase(issuer string) (string, error) {
	return oauthhttp.EndpointURL(issuer, "")
}

// newMetadata builds the document for hc, or reports why the issuer
// cannot have one.
func newMetadata(hc *hostConfig) (*metadata, error) {
	base, err := issuerBase(hc.Issuer)
	if err != nil {
		return nil, err
	}
	// The host runs the engine with the standard mapping.
	scopes, err := scope.New(slices.Collect(maps.Keys(scope.Standard))...)
	if err != nil {
		return nil, err
	}
	return &metadata{
		Issuer:                            hc.Issuer,
		TokenEndpoint:                     base + pathToken,
		JWKSURI:                           base + pathJWKS,
		ScopesSupported:                   scopes,
		GrantTypesSupported:               oauthhttp.Token().GrantTypes,
		TokenEndpointAuthMethodsSupported: tokenEndpointAuthMethods,
		SubjectTypesSupported:             []string{"public"},
		IDTokenSigningAlgValuesSupported:  hc.SigningAlgs,
	}, nil
}
