package claims_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/deputyauth/deputy/claims"
)

func ExampleSet_NumericDate() {
	payload := `{"sub":"user-1","exp":1700003600,"iat":1700000000.5,"nbf":"soon"}`
	// Decoded with numbers as json.Number, as the engine decodes tokens.
	dec := json.NewDecoder(strings.NewReader(payload))
	dec.UseNumber()
	var c claims.Set
	if err := dec.Decode(&c); err != nil {
		panic(err)
	}

	exp, err := c.NumericDate(claims.Expiry)
	fmt.Println(exp, err)
	iat, err := c.NumericDate(claims.IssuedAt)
	fmt.Println(iat, err)

	_, err = c.NumericDate(claims.NotBefore)
	fmt.Println(errors.Is(err, claims.ErrInvalid), err)
	_, err = c.NumericDate(claims.AuthTime)
	fmt.Println(errors.Is(err, claims.ErrMissing), err)
	// Output:
	// 2023-11-14 23:13:20 +0000 UTC <nil>
	// 2023-11-14 22:13:20.5 +0000 UTC <nil>
	// true claims: invalid: "nbf": not a number
	// true claims: missing: "auth_time"
}

func ExampleSet_Audience() {
	for _, payload := range []string{
		`{"aud":"api"}`,
		`{"aud":["client-a","api"]}`,
		`{"aud":[]}`,
		`{"aud":["A",5]}`,
	} {
		dec := json.NewDecoder(strings.NewReader(payload))
		dec.UseNumber()
		var c claims.Set
		if err := dec.Decode(&c); err != nil {
			panic(err)
		}
		aud, err := c.Audience()
		found, n, _ := c.HasAudience("api")
		fmt.Printf("%-28s %q %v found=%v n=%d\n", payload, aud, err, found, n)
	}
	// Output:
	// {"aud":"api"}                ["api"] <nil> found=true n=1
	// {"aud":["client-a","api"]}   ["client-a" "api"] <nil> found=true n=2
	// {"aud":[]}                   [] claims: invalid: "aud": empty array found=false n=0
	// {"aud":["A",5]}              [] claims: invalid: "aud": member not a non-empty string found=false n=0
}

func ExampleIsOwned() {
	for _, name := range []string{"iss", "aud", "act", "cnf", "email", "name", "ISS", "ſub", "KID"} {
		fmt.Println(name, claims.IsOwned(name))
	}
	// Output:
	// iss true
	// aud true
	// act true
	// cnf true
	// email false
	// name false
	// ISS true
	// ſub true
	// KID false
}
