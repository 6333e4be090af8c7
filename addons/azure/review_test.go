package azure_test

// Review of issue 10: attacks on the Azure minters that they refuse, and
// more SDK comparisons with hostile names.

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/sas"
	"github.com/deputyauth/deputy/addons/azure"
	"github.com/deputyauth/deputy/engine"
	"github.com/google/go-cmp/cmp"
)

// TestReviewExpiryNeverBeyondGrant: with IssuedAt carrying a fraction and
// lifetimes that are not whole seconds, se is never past IssuedAt +
// Lifetime, and a grant under one second mints nothing.
func TestReviewExpiryNeverBeyondGrant(t *testing.T) {
	iat := issuedAt.Add(999 * time.Millisecond)
	for _, lt := range []time.Duration{1500 * time.Millisecond, 59*time.Second + 999*time.Millisecond, 10 * time.Minute, 400 * 24 * time.Hour} {
		// Service Bus, expiration 10 minutes.
		g := grant(sbSettings, lt)
		g.IssuedAt = iat
		res, err := azure.ServiceBus().Mint(context.Background(), g)
		if err != nil {
			t.Fatal(err)
		}
		tok := res.Extra["azure_sb_sas"].(string)
		q, _ := url.ParseQuery(strings.TrimPrefix(tok, "SharedAccessSignature "))
		se, _ := strconv.ParseInt(q.Get("se"), 10, 64)
		if limit := iat.Add(lt).Unix(); se > limit || se > iat.Add(10*time.Minute).Unix() {
			t.Errorf("sb lifetime %v: se %d beyond %d", lt, se, limit)
		}
		// Blob, expiration one year.
		g = grant(blob(`"container_read":true,"expiration":525600`), lt)
		g.IssuedAt = iat
		res, err = azure.Blob().Mint(context.Background(), g)
		if err != nil {
			t.Fatal(err)
		}
		bq, _ := url.ParseQuery(res.Extra["azure_blob_sas"].(string))
		bse, err := time.Parse(time.RFC3339, bq.Get("se"))
		if err != nil {
			t.Fatal(err)
		}
		if bse.After(iat.Add(lt)) {
			t.Errorf("blob lifetime %v: se %v beyond %v", lt, bse, iat.Add(lt))
		}
	}
	for m, s := range map[engine.Minter]string{azure.ServiceBus(): sbSettings, azure.Blob(): blob(`"container_read":true`)} {
		for _, lt := range []time.Duration{999 * time.Millisecond, 0, -time.Hour} {
			if res, err := m.Mint(context.Background(), grant(s, lt)); err == nil || res != nil {
				t.Errorf("lifetime %v: minted %+v", lt, res)
			}
		}
	}
}

// TestReviewHostileSettings: every wrong shape is refused by Validate and
// Mint alike, with no panic, and no error carries the key or a value.
func TestReviewHostileSettings(t *testing.T) {
	const mark = "TOPSECRETVALUE"
	sbCases := map[string]string{
		"nil":                 ``,
		"null":                `null`,
		"array":               `["` + mark + `"]`,
		"string":              `"` + mark + `"`,
		"truncated":           `{"sasKey":"` + mark,
		"trailing":            sb("") + `{"x":"` + mark + `"}`,
		"key with space":      sb(`"sasKey":"` + mark + ` x"`),
		"key with newline":    sb(`"sasKey":"` + mark + `\n"`),
		"key non-ASCII":       sb(`"sasKey":"` + mark + `é"`),
		"key too long":        sb(`"sasKey":"` + mark + strings.Repeat("A", 300) + `"`),
		"key number":          sb(`"sasKey":12345`),
		"namespace dots":      sb(`"namespace":"evil.example.com/` + mark + `"`),
		"namespace short":     sb(`"namespace":"abc"`),
		"keyName with &":      sb(`"sasKeyName":"send&skn=` + mark + `"`),
		"entity traversal":    sb(`"entityPath":"../` + mark + `"`),
		"entity query":        sb(`"entityPath":"orders?x=` + mark + `"`),
		"entity empty seg":    sb(`"entityPath":"a//b"`),
		"expiration 0":        sb(`"expiration":0`),
		"expiration negative": sb(`"expiration":-5`),
		"expiration fraction": sb(`"expiration":1.5`),
		"expiration string":   sb(`"expiration":"5"`),
		"expiration huge":     sb(`"expiration":1e400`),
		"expiration > 1 year": sb(`"expiration":525601`),
		"too large":           sb(`"pad":"` + strings.Repeat(mark, 2000) + `"`),
	}
	for name, s := range sbCases {
		checkRefused(t, "sb/"+name, s, azure.ValidateServiceBus, azure.ServiceBus(), mark)
	}
	blobCases := map[string]string{
		"key not base64":        blob(`"storageAccessKey":"` + mark + `!!","container_read":true`),
		"key empty":             blob(`"storageAccessKey":"","container_read":true`),
		"key too long":          blob(`"storageAccessKey":"` + strings.Repeat("QUFB", 300) + `","container_read":true`),
		"account upper":         blob(`"accountName":"Deputy","container_read":true`),
		"account with path":     blob(`"accountName":"a/../` + mark + `","container_read":true`),
		"container double dash": blob(`"containerName":"a--b","container_read":true`),
		"container slash":       blob(`"containerName":"reports/x","container_read":true`),
		"no permission":         blob(``),
		"flag string":           blob(`"container_read":"true"`),
		"flag number":           blob(`"container_read":1`),
		"blob flag w/o blob":    blob(`"blob_read":true`),
		"container flag + blob": blob(`"blobName":"a.txt","container_list":true`),
		"blob backslash":        blob(`"blobName":"a\\b","blob_read":true`),
		"blob trailing dot":     blob(`"blobName":"a.","blob_read":true`),
		"blob trailing slash":   blob(`"blobName":"a/","blob_read":true`),
		"blob control":          blob(`"blobName":"a\u0007b","blob_read":true`),
		"blob too long":         blob(`"blobName":"` + strings.Repeat("a/", 600) + `b","blob_read":true`),
		"identifier newline":    blob(`"signedIdentifier":"a\nb","container_read":true`),
		"identifier too long":   blob(`"signedIdentifier":"` + strings.Repeat("i", 65) + `","container_read":true`),
		"expiration 0":          blob(`"expiration":0,"container_read":true`),
	}
	for name, s := range blobCases {
		checkRefused(t, "blob/"+name, s, azure.ValidateBlob, azure.Blob(), mark)
	}
}

func checkRefused(t *testing.T, name, s string, validate func(json.RawMessage) error, m engine.Minter, mark string) {
	t.Helper()
	var raw json.RawMessage
	if s != "" {
		raw = json.RawMessage(s)
	}
	verr := validate(raw)
	res, merr := m.Mint(context.Background(), grant(string(raw), time.Hour))
	if verr == nil || merr == nil || res != nil {
		t.Errorf("%s: Validate = %v, Mint = %v / %+v; want both refused", name, verr, merr, res)
		return
	}
	for _, e := range []error{verr, merr} {
		if msg := e.Error(); strings.Contains(msg, mark) || strings.Contains(msg, sbKey) || strings.Contains(msg, blobKey) {
			t.Errorf("%s: error carries a value: %q", name, msg)
		}
	}
}

// TestReviewBlobAgainstSDKHostileNames: names and identifiers that need
// escaping, non-ASCII and percent signs, still sign exactly as the SDK.
func TestReviewBlobAgainstSDKHostileNames(t *testing.T) {
	cred, err := azblob.NewSharedKeyCredential("deputytest", blobKey)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ blobName, identifier, perms string }{
		{"%2e%2e/a%20b.txt", "", "r"},
		{"日本語/ファイル名.txt", "ポリシー", "rwd"},
		{"a+b=c&d?e#f", "x&sig=forged", "w"},
		{"-/_/~", "", "d"},
	} {
		settings := map[string]any{"accountName": "deputytest", "storageAccessKey": blobKey, "containerName": "reports",
			"blobName": tc.blobName, "expiration": 7}
		if tc.identifier != "" {
			settings["signedIdentifier"] = tc.identifier
		}
		for _, p := range tc.perms {
			settings[map[rune]string{'r': "blob_read", 'w': "blob_write", 'd': "blob_delete"}[p]] = true
		}
		b, _ := json.Marshal(settings)
		sasText := mintBlob(t, string(b), time.Hour)
		got, err := url.ParseQuery(sasText)
		if err != nil {
			t.Fatal(err)
		}
		qp, err := sas.BlobSignatureValues{StartTime: issuedAt, ExpiryTime: issuedAt.Add(7 * time.Minute), Permissions: tc.perms,
			ContainerName: "reports", BlobName: tc.blobName, Identifier: tc.identifier}.SignWithSharedKey(cred)
		if err != nil {
			t.Fatal(err)
		}
		want, _ := url.ParseQuery(qp.Encode())
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("%q: differs from the SDK (-sdk +ours):\n%s", tc.blobName, diff)
		}
		if strings.Count(sasText, "&sig=") != 1 || len(got["sig"]) != 1 || len(got["si"]) > 1 {
			t.Errorf("%q: an identifier smuggled a parameter: %s", tc.identifier, sasText)
		}
	}
}

// TestReviewServiceBusStringToSign: an independent recomputation of the
// documented string to sign (URL-encoded resource URI, "\n", expiry) for an
// entity path with every allowed special character and an upper-case
// namespace, checked against the minter's sig, sr and skn.
func TestReviewServiceBusStringToSign(t *testing.T) {
	s := `{"namespace":"My-Bus-01","sasKeyName":"Root.Manage_Shared-Key","sasKey":"` + sbKey + `","entityPath":"Topic.A/subscriptions/sub-1_x"}`
	tok := mintSB(t, s, time.Hour)
	q, err := url.ParseQuery(strings.TrimPrefix(tok, "SharedAccessSignature "))
	if err != nil {
		t.Fatal(err)
	}
	const uri = "https://my-bus-01.servicebus.windows.net/Topic.A/subscriptions/sub-1_x"
	const srEnc = "https%3A%2F%2Fmy-bus-01.servicebus.windows.net%2FTopic.A%2Fsubscriptions%2Fsub-1_x"
	se := strconv.FormatInt(issuedAt.Add(5*time.Minute).Unix(), 10)
	mac := hmac.New(sha256.New, []byte(sbKey))
	mac.Write([]byte(srEnc + "\n" + se))
	sig := base64.StdEncoding.EncodeToString(mac.Sum(nil))
	if q.Get("sr") != uri || q.Get("se") != se || q.Get("sig") != sig || q.Get("skn") != "Root.Manage_Shared-Key" {
		t.Errorf("token %s\nwant sr=%s se=%s sig=%s", tok, uri, se, sig)
	}
	if !strings.HasPrefix(tok, "SharedAccessSignature sr="+srEnc+"&sig=") {
		t.Errorf("sr not encoded as signed: %s", tok)
	}
}
