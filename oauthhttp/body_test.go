package oauthhttp

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/deputyauth/deputy/engine"
)

// jsonBodies are bodies on both sides of parseJSON's fast path.
var jsonBodies = []string{
	`{}`, ` { } `, `{"client_id":"app"}`,
	`{"grant_type":"urn:ietf:params:oauth:grant-type:jwt-bearer","client_id":"app","id_token":"a.b.c","target":"api","scope":"openid email","api_type":"app"}`,
	"\t{ \"client_id\" : \"app\" ,\n\"target\":\"api\" }\r\n",
	`{"client_id":""}`, `{"audience":"a"}`, `{"audience":""}`, `{"resource":"https://api.example/"}`,
	`{"unknown":"x"}`, `{"unknown":""}`, `{"client_id":"app","client_id":"app"}`, `{"client_id":"a","Client_ID":"b"}`,
	`{"client_id":null}`, `{"audience":["a","b"]}`, `{"audience":[]}`, `{"client_id":1}`, `{"client_id":true}`,
	`{"client_id":"a\"b"}`, `{"client_id":"a\u0041"}`, `{"client_id":"a\/b"}`, "{\"client_id\":\"a\x01\"}",
	"{\"client_id\":\"caf\xc3\xa9\"}", "{\"client_id\":\"bad\xff\"}", `{"client_id":"app"} x`, `{"client_id":"app",}`,
	`{"client_id" "app"}`, `{"client_id":"app"`, `["client_id"]`, `"client_id"`, ``, `   `, `{`, `}`,
	"\ufeff{\"client_id\":\"app\"}", `{"a":{"b":"c"}}`, `{"a":"<>&"}`,
}

// wideBody has n distinct string members.
func wideBody(n int) string {
	var b strings.Builder
	b.WriteString("{")
	for i := range n {
		if i > 0 {
			b.WriteString(",")
		}
		b.WriteString(`"p` + strings.Repeat("x", i) + `":"v"`)
	}
	return b.String() + "}"
}

// TestParseJSONFastPath: parseJSON answers every body exactly as
// engine.ParseJSON does, the same Request or the same error.
func TestParseJSONFastPath(t *testing.T) {
	bodies := append(jsonBodies, wideBody(engine.MaxParameters), wideBody(engine.MaxParameters+1))
	fast := 0
	for _, body := range bodies {
		if _, ok := plainJSONForm([]byte(body)); ok {
			fast++
		}
		checkSameParse(t, body)
	}
	if fast < 10 {
		t.Errorf("only %d bodies took the fast path", fast)
	}
}

func checkSameParse(t *testing.T, body string) {
	t.Helper()
	want, wantErr := engine.ParseJSON([]byte(body))
	got, gotErr := parseJSON([]byte(body))
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("%q: request (-ParseJSON +parseJSON):\n%s", body, diff)
	}
	if diff := cmp.Diff(errText(wantErr), errText(gotErr)); diff != "" {
		t.Errorf("%q: error (-ParseJSON +parseJSON):\n%s", body, diff)
	}
}

func errText(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

// FuzzParseJSONFastPath looks for a body the fast path reads differently
// from engine.ParseJSON.
func FuzzParseJSONFastPath(f *testing.F) {
	for _, b := range jsonBodies {
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, body string) { checkSameParse(t, body) })
}
