package scope_test

import (
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/deputyauth/deputy/scope"
)

// refParse is an independent, deliberately naive model of Parse: split on
// single spaces, check every byte, bound the raw token count (Parse refuses
// more than 4*MaxScopes tokens before folding) and the distinct count.
func refParse(s string) (tokens []string, ok bool) {
	if s == "" {
		return nil, true
	}
	if len(s) > scope.MaxLength {
		return nil, false
	}
	raw := strings.Split(s, " ")
	if len(raw) > 4*scope.MaxScopes {
		return nil, false
	}
	seen := map[string]bool{}
	for _, tok := range raw {
		if tok == "" {
			return nil, false
		}
		for i := 0; i < len(tok); i++ {
			c := tok[i]
			if c < 0x21 || c > 0x7e || c == '"' || c == '\\' {
				return nil, false
			}
		}
		if !seen[tok] {
			seen[tok] = true
			tokens = append(tokens, tok)
		}
	}
	if len(tokens) > scope.MaxScopes {
		return nil, false
	}
	return tokens, true
}

func FuzzParse(f *testing.F) {
	seeds := []string{
		"",
		"openid",
		"openid profile email",
		"profile openid email address phone offline_access",
		"\x00",
		"openid\x00admin",
		"openid \x00",
		" openid",
		"openid ",
		"openid  email",
		" ",
		"openid\temail",
		"openid\nemail",
		`openid "admin"`,
		`openid a\b`,
		"openid\x7f",
		"openid profilé",
		"openid 🔑 ключ",
		"openid \xff\xfe",
		"openid\u00a0email",
		"https://api.example.com/orders.read openid",
		"! #[ ]~",
		strings.Repeat("a", 64<<10),
		strings.Repeat("openid ", 9000) + "openid",
		strings.Repeat("openid ", 4*scope.MaxScopes-1) + "openid",
		strings.Repeat("openid ", 4*scope.MaxScopes) + "openid",
		strings.Repeat("a ", scope.MaxLength/2-1) + "a",
		strings.Repeat("zq", scope.MaxLength/2),
		strings.Repeat("zq", scope.MaxLength/2) + "z",
		strings.Join(distinct(scope.MaxScopes), " "),
		strings.Join(distinct(scope.MaxScopes+1), " "),
		"openid " + strings.Join(distinct(scope.MaxScopes), " "),
		strings.Repeat(" ", 300),
	}
	for _, s := range seeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		set, err := scope.Parse(in)
		want, wantOK := refParse(in)
		if err != nil {
			if !errors.Is(err, scope.ErrSyntax) {
				t.Fatalf("Parse error %v does not wrap ErrSyntax", err)
			}
			if set != nil {
				t.Fatalf("Parse returned %q with an error", set)
			}
			if !syntaxMessage.MatchString(err.Error()) {
				t.Fatalf("Parse error text %q is not a fixed template", err)
			}
			if wantOK {
				t.Fatalf("Parse refused input the model accepts (%v)", err)
			}
			return
		}
		if !wantOK {
			t.Fatalf("Parse accepted input the model refuses: %q", set)
		}
		if len(in) > scope.MaxLength {
			t.Fatalf("Parse accepted %d bytes", len(in))
		}
		if len(set) > scope.MaxScopes {
			t.Fatalf("Parse returned %d scopes", len(set))
		}
		for _, tok := range set {
			if err := scope.ValidToken(tok); err != nil {
				t.Fatalf("Parse returned invalid token %q: %v", tok, err)
			}
			if !set.Has(tok) {
				t.Fatalf("set %q lacks its own token %q", set, tok)
			}
		}
		checkCanonical(t, set)

		// Same tokens as the model, in canonical order.
		slices.Sort(want)
		got := slices.Clone([]string(set))
		slices.Sort(got)
		if diff := cmp.Diff(want, got, emptyEq); diff != "" {
			t.Fatalf("Parse tokens differ from the model (-want +got):\n%s", diff)
		}

		again, err := scope.Parse(set.String())
		if err != nil {
			t.Fatalf("Parse(String()) failed: %v", err)
		}
		if diff := cmp.Diff(set, again, emptyEq); diff != "" {
			t.Fatalf("round trip mismatch (-want +got):\n%s", diff)
		}
		if len(set.String()) > len(in) {
			t.Fatalf("canonical form longer than the input")
		}
		if set.String() != in && slices.Equal(set, strings.Split(in, " ")) {
			t.Fatalf("String %q differs from an already canonical input", set.String())
		}
	})
}
