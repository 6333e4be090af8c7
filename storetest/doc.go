// Package storetest is the conformance suite for implementations of the
// interfaces in package store. An adapter runs it from its own tests, one
// call per interface it implements:
//
//	func TestPostgresClients(t *testing.T) {
//		storetest.TestClientStore(t, func(t *testing.T, cs []store.Client) store.ClientStore {
//			return newSeededStore(t, cs) // registers its own t.Cleanup
//		})
//	}
//
// # What the suite checks
//
// Each entry point runs one subtest (t.Run) per behaviour of the contract
// documented in package store: records round-trip in full, a miss wraps
// store.ErrNotFound, IDs are matched exactly, a cancelled or expired context
// yields an error wrapping ctx.Err() and never a miss, concurrent use is safe
// (run the suite with -race), and records already handed out never change.
// Failures print a cmp.Diff, -want +got.
//
// # The factory
//
// Every subtest calls the factory once, with its own *testing.T and the
// records it needs, and expects a fresh store holding exactly those records.
// The suite generates its records, secrets and keys itself. Subtests run one
// after the other, never in parallel, so a factory may reset a shared
// database; the factory registers any cleanup with t.Cleanup and fails the
// test (t.Fatal) if it cannot seed the store.
//
// Records compare the way a database may return them: times by time.Time's
// Equal method, JSON settings (Client.APITypes) by their decoded value, and a
// nil slice or map equals an empty one.
//
// # Clocks
//
// [TestKeyRotation] hands the factory a clock along with the keys, and
// moves it between lookups: a KeyStore judges signing windows by the clock
// it was built with, at every lookup.
//
// # Optional capabilities
//
// Some behaviours need a way to change a store after it is seeded: that a
// record returned earlier is unchanged by a later Put, that keys can be
// rotated under load. The suite finds these capabilities by type assertion
// of the store the factory returned against the interfaces declared here
// ([ClientPutter], [RefreshTokenPutter], [ProfilePutter], [KeyAdder],
// [KeyRemover], [KeyStager], [KeyRetirer]); store.Memory implements them
// all. A subtest whose
// capability the store lacks is skipped, and says which interface it needs;
// nothing is ever skipped by name.
package storetest
