package azure_test

import (
	"context"
	"testing"
	"time"

	"github.com/deputyauth/deputy/addons/azure"
)

// BenchmarkServiceBus times one Mint: parsing and checking the settings,
// then signing.
func BenchmarkServiceBus(b *testing.B) {
	m, g := azure.ServiceBus(), grant(sbSettings, time.Hour)
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := m.Mint(ctx, g); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkBlob times one Mint of a blob SAS with a signed identifier.
func BenchmarkBlob(b *testing.B) {
	m, g := azure.Blob(), grant(blob(`"blobName":"users/ada/avatar.png","blob_read":true,"blob_write":true,"signedIdentifier":"p1","expiration":15`), time.Hour)
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := m.Mint(ctx, g); err != nil {
			b.Fatal(err)
		}
	}
}
