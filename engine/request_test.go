package engine_test

import (
	"encoding/json"
	"errors"
	"net/url"
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
		{"null and unknown", `{"client_id":"app","scope":null,"device":"phone","n":5}`,
			&engine.Request{ClientID: "app", Extra: map[string]string{"device": "phone"}}, ""},
		{"audience list", `{"audience":["a","b"],"resource":"r"}`,
			&engine.Request{Audience: []string{"a", "b"}, Resource: []string{"r"}}, ""},
		{"duplicate key", `{"client_id":"a","client_id":"b"}`, nil, engine.CodeInvalidRequest},
		{"case variant is not the key", `{"Client_ID":"a"}`, &engine.Request{Extra: map[string]string{"Client_ID": "a"}}, ""},
		{"number for a string", `{"client_id":5}`, nil, engine.CodeInvalidRequest},
		{"array for a string", `{"id_token":["a","b"]}`, nil, engine.CodeInvalidRequest},
		{"audience of numbers", `{"audience":[1]}`, nil, engine.CodeInvalidRequest},
		{"array body", `["client_id"]`, nil, engine.CodeInvalidRequest},
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
