package engine_test

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"time"

	"github.com/go-jose/go-jose/v4"
	josejson "github.com/go-jose/go-jose/v4/json"

	"github.com/deputyauth/deputy/engine"
	"github.com/deputyauth/deputy/store"
)

// Example shows a whole delegation: an app trades the user's id_token for
// a token meant for an API, carrying only the email claims.
func Example() {
	appSecret, apiSecret := make([]byte, 32), make([]byte, 32)
	rand.Read(appSecret)
	rand.Read(apiSecret)

	st := store.NewMemory()
	st.PutClient(store.Client{
		ID: "app", SigningAlg: "HS256",
		Secrets: []store.Secret{{ID: "app-2026", Value: appSecret}},
		Grants:  []string{engine.GrantTypeJWTBearer},
	})
	st.PutClient(store.Client{
		ID: "api", SigningAlg: "HS256",
		Secrets:        []store.Secret{{ID: "api-2026", Value: apiSecret}},
		AllowedSources: []string{"app"}, // deny by default: name who may ask
	})

	now := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	x, err := engine.New(engine.Config{
		Issuer:  "https://id.example.com/",
		Clients: st,
		Now:     func() time.Time { return now },
	})
	if err != nil {
		panic(err)
	}

	// The id_token the issuer gave the app at login.
	idToken := signHS256(appSecret, "app-2026", map[string]any{
		"iss": "https://id.example.com/", "sub": "auth0|ada", "aud": "app",
		"exp": now.Add(time.Hour).Unix(), "iat": now.Unix(),
		"name": "Ada Lovelace", "email": "ada@example.com", "email_verified": true,
	})

	// What a host gets from POST /delegation.
	req, err := engine.ParseJSON([]byte(`{
		"client_id": "app",
		"grant_type": "urn:ietf:params:oauth:grant-type:jwt-bearer",
		"id_token": "` + idToken + `",
		"target": "api",
		"scope": "openid email",
		"api_type": "app"
	}`))
	if err != nil {
		panic(err)
	}
	res, err := x.Exchange(context.Background(), req)
	var oe *engine.Error
	if errors.As(err, &oe) {
		fmt.Println(oe.HTTPStatus(), oe.Code)
		return
	}

	// The API verifies the new token with its own secret.
	jws, _ := jose.ParseSignedCompact(res.IDToken, []jose.SignatureAlgorithm{jose.HS256})
	payload, err := jws.Verify(apiSecret)
	if err != nil {
		panic(err)
	}
	var c map[string]any
	josejson.Unmarshal(payload, &c)
	fmt.Println("kid:", jws.Signatures[0].Header.KeyID)
	fmt.Println("aud:", c["aud"], "azp:", c["azp"], "sub:", c["sub"])
	fmt.Println("email:", c["email"], "name present:", c["name"] != nil)
	fmt.Println("token_type:", res.TokenType, "expires_in:", res.ExpiresIn)
	// Output:
	// kid: api-2026
	// aud: api azp: app sub: auth0|ada
	// email: ada@example.com name present: false
	// token_type: Bearer expires_in: 36000
}

// Example_tokenExchange shows RFC 8693: a web app trades the user's
// id_token for an access token to the orders API, and the orders API,
// acting for the user, trades that access token for one to the billing
// API. The last token names the orders API in act and ends when the
// user's id_token did.
func Example_tokenExchange() {
	secrets := map[string][]byte{}
	st := store.NewMemory()
	for _, c := range []store.Client{
		{ID: "web"},
		{ID: "orders", AllowedSources: []string{"web"}},
		{ID: "billing", AllowedSources: []string{"orders"}},
	} {
		secrets[c.ID] = make([]byte, 32)
		rand.Read(secrets[c.ID])
		c.SigningAlg = "HS256"
		c.Secrets = []store.Secret{{ID: c.ID + "-2026", Value: secrets[c.ID]}}
		c.Grants = []string{engine.GrantTypeTokenExchange}
		st.PutClient(c)
	}
	now := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	x, err := engine.New(engine.Config{
		Issuer:  "https://id.example.com/",
		Clients: st,
		Now:     func() time.Time { return now },
	})
	if err != nil {
		panic(err)
	}
	idToken := func(client, sub string) string {
		return signHS256(secrets[client], client+"-2026", map[string]any{
			"iss": "https://id.example.com/", "sub": sub, "aud": client,
			"exp": now.Add(time.Hour).Unix(), "iat": now.Unix(),
			"email": "ada@example.com", "email_verified": true,
		})
	}

	// Hop 1: the web app's form-encoded POST /oauth/token.
	req, err := engine.ParseRequest(url.Values{
		"grant_type":         {engine.GrantTypeTokenExchange},
		"client_id":          {"web"},
		"subject_token":      {idToken("web", "auth0|ada")},
		"subject_token_type": {engine.TokenTypeIDToken},
		"audience":           {"orders"},
		"scope":              {"openid email"},
	})
	if err != nil {
		panic(err)
	}
	hop1, err := x.Exchange(context.Background(), req)
	if err != nil {
		panic(err)
	}
	fmt.Println("hop 1:", hop1.IssuedTokenType, hop1.TokenType, hop1.ExpiresIn, hop1.Scope)

	// Hop 2: the orders API presents what it was given, and itself as the
	// actor.
	hop2, err := x.Exchange(context.Background(), &engine.Request{
		GrantType: engine.GrantTypeTokenExchange, ClientID: "orders",
		SubjectToken: hop1.AccessToken, SubjectTokenType: engine.TokenTypeAccessToken,
		ActorToken: idToken("orders", "service:orders"), ActorTokenType: engine.TokenTypeIDToken,
		Audience: []string{"billing"}, Scope: "email",
	})
	if err != nil {
		panic(err)
	}
	jws, _ := jose.ParseSignedCompact(hop2.AccessToken, []jose.SignatureAlgorithm{jose.HS256})
	payload, err := jws.Verify(secrets["billing"])
	if err != nil {
		panic(err)
	}
	var c map[string]any
	josejson.Unmarshal(payload, &c)
	fmt.Println("hop 2:", jws.Signatures[0].Header.ExtraHeaders["typ"], c["aud"], c["client_id"], c["sub"], c["scope"], c["email"])
	fmt.Println("act:", c["act"])
	fmt.Println("exp is the id_token's:", int64(c["exp"].(float64)) == now.Add(time.Hour).Unix())
	// Output:
	// hop 1: urn:ietf:params:oauth:token-type:access_token Bearer 3600 openid email
	// hop 2: at+jwt billing orders auth0|ada email ada@example.com
	// act: map[sub:service:orders]
	// exp is the id_token's: true
}

// ExampleError shows the error model: a protocol code for the wire, the
// cause for logs.
func ExampleError() {
	st := store.NewMemory()
	x, _ := engine.New(engine.Config{Issuer: "https://id.example.com/", Clients: st})
	_, err := x.Exchange(context.Background(), &engine.Request{
		GrantType: engine.GrantTypeJWTBearer, ClientID: "ghost", IDToken: "a.b.c", Target: "api",
	})
	var oe *engine.Error
	if errors.As(err, &oe) {
		body, _ := json.Marshal(oe)
		fmt.Println(oe.HTTPStatus(), string(body))
	}
	fmt.Println(errors.Is(err, engine.ErrInvalidClient), errors.Is(err, store.ErrNotFound))
	// Output:
	// 401 {"error":"invalid_client","error_description":"client authentication failed"}
	// true true
}

func signHS256(secret []byte, kid string, claims map[string]any) string {
	s, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.HS256, Key: jose.JSONWebKey{Key: secret, KeyID: kid}},
		(&jose.SignerOptions{}).WithType("JWT"))
	if err != nil {
		panic(err)
	}
	payload, _ := json.Marshal(claims)
	jws, err := s.Sign(payload)
	if err != nil {
		panic(err)
	}
	tok, _ := jws.CompactSerialize()
	return tok
}
