package oauthhttp_test

import (
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/deputyauth/deputy/engine"
	"github.com/deputyauth/deputy/oauthhttp"
	"github.com/deputyauth/deputy/store"
)

// Example mounts both token endpoints and the JWK set on a ServeMux and
// performs a delegation over HTTP.
func Example() {
	appSecret, apiSecret := make([]byte, 32), make([]byte, 32)
	rand.Read(appSecret)
	rand.Read(apiSecret)
	st := store.NewMemory()
	st.PutClient(store.Client{ID: "app", SigningAlg: "HS256", Grants: []string{engine.GrantTypeJWTBearer},
		Secrets: []store.Secret{{ID: "app-1", Value: appSecret}}})
	st.PutClient(store.Client{ID: "api", SigningAlg: "HS256", AllowedSources: []string{"app"},
		Secrets: []store.Secret{{ID: "api-1", Value: apiSecret}}})
	x, err := engine.New(engine.Config{Issuer: "https://id.example.com/", Clients: st, Keys: st})
	if err != nil {
		panic(err)
	}

	// The whole of the HTTP code: three handlers, mounted.
	delegation, err := oauthhttp.NewTokenHandler(x, oauthhttp.Delegation())
	if err != nil {
		panic(err)
	}
	token, err := oauthhttp.NewTokenHandler(x, oauthhttp.Token())
	if err != nil {
		panic(err)
	}
	jwks, err := oauthhttp.NewJWKSHandler(st, oauthhttp.JWKSOptions{})
	if err != nil {
		panic(err)
	}
	mux := http.NewServeMux()
	mux.Handle("POST "+oauthhttp.PathDelegation, delegation)
	mux.Handle("POST "+oauthhttp.PathToken, token)
	mux.Handle("GET "+oauthhttp.PathJWKS, jwks)
	srv := httptest.NewServer(mux)
	defer srv.Close()

	// The app trades the id_token it got at login for one meant for the API.
	idToken := signHS256(appSecret, map[string]any{
		"iss": "https://id.example.com/", "sub": "auth0|ada", "aud": "app",
		"exp": time.Now().Add(time.Hour).Unix(), "email": "ada@example.com",
	})
	res, err := http.PostForm(srv.URL+oauthhttp.PathDelegation, url.Values{
		"grant_type": {engine.GrantTypeJWTBearer}, "client_id": {"app"},
		"id_token": {idToken}, "target": {"api"}, "scope": {"openid email"},
	})
	if err != nil {
		panic(err)
	}
	defer res.Body.Close()
	var answer struct {
		TokenType string `json:"token_type"`
		ExpiresIn int    `json:"expires_in"`
		IDToken   string `json:"id_token"`
	}
	json.NewDecoder(res.Body).Decode(&answer)
	fmt.Println(res.StatusCode, res.Header.Get("Cache-Control"), answer.TokenType, answer.ExpiresIn)

	// Token exchange is not served at /delegation.
	res, err = http.Post(srv.URL+oauthhttp.PathDelegation, "application/json",
		strings.NewReader(`{"grant_type":"`+engine.GrantTypeTokenExchange+`"}`))
	if err != nil {
		panic(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	fmt.Println(res.StatusCode, string(body))
	// Output:
	// 200 no-store Bearer 36000
	// 400 {"error":"unsupported_grant_type","error_description":"grant_type not supported at this endpoint"}
}

// ExampleWriteError answers an error of the host's own: anything that is
// not an *engine.Error is a bare server_error, its text kept for the log.
func ExampleWriteError() {
	rec := httptest.NewRecorder()
	oauthhttp.WriteError(rec, errors.New("database at 10.0.0.7 is down"))
	fmt.Println(rec.Code, rec.Body)

	rec = httptest.NewRecorder()
	oauthhttp.WriteError(rec, oauthhttp.Refuse(http.StatusTooManyRequests, "too_many_requests", "retry later"))
	fmt.Println(rec.Code, rec.Body)
	// Output:
	// 500 {"error":"server_error","error_description":"internal error"}
	// 429 {"error":"too_many_requests","error_description":"retry later"}
}

// signHS256 signs claims as the issuer would for an HS256 client.
func signHS256(key []byte, claims map[string]any) string {
	sig, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.HS256, Key: key}, (&jose.SignerOptions{}).WithType("JWT"))
	if err != nil {
		panic(err)
	}
	payload, _ := json.Marshal(claims)
	jws, err := sig.Sign(payload)
	if err != nil {
		panic(err)
	}
	s, _ := jws.CompactSerialize()
	return s
}
