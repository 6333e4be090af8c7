package scope_test

import (
	"fmt"
	"maps"
	"slices"

	"github.com/deputyauth/deputy/claims"
	"github.com/deputyauth/deputy/scope"
)

func ExampleParse() {
	s, err := scope.Parse("profile openid email profile")
	if err != nil {
		panic(err)
	}
	fmt.Println(s.String())
	fmt.Println(len(s), s.Has("email"), s.Has("phone"))

	_, err = scope.Parse("openid  email")
	fmt.Println(err)
	// Output:
	// openid email profile
	// 3 true false
	// scope: invalid syntax: empty scope token (leading, trailing or double space)
}

func ExampleMapping_Filter() {
	m := scope.Standard.With("orders", "order_ids")
	if err := m.Validate(); err != nil {
		panic(err)
	}
	source := claims.Set{
		"iss":            "https://issuer.example",
		"sub":            "user-1",
		"aud":            "client-a",
		"exp":            float64(1700003600),
		"name":           "Ada Lovelace",
		"email":          "ada@example.com",
		"email_verified": true,
		"phone_number":   "+44 20 0000 0000",
		"order_ids":      []any{"o1", "o2"},
		"groups":         []any{"admin"},
	}
	s, _ := scope.Parse("openid email orders")
	out := m.Filter(source, s)
	fmt.Println(slices.Sorted(maps.Keys(out)))
	// Output:
	// [email email_verified order_ids]
}

func ExampleMapping_Covering() {
	source := claims.Set{
		"iss":          "https://issuer.example",
		"sub":          "user-1",
		"name":         "Ada Lovelace",
		"phone_number": "+44 20 0000 0000",
	}
	// scope=passthrough: openid plus every scope whose claims the source has.
	fmt.Println(scope.Standard.Covering(source))
	fmt.Println(scope.Standard.Covering(claims.Set{"iss": "x", "aud": "y"}))
	// Output:
	// openid phone profile
	// openid
}
