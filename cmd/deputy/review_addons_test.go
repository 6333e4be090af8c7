package main

// Review of issue 10: the host's add-on config loading.

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
)

// TestReviewConfigAddonNoEcho: settings of the wrong JSON type, an env:
// value crafted to inject JSON members, and a settings value that is a
// reference in the wrong place are refused or kept literal, and no error
// echoes a value.
func TestReviewConfigAddonNoEcho(t *testing.T) {
	const mark = "c2VjcmV0LXJldmlldy1tYXJrLXZhbHVl"
	t.Setenv("DEPUTY_REVIEW_INJECT", `orders","sasKey":"`+mark)
	doc := func(client string) string {
		return `{"issuer":"https://id.example.test/","clients":[
  {"id":"app","signing_alg":"HS256","secrets":[{"id":"s1","value":"text:0123456789abcdef0123456789abcdef"}]},
  {"id":"api","signing_alg":"HS256","allowed_sources":["app"],"secrets":[{"id":"s1","value":"text:0123456789abcdef0123456789abcdef"}],
   ` + client + `}]}`
	}
	for name, client := range map[string]string{
		"api_types a string":         `"api_types":"` + mark + `"`,
		"api_types an array":         `"api_types":["` + mark + `"]`,
		"default_api_type a number":  `"default_api_type":12345678901234567890`,
		"settings an env string":     `"api_types":{"azure_sb":"env:DEPUTY_REVIEW_INJECT"}`,
		"env value injects a member": `"api_types":{"azure_sb":{"namespace":"deputy-ns","sasKeyName":"k","sasKey":"x","entityPath":"env:DEPUTY_REVIEW_INJECT"}}`,
		"default is app":             `"api_types":{"azure_sb":{"namespace":"deputy-ns","sasKeyName":"k","sasKey":"` + mark + `","entityPath":"q"}},"default_api_type":"app"`,
	} {
		t.Run(name, func(t *testing.T) {
			_, err := parseConfig([]byte(doc(client)), "")
			if err == nil {
				t.Fatal("config loaded")
			}
			if strings.Contains(err.Error(), mark) {
				t.Errorf("error echoes a value:\n%s", err)
			}
		})
	}
}

// TestReviewConfigEscapedKeyResolved: a member name written with JSON
// escapes is the same member: its env: value is resolved and stored under
// the plain name, so the add-on and the store agree on one key.
func TestReviewConfigEscapedKeyResolved(t *testing.T) {
	t.Setenv("DEPUTY_REVIEW_SB", "c2VydmljZSBidXMga2V5IGZvciBkZXB1dHkgdGVzdHM=")
	doc := `{"issuer":"https://id.example.test/","clients":[
  {"id":"app","signing_alg":"HS256","secrets":[{"id":"s1","value":"text:0123456789abcdef0123456789abcdef"}]},
  {"id":"api","signing_alg":"HS256","allowed_sources":["app"],"secrets":[{"id":"s1","value":"text:0123456789abcdef0123456789abcdef"}],
   "api_types":{"azure_sb":{"namespace":"deputy-ns","sasKeyName":"k","sas\u004bey":"env:DEPUTY_REVIEW_SB","entityPath":"q"}}}]}`
	hc, err := parseConfig([]byte(doc), "")
	if err != nil {
		t.Fatal(err)
	}
	c, err := hc.Store.Client(context.Background(), "api")
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(c.APITypes["azure_sb"], &m); err != nil {
		t.Fatal(err)
	}
	if m["sasKey"] != "c2VydmljZSBidXMga2V5IGZvciBkZXB1dHkgdGVzdHM=" {
		t.Errorf("settings %s", c.APITypes["azure_sb"])
	}
}
