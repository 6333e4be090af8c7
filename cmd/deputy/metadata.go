package main

import (
	"encoding/json"
	"errors"
	"maps"
	"net/http"
	"net/netip"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/deputyauth/deputy/engine"
	"github.com/deputyauth/deputy/scope"
)

// Paths of the metadata document: RFC 8414 §3 and OpenID Connect
// Discovery 1.0 §4, for an issuer without a path.
const (
	pathASMetadata   = "/.well-known/oauth-authorization-server"
	pathOIDCMetadata = "/.well-known/openid-configuration"
)

// metadata is the authorization server metadata document (RFC 8414 §2),
// with the members OpenID Connect Discovery 1.0 §3 requires of a provider
// that issues id_tokens, so that one document serves both well-known
// paths.
//
// response_types_supported is left out although both specifications list
// it as required: deputy has no authorization endpoint, so it supports no
// response type, and both specifications say that a member with zero
// elements must be omitted (RFC 8414 §3.2), which is also what the OAuth
// working group advises for servers whose grants never use the
// authorization endpoint. authorization_endpoint is omitted for the same
// reason (RFC 8414 §2 allows it when no grant uses it). A client library
// that insists on response_types_supported (some OpenID Connect ones do)
// cannot use this document; the token endpoint, the keys and the issuer
// are all it needs for token exchange and id_token verification.
type metadata struct {
	Issuer                string   `json:"issuer"`
	TokenEndpoint         string   `json:"token_endpoint"`
	JWKSURI               string   `json:"jwks_uri"`
	ScopesSupported       []string `json:"scopes_supported"`
	GrantTypesSupported   []string `json:"grant_types_supported"`
	TokenEndpointAuth     []string `json:"token_endpoint_auth_methods_supported"`
	SubjectTypesSupported []string `json:"subject_types_supported"`
	// IDTokenSigningAlgs are the algorithms of the enabled clients: every
	// id_token under this issuer is signed with one of them. Discovery
	// asks for RS256 to be among them; it is listed only when a client
	// uses it, since a listed algorithm must be one tokens really carry.
	IDTokenSigningAlgs []string `json:"id_token_signing_alg_values_supported,omitempty"`
}

// tokenEndpointAuthMethods are the client authentication methods of POST
// /oauth/token: HTTP Basic, client_secret in the body, and none for public
// clients (client_id alone).
var tokenEndpointAuthMethods = []string{"client_secret_basic", "client_secret_post", "none"}

// issuerBase checks that the issuer can name this server's endpoints and
// returns it without a trailing slash, the base every endpoint URL is
// built on. RFC 8414 §2 asks for an https URL without query or fragment;
// plain http is accepted on loopback only (localhost, 127.0.0.0/8, ::1),
// for the demo and for local development.
func issuerBase(issuer string) (string, error) {
	u, err := url.Parse(issuer)
	if err != nil || u.Opaque != "" || u.Host == "" || u.User != nil ||
		u.RawQuery != "" || u.ForceQuery || u.Fragment != "" || strings.Contains(issuer, "#") {
		return "", errors.New("the issuer is not an absolute URL without query or fragment")
	}
	switch u.Scheme {
	case "https":
	case "http":
		if !isLoopback(u.Hostname()) {
			return "", errors.New("the issuer uses http on a host other than loopback; RFC 8414 requires https")
		}
	default:
		return "", errors.New("the issuer is not an https URL")
	}
	return strings.TrimSuffix(issuer, "/"), nil
}

func isLoopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	a, err := netip.ParseAddr(host)
	return err == nil && a.IsLoopback()
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
		Issuer:                hc.Issuer,
		TokenEndpoint:         base + pathToken,
		JWKSURI:               base + pathJWKS,
		ScopesSupported:       scopes,
		GrantTypesSupported:   slices.Clone(tokenGrants),
		TokenEndpointAuth:     tokenEndpointAuthMethods,
		SubjectTypesSupported: []string{"public"},
		IDTokenSigningAlgs:    hc.SigningAlgs,
	}, nil
}

// metadataHandler serves doc, encoded once, at GET and HEAD.
func metadataHandler(doc *metadata) (http.HandlerFunc, error) {
	b, err := json.Marshal(doc)
	if err != nil {
		return nil, err
	}
	length := strconv.Itoa(len(b))
	return func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			writeError(w, http.StatusMethodNotAllowed, &engine.Error{Code: engine.CodeInvalidRequest, Description: "method not allowed; use GET"})
			return
		}
		h := w.Header()
		h.Set("Content-Type", "application/json")
		h.Set("Cache-Control", "public, max-age=300")
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Content-Length", length)
		w.Write(b) // discarded for HEAD
	}, nil
}
