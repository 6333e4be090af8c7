package examples_test

import (
	"crypto/rand"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/go-chi/chi/v5"
	"github.com/go-jose/go-jose/v4"

	"github.com/deputyauth/deputy/engine"
	"github.com/deputyauth/deputy/oauthhttp"
	"github.com/deputyauth/deputy/store"
)

// handlers are what an embedder mounts.
type handlers struct {
	delegation, token, jwks http.Handler
	idToken                 string // an id_token the issuer gave "app"
}

// newHandlers builds an engine with an app and an API, and its handlers.
func newHandlers() handlers {
	appSecret, apiSecret := make([]byte, 32), make([]byte, 32)
	rand.Read(appSecret)
	rand.Read(apiSecret)
	st := store.NewMemory()
	st.PutClient(store.Client{ID: "app", SigningAlg: "HS256", Grants: []string{engine.GrantTypeJWTBearer, engine.GrantTypeTokenExchange},
		Secrets: []store.Secret{{ID: "app-1", Value: appSecret}}})
	st.PutClient(store.Client{ID: "api", SigningAlg: "HS256", AllowedSources: []string{"app"},
		Secrets: []store.Secret{{ID: "api-1", Value: apiSecret}}})
	x, err := engine.New(engine.Config{Issuer: "https://id.example.com/", Clients: st, Keys: st})
	if err != nil {
		panic(err)
	}
	var h handlers
	if h.delegation, err = oauthhttp.NewTokenHandler(x, oauthhttp.Delegation()); err != nil {
		panic(err)
	}
	if h.token, err = oauthhttp.NewTokenHandler(x, oauthhttp.Token()); err != nil {
		panic(err)
	}
	if h.jwks, err = oauthhttp.NewJWKSHandler(st, oauthhttp.JWKSOptions{}); err != nil {
		panic(err)
	}
	sig, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.HS256, Key: appSecret}, (&jose.SignerOptions{}).WithType("JWT"))
	if err != nil {
		panic(err)
	}
	payload, _ := json.Marshal(map[string]any{"iss": "https://id.example.com/", "sub": "auth0|ada", "aud": "app",
		"exp": time.Now().Add(time.Hour).Unix(), "email": "ada@example.com"})
	jws, err := sig.Sign(payload)
	if err != nil {
		panic(err)
	}
	h.idToken, _ = jws.CompactSerialize()
	return h
}

// try sends a delegation and an RFC 8693 exchange to a server and prints
// what came back.
func try(srv *httptest.Server, idToken string) {
	for _, c := range []struct {
		path string
		form url.Values
	}{
		{"/delegation", url.Values{"grant_type": {engine.GrantTypeJWTBearer}, "client_id": {"app"},
			"id_token": {idToken}, "target": {"api"}, "scope": {"openid email"}}},
		{"/oauth/token", url.Values{"grant_type": {engine.GrantTypeTokenExchange}, "client_id": {"app"},
			"subject_token": {idToken}, "subject_token_type": {engine.TokenTypeIDToken}, "audience": {"api"}}},
	} {
		res, err := http.PostForm(srv.URL+c.path, c.form)
		if err != nil {
			panic(err)
		}
		var answer map[string]any
		json.NewDecoder(res.Body).Decode(&answer)
		res.Body.Close()
		fmt.Println(c.path, res.StatusCode, answer["token_type"], answer["issued_token_type"])
	}
	res, err := http.Get(srv.URL + "/.well-known/jwks.json")
	if err != nil {
		panic(err)
	}
	res.Body.Close()
	fmt.Println("/.well-known/jwks.json", res.StatusCode, res.Header.Get("Cache-Control"))
}

// Example_serveMux mounts the handlers on net/http's ServeMux.
func Example_serveMux() {
	h := newHandlers()
	mux := http.NewServeMux()
	mux.Handle("POST /delegation", h.delegation)
	mux.Handle("POST /oauth/token", h.token)
	mux.Handle("GET /.well-known/jwks.json", h.jwks)
	srv := httptest.NewServer(mux)
	defer srv.Close()
	try(srv, h.idToken)
	// Output:
	// /delegation 200 Bearer <nil>
	// /oauth/token 200 Bearer urn:ietf:params:oauth:token-type:access_token
	// /.well-known/jwks.json 200 public, max-age=300
}

// Example_chi mounts the handlers on a chi router.
func Example_chi() {
	h := newHandlers()
	r := chi.NewRouter()
	r.Method(http.MethodPost, "/delegation", h.delegation)
	r.Method(http.MethodPost, "/oauth/token", h.token)
	r.Method(http.MethodGet, "/.well-known/jwks.json", h.jwks)
	srv := httptest.NewServer(r)
	defer srv.Close()
	try(srv, h.idToken)
	// Output:
	// /delegation 200 Bearer <nil>
	// /oauth/token 200 Bearer urn:ietf:params:oauth:token-type:access_token
	// /.well-known/jwks.json 200 public, max-age=300
}

// Example_gin mounts the handlers on a gin engine with gin.WrapH.
func Example_gin() {
	gin.SetMode(gin.ReleaseMode) // no debug banner on stdout
	h := newHandlers()
	g := gin.New()
	g.POST("/delegation", gin.WrapH(h.delegation))
	g.POST("/oauth/token", gin.WrapH(h.token))
	g.GET("/.well-known/jwks.json", gin.WrapH(h.jwks))
	srv := httptest.NewServer(g)
	defer srv.Close()
	try(srv, h.idToken)
	// Output:
	// /delegation 200 Bearer <nil>
	// /oauth/token 200 Bearer urn:ietf:params:oauth:token-type:access_token
	// /.well-known/jwks.json 200 public, max-age=300
}
