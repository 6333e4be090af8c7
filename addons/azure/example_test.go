package azure_test

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/deputyauth/deputy/addons/azure"
	"github.com/deputyauth/deputy/engine"
)

// A Service Bus SAS for one queue. The engine fills in the Grant; a fixed
// key and IssuedAt make the signature reproducible. (Both examples'
// signatures were also computed with Python's hmac from the documented
// strings to sign.)
func ExampleServiceBus() {
	settings := json.RawMessage(`{
		"namespace": "contoso-bus",
		"sasKeyName": "send-only",
		"sasKey": "Zm9vYmFyLXNlcnZpY2VidXMta2V5LTAxMjM0NTY3ODk=",
		"entityPath": "orders",
		"expiration": 10
	}`)
	if err := azure.ValidateServiceBus(settings); err != nil {
		fmt.Println(err)
		return
	}
	res, err := azure.ServiceBus().Mint(context.Background(), &engine.Grant{
		IssuedAt: time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC),
		Lifetime: time.Hour,
		Settings: settings,
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	b, _ := json.Marshal(res)
	fmt.Println(string(b))
	// Output:
	// {"azure_sb_sas":"SharedAccessSignature sr=https%3A%2F%2Fcontoso-bus.servicebus.windows.net%2Forders\u0026sig=r4w27BgzJ50nS0hrLsoCqkADLSw2fgd%2F1f%2Fz8KrQxy4%3D\u0026se=1704165245\u0026skn=send-only"}
}

// A read-only SAS for one blob, capped at the grant's lifetime.
func ExampleBlob() {
	settings := json.RawMessage(`{
		"accountName": "deputytest",
		"storageAccessKey": "ZGVwdXR5LXRlc3Qtc3RvcmFnZS1hY2NvdW50LWtleS0wMTIzNDU2Nzg5YWJjZGVmZ2hpamtsbW5vcHFyc3R1dg==",
		"containerName": "reports",
		"blobName": "2024/q1.pdf",
		"blob_read": true,
		"expiration": 60
	}`)
	res, err := azure.Blob().Mint(context.Background(), &engine.Grant{
		IssuedAt: time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC),
		Lifetime: 15 * time.Minute,
		Settings: settings,
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(res.Extra["azure_blob_sas"])
	// Output:
	// st=2024-01-02T03%3A04%3A05Z&se=2024-01-02T03%3A19%3A05Z&sp=r&sv=2026-12-06&sr=b&sig=8RLuEINWXQHmlw4pOtkEqAe1jQY%2FVfWU6TRHA4%2Fzffs%3D
}

// Validation names the bad field and never shows its value.
func ExampleValidateBlob() {
	err := azure.ValidateBlob(json.RawMessage(`{
		"accountName": "deputytest",
		"storageAccessKey": "not base64!",
		"containerName": "reports",
		"container_read": true
	}`))
	fmt.Println(err)
	// Output:
	// azure_blob: settings field "storageAccessKey" must be the account key in standard base64
}
