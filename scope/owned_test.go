package scope_test

import (
	"errors"
	"maps"
	"slices"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/deputyauth/deputy/claims"
	"github.com/deputyauth/deputy/scope"
)

// foldedOwned are claim names that Go's encoding/json, which matches keys
// with Unicode simple case folding, reads as owned claims: 'ſ' (U+017F)
// folds to 's'. strings.ToLower leaves 'ſ' alone.
var foldedOwned = []string{"ſub", "iſs", "ſid", "ſcope", "at_haſh", "c_haſh", "Sub", "AUD", "Client_ID", "client_iD", "NONCE", "Auth_Time"}

// notOwnedLookalikes fold to names that are not owned and stay releasable.
var notOwnedLookalikes = []string{"\u212Aid", "KID", "ſalary", "Email_Verified"}

// TestOwnedClaimsSmuggledByCaseFolding (issue 12, item 4): a mapping may
// not name a claim that folds to an owned one, and a source claim whose name
// folds to an owned one is never released, even by a mapping that names it.
func TestOwnedClaimsSmuggledByCaseFolding(t *testing.T) {
	t.Run("Validate", func(t *testing.T) {
		for _, name := range foldedOwned {
			err := scope.Standard.With("x", name).Validate()
			if !errors.Is(err, scope.ErrOwnedClaim) {
				t.Errorf("mapping to %q: Validate = %v, want ErrOwnedClaim", name, err)
			}
		}
		for _, name := range notOwnedLookalikes {
			if err := scope.Standard.With("x", name).Validate(); err != nil {
				t.Errorf("mapping to %q: Validate = %v, want nil", name, err)
			}
		}
	})

	// A mapping that skipped Validate and names every folded variant.
	bad := scope.Standard.With("x", append(slices.Clone(foldedOwned), notOwnedLookalikes...)...).
		With("profile", foldedOwned...)
	src := claims.Set{"name": "Ada", "email": "ada@example.com"}
	for _, name := range append(slices.Clone(foldedOwned), notOwnedLookalikes...) {
		src[name] = "smuggled " + name
	}
	tests := []struct {
		scope string
		want  []string
	}{
		{"openid", nil},
		{"openid x", slices.Sorted(slices.Values(notOwnedLookalikes))},
		{"openid profile", []string{"name"}},
		{"openid profile email x", slices.Sorted(slices.Values(append([]string{"email", "name"}, notOwnedLookalikes...)))},
	}
	for _, tt := range tests {
		t.Run("Filter/"+tt.scope, func(t *testing.T) {
			s := mustParse(t, tt.scope)
			got := bad.Filter(src, s)
			if diff := cmp.Diff(tt.want, slices.Sorted(maps.Keys(got)), emptyEq); diff != "" {
				t.Errorf("Filter keys mismatch (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tt.want, bad.Released(src, s, nil), emptyEq); diff != "" {
				t.Errorf("Released mismatch (-want +got):\n%s", diff)
			}
		})
	}
	t.Run("Covering", func(t *testing.T) {
		only := claims.Set{}
		for _, name := range foldedOwned {
			only[name] = "smuggled"
		}
		if diff := cmp.Diff(scope.Set{"openid"}, bad.Covering(only)); diff != "" {
			t.Errorf("Covering of folded owned claims only (-want +got):\n%s", diff)
		}
	})
}
