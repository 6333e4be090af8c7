package oauthhttp_test

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/deputyauth/deputy/oauthhttp"
)

// TestEndpointURL: endpoint URLs are built on an https issuer, or an http
// one on loopback; any other issuer is refused.
func TestEndpointURL(t *testing.T) {
	for _, tc := range []struct {
		issuer string
		want   string // "" when refused
	}{
		{"https://id.example.test/", "https://id.example.test/oauth/token"},
		{"https://id.example.test", "https://id.example.test/oauth/token"},
		{"https://id.example.test/tenant/", "https://id.example.test/tenant/oauth/token"},
		{"http://127.0.0.1:8080/", "http://127.0.0.1:8080/oauth/token"},
		{"http://localhost:8080/", "http://localhost:8080/oauth/token"},
		{"http://[::1]:8080/", "http://[::1]:8080/oauth/token"},
		{"http://id.example.test/", ""},
		{"http://10.0.0.1/", ""},
		{"https://id.example.test/?tenant=1", ""},
		{"https://id.example.test/?", ""},
		{"https://id.example.test/#", ""},
		{"https://user@id.example.test/", ""},
		{"urn:example:issuer", ""},
		{"id.example.test", ""},
		{"ftp://id.example.test/", ""},
	} {
		t.Run(tc.issuer, func(t *testing.T) {
			got, err := oauthhttp.EndpointURL(tc.issuer, oauthhttp.PathToken)
			if (err == nil) != (tc.want != "") || got != tc.want {
				t.Errorf("EndpointURL = %q, %v; want %q", got, err, tc.want)
			}
		})
	}
}

// TestMetadataHandler serves a document and checks its members, headers
// and methods.
func TestMetadataHandler(t *testing.T) {
	doc := oauthhttp.Metadata{
		Issuer:                            issuer,
		TokenEndpoint:                     "https://id.example.test/oauth/token",
		JWKSURI:                           "https://id.example.test/.well-known/jwks.json",
		GrantTypesSupported:               oauthhttp.Token().GrantTypes,
		TokenEndpointAuthMethodsSupported: []string{"client_secret_basic"},
	}
	h, err := oauthhttp.NewMetadataHandler(doc, oauthhttp.MetadataOptions{MaxAge: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	a := serve(t, h, httptest.NewRequest(http.MethodGet, oauthhttp.PathASMetadata, nil), "Content-Type", "Cache-Control")
	want := answer{200, map[string]string{"Content-Type": "application/json", "Cache-Control": "public, max-age=3600"}, map[string]any{
		"issuer":                                issuer,
		"token_endpoint":                        "https://id.example.test/oauth/token",
		"jwks_uri":                              "https://id.example.test/.well-known/jwks.json",
		"grant_types_supported":                 []any{"urn:ietf:params:oauth:grant-type:jwt-bearer", "urn:ietf:params:oauth:grant-type:token-exchange"},
		"token_endpoint_auth_methods_supported": []any{"client_secret_basic"},
	}}
	if diff := cmp.Diff(want, a); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	a = serve(t, h, httptest.NewRequest(http.MethodPost, oauthhttp.PathASMetadata, nil), "Allow")
	if diff := cmp.Diff(answer{405, map[string]string{"Allow": "GET, HEAD"}, refused("invalid_request")}, a, dropDescription); diff != "" {
		t.Errorf("POST (-want +got):\n%s", diff)
	}
}

// TestNewMetadataHandlerChecks: every problem with the document is
// reported at once.
func TestNewMetadataHandlerChecks(t *testing.T) {
	_, err := oauthhttp.NewMetadataHandler(oauthhttp.Metadata{Issuer: "http://id.example.test/", JWKSURI: "/jwks"},
		oauthhttp.MetadataOptions{MaxAge: 1500 * time.Millisecond})
	if err == nil {
		t.Fatal("bad document accepted")
	}
	for _, want := range []string{"http on a host other than loopback", "TokenEndpoint", "JWKSURI", "MaxAge"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %q", err, want)
		}
	}
}
