package azure_test

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/deputyauth/deputy/addons/azure"
	"github.com/deputyauth/deputy/engine"
	"github.com/deputyauth/deputy/store"
	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
)

// secretMark is in every secret-looking value of the refusal table; no
// error may carry it.
const secretMark = "TOPSECRET"

func sb(extra string) string {
	return merged(`"namespace":"contoso-bus","sasKeyName":"send","sasKey":"`+sbKey+`","entityPath":"orders"`, extra)
}

func blob(extra string) string {
	return merged(`"accountName":"deputytest","storageAccessKey":"`+blobKey+`","containerName":"reports"`, extra)
}

// merged returns the object of the base members with extra's members set
// over them (settings may not repeat a member). Values stay as written;
// extra that is not valid members is appended as it is.
func merged(base, extra string) string {
	if extra == "" {
		return "{" + base + "}"
	}
	var m, x map[string]json.RawMessage
	if json.Unmarshal([]byte("{"+base+"}"), &m) != nil || json.Unmarshal([]byte("{"+extra+"}"), &x) != nil {
		return "{" + base + "," + extra + "}"
	}
	for k, v := range x {
		m[k] = v
	}
	b, err := json.Marshal(m)
	if err != nil {
		panic(err)
	}
	return string(b)
}

// without returns settings with the member name removed.
func without(t *testing.T, settings, name string) string {
	var m map[string]any
	if err := json.Unmarshal([]byte(settings), &m); err != nil {
		t.Fatal(err)
	}
	delete(m, name)
	b, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestRefusals(t *testing.T) {
	type minter struct {
		name     string
		validate func(json.RawMessage) error
		mint     engine.Minter
	}
	sbM := minter{"azure_sb", azure.ValidateServiceBus, azure.ServiceBus()}
	blobM := minter{"azure_blob", azure.ValidateBlob, azure.Blob()}
	for _, tc := range []struct {
		name     string
		m        minter
		settings string
		field    string // named in the error; "" for a whole-object error
	}{
		{"sb not JSON", sbM, `{"namespace":` + secretMark, ""},
		{"sb not an object", sbM, `["` + secretMark + `"]`, ""},
		{"sb empty", sbM, ``, ""},
		{"sb null", sbM, `null`, ""},
		{"sb repeated member", sbM, `{"sasKey":"` + secretMark + `",` + sb("")[1:], ""},
		{"blob repeated member", blobM, `{"accountName":"` + secretMark + `",` + blob("")[1:], ""},
		{"sb no namespace", sbM, without(t, sb(""), "namespace"), "namespace"},
		{"sb empty namespace", sbM, sb(`"namespace":""`), "namespace"},
		{"sb short namespace", sbM, sb(`"namespace":"abcde"`), "namespace"},
		{"sb long namespace", sbM, sb(`"namespace":"` + strings.Repeat("a", 51) + `"`), "namespace"},
		{"sb namespace starts with a digit", sbM, sb(`"namespace":"1contoso"`), "namespace"},
		{"sb namespace ends with a hyphen", sbM, sb(`"namespace":"contoso-"`), "namespace"},
		{"sb namespace with a dot", sbM, sb(`"namespace":"contoso.evil.com/x"`), "namespace"},
		{"sb namespace a number", sbM, sb(`"namespace":123456`), "namespace"},
		{"sb no key name", sbM, without(t, sb(""), "sasKeyName"), "sasKeyName"},
		{"sb key name with '&'", sbM, sb(`"sasKeyName":"a&sig=` + secretMark + `"`), "sasKeyName"},
		{"sb no key", sbM, without(t, sb(""), "sasKey"), "sasKey"},
		{"sb key null", sbM, sb(`"sasKey":null`), "sasKey"},
		{"sb key not a string", sbM, sb(`"sasKey":{"k":"` + secretMark + `"}`), "sasKey"},
		{"sb key with a space", sbM, sb(`"sasKey":"` + secretMark + ` x"`), "sasKey"},
		{"sb key too long", sbM, sb(`"sasKey":"` + secretMark + strings.Repeat("A", 256) + `"`), "sasKey"},
		{"sb no entity path", sbM, without(t, sb(""), "entityPath"), "entityPath"},
		{"sb entity path with '..'", sbM, sb(`"entityPath":"orders/../admin"`), "entityPath"},
		{"sb entity path with a leading slash", sbM, sb(`"entityPath":"/orders"`), "entityPath"},
		{"sb entity path with '?'", sbM, sb(`"entityPath":"orders?x=1"`), "entityPath"},
		{"sb entity path too long", sbM, sb(`"entityPath":"` + strings.Repeat("a", 261) + `"`), "entityPath"},
		{"sb expiration 0", sbM, sb(`"expiration":0`), "expiration"},
		{"sb expiration negative", sbM, sb(`"expiration":-5`), "expiration"},
		{"sb expiration fractional", sbM, sb(`"expiration":1.5`), "expiration"},
		{"sb expiration absurd", sbM, sb(`"expiration":1e12`), "expiration"},
		{"sb expiration a string", sbM, sb(`"expiration":"5"`), "expiration"},

		{"blob not JSON", blobM, `{"storageAccessKey":"` + secretMark, ""},
		{"blob no account", blobM, without(t, blob(`"container_read":true`), "accountName"), "accountName"},
		{"blob account with uppercase", blobM, blob(`"accountName":"DeputyTest","container_read":true`), "accountName"},
		{"blob account too short", blobM, blob(`"accountName":"ab","container_read":true`), "accountName"},
		{"blob account with a dot", blobM, blob(`"accountName":"a.b.c","container_read":true`), "accountName"},
		{"blob no key", blobM, without(t, blob(`"container_read":true`), "storageAccessKey"), "storageAccessKey"},
		{"blob key not base64", blobM, blob(`"storageAccessKey":"` + secretMark + `!!","container_read":true`), "storageAccessKey"},
		{"blob key base64url", blobM, blob(`"storageAccessKey":"` + secretMark + `_-_-","container_read":true`), "storageAccessKey"},
		{"blob key not a string", blobM, blob(`"storageAccessKey":["` + secretMark + `"],"container_read":true`), "storageAccessKey"},
		{"blob no container", blobM, without(t, blob(`"container_read":true`), "containerName"), "containerName"},
		{"blob container too short", blobM, blob(`"containerName":"ab","container_read":true`), "containerName"},
		{"blob container with uppercase", blobM, blob(`"containerName":"Reports","container_read":true`), "containerName"},
		{"blob container with '--'", blobM, blob(`"containerName":"re--ports","container_read":true`), "containerName"},
		{"blob container starts with a hyphen", blobM, blob(`"containerName":"-reports","container_read":true`), "containerName"},
		{"blob container too long", blobM, blob(`"containerName":"` + strings.Repeat("a", 64) + `","container_read":true`), "containerName"},
		{"blob name ends with '/'", blobM, blob(`"blobName":"a/","blob_read":true`), "blobName"},
		{"blob name ends with '.'", blobM, blob(`"blobName":"a.","blob_read":true`), "blobName"},
		{"blob name with a backslash", blobM, blob(`"blobName":"a\\b","blob_read":true`), "blobName"},
		{"blob name with a newline", blobM, blob(`"blobName":"a\nb","blob_read":true`), "blobName"},
		{"blob name with an empty segment", blobM, blob(`"blobName":"a//b","blob_read":true`), "blobName"},
		{"blob name too long", blobM, blob(`"blobName":"` + strings.Repeat("a", 1025) + `","blob_read":true`), "blobName"},
		{"blob identifier too long", blobM, blob(`"signedIdentifier":"` + strings.Repeat("a", 65) + `","container_read":true`), "signedIdentifier"},
		{"blob identifier with a newline", blobM, blob(`"signedIdentifier":"a\nb","container_read":true`), "signedIdentifier"},
		{"blob expiration 0", blobM, blob(`"expiration":0,"container_read":true`), "expiration"},
		{"blob expiration absurd", blobM, blob(`"expiration":525601,"container_read":true`), "expiration"},
		{"blob no permission", blobM, blob(``), "container_read"},
		{"blob all permissions false", blobM, blob(`"container_read":false,"container_list":false`), "container_read"},
		{"blob no blob permission", blobM, blob(`"blobName":"a.txt"`), "blob_read"},
		{"blob flag not a boolean", blobM, blob(`"container_read":"true"`), "container_read"},
		{"blob flag without blobName", blobM, blob(`"blob_write":true`), "blob_write"},
		{"container flag with blobName", blobM, blob(`"blobName":"a.txt","blob_read":true,"container_list":true`), "container_list"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			check := func(what string, err error) {
				t.Helper()
				if err == nil {
					t.Fatalf("%s accepted %s", what, tc.settings)
				}
				msg := err.Error()
				if !strings.HasPrefix(msg, tc.m.name+": ") {
					t.Errorf("%s: error %q does not start with %q", what, msg, tc.m.name+": ")
				}
				if tc.field != "" && !strings.Contains(msg, `"`+tc.field+`"`) {
					t.Errorf("%s: error %q does not name %q", what, msg, tc.field)
				}
				for _, secret := range []string{secretMark, sbKey, blobKey} {
					if strings.Contains(msg, secret) {
						t.Errorf("%s: error %q carries a secret", what, msg)
					}
				}
			}
			check("Validate", tc.m.validate(json.RawMessage(tc.settings)))
			res, err := tc.m.mint.Mint(context.Background(), grant(tc.settings, time.Hour))
			if res != nil {
				t.Errorf("Mint answered %+v", res)
			}
			check("Mint", err)
		})
	}
}

// TestGoodSettings checks that Validate accepts what the minters mint from.
func TestGoodSettings(t *testing.T) {
	for _, s := range []string{sbSettings, sb(`"entityPath":"topic.v1/subscriptions/audit_log-2"`), sb(`"expiration":525600,"unknown":{"kept":"as Auth0 did"}`)} {
		if err := azure.ValidateServiceBus(json.RawMessage(s)); err != nil {
			t.Errorf("ValidateServiceBus(%s) = %v", s, err)
		}
	}
	for _, s := range []string{blob(`"container_list":true`), blob(`"blobName":"a/b/c.txt","blob_read":true,"blob_write":false`), blob(`"container_read":true,"blobName":null`)} {
		if err := azure.ValidateBlob(json.RawMessage(s)); err != nil {
			t.Errorf("ValidateBlob(%s) = %v", s, err)
		}
	}
}

// TestBadGrant checks that a grant without a time or lifetime, or no grant,
// is an error and never a panic.
func TestBadGrant(t *testing.T) {
	for _, m := range []engine.Minter{azure.ServiceBus(), azure.Blob()} {
		settings := sbSettings
		if m == azure.Blob() {
			settings = blob(`"container_read":true`)
		}
		if res, err := m.Mint(context.Background(), nil); err == nil || res != nil {
			t.Errorf("nil grant: %v, %v", res, err)
		}
		g := grant(settings, time.Hour)
		g.IssuedAt = time.Time{}
		if res, err := m.Mint(context.Background(), g); err == nil || res != nil {
			t.Errorf("no issue time: %v, %v", res, err)
		}
		if res, err := m.Mint(context.Background(), grant(settings, 0)); err == nil || res != nil {
			t.Errorf("no lifetime: %v, %v", res, err)
		}
	}
}

// TestResponseJSON checks the wire form of both answers.
func TestResponseJSON(t *testing.T) {
	for _, tc := range []struct {
		m        engine.Minter
		settings string
		prefix   string
	}{
		{azure.ServiceBus(), sbSettings, `{"azure_sb_sas":"SharedAccessSignature sr=https%3A%2F%2Fcontoso-bus.servicebus.windows.net%2Forders%2Fsubscriptions%2Faudit\u0026sig=`},
		{azure.Blob(), blob(`"container_read":true`), `{"azure_blob_sas":"st=2024-01-02T03%3A04%3A05Z\u0026se=2024-01-02T03%3A09%3A05Z\u0026sp=r\u0026sv=2026-12-06\u0026sr=c\u0026sig=`},
	} {
		res, err := tc.m.Mint(context.Background(), grant(tc.settings, time.Hour))
		if err != nil {
			t.Fatal(err)
		}
		b, err := json.Marshal(res)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(string(b), tc.prefix) || !strings.HasSuffix(string(b), `"}`) || strings.Count(string(b), `":`) != 1 {
			t.Errorf("JSON = %s, want %s…\"}", b, tc.prefix)
		}
	}
}

// TestConcurrent mints from many goroutines (run with -race) and checks
// every answer is the same.
func TestConcurrent(t *testing.T) {
	for name, tc := range map[string]struct {
		m        engine.Minter
		settings string
		key      string
	}{
		"sb":   {azure.ServiceBus(), sbSettings, "azure_sb_sas"},
		"blob": {azure.Blob(), blob(`"blobName":"x.txt","blob_read":true`), "azure_blob_sas"},
	} {
		t.Run(name, func(t *testing.T) {
			want, err := tc.m.Mint(context.Background(), grant(tc.settings, time.Hour))
			if err != nil {
				t.Fatal(err)
			}
			var wg sync.WaitGroup
			for range 32 {
				wg.Go(func() {
					for range 50 {
						got, err := tc.m.Mint(context.Background(), grant(tc.settings, time.Hour))
						if err != nil || got.Extra[tc.key] != want.Extra[tc.key] {
							t.Errorf("concurrent Mint = %v, %v", got, err)
							return
						}
					}
				})
			}
			wg.Wait()
		})
	}
}

// TestExchange runs both minters behind engine.Exchanger: a delegation
// request with api_type azure_sb or azure_blob gets the SAS, and a target
// that has not enabled the api_type is invalid_request.
func TestExchange(t *testing.T) {
	const issuer = "https://id.example.com/"
	secret := []byte("source-app-hmac-secret-0123456789abcdef")
	st := store.NewMemory()
	for _, c := range []store.Client{
		{ID: "app", SigningAlg: "HS256", Secrets: []store.Secret{{ID: "s1", Value: secret}},
			Grants: []string{engine.GrantTypeJWTBearer}, AllowedSources: []string{"app"}},
		{ID: "azure", SigningAlg: "HS256", Secrets: []store.Secret{{ID: "s1", Value: []byte("target-hmac-secret-0123456789abcdef")}},
			AllowedSources: []string{"app"}, Lifetime: time.Hour,
			APITypes: map[string]json.RawMessage{"azure_sb": json.RawMessage(sbSettings), "azure_blob": json.RawMessage(blob(`"container_read":true`))}},
		{ID: "plain", SigningAlg: "HS256", Secrets: []store.Secret{{ID: "s1", Value: []byte("plain-hmac-secret-0123456789abcdef")}},
			AllowedSources: []string{"app"}},
	} {
		if err := st.PutClient(c); err != nil {
			t.Fatal(err)
		}
	}
	x, err := engine.New(engine.Config{
		Issuer:  issuer,
		Clients: st,
		Minters: map[string]engine.Minter{"azure_sb": azure.ServiceBus(), "azure_blob": azure.Blob()},
		Now:     func() time.Time { return issuedAt },
	})
	if err != nil {
		t.Fatal(err)
	}
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.HS256, Key: secret}, (&jose.SignerOptions{}).WithType("JWT").WithHeader("kid", "s1"))
	if err != nil {
		t.Fatal(err)
	}
	idToken, err := jwt.Signed(signer).Claims(jwt.Claims{
		Issuer: issuer, Subject: "auth0|ada", Audience: jwt.Audience{"app"},
		IssuedAt: jwt.NewNumericDate(issuedAt.Add(-time.Minute)), Expiry: jwt.NewNumericDate(issuedAt.Add(time.Hour)),
	}).Serialize()
	if err != nil {
		t.Fatal(err)
	}
	req := func(apiType, target string) *engine.Request {
		return &engine.Request{GrantType: engine.GrantTypeJWTBearer, ClientID: "app", IDToken: idToken, Target: target, APIType: apiType, Scope: "openid"}
	}
	wantSB := mintSB(t, sbSettings, time.Hour)
	wantBlob := mintBlob(t, blob(`"container_read":true`), time.Hour)
	for apiType, want := range map[string]string{"azure_sb": wantSB, "azure_blob": wantBlob} {
		t.Run(apiType, func(t *testing.T) {
			res, err := x.Exchange(context.Background(), req(apiType, "azure"))
			if err != nil {
				t.Fatal(err)
			}
			b, err := json.Marshal(res)
			if err != nil {
				t.Fatal(err)
			}
			wantJSON, _ := json.Marshal(map[string]string{apiType + "_sas": want})
			if string(b) != string(wantJSON) {
				t.Errorf("answer = %s, want %s", b, wantJSON)
			}
			res, err = x.Exchange(context.Background(), req(apiType, "plain"))
			if !errors.Is(err, engine.ErrInvalidRequest) || res != nil {
				t.Errorf("target without %s: %v, %v; want invalid_request", apiType, res, err)
			}
		})
	}
}
