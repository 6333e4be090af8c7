package azure_test

import (
	"context"
	"encoding/base64"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/sas"
	"github.com/deputyauth/deputy/addons/azure"
	"github.com/google/go-cmp/cmp"
)

// blobKey is a made-up 64-byte storage account key in base64, as the
// Azure portal shows one.
var blobKey = base64.StdEncoding.EncodeToString([]byte("deputy-test-storage-account-key-0123456789abcdefghijklmnopqrstuv"))

func mintBlob(t testing.TB, settings string, lifetime time.Duration) string {
	t.Helper()
	res, err := azure.Blob().Mint(context.Background(), grant(settings, lifetime))
	if err != nil {
		t.Fatalf("Mint: %v", err)
	}
	if res.ExpiresIn != 0 || res.IDToken != "" || res.AccessToken != "" || len(res.Extra) != 1 {
		t.Errorf("response = %+v, want only Extra[azure_blob_sas]", res)
	}
	q, ok := res.Extra["azure_blob_sas"].(string)
	if !ok {
		t.Fatalf("Extra[azure_blob_sas] = %#v, want a string", res.Extra["azure_blob_sas"])
	}
	return q
}

// TestBlobAgainstSDK compares every SAS with the one the Azure SDK for Go
// (azblob v1.8.3, package sas) signs for the same account, key, resource,
// permissions, identifier and times.
func TestBlobAgainstSDK(t *testing.T) {
	const account = "deputytest"
	cred, err := azblob.NewSharedKeyCredential(account, blobKey)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name        string
		settings    string
		lifetime    time.Duration
		container   string
		blob        string
		identifier  string
		permissions string
		expiry      time.Duration
	}{
		{
			name:      "container, all container permissions, default expiration",
			settings:  `{"container_list":true,"container_delete":true,"container_write":true,"container_read":true}`,
			lifetime:  time.Hour,
			container: "reports", permissions: "rwdl", expiry: 5 * time.Minute,
		},
		{
			name:      "container, list only",
			settings:  `{"containerName":"my-container-01","container_list":true,"expiration":30}`,
			lifetime:  time.Hour,
			container: "my-container-01", permissions: "l", expiry: 30 * time.Minute,
		},
		{
			name:      "blob, read and delete, capped at the lifetime",
			settings:  `{"blobName":"users/ada/avatar.png","blob_delete":true,"blob_read":true,"expiration":120}`,
			lifetime:  10 * time.Minute,
			container: "reports", blob: "users/ada/avatar.png", permissions: "rd", expiry: 10 * time.Minute,
		},
		{
			name:      "blob with a name to escape, write only",
			settings:  `{"blobName":"a b+c/ü&?#=.txt","blob_write":true}`,
			lifetime:  time.Hour,
			container: "reports", blob: "a b+c/ü&?#=.txt", permissions: "w", expiry: 5 * time.Minute,
		},
		{
			name:      "signed identifier",
			settings:  `{"signedIdentifier":"policy 1/+=","container_read":true,"expiration":1}`,
			lifetime:  time.Hour,
			container: "reports", identifier: "policy 1/+=", permissions: "r", expiry: time.Minute,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// Defaults every case shares, unless the case sets them.
			settings := `{"accountName":"` + account + `","storageAccessKey":"` + blobKey + `"`
			if !strings.Contains(tc.settings, "containerName") {
				settings += `,"containerName":"` + tc.container + `"`
			}
			settings += "," + tc.settings[1:]
			got, err := url.ParseQuery(mintBlob(t, settings, tc.lifetime))
			if err != nil {
				t.Fatal(err)
			}

			qp, err := sas.BlobSignatureValues{
				Protocol:      "",
				StartTime:     issuedAt,
				ExpiryTime:    issuedAt.Add(tc.expiry),
				Permissions:   tc.permissions,
				ContainerName: tc.container,
				BlobName:      tc.blob,
				Identifier:    tc.identifier,
			}.SignWithSharedKey(cred)
			if err != nil {
				t.Fatal(err)
			}
			want, err := url.ParseQuery(qp.Encode())
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("SAS differs from the Azure SDK's (-sdk +ours):\n%s", diff)
			}
			if got.Get("sv") != sas.Version {
				t.Errorf("sv = %q, want the SDK's default %q", got.Get("sv"), sas.Version)
			}
		})
	}
}

// TestBlobQueryOrder checks the answer's parameter order, Auth0's:
// st, se, sp, sv, sr, then si when set, then sig.
func TestBlobQueryOrder(t *testing.T) {
	base := `{"accountName":"deputytest","storageAccessKey":"` + blobKey + `","containerName":"reports","container_read":true`
	for settings, want := range map[string][]string{
		base + `}`:                         {"st", "se", "sp", "sv", "sr", "sig"},
		base + `,"signedIdentifier":"p1"}`: {"st", "se", "sp", "sv", "sr", "si", "sig"},
	} {
		var names []string
		for kv := range strings.SplitSeq(mintBlob(t, settings, time.Hour), "&") {
			name, _, _ := strings.Cut(kv, "=")
			names = append(names, name)
		}
		if diff := cmp.Diff(want, names); diff != "" {
			t.Errorf("parameters (-want +got):\n%s", diff)
		}
	}
}
