package claims_test

import (
	"slices"
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"

	"github.com/deputyauth/deputy/claims"
)

// foldsToOwned is the reference IsOwned is checked against: the name equals
// an owned name under Unicode simple case folding, as Go's encoding/json
// (and other case-insensitive decoders) match object keys to fields.
func foldsToOwned(name string) bool {
	return slices.ContainsFunc(claims.OwnedNames(), func(o string) bool { return strings.EqualFold(name, o) })
}

// TestOwnedClaimsCaseFolding (issue 12, item 4): a name that folds to an
// owned name is owned. 'ſ' (U+017F) folds to 's' and 'K' (U+212A, Kelvin)
// to 'k', so "ſub" is read as sub by a Go relying party although
// strings.ToLower leaves it alone.
func TestOwnedClaimsCaseFolding(t *testing.T) {
	tests := []struct {
		name string
		want bool
	}{
		{"ſub", true},
		{"iſs", true},
		{"ſid", true},
		{"ſcope", true},
		{"at_haſh", true},
		{"ſ_haſh", false},
		{"c_haſh", true},
		{"auth_time", true},
		{"AUTH_TIME", true},
		{"Sub", true},
		{"ISS", true},
		{"aUd", true},
		{"AUD", true},
		{"Client_ID", true},
		{"client_Id", true},
		{"CLIENT_ID", true},
		{"nonce", true},
		{"NONCE", true},
		{"may_act", true},
		{"May_Act", true},
		{"ACT", true},
		{"cnf", true},
		{"CNF", true},
		{"jti", true},
		{"JTI", true},
		{"\u212Aid", false}, // "Kid": kid is not owned
		{"KID", false},      // nor any case of it
		{"\u212Aey", false}, // "Key"
		{"email", false},    // unowned names stay unowned in any case
		{"EMAIL", false},
		{"ſub ", false},           // trailing space
		{"sub\x00", false},        // NUL
		{"ſ", false},              // a lone s
		{"ſſ", false},             // nothing owned is two s's
		{"\u0131ss", false},       // dotless ı does not fold to i
		{"\u0130ss", false},       // nor does İ
		{"\uff53ub", false},       // fullwidth ｓ is not s under simple folding
		{"s\u0075\u0301b", false}, // a combining accent is another rune
		{"su\xffb", false},        // invalid UTF-8
		{"", false},
		{strings.Repeat("ſ", 100), false},
		{"ſubſubſubſub", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := claims.IsOwned(tt.name); got != tt.want {
				t.Errorf("IsOwned(%q) = %v, want %v", tt.name, got, tt.want)
			}
			if ref := foldsToOwned(tt.name); ref != tt.want {
				t.Errorf("test table disagrees with strings.EqualFold for %q: %v", tt.name, ref)
			}
		})
	}
}

// TestIsOwnedAgreesWithEqualFold checks IsOwned against strings.EqualFold
// over every case variant of every owned name, with each letter also
// replaced by every other rune of its fold orbit and by near misses.
func TestIsOwnedAgreesWithEqualFold(t *testing.T) {
	// Runes to try at one position of a name: the orbit of its letter,
	// and a few near misses.
	alts := func(r rune) []rune {
		out := []rune{r, 'x', '_', 'ſ', '\u212A', 'ı', 'İ', '\u00df', utf8.RuneError}
		for f := r; ; {
			if f = unicode.SimpleFold(f); f == r {
				break
			}
			out = append(out, f)
		}
		return out
	}
	checked := 0
	check := func(name string) {
		checked++
		if got, want := claims.IsOwned(name), foldsToOwned(name); got != want {
			t.Errorf("IsOwned(%q) = %v, strings.EqualFold says %v", name, got, want)
		}
	}
	for _, owned := range claims.OwnedNames() {
		runes := []rune(owned)
		// Every upper/lower case variant.
		for mask := 0; mask < 1<<len(runes); mask++ {
			v := slices.Clone(runes)
			for i := range v {
				if mask&(1<<i) != 0 {
					v[i] = unicode.ToUpper(v[i])
				}
			}
			check(string(v))
		}
		// One position replaced by each alternative.
		for i, r := range runes {
			for _, a := range alts(r) {
				v := slices.Clone(runes)
				v[i] = a
				check(string(v))
			}
		}
		// Every s and k replaced at once by its non-ASCII fold.
		check(strings.NewReplacer("s", "ſ", "k", "\u212A").Replace(owned))
	}
	if checked < 1000 {
		t.Fatalf("only %d names checked", checked)
	}
}

// TestIsOwnedAllocs: IsOwned runs per claim on the hot path.
func TestIsOwnedAllocs(t *testing.T) {
	names := []string{"email", "sub", "Sub", "ſub", "preferred_username", "at_haſh", "\u212Aid", strings.Repeat("x", 100)}
	if n := testing.AllocsPerRun(100, func() {
		for _, name := range names {
			claims.IsOwned(name)
		}
	}); n != 0 {
		t.Errorf("IsOwned allocates %v times", n)
	}
}

func BenchmarkIsOwned(b *testing.B) {
	for _, name := range []string{"email", "sub", "preferred_username", "Email_Verified", "ſub"} {
		b.Run(name, func(b *testing.B) {
			for b.Loop() {
				claims.IsOwned(name)
			}
		})
	}
}
