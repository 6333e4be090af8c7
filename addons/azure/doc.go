// Package azure mints Auth0's two Azure add-ons for deputy's delegation
// endpoint: api_type "azure_sb", a Service Bus shared access signature, and
// api_type "azure_blob", a Blob Storage service SAS for a container or one
// blob. Both are minted offline from a shared key held in the target's
// settings (store.Client.APITypes), under Auth0's field names.
//
// A host registers the minters and validates settings when it stores a
// client:
//
//	x, err := engine.New(engine.Config{
//		// ...
//		Minters: map[string]engine.Minter{
//			"azure_sb":   azure.ServiceBus(),
//			"azure_blob": azure.Blob(),
//		},
//	})
//
//	if err := azure.ValidateBlob(client.APITypes["azure_blob"]); err != nil {
//		return err // names the bad field, never the key
//	}
//
// The minters validate the settings again on every exchange, since a store
// may hold settings that never went through Validate; a bad setting is a
// minter error (server_error) and mints nothing. Error messages name the
// field and never carry a key or a setting's value.
//
// Every time comes from engine.Grant.IssuedAt, never the wall clock, so the
// same grant and settings give the same signature. A signature never
// outlives the grant: its expiry is IssuedAt plus the smaller of the
// settings' expiration and Grant.Lifetime.
//
// Settings are JSON objects. Members this package does not know are
// ignored, as Auth0 kept them; a member set to null counts as absent.
package azure
