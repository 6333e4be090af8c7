package scope_test

import (
	"errors"
	"fmt"
	"maps"
	"math/rand/v2"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/deputyauth/deputy/claims"
	"github.com/deputyauth/deputy/scope"
)

// emptyEq treats a nil and an empty slice or map as equal.
var emptyEq = cmpopts.EquateEmpty()

// syntaxMessage matches every error text Parse and ValidToken may produce:
// fixed templates, none of which can carry the input.
var syntaxMessage = regexp.MustCompile(`^scope: invalid syntax: (` +
	`longer than 4096 bytes|` +
	`more than 64 scopes|` +
	`character 0x[0-9a-f]{2} not allowed|` +
	`empty scope token( \(leading, trailing or double space\))?` +
	`)$`)

// distinct returns n distinct valid tokens, "s000", "s001", ..., already in
// canonical order.
func distinct(n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("s%03d", i)
	}
	return out
}

func TestParse(t *testing.T) {
	const marker = "zqxMARKERzqx"
	tests := []struct {
		name    string
		in      string
		want    scope.Set
		wantErr bool
	}{
		{name: "empty", in: "", want: nil},
		{name: "openid", in: "openid", want: scope.Set{"openid"}},
		{name: "canonical order", in: "profile openid email", want: scope.Set{"openid", "email", "profile"}},
		{name: "already canonical", in: "openid email profile", want: scope.Set{"openid", "email", "profile"}},
		{name: "openid first even if later in byte order", in: "zeta alpha openid Beta", want: scope.Set{"openid", "Beta", "alpha", "zeta"}},
		{name: "without openid", in: "phone email", want: scope.Set{"email", "phone"}},
		{name: "duplicates folded", in: "email openid email openid email", want: scope.Set{"openid", "email"}},
		{name: "all duplicates", in: "openid openid openid", want: scope.Set{"openid"}},
		{name: "case-sensitive", in: "OpenID openid OPENID", want: scope.Set{"openid", "OPENID", "OpenID"}},
		{name: "URI scope", in: "https://api.example.com/orders.read openid", want: scope.Set{"openid", "https://api.example.com/orders.read"}},
		{name: "all NQCHAR classes", in: "! #[ ]~ a:b", want: scope.Set{"!", "#[", "]~", "a:b"}},
		{name: "single byte", in: "x", want: scope.Set{"x"}},

		{name: "leading space", in: " openid", wantErr: true},
		{name: "trailing space", in: "openid ", wantErr: true},
		{name: "double space", in: "openid  email", wantErr: true},
		{name: "only a space", in: " ", wantErr: true},
		{name: "only spaces", in: "   ", wantErr: true},
		{name: "tab", in: "openid\temail", wantErr: true},
		{name: "newline", in: "openid\nemail", wantErr: true},
		{name: "CR", in: "openid\r", wantErr: true},
		{name: "NUL", in: "openid\x00admin", wantErr: true},
		{name: "lone NUL", in: "\x00", wantErr: true},
		{name: "double quote", in: `openid "admin"`, wantErr: true},
		{name: "backslash", in: `openid a\b`, wantErr: true},
		{name: "DEL", in: "openid\x7f", wantErr: true},
		{name: "control 0x1f", in: "\x1f", wantErr: true},
		{name: "non-ASCII UTF-8", in: "openid profilé", wantErr: true},
		{name: "emoji", in: "openid 🔑", wantErr: true},
		{name: "invalid UTF-8", in: "openid \xff", wantErr: true},
		{name: "non-breaking space separator", in: "openid\u00a0email", wantErr: true},
		{name: "marker with NUL", in: "openid " + marker + "\x00", wantErr: true},
		{name: "marker with quote", in: marker + `"`, wantErr: true},
		{name: "marker with double space", in: marker + "  " + marker, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := scope.Parse(tt.in)
			if tt.wantErr {
				if !errors.Is(err, scope.ErrSyntax) {
					t.Fatalf("Parse(%q) error = %v, want ErrSyntax", tt.in, err)
				}
				if got != nil {
					t.Errorf("Parse(%q) = %q with an error, want nil", tt.in, got)
				}
				checkNoInput(t, err, tt.in)
				return
			}
			if err != nil {
				t.Fatalf("Parse(%q): %v", tt.in, err)
			}
			if diff := cmp.Diff(tt.want, got, emptyEq); diff != "" {
				t.Errorf("Parse(%q) mismatch (-want +got):\n%s", tt.in, diff)
			}
		})
	}
}

// checkNoInput fails if err's text is not one of Parse's fixed templates or
// quotes any multi-byte fragment of the input.
func checkNoInput(t *testing.T, err error, in string) {
	t.Helper()
	msg := err.Error()
	if !syntaxMessage.MatchString(msg) {
		t.Errorf("error text %q is not one of the fixed templates", msg)
	}
	for tok := range strings.FieldsFuncSeq(in, func(r rune) bool { return r == ' ' || r < 0x21 || r > 0x7e || r == '"' || r == '\\' }) {
		if len(tok) >= 8 && strings.Contains(msg, tok) {
			t.Errorf("error text %q quotes input fragment %q", msg, tok)
		}
	}
}

func TestParseLimits(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		wantLen int
		wantErr bool
	}{
		{name: "exactly MaxScopes distinct", in: strings.Join(distinct(scope.MaxScopes), " "), wantLen: scope.MaxScopes},
		{name: "MaxScopes-1 distinct plus openid", in: "openid " + strings.Join(distinct(scope.MaxScopes-1), " "), wantLen: scope.MaxScopes},
		{name: "MaxScopes+1 distinct", in: strings.Join(distinct(scope.MaxScopes+1), " "), wantErr: true},
		{name: "MaxScopes distinct plus openid", in: "openid " + strings.Join(distinct(scope.MaxScopes), " "), wantErr: true},
		{name: "MaxScopes+1 tokens folding to MaxScopes", in: strings.Join(append(distinct(scope.MaxScopes), "s000"), " "), wantLen: scope.MaxScopes},
		{name: "twice MaxScopes tokens folding to MaxScopes", in: strings.Join(slices.Concat(distinct(scope.MaxScopes), distinct(scope.MaxScopes)), " "), wantLen: scope.MaxScopes},
		{name: "many duplicates within the token bound", in: strings.TrimSpace(strings.Repeat("openid ", 4*scope.MaxScopes)), wantLen: 1},
		// Parse bounds the raw token count at 4*MaxScopes before folding.
		{name: "duplicates beyond the token bound", in: strings.TrimSpace(strings.Repeat("openid ", 4*scope.MaxScopes+1)), wantErr: true},
		{name: "exactly MaxLength bytes", in: strings.Repeat("zq", scope.MaxLength/2), wantLen: 1},
		{name: "MaxLength+1 bytes", in: strings.Repeat("zq", scope.MaxLength/2) + "z", wantErr: true},
		{name: "64 KiB", in: strings.Repeat("zq", 32<<10), wantErr: true},
		{name: "64 KiB of NUL", in: strings.Repeat("\x00", 64<<10), wantErr: true},
		{name: "64 KiB of spaces", in: strings.Repeat(" ", 64<<10), wantErr: true},
		{name: "4096 bytes of spaces", in: strings.Repeat(" ", scope.MaxLength), wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := scope.Parse(tt.in)
			if tt.wantErr {
				if !errors.Is(err, scope.ErrSyntax) {
					t.Fatalf("Parse error = %v, want ErrSyntax", err)
				}
				checkNoInput(t, err, tt.in)
				if strings.Contains(err.Error(), "zqzq") || strings.Contains(err.Error(), "s000") {
					t.Errorf("error text %q quotes the input", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			if len(got) != tt.wantLen {
				t.Errorf("len(Parse) = %d, want %d", len(got), tt.wantLen)
			}
		})
	}
}

func TestParseErrorTexts(t *testing.T) {
	tests := []struct {
		in   string
		want string
	}{
		{"openid\x00admin", "scope: invalid syntax: character 0x00 not allowed"},
		{`openid "admin"`, "scope: invalid syntax: character 0x22 not allowed"},
		{"openid profilé", "scope: invalid syntax: character 0xc3 not allowed"},
		{"openid  admin", "scope: invalid syntax: empty scope token (leading, trailing or double space)"},
		{strings.Repeat("a", scope.MaxLength+1), "scope: invalid syntax: longer than 4096 bytes"},
		{strings.Join(distinct(scope.MaxScopes+1), " "), "scope: invalid syntax: more than 64 scopes"},
	}
	for _, tt := range tests {
		_, err := scope.Parse(tt.in)
		if err == nil {
			t.Errorf("Parse(%.20q…) succeeded", tt.in)
			continue
		}
		if diff := cmp.Diff(tt.want, err.Error()); diff != "" {
			t.Errorf("Parse(%.20q…) error text mismatch (-want +got):\n%s", tt.in, diff)
		}
	}
}

func TestStringRoundTrip(t *testing.T) {
	tests := []struct {
		in   string
		want string
	}{
		{"", ""},
		{"openid", "openid"},
		{"profile openid email", "openid email profile"},
		{"email email", "email"},
		{"b a c openid", "openid a b c"},
		{"Z a openid _", "openid Z _ a"},
	}
	for _, tt := range tests {
		s, err := scope.Parse(tt.in)
		if err != nil {
			t.Fatalf("Parse(%q): %v", tt.in, err)
		}
		if got := s.String(); got != tt.want {
			t.Errorf("Parse(%q).String() = %q, want %q", tt.in, got, tt.want)
		}
		again, err := scope.Parse(s.String())
		if err != nil {
			t.Fatalf("Parse(String()): %v", err)
		}
		if diff := cmp.Diff(s, again, emptyEq); diff != "" {
			t.Errorf("round trip of %q mismatch (-want +got):\n%s", tt.in, diff)
		}
	}
	if got := scope.Set(nil).String(); got != "" {
		t.Errorf("empty Set String = %q, want empty", got)
	}
}

func mustParse(t testing.TB, s string) scope.Set {
	t.Helper()
	set, err := scope.Parse(s)
	if err != nil {
		t.Fatalf("Parse(%q): %v", s, err)
	}
	return set
}

func TestHas(t *testing.T) {
	s := mustParse(t, "phone openid address email profile")
	for _, tok := range []string{"openid", "address", "email", "phone", "profile"} {
		if !s.Has(tok) {
			t.Errorf("Has(%q) = false, want true", tok)
		}
	}
	for _, tok := range []string{"", "open", "openid2", "OPENID", "a", "zzz", "offline_access", "phones", "email "} {
		if s.Has(tok) {
			t.Errorf("Has(%q) = true, want false", tok)
		}
	}
	var empty scope.Set
	if empty.Has("openid") || empty.Has("") {
		t.Error("empty set Has = true")
	}
	noOpenID := mustParse(t, "b a c")
	if noOpenID.Has("openid") || !noOpenID.Has("a") || !noOpenID.Has("c") {
		t.Error("Has wrong on a set without openid")
	}
}

func TestSetOperations(t *testing.T) {
	p := func(s string) scope.Set { return mustParse(t, s) }
	tests := []struct {
		a, b      string
		subset    bool // a ⊆ b
		intersect scope.Set
		union     scope.Set
	}{
		{"", "", true, nil, nil},
		{"", "openid", true, nil, scope.Set{"openid"}},
		{"openid", "", false, nil, scope.Set{"openid"}},
		{"openid", "openid email", true, scope.Set{"openid"}, scope.Set{"openid", "email"}},
		{"openid email", "openid", false, scope.Set{"openid"}, scope.Set{"openid", "email"}},
		{"openid email profile", "openid profile phone", false, scope.Set{"openid", "profile"}, scope.Set{"openid", "email", "phone", "profile"}},
		{"a b", "c d", false, nil, scope.Set{"a", "b", "c", "d"}},
		{"a openid", "openid z a", true, scope.Set{"openid", "a"}, scope.Set{"openid", "a", "z"}},
	}
	for _, tt := range tests {
		name := tt.a + "|" + tt.b
		t.Run(name, func(t *testing.T) {
			a, b := p(tt.a), p(tt.b)
			aCopy, bCopy := slices.Clone(a), slices.Clone(b)
			if got := a.SubsetOf(b); got != tt.subset {
				t.Errorf("SubsetOf = %v, want %v", got, tt.subset)
			}
			if diff := cmp.Diff(tt.intersect, a.Intersect(b), emptyEq); diff != "" {
				t.Errorf("Intersect mismatch (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tt.intersect, b.Intersect(a), emptyEq); diff != "" {
				t.Errorf("Intersect (swapped) mismatch (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tt.union, a.Union(b), emptyEq); diff != "" {
				t.Errorf("Union mismatch (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tt.union, b.Union(a), emptyEq); diff != "" {
				t.Errorf("Union (swapped) mismatch (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(aCopy, a, emptyEq); diff != "" {
				t.Errorf("receiver modified (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(bCopy, b, emptyEq); diff != "" {
				t.Errorf("argument modified (-want +got):\n%s", diff)
			}
		})
	}
}

func TestWithout(t *testing.T) {
	s := mustParse(t, "openid email profile")
	tests := []struct {
		token string
		want  scope.Set
	}{
		{"openid", scope.Set{"email", "profile"}},
		{"email", scope.Set{"openid", "profile"}},
		{"profile", scope.Set{"openid", "email"}},
		{"phone", scope.Set{"openid", "email", "profile"}},
		{"", scope.Set{"openid", "email", "profile"}},
	}
	for _, tt := range tests {
		got := s.Without(tt.token)
		if diff := cmp.Diff(tt.want, got, emptyEq); diff != "" {
			t.Errorf("Without(%q) mismatch (-want +got):\n%s", tt.token, diff)
		}
		if len(got) > 0 {
			got[0] = "mutated"
		}
		if diff := cmp.Diff(scope.Set{"openid", "email", "profile"}, s); diff != "" {
			t.Fatalf("Without result aliases the receiver (-want +got):\n%s", diff)
		}
	}
	if got := (scope.Set{"openid"}).Without("openid"); len(got) != 0 {
		t.Errorf("Without last token = %q, want empty", got)
	}
}

func TestNew(t *testing.T) {
	tests := []struct {
		name    string
		in      []string
		want    scope.Set
		wantErr bool
	}{
		{name: "none", in: nil, want: nil},
		{name: "one", in: []string{"openid"}, want: scope.Set{"openid"}},
		{name: "sorted and folded", in: []string{"profile", "openid", "email", "profile"}, want: scope.Set{"openid", "email", "profile"}},
		{name: "empty token", in: []string{"openid", ""}, wantErr: true},
		{name: "space in token", in: []string{"openid email"}, wantErr: true},
		{name: "NUL", in: []string{"openid\x00admin"}, wantErr: true},
		{name: "quote", in: []string{`"`}, wantErr: true},
		{name: "backslash", in: []string{`\`}, wantErr: true},
		{name: "DEL", in: []string{"\x7f"}, wantErr: true},
		{name: "tab", in: []string{"a\tb"}, wantErr: true},
		{name: "non-ASCII", in: []string{"é"}, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			arg := slices.Clone(tt.in)
			got, err := scope.New(arg...)
			if tt.wantErr {
				if !errors.Is(err, scope.ErrSyntax) {
					t.Fatalf("New error = %v, want ErrSyntax", err)
				}
				if !syntaxMessage.MatchString(err.Error()) {
					t.Errorf("New error text %q is not a fixed template", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("New: %v", err)
			}
			if diff := cmp.Diff(tt.want, got, emptyEq); diff != "" {
				t.Errorf("New mismatch (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tt.in, arg); diff != "" {
				t.Errorf("New reordered its argument (-want +got):\n%s", diff)
			}
			if len(got) > 0 {
				got[0] = "mutated"
				if diff := cmp.Diff(tt.in, arg); diff != "" {
					t.Errorf("New result aliases its argument (-want +got):\n%s", diff)
				}
			}
		})
	}
}

func TestValidToken(t *testing.T) {
	for c := 0; c < 256; c++ {
		want := c == 0x21 || (c >= 0x23 && c <= 0x5B) || (c >= 0x5D && c <= 0x7E)
		err := scope.ValidToken(string([]byte{byte(c)}))
		if (err == nil) != want {
			t.Errorf("ValidToken(%#02x) = %v, want valid=%v", c, err, want)
		}
		if err != nil && !errors.Is(err, scope.ErrSyntax) {
			t.Errorf("ValidToken(%#02x) error %v does not wrap ErrSyntax", c, err)
		}
	}
	if err := scope.ValidToken(""); !errors.Is(err, scope.ErrSyntax) {
		t.Errorf("ValidToken(\"\") = %v, want ErrSyntax", err)
	}
}

// Mapping tests.

var profileClaims = []string{
	"name", "family_name", "given_name", "middle_name", "nickname",
	"preferred_username", "profile", "picture", "website", "gender",
	"birthdate", "zoneinfo", "locale", "updated_at",
}

func wantStandard() scope.Mapping {
	return scope.Mapping{
		"openid":         nil,
		"offline_access": nil,
		"profile":        slices.Clone(profileClaims),
		"email":          {"email", "email_verified"},
		"address":        {"address"},
		"phone":          {"phone_number", "phone_number_verified"},
	}
}

func TestStandard(t *testing.T) {
	if diff := cmp.Diff(wantStandard(), scope.Standard, emptyEq); diff != "" {
		t.Errorf("Standard mismatch (-want +got):\n%s", diff)
	}
	for _, s := range []string{"openid", "offline_access"} {
		if claimsOf, ok := scope.Standard[s]; !ok || len(claimsOf) != 0 {
			t.Errorf("Standard[%q] = %q, %v; want known with no claims", s, claimsOf, ok)
		}
	}
	if len(profileClaims) != 14 {
		t.Fatalf("test table has %d profile claims, want 14", len(profileClaims))
	}
	if err := scope.Standard.Validate(); err != nil {
		t.Errorf("Standard.Validate: %v", err)
	}
}

func TestValidate(t *testing.T) {
	tests := []struct {
		name      string
		m         scope.Mapping
		wantErr   bool
		wantOwned bool
		wantParts []string // substrings the joined error must contain
	}{
		{name: "standard", m: scope.Standard},
		{name: "standard with custom", m: scope.Standard.With("orders", "order_ids")},
		{name: "openid only", m: scope.Mapping{"openid": nil}},
		{name: "URI scope", m: scope.Standard.With("https://api.example/orders", "order_ids")},
		{name: "nil mapping", m: nil, wantErr: true, wantParts: []string{`lacks "openid"`}},
		{name: "empty mapping", m: scope.Mapping{}, wantErr: true, wantParts: []string{`lacks "openid"`}},
		{name: "without openid", m: scope.Mapping{"profile": {"name"}}, wantErr: true, wantParts: []string{`lacks "openid"`}},
		{name: "owned claim iss", m: scope.Standard.With("evil", "iss"), wantErr: true, wantOwned: true, wantParts: []string{`"evil"`, `"iss"`}},
		{name: "owned claim in standard scope", m: scope.Standard.With("profile", "aud"), wantErr: true, wantOwned: true, wantParts: []string{`"profile"`, `"aud"`}},
		{name: "owned claim on openid", m: scope.Standard.With("openid", "nonce"), wantErr: true, wantOwned: true},
		{name: "invalid scope with space", m: scope.Standard.With("bad scope", "x"), wantErr: true, wantParts: []string{"invalid syntax"}},
		{name: "invalid scope empty", m: scope.Standard.With("", "x"), wantErr: true, wantParts: []string{"empty scope token"}},
		{name: "invalid scope quote", m: scope.Standard.With(`a"b`, "x"), wantErr: true, wantParts: []string{"0x22"}},
		{name: "invalid scope non-ASCII", m: scope.Standard.With("prófile", "x"), wantErr: true},
		{name: "empty claim name", m: scope.Standard.With("orders", ""), wantErr: true, wantParts: []string{"empty claim name"}},
		{
			name:      "every problem at once",
			m:         scope.Mapping{"bad scope": {"iss"}, "orders": {"", "exp"}},
			wantErr:   true,
			wantOwned: true,
			wantParts: []string{`lacks "openid"`, `"bad scope"`, "invalid syntax", `"iss"`, "empty claim name", `"exp"`},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.m.Validate()
			if !tt.wantErr {
				if err != nil {
					t.Fatalf("Validate: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatal("Validate = nil, want an error")
			}
			if got := errors.Is(err, scope.ErrOwnedClaim); got != tt.wantOwned {
				t.Errorf("errors.Is(err, ErrOwnedClaim) = %v, want %v (err: %v)", got, tt.wantOwned, err)
			}
			for _, part := range tt.wantParts {
				if !strings.Contains(err.Error(), part) {
					t.Errorf("error %q lacks %q", err, part)
				}
			}
		})
	}
	for _, name := range claims.OwnedNames() {
		err := scope.Standard.With("custom", "ok_claim", name).Validate()
		if !errors.Is(err, scope.ErrOwnedClaim) {
			t.Errorf("mapping naming owned claim %q: Validate = %v, want ErrOwnedClaim", name, err)
		}
	}
}

func TestWith(t *testing.T) {
	before := scope.Standard.Clone()

	m := scope.Standard.With("orders", "order_ids", "order_total")
	if diff := cmp.Diff([]string{"order_ids", "order_total"}, m["orders"]); diff != "" {
		t.Errorf("With new scope mismatch (-want +got):\n%s", diff)
	}
	m2 := scope.Standard.With("email", "email_alias")
	if diff := cmp.Diff([]string{"email", "email_verified", "email_alias"}, m2["email"]); diff != "" {
		t.Errorf("With existing scope mismatch (-want +got):\n%s", diff)
	}
	m3 := scope.Standard.With("offline_access")
	if _, ok := m3["offline_access"]; !ok {
		t.Error("With of an existing claimless scope dropped it")
	}
	m4 := scope.Standard.With("marker_scope")
	if _, ok := m4["marker_scope"]; !ok {
		t.Error("With of a new scope without claims did not make it known")
	}

	// Mutating every slice of the results must leave Standard alone.
	for _, r := range []scope.Mapping{m, m2, m3, m4} {
		for k, v := range r {
			for i := range v {
				v[i] = "mutated"
			}
			r[k] = append(v, "appended")
		}
		r["injected"] = []string{"iss"}
	}
	if diff := cmp.Diff(before, scope.Standard, emptyEq); diff != "" {
		t.Errorf("Standard changed by With (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(wantStandard(), scope.Standard, emptyEq); diff != "" {
		t.Errorf("Standard differs from OIDC Core §5.4 after With (-want +got):\n%s", diff)
	}

	// Chained With does not leak into the intermediate mapping either.
	a := scope.Standard.With("a", "x")
	b := a.With("a", "y")
	if diff := cmp.Diff([]string{"x"}, a["a"]); diff != "" {
		t.Errorf("chained With changed its receiver (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"x", "y"}, b["a"]); diff != "" {
		t.Errorf("chained With mismatch (-want +got):\n%s", diff)
	}

	// A receiver slice with spare capacity is not appended to in place.
	spare := make([]string, 1, 8)
	spare[0] = "base"
	r := scope.Mapping{"openid": nil, "x": spare}
	ry, rz := r.With("x", "y"), r.With("x", "z")
	if diff := cmp.Diff([]string{"base", "y"}, ry["x"]); diff != "" {
		t.Errorf("With on spare capacity mismatch (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"base", "z"}, rz["x"]); diff != "" {
		t.Errorf("second With on spare capacity mismatch (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"base"}, r["x"]); diff != "" {
		t.Errorf("With changed its receiver (-want +got):\n%s", diff)
	}
	if got := spare[:2][1]; got != "" {
		t.Errorf("With wrote %q into the receiver's spare capacity", got)
	}

	// With on a nil mapping works.
	n := scope.Mapping(nil).With("openid")
	if diff := cmp.Diff(scope.Mapping{"openid": nil}, n, emptyEq); diff != "" {
		t.Errorf("nil.With mismatch (-want +got):\n%s", diff)
	}
}

func TestClone(t *testing.T) {
	c := scope.Standard.Clone()
	if diff := cmp.Diff(scope.Standard, c, emptyEq); diff != "" {
		t.Fatalf("Clone mismatch (-want +got):\n%s", diff)
	}
	c["profile"][0] = "mutated"
	c["email"] = append(c["email"], "x")
	delete(c, "phone")
	if diff := cmp.Diff(wantStandard(), scope.Standard, emptyEq); diff != "" {
		t.Errorf("Clone aliases Standard (-want +got):\n%s", diff)
	}
}

func TestKnown(t *testing.T) {
	custom := scope.Standard.With("orders", "order_ids")
	tests := []struct {
		m           scope.Mapping
		in          string
		wantUnknown string
		wantOK      bool
	}{
		{scope.Standard, "", "", true},
		{scope.Standard, "openid", "", true},
		{scope.Standard, "openid offline_access profile email address phone", "", true},
		{scope.Standard, "openid orders", "orders", false},
		{scope.Standard, "openid admin orders", "admin", false},
		{scope.Standard, "openid Profile", "Profile", false},
		{custom, "openid orders", "", true},
		{custom, "openid orders payments", "payments", false},
		{scope.Mapping{"profile": nil}, "openid profile", "openid", false},
	}
	for _, tt := range tests {
		gotUnknown, gotOK := tt.m.Known(mustParse(t, tt.in))
		if gotUnknown != tt.wantUnknown || gotOK != tt.wantOK {
			t.Errorf("Known(%q) = %q, %v; want %q, %v", tt.in, gotUnknown, gotOK, tt.wantUnknown, tt.wantOK)
		}
	}
}

// richSource is a source claim set holding user claims, custom claims and
// every owned claim.
func richSource() claims.Set {
	return claims.Set{
		// owned
		"iss": "https://issuer.example", "sub": "user-1", "aud": []any{"a", "b"},
		"exp": float64(1700003600), "nbf": float64(1700000000), "iat": float64(1700000000),
		"jti": "jti-1", "azp": "a", "act": map[string]any{"sub": "actor"},
		"may_act": map[string]any{"sub": "other"}, "scope": "openid admin",
		"client_id": "a", "nonce": "n-1", "at_hash": "ath", "c_hash": "ch",
		"auth_time": float64(1699990000), "sid": "sid-1",
		"cnf": map[string]any{"jkt": "thumb"},
		// profile (a subset of the 14)
		"name": "Ada Lovelace", "given_name": "Ada", "family_name": "Lovelace",
		"nickname": "ada", "picture": "https://pic.example/ada", "updated_at": float64(1690000000),
		// email
		"email": "ada@example.com", "email_verified": true,
		// address
		"address": map[string]any{"country": "UK"},
		// phone
		"phone_number": "+44 20 0000 0000", "phone_number_verified": false,
		// custom
		"order_ids": []any{"o1", "o2"},
		// unmapped
		"groups": []any{"admin"}, "internal_note": "do not leak", "null_claim": nil,
	}
}

func TestFilter(t *testing.T) {
	custom := scope.Standard.With("orders", "order_ids", "order_total")
	src := richSource()
	profile := claims.Set{
		"name": "Ada Lovelace", "given_name": "Ada", "family_name": "Lovelace",
		"nickname": "ada", "picture": "https://pic.example/ada", "updated_at": float64(1690000000),
	}
	email := claims.Set{"email": "ada@example.com", "email_verified": true}
	address := claims.Set{"address": map[string]any{"country": "UK"}}
	phone := claims.Set{"phone_number": "+44 20 0000 0000", "phone_number_verified": false}
	merge := func(sets ...claims.Set) claims.Set {
		out := claims.Set{}
		for _, s := range sets {
			maps.Copy(out, s)
		}
		return out
	}
	tests := []struct {
		name  string
		m     scope.Mapping
		scope string
		src   claims.Set
		want  claims.Set
	}{
		{"empty scope", scope.Standard, "", src, claims.Set{}},
		{"openid only", scope.Standard, "openid", src, claims.Set{}},
		{"offline_access", scope.Standard, "openid offline_access", src, claims.Set{}},
		{"openid profile", scope.Standard, "openid profile", src, profile},
		{"openid email", scope.Standard, "openid email", src, email},
		{"openid address", scope.Standard, "openid address", src, address},
		{"openid phone", scope.Standard, "openid phone", src, phone},
		{"openid profile email address phone", scope.Standard, "openid profile email address phone", src, merge(profile, email, address, phone)},
		{"email without openid", scope.Standard, "email", src, email},
		{"custom scope under Standard is unknown", scope.Standard, "openid orders", src, claims.Set{}},
		{"custom scope", custom, "openid orders", src, claims.Set{"order_ids": []any{"o1", "o2"}}},
		{"custom with email", custom, "openid email orders", src, merge(email, claims.Set{"order_ids": []any{"o1", "o2"}})},
		{"scope whose claims are absent", scope.Standard, "openid email", claims.Set{"name": "x"}, claims.Set{}},
		{"partial email", scope.Standard, "openid email", claims.Set{"email": "x"}, claims.Set{"email": "x"}},
		{"null value kept", scope.Standard.With("n", "null_claim"), "openid n", src, claims.Set{"null_claim": nil}},
		{"nil source", scope.Standard, "openid profile", nil, claims.Set{}},
		{"nil mapping", nil, "openid profile", src, claims.Set{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := tt.m.Filter(tt.src, mustParse(t, tt.scope))
			if got == nil {
				t.Fatal("Filter returned nil")
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("Filter mismatch (-want +got):\n%s", diff)
			}
		})
	}
	if diff := cmp.Diff(richSource(), src); diff != "" {
		t.Errorf("Filter modified its source (-want +got):\n%s", diff)
	}
}

func TestFilterNeverReleasesOwnedClaims(t *testing.T) {
	// A deliberately invalid mapping that names every owned claim, both in a
	// custom scope and in standard ones.
	owned := claims.OwnedNames()
	bad := scope.Standard.With("evil", append([]string{"email"}, owned...)...).
		With("profile", owned...).
		With("openid", owned...)
	if !errors.Is(bad.Validate(), scope.ErrOwnedClaim) {
		t.Fatal("test mapping unexpectedly valid")
	}
	src := richSource()
	tests := []struct {
		scope string
		want  []string
	}{
		{"openid", nil},
		{"openid evil", []string{"email"}},
		{"evil", []string{"email"}},
		{"openid profile", []string{"family_name", "given_name", "name", "nickname", "picture", "updated_at"}},
	}
	for _, tt := range tests {
		got := bad.Filter(src, mustParse(t, tt.scope))
		if diff := cmp.Diff(tt.want, slices.Sorted(maps.Keys(got)), emptyEq); diff != "" {
			t.Errorf("Filter(%q) keys mismatch (-want +got):\n%s", tt.scope, diff)
		}
		for k := range got {
			if claims.IsOwned(k) {
				t.Errorf("Filter(%q) released owned claim %q", tt.scope, k)
			}
		}
	}
	if got := bad.Covering(claims.Set{"iss": "x", "aud": "y", "act": map[string]any{}}); !slices.Equal(got, scope.Set{"openid"}) {
		t.Errorf("Covering with owned-only source under a bad mapping = %q, want [openid]", got)
	}
}

func TestCovering(t *testing.T) {
	custom := scope.Standard.With("orders", "order_ids")
	ownedOnly := claims.Set{}
	for _, n := range claims.OwnedNames() {
		ownedOnly[n] = "x"
	}
	tests := []struct {
		name string
		m    scope.Mapping
		src  claims.Set
		want scope.Set
	}{
		{"email only", scope.Standard, claims.Set{"email": "a@example.com"}, scope.Set{"openid", "email"}},
		{"email_verified only", scope.Standard, claims.Set{"email_verified": true}, scope.Set{"openid", "email"}},
		{"name and phone_number", scope.Standard, claims.Set{"name": "Ada", "phone_number": "+1"}, scope.Set{"openid", "phone", "profile"}},
		{"only owned claims", scope.Standard, ownedOnly, scope.Set{"openid"}},
		{"empty", scope.Standard, claims.Set{}, scope.Set{"openid"}},
		{"nil", scope.Standard, nil, scope.Set{"openid"}},
		{"unmapped claims", scope.Standard, claims.Set{"groups": []any{"a"}, "order_ids": []any{"1"}}, scope.Set{"openid"}},
		{"null value counts as present", scope.Standard, claims.Set{"address": nil}, scope.Set{"openid", "address"}},
		{"rich source", scope.Standard, richSource(), scope.Set{"openid", "address", "email", "phone", "profile"}},
		{"rich source custom", custom, richSource(), scope.Set{"openid", "address", "email", "orders", "phone", "profile"}},
		{"custom only", custom, claims.Set{"order_ids": []any{}, "sub": "u"}, scope.Set{"openid", "orders"}},
		{"openid mapped to a claim", scope.Standard.With("openid", "email"), claims.Set{"email": "x"}, scope.Set{"openid", "email"}},
		{"nil mapping", nil, richSource(), scope.Set{"openid"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := tt.m.Covering(tt.src)
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("Covering mismatch (-want +got):\n%s", diff)
			}
			again, err := scope.Parse(got.String())
			if err != nil || !slices.Equal(again, got) {
				t.Errorf("Covering result %q is not canonical", got)
			}
		})
	}
}

// Property-style tests.

const iterations = 2000

// propMapping is Standard plus custom scopes, some sharing claims.
var propMapping = scope.Standard.
	With("orders", "order_ids", "order_total").
	With("billing", "order_total", "iban", "address").
	With("groups", "groups")

// dirtyMapping also names owned claims, which Filter must still withhold.
var dirtyMapping = propMapping.With("evil", append([]string{"email", "groups"}, claims.OwnedNames()...)...)

// claimUniverse is every claim name a random set may hold.
var claimUniverse = func() []string {
	names := map[string]bool{"unmapped": true, "other": true, "Email": true, "NAME": true}
	for _, cs := range dirtyMapping {
		for _, c := range cs {
			names[c] = true
		}
	}
	for _, c := range claims.OwnedNames() {
		names[c] = true
	}
	return slices.Sorted(maps.Keys(names))
}()

var scopeUniverse = append(slices.Sorted(maps.Keys(dirtyMapping)), "unknown", "admin")

func randValue(r *rand.Rand, depth int) any {
	switch k := r.IntN(7); {
	case k == 0:
		return nil
	case k == 1:
		return r.IntN(2) == 0
	case k == 2:
		return float64(r.IntN(1 << 20))
	case k == 3 && depth < 2:
		a := make([]any, r.IntN(3))
		for i := range a {
			a[i] = randValue(r, depth+1)
		}
		return a
	case k == 4 && depth < 2:
		m := map[string]any{}
		for i := r.IntN(3); i > 0; i-- {
			m[fmt.Sprint("k", r.IntN(5))] = randValue(r, depth+1)
		}
		return m
	default:
		return fmt.Sprint("v", r.IntN(1000))
	}
}

func randClaims(r *rand.Rand) claims.Set {
	c := claims.Set{}
	for _, n := range claimUniverse {
		if r.IntN(3) == 0 {
			c[n] = randValue(r, 0)
		}
	}
	return c
}

func randScopes(r *rand.Rand, t testing.TB) scope.Set {
	var toks []string
	for _, s := range scopeUniverse {
		if r.IntN(3) == 0 {
			toks = append(toks, s)
		}
	}
	s, err := scope.New(toks...)
	if err != nil {
		t.Fatalf("New(%q): %v", toks, err)
	}
	return s
}

// randSubset returns a random subset of s, as a canonical set.
func randSubset(r *rand.Rand, s scope.Set) scope.Set {
	out := s
	for _, tok := range s {
		if r.IntN(2) == 0 {
			out = out.Without(tok)
		}
	}
	return out
}

func keys(c claims.Set) []string { return slices.Sorted(maps.Keys(c)) }

func isSubset(a, b []string) bool {
	for _, x := range a {
		if !slices.Contains(b, x) {
			return false
		}
	}
	return true
}

func TestFilterProperties(t *testing.T) {
	r := rand.New(rand.NewPCG(20240601, 42))
	for _, m := range []struct {
		name string
		m    scope.Mapping
	}{{"valid", propMapping}, {"dirty", dirtyMapping}} {
		t.Run(m.name, func(t *testing.T) {
			for i := range iterations {
				c := randClaims(r)
				s := randScopes(r, t)
				orig := c.Clone()

				out := m.m.Filter(c, s)
				if out == nil {
					t.Fatalf("iteration %d: Filter returned nil", i)
				}
				// Model: exactly the unowned claims of c that some scope of s maps.
				mapped := map[string]bool{}
				for _, tok := range s {
					for _, n := range m.m[tok] {
						mapped[n] = true
					}
				}
				want := claims.Set{}
				for k, v := range c {
					if mapped[k] && !claims.IsOwned(k) {
						want[k] = v
					}
				}
				if diff := cmp.Diff(want, out); diff != "" {
					t.Fatalf("iteration %d: Filter(%v, %q) mismatch with model (-want +got):\n%s", i, keys(c), s, diff)
				}
				if !isSubset(keys(out), keys(c)) {
					t.Fatalf("iteration %d: output keys %v not within input keys %v", i, keys(out), keys(c))
				}
				for k := range out {
					if !mapped[k] {
						t.Fatalf("iteration %d: output claim %q not mapped by %q", i, k, s)
					}
					if claims.IsOwned(k) {
						t.Fatalf("iteration %d: owned claim %q released", i, k)
					}
				}
				if diff := cmp.Diff(out, m.m.Filter(out, s)); diff != "" {
					t.Fatalf("iteration %d: Filter not idempotent (-once +twice):\n%s", i, diff)
				}
				sub := randSubset(r, s)
				if !sub.SubsetOf(s) {
					t.Fatalf("iteration %d: %q not a subset of %q", i, sub, s)
				}
				subOut := m.m.Filter(c, sub)
				if !isSubset(keys(subOut), keys(out)) {
					t.Fatalf("iteration %d: Filter with %q ⊆ %q gave keys %v not within %v", i, sub, s, keys(subOut), keys(out))
				}
				for k, v := range subOut {
					if diff := cmp.Diff(out[k], v); diff != "" {
						t.Fatalf("iteration %d: claim %q differs between subset and superset scope:\n%s", i, k, diff)
					}
				}
				// Filter with a superset of scopes yields a superset of claims.
				union := s.Union(randScopes(r, t))
				if !isSubset(keys(out), keys(m.m.Filter(c, union))) {
					t.Fatalf("iteration %d: Filter with superset scope %q lost claims", i, union)
				}
				if diff := cmp.Diff(orig, c); diff != "" {
					t.Fatalf("iteration %d: Filter modified its source (-want +got):\n%s", i, diff)
				}
			}
		})
	}
}

func TestCoveringProperties(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 1234))
	for _, m := range []scope.Mapping{propMapping, dirtyMapping} {
		all, err := scope.New(slices.Collect(maps.Keys(m))...)
		if err != nil {
			t.Fatal(err)
		}
		for i := range iterations {
			c := randClaims(r)
			cov := m.Covering(c)
			if len(cov) == 0 || cov[0] != scope.OpenID {
				t.Fatalf("iteration %d: Covering = %q, want openid first", i, cov)
			}
			again, err := scope.Parse(cov.String())
			if err != nil || !slices.Equal(again, cov) {
				t.Fatalf("iteration %d: Covering = %q is not canonical", i, cov)
			}
			if unknown, ok := m.Known(cov); !ok {
				t.Fatalf("iteration %d: Covering returned unknown scope %q", i, unknown)
			}
			// Covering loses nothing: it releases what all scopes release.
			if diff := cmp.Diff(m.Filter(c, all), m.Filter(c, cov)); diff != "" {
				t.Fatalf("iteration %d: Filter(Covering) differs from Filter(all) (-all +covering):\n%s", i, diff)
			}
			// And it is minimal: each scope but openid releases something.
			for _, tok := range cov[1:] {
				if len(m.Filter(c, scope.Set{tok})) == 0 {
					t.Fatalf("iteration %d: Covering includes %q which releases nothing", i, tok)
				}
			}
		}
	}
}

// nqchars holds every byte allowed in a scope token.
var nqchars = func() []byte {
	var b []byte
	for c := 0x21; c <= 0x7e; c++ {
		if c != 0x22 && c != 0x5c {
			b = append(b, byte(c))
		}
	}
	return b
}()

func randToken(r *rand.Rand) string {
	switch r.IntN(4) {
	case 0:
		return scopeUniverse[r.IntN(len(scopeUniverse))]
	case 1:
		return "openid"
	}
	b := make([]byte, 1+r.IntN(12))
	for i := range b {
		b[i] = nqchars[r.IntN(len(nqchars))]
	}
	return string(b)
}

func TestParseRoundTripProperty(t *testing.T) {
	r := rand.New(rand.NewPCG(99, 100))
	for i := range iterations {
		toks := make([]string, r.IntN(scope.MaxScopes+1))
		for j := range toks {
			toks[j] = randToken(r)
		}
		s, err := scope.New(toks...)
		if err != nil {
			t.Fatalf("iteration %d: New(%q): %v", i, toks, err)
		}
		got, err := scope.Parse(s.String())
		if err != nil {
			t.Fatalf("iteration %d: Parse(%q): %v", i, s.String(), err)
		}
		if diff := cmp.Diff(s, got, emptyEq); diff != "" {
			t.Fatalf("iteration %d: round trip mismatch (-want +got):\n%s", i, diff)
		}
		// Parsing the tokens in any order, with duplicates, gives the same set.
		shuffled := slices.Concat(toks, toks[:len(toks)/2])
		r.Shuffle(len(shuffled), func(a, b int) { shuffled[a], shuffled[b] = shuffled[b], shuffled[a] })
		if len(shuffled) > 0 {
			got, err = scope.Parse(strings.Join(shuffled, " "))
			if err != nil {
				t.Fatalf("iteration %d: Parse(shuffled): %v", i, err)
			}
			if diff := cmp.Diff(s, got, emptyEq); diff != "" {
				t.Fatalf("iteration %d: shuffled parse mismatch (-want +got):\n%s", i, diff)
			}
		}
		for _, tok := range toks {
			if !s.Has(tok) {
				t.Fatalf("iteration %d: %q lacks %q", i, s, tok)
			}
		}
		checkCanonical(t, s)
	}
}

// checkCanonical checks the Set invariant: openid first if present, the rest
// strictly increasing in byte order.
func checkCanonical(t testing.TB, s scope.Set) {
	t.Helper()
	rest := s
	if len(s) > 0 && s[0] == scope.OpenID {
		rest = s[1:]
	}
	for i, tok := range rest {
		if tok == scope.OpenID {
			t.Fatalf("%q: openid not first", s)
		}
		if i > 0 && rest[i-1] >= tok {
			t.Fatalf("%q: %q not after %q", s, tok, rest[i-1])
		}
	}
}

func TestValidateRefusesOwnedClaimCaseVariants(t *testing.T) {
	for _, name := range []string{"AUD", "Iss", "eXp", "Client_ID"} {
		err := scope.Standard.With("x", name).Validate()
		if !errors.Is(err, scope.ErrOwnedClaim) {
			t.Errorf("mapping to %q: Validate = %v, want ErrOwnedClaim", name, err)
		}
	}
}

func TestReleased(t *testing.T) {
	c := claims.Set{"email": "a@b", "name": "A", "nickname": "a", "aud": "x", "phone_number": "1"}
	m := scope.Standard.With("extra", "email", "aud")
	s, err := scope.Parse("openid profile email extra")
	if err != nil {
		t.Fatal(err)
	}
	got := m.Released(c, s, []string{"keep", "name"})
	want := []string{"keep", "name", "email", "name", "nickname"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Released (-want +got):\n%s", diff)
	}
	if allocs := testing.AllocsPerRun(100, func() {
		var buf [8]string
		m.Released(c, s, buf[:0])
	}); allocs != 0 {
		t.Errorf("Released allocates %v times with a large enough dst", allocs)
	}
}
