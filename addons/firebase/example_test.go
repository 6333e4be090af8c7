package firebase_test

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/deputyauth/deputy/addons/firebase"
	"github.com/deputyauth/deputy/claims"
	"github.com/deputyauth/deputy/engine"
)

// ExampleNew registers the minter with the engine, and shows what it mints
// for a grant: the engine would call Mint once every check has passed.
func ExampleNew() {
	// The service account's key; in production, from its JSON key file.
	key, _ := rsa.GenerateKey(rand.Reader, 2048)
	der, _ := x509.MarshalPKCS8PrivateKey(key)
	settings, _ := json.Marshal(map[string]any{
		"private_key_id":      "4c2b7f0e9d",
		"private_key":         string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})),
		"client_email":        "deputy@example-project.iam.gserviceaccount.com",
		"lifetime_in_seconds": 1800,
	})
	if err := firebase.Validate(settings); err != nil { // when the target is registered
		panic(err)
	}

	// What a host puts in engine.Config.
	minters := map[string]engine.Minter{"firebase": firebase.New()}

	res, err := minters["firebase"].Mint(context.Background(), &engine.Grant{
		Subject:  "auth0|ada",
		Claims:   claims.Set{"email": "ada@example.com", "auth_time": 1764072000},
		IssuedAt: time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC),
		Lifetime: 10 * time.Hour,
		Settings: settings,
	})
	if err != nil {
		panic(err)
	}

	// Firebase verifies the token with the service account's public key.
	jws, _ := jose.ParseSignedCompact(res.IDToken, []jose.SignatureAlgorithm{jose.RS256})
	payload, err := jws.Verify(&key.PublicKey)
	if err != nil {
		panic(err)
	}
	h := jws.Signatures[0].Header
	fmt.Println("header:", h.Algorithm, h.KeyID, h.ExtraHeaders["typ"])
	fmt.Println("payload:", string(payload))
	fmt.Println("token_type:", res.TokenType, "expires_in:", res.ExpiresIn)
	// Output:
	// header: RS256 4c2b7f0e9d JWT
	// payload: {"iss":"deputy@example-project.iam.gserviceaccount.com","sub":"deputy@example-project.iam.gserviceaccount.com","aud":"https://identitytoolkit.googleapis.com/google.identity.identitytoolkit.v1.IdentityToolkit","iat":1795608000,"exp":1795609800,"uid":"auth0|ada","claims":{"email":"ada@example.com"}}
	// token_type: Bearer expires_in: 1800
}

// ExampleValidate shows the check a host runs when a target enables the
// add-on: every bad field is named, and no value is quoted.
func ExampleValidate() {
	err := firebase.Validate(json.RawMessage(`{
		"private_key_id": 42,
		"private_key": "-----BEGIN PRIVATE KEY-----\nbm90IGEga2V5\n-----END PRIVATE KEY-----\n",
		"lifetime_in_seconds": 7200,
		"project_id": "example-project"
	}`))
	fmt.Println(err)
	// Output:
	// firebase: settings: private_key_id: must be a string
	// firebase: settings: client_email: missing
	// firebase: settings: private_key: cannot parse the private key
	// firebase: settings: lifetime_in_seconds: must be between 1 and 3600
}
