package engine_test

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
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
