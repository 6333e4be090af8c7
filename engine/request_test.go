package engine_test

import (
	"encoding/json"
	"errors"
	"net/url"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/deputyauth/deputy/engine"
)

func TestParseRequest(t *testing.T) {
	for _, tc := range []struct {
		name string
		form string
		want *engine.Request
		code string
	}{
		{"seed delegation", "client_id=app&grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Ajwt-bearer&id_token=a.b.c&target=api&scope=openid+profile&api_type=app",
			&engine.Request{GrantType: engine.GrantTypeJWTBearer, ClientID: "app", IDToken: "a.b.c", Target: "api", Scope: "openid profile", APIType: "app"}, ""},
		{"empty means absent", "client_id=app&api_type=&scope=",
			&engine.Request{ClientID: "app"}, ""},
		{"unknown kept in Extra", "client_id=app&device=phone&empty=",
			&engine.Request{ClientID: "app", Extra: map[string]string{"device": "phone"}}, ""},
		{"audience and resource repeat", "audience=a&audience=b&resource=https%3A%2F%2Fr",
			&engine.Request{Audience: []string{"a", "b"}, Resource: []string{"https://r"}}, ""},
		{"duplicate client_id", "client_id=a&client_id=b", nil, engine.CodeInvalidRequest},
		{"duplicate id_token", "id_token=a&id_token=a", nil, engine.CodeInvalidRequest},
		{"duplicate unknown", "x=1&x=2", nil, engine.CodeInvalidRequest},
	} {
		t.Run(tc.name, func(t *testing.T) {
			form, err := url.ParseQuery(tc.form)
			if err != nil {
				t.Fatal(err)
			}
			got, err := engine.ParseRequest(form)
			if tc.code != "" {
				assertParseRefused(t, got, err, tc.code)
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("request (-want +got):\n%s", diff)
			}
		})
	}
}

func TestParseJSON(t *testing.T) {
	for _, tc := range []struct {
		name string
		body string
		want *engine.Request
		code string
	}{
		{"seed body", `{"client_id":"app","grant_type":"urn:ietf:params:oauth:grant-type:jwt-bearer","id_token":"a.b.c","target":"api","scope":"openid","api_type":"app"}`,
			&engine.Request{GrantType: engine.GrantTypeJWTBearer, ClientID: "app", IDToken: "a.b.c", Target: "api", Scope: "openid", APIType: "app"}, ""},
		{"null and unknown", `{"client_id":"app","scope":null,"device":"phone","n":null}`,
			&engine.Request{ClientID: "app", Extra: map[string]string{"device": "phone"}}, ""},
		{"escapes and whitespace", " {\"client_id\" : \"a\\\"b\\u00e9\" ,\n\"audi\\u0065nce\":[ \"x\" , \"\" ], \"resource\" : [ ] }\t",
			&engine.Request{ClientID: "a\"b\u00e9", Audience: []string{"x"}}, ""},
		{"empty object", `{}`, &engine.Request{}, ""},
		{"audience list", `{"audience":["a","b"],"resource":"r"}`,
			&engine.Request{Audience: []string{"a", "b"}, Resource: []string{"r"}}, ""},
		{"duplicate key", `{"client_id":"a","client_id":"b"}`, nil, engine.CodeInvalidRequest},
		{"case variant is not the key", `{"Client_ID":"a"}`, &engine.Request{Extra: map[string]string{"Client_ID": "a"}}, ""},
		{"number for a string", `{"client_id":5}`, nil, engine.CodeInvalidRequest},
		{"array for a string", `{"id_token":["a","b"]}`, nil, engine.CodeInvalidRequest},
		{"audience of numbers", `{"audience":[1]}`, nil, engine.CodeInvalidRequest},
		{"array body", `["client_id"]`, nil, engine.CodeInvalidRequest},
		{"unknown number", `{"client_id":"app","n":5}`, nil, engine.CodeInvalidRequest},
		{"unknown boolean", `{"client_id":"app","b":true}`, nil, engine.CodeInvalidRequest},
		{"unknown object", `{"client_id":"app","o":{}}`, nil, engine.CodeInvalidRequest},
		{"unknown array of strings", `{"client_id":"app","l":["a"]}`, nil, engine.CodeInvalidRequest},
		{"nested array", `{"audience":[["a"]]}`, nil, engine.CodeInvalidRequest},
		{"null in an array", `{"audience":["a",null]}`, nil, engine.CodeInvalidRequest},
		{"object in an array", `{"audience":[{}]}`, nil, engine.CodeInvalidRequest},
		{"trailing comma", `{"client_id":"a",}`, nil, engine.CodeInvalidRequest},
		{"trailing comma in an array", `{"audience":["a",]}`, nil, engine.CodeInvalidRequest},
		{"missing colon", `{"client_id" "a"}`, nil, engine.CodeInvalidRequest},
		{"unquoted key", `{client_id:"a"}`, nil, engine.CodeInvalidRequest},
		{"nul misspelt", `{"scope":nul}`, nil, engine.CodeInvalidRequest},
		{"control character in a string", "{\"client_id\":\"a\nb\"}", nil, engine.CodeInvalidRequest},
		{"bad escape", `{"client_id":"a\qb"}`, nil, engine.CodeInvalidRequest},
		{"unterminated string", `{"client_id":"a}`, nil, engine.CodeInvalidRequest},
		{"escaped quote at the end", `{"client_id":"a\"}`, nil, engine.CodeInvalidRequest},
		{"two objects", `{}{}`, nil, engine.CodeInvalidRequest},
		{"trailing garbage", `{"client_id":"a"}x`, nil, engine.CodeInvalidRequest},
		{"empty", ``, nil, engine.CodeInvalidRequest},
		{"too large", `{"x":"` + string(make([]byte, engine.MaxRequestSize)) + `"}`, nil, engine.CodeInvalidRequest},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := engine.ParseJSON([]byte(tc.body))
			if tc.code != "" {
				assertParseRefused(t, got, err, tc.code)
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("request (-want +got):\n%s", diff)
			}
		})
	}
}

func assertParseRefused(t *testing.T, got *engine.Request, err error, code string) {
	t.Helper()
	if got != nil {
		t.Errorf("got request %+v, want none", got)
	}
	var xe *engine.Error
	if !errors.As(err, &xe) || xe.Code != code {
		t.Errorf("error = %v, want %s", err, code)
	}
}

func TestResponseJSON(t *testing.T) {
	for _, tc := range []struct {
		name string
		res  engine.Response
		want string
	}{
		{"delegation", engine.Response{TokenType: "Bearer", ExpiresIn: 36000, IDToken: "eyJ.x.y"},
			`{"token_type":"Bearer","expires_in":36000,"id_token":"eyJ.x.y"}`},
		{"token exchange", engine.Response{AccessToken: "a", IssuedTokenType: "urn:ietf:params:oauth:token-type:jwt", TokenType: "N_A", ExpiresIn: 60, Scope: "openid"},
			`{"access_token":"a","issued_token_type":"urn:ietf:params:oauth:token-type:jwt","token_type":"N_A","expires_in":60,"scope":"openid"}`},
		{"extra cannot override", engine.Response{TokenType: "Bearer", ExpiresIn: 1, IDToken: "t", Extra: map[string]any{"id_token": "evil", "b": 2, "a": "<x>"}},
			`{"token_type":"Bearer","expires_in":1,"id_token":"t","a":"\u003cx\u003e","b":2}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := json.Marshal(&tc.res)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, string(got)); diff != "" {
				t.Errorf("JSON (-want +got):\n%s", diff)
			}
			if !json.Valid(got) {
				t.Error("not valid JSON")
			}
		})
	}
}

// TestDeepNestedBodyRefusedCheaply: a body nested deep is refused by the
// shape scan, before any decoding, whatever key it hides under. Before the
// scan, go-jose decoded the whole nest (about 20,000 allocations and 2 ms
// for this body) and then ignored it under an unknown key.
func TestDeepNestedBodyRefusedCheaply(t *testing.T) {
	for _, key := range []string{"x", "audience", "client_id"} {
		t.Run(key, func(t *testing.T) {
			body := deepBody(key)
			got, err := engine.ParseJSON(body)
			assertParseRefused(t, got, err, engine.CodeInvalidRequest)
			if allocs := testing.AllocsPerRun(10, func() { engine.ParseJSON(body) }); allocs > 2 {
				t.Errorf("refusing a %d-byte nested body took %v allocations, want at most 2 (no decoding)", len(body), allocs)
			}
		})
	}
	// Nested objects too, and one level of nesting is enough to refuse.
	for _, body := range []string{
		`{"x":` + strings.Repeat(`{"x":`, 5000) + `"a"` + strings.Repeat("}", 5001),
		`{"x":{}}`,
	} {
		got, err := engine.ParseJSON([]byte(body))
		assertParseRefused(t, got, err, engine.CodeInvalidRequest)
	}
}

// deepBody is a 20 KB JSON object whose one member, key, is nested 9,990
// levels deep: cheap to send, and costly for a recursive decoder.
func deepBody(key string) []byte {
	const depth = 9990
	b := make([]byte, 0, len(key)+5+2*depth)
	b = append(b, `{"`+key+`":`...)
	for range depth {
		b = append(b, '[')
	}
	for range depth {
		b = append(b, ']')
	}
	return append(b, '}')
}

// BenchmarkParseJSONDeepNesting measures what refusing deepBody costs,
// under an unknown key and under audience, which takes an array.
func BenchmarkParseJSONDeepNesting(b *testing.B) {
	for _, key := range []string{"x", "audience"} {
		b.Run(key, func(b *testing.B) {
			body := deepBody(key)
			b.SetBytes(int64(len(body)))
			b.ReportAllocs()
			refused := 0
			for b.Loop() {
				if _, err := engine.ParseJSON(body); err != nil {
					refused++
				}
			}
			b.ReportMetric(float64(refused)/float64(b.N), "refused/op")
		})
	}
}

// BenchmarkParseJSONSeed measures parsing the seed's body with an
// id_token of a typical size, the common case the shape scan adds to.
func BenchmarkParseJSONSeed(b *testing.B) {
	body := []byte(`{"client_id":"app","grant_type":"urn:ietf:params:oauth:grant-type:jwt-bearer","id_token":"` +
		strings.Repeat("x", 900) + `","target":"api","scope":"openid profile email","api_type":"app"}`)
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := engine.ParseJSON(body); err != nil {
			b.Fatal(err)
		}
	}
}
