package main

import (
	"reflect"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestConfigUnknownFieldsDoNotHideProblems checks that unknown fields at
// every level are all reported, in document order, together with every
// other problem of the document.
func TestConfigUnknownFieldsDoNotHideProblems(t *testing.T) {
	doc := `{
  "isuer": "https://id.example.test/",
  "rate_limit": "lots",
  "key_schedule": {"k1": {"sign_from": "soon", "sign_after": "x"}},
  "clients": [
    {"id": "a", "signing_alg": "HS257", "colour": "red", "Name": "case-insensitive like encoding/json"},
    {"id": "b", "signing_alg": "HS256", "secrets": [{"id": "s", "value": "text:short", "expires": "never"}],
     "api_types": {"firebase": {"anything": "the add-on checks its own settings"}}}
  ],
  "tls": {"cert": "x"}
}`
	_, err := parseConfig([]byte(doc), "")
	if err == nil {
		t.Fatal("no error")
	}
	want := []string{
		`config: unknown field "isuer"`,
		`config: key_schedule.k1: unknown field "sign_after"`,
		`config: clients[0]: unknown field "colour"`,
		`config: clients[1].secrets[0]: unknown field "expires"`,
		`config: unknown field "tls"`,
		"config: issuer: required",
		`config: rate_limit: "lots" is not a rate such as "10/m"`,
	}
	got := strings.Split(err.Error(), "\n")
	if diff := cmp.Diff(want, got[:min(len(got), len(want))]); diff != "" {
		t.Errorf("first problems (-want +got):\n%s", diff)
	}
	// The checks of the rest of the document ran too.
	for _, more := range []string{
		`config: clients[0].signing_alg: "HS257" not supported`,
		"config: clients[1].secrets[0].value: 5 bytes; HS256 needs at least 32",
	} {
		if !strings.Contains(err.Error(), more) {
			t.Errorf("report lacks %q:\n%s", more, err)
		}
	}
}

// TestUnknownFields checks the walker on its own: what it descends into
// and what it leaves to others.
func TestUnknownFields(t *testing.T) {
	type inner struct {
		A string `json:"a"`
	}
	type embedded struct {
		E string `json:"e"`
	}
	type doc struct {
		embedded
		In      inner            `json:"in"`
		List    []inner          `json:"list"`
		Map     map[string]inner `json:"map"`
		Ptr     *inner           `json:"ptr"`
		Skipped string           `json:"-"`
		Raw     []byte           `json:"raw"`
		NoTag   int
		hidden  int
	}
	_ = doc{}.hidden
	for _, tc := range []struct {
		name, json string
		want       []string
	}{
		{"none", `{"e":"","in":{"a":""},"list":[{"a":""}],"map":{"k":{"a":""}},"ptr":{"a":""},"NoTag":1,"notag":2}`, nil},
		{"every level", `{"x":1,"in":{"y":1},"list":[{"a":""},{"z":1}],"map":{"k":{"w":1}},"ptr":{"v":1}}`,
			[]string{`: unknown field "x"`, `in: unknown field "y"`, `list[1]: unknown field "z"`, `map.k: unknown field "w"`, `ptr: unknown field "v"`}},
		{"dash and unexported are unknown", `{"Skipped":1,"hidden":1}`, []string{`: unknown field "Skipped"`, `: unknown field "hidden"`}},
		{"shape mismatch left to the decoder", `{"in":[1],"list":{"a":1},"map":[]}`, nil},
		{"repeated member once", `{"q":1,"q":2}`, []string{`: unknown field "q"`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var got []string
			for _, fe := range unknownFields([]byte(tc.json), reflect.TypeFor[doc](), "") {
				got = append(got, fe.path+": "+fe.msg)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}
