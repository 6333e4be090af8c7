package oauthhttp

import (
	"encoding/json"
	"errors"
	"net/http"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Metadata is an authorization server metadata document (RFC 8414 §2),
// with the members OpenID Connect Discovery 1.0 §3 asks of a provider that
// issues id_tokens, so that one document can serve both well-known paths.
//
// It has no response_types_supported although both specifications list
// it as required: a token exchange server has no authorization endpoint,
// so it supports no response type, and a member with zero elements must
// be omitted (RFC 8414 §3.2). authorization_endpoint is absent for the
// same reason (RFC 8414 §2 allows it when no grant uses it). A client
// library that insists on response_types_supported (some OpenID Connect
// ones do) cannot use this document; the token endpoint, the keys and the
// issuer are all it needs for token exchange and id_token verification.
type Metadata struct {
	// Issuer is the engine's issuer, exactly: clients compare it with
	// the issuer they asked about (RFC 8414 §3.3). Required: an https
	// URL without query or fragment, or http on loopback (see
	// EndpointURL).
	Issuer string `json:"issuer"`
	// TokenEndpoint is the URL of the RFC 6749 token endpoint. Required.
	TokenEndpoint string `json:"token_endpoint"`
	// JWKSURI is the URL of the JWK set. Required: verifiers of the
	// minted tokens need it.
	JWKSURI                           string   `json:"jwks_uri"`
	ScopesSupported                   []string `json:"scopes_supported,omitempty"`
	GrantTypesSupported               []string `json:"grant_types_supported,omitempty"`
	TokenEndpointAuthMethodsSupported []string `json:"token_endpoint_auth_methods_supported,omitempty"`
	SubjectTypesSupported             []string `json:"subject_types_supported,omitempty"`
	// IDTokenSigningAlgValuesSupported lists the algorithms id_tokens
	// under this issuer are signed with; list only algorithms tokens
	// really carry.
	IDTokenSigningAlgValuesSupported []string `json:"id_token_signing_alg_values_supported,omitempty"`
}

// MetadataOptions configures a metadata handler. The zero value is
// usable.
type MetadataOptions struct {
	// MaxAge is the Cache-Control max-age of the answer, whole seconds; 0
	// means DefaultMaxAge, negative "no-cache".
	MaxAge time.Duration
}

// NewMetadataHandler returns a handler serving doc, encoded once, at GET
// and HEAD. It checks doc: Issuer as EndpointURL does, TokenEndpoint and
// JWKSURI present and absolute.
func NewMetadataHandler(doc Metadata, opts MetadataOptions) (http.Handler, error) {
	var errs []error
	if _, err := EndpointURL(doc.Issuer, ""); err != nil {
		errs = append(errs, err)
	}
	for _, f := range []struct{ name, v string }{{"TokenEndpoint", doc.TokenEndpoint}, {"JWKSURI", doc.JWKSURI}} {
		if u, err := url.Parse(f.v); err != nil || !u.IsAbs() || u.Host == "" {
			errs = append(errs, errors.New("oauthhttp: Metadata."+f.name+" is not an absolute URL"))
		}
	}
	if opts.MaxAge > 0 && opts.MaxAge%time.Second != 0 {
		errs = append(errs, errors.New("oauthhttp: MetadataOptions.MaxAge must be whole seconds"))
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	b, err := json.Marshal(doc)
	if err != nil {
		return nil, err
	}
	return &metadataHandler{body: b, length: []string{strconv.Itoa(len(b))}, cache: cacheControl(opts.MaxAge)}, nil
}

type metadataHandler struct {
	body          []byte
	length, cache []string
}

func (h *metadataHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if !allowGet(w, r) {
		return
	}
	hd := w.Header()
	hd["Content-Type"] = hvJSON
	hd["Cache-Control"] = h.cache
	hd["X-Content-Type-Options"] = hvNosniff
	hd["Content-Length"] = h.length
	w.Write(h.body) // discarded for HEAD
}

// EndpointURL returns the URL of the endpoint at path under issuer: the
// issuer without its trailing slash, then path. It refuses an issuer
// that cannot name endpoints: RFC 8414 §2 asks for an https URL without
// query or fragment; plain http is accepted on loopback only (localhost,
// 127.0.0.0/8, ::1), for demos and local development.
func EndpointURL(issuer, path string) (string, error) {
	u, err := url.Parse(issuer)
	if err != nil || u.Opaque != "" || u.Host == "" || u.User != nil ||
		u.RawQuery != "" || u.ForceQuery || u.Fragment != "" || strings.Contains(issuer, "#") {
		return "", errors.New("oauthhttp: the issuer is not an absolute URL without query or fragment")
	}
	switch u.Scheme {
	case "https":
	case "http":
		if !isLoopback(u.Hostname()) {
			return "", errors.New("oauthhttp: the issuer uses http on a host other than loopback; RFC 8414 requires https")
		}
	default:
		return "", errors.New("oauthhttp: the issuer is not an https URL")
	}
	return strings.TrimSuffix(issuer, "/") + path, nil
}

func isLoopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	a, err := netip.ParseAddr(host)
	return err == nil && a.IsLoopback()
}
