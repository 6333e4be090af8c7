// Package scope parses OAuth 2.0 scope strings (RFC 6749 §3.3), holds scope
// sets in canonical form, and maps scopes to the claims they release.
//
// A Set is always canonical: no duplicates, "openid" first, the rest sorted
// by byte value. Its String is therefore the form deputy writes in responses
// and tokens, and two equal sets have equal strings.
package scope

import (
	"errors"
	"fmt"
	"slices"
	"strings"
)

// OpenID is the scope every deputy exchange requires (OIDC Core §3.1.2.1).
const OpenID = "openid"

// MaxLength caps the length in bytes of a scope string accepted by Parse.
// Real scope strings are a few hundred bytes; the cap bounds the work an
// attacker can cause with one parameter.
const MaxLength = 4096

// MaxScopes caps the number of distinct scope tokens accepted by Parse.
const MaxScopes = 64

// ErrSyntax is wrapped by Parse errors for a scope string that breaks
// RFC 6749 §3.3 or the limits above.
var ErrSyntax = errors.New("scope: invalid syntax")

// Set is a canonical set of scope tokens: no duplicates, "openid" first if
// present, then the rest in byte order. The zero value is the empty set.
// Build one with Parse or New; a Set is never modified in place by this
// package, so it may be shared.
type Set []string

// Parse parses a space-delimited scope string. Tokens are non-empty runs of
// NQCHAR (%x21 / %x23-5B / %x5D-7E) separated by single spaces, with no
// leading or trailing space. Duplicates are folded. The empty string gives
// the empty set. Errors wrap ErrSyntax and never quote the input.
func Parse(s string) (Set, error) {
	if s == "" {
		return nil, nil
	}
	if len(s) > MaxLength {
		return nil, fmt.Errorf("%w: longer than %d bytes", ErrSyntax, MaxLength)
	}
	n := strings.Count(s, " ") + 1
	if n > MaxScopes*4 { // early bound before allocating; duplicates fold later
		return nil, fmt.Errorf("%w: more than %d scopes", ErrSyntax, MaxScopes)
	}
	out := make(Set, 0, n)
	start := 0
	for i := 0; i <= len(s); i++ {
		if i < len(s) && s[i] != ' ' {
			if !isNQChar(s[i]) {
				return nil, fmt.Errorf("%w: character %#02x not allowed", ErrSyntax, s[i])
			}
			continue
		}
		if i == start {
			return nil, fmt.Errorf("%w: empty scope token (leading, trailing or double space)", ErrSyntax)
		}
		out = append(out, s[start:i])
		start = i + 1
	}
	out = canonical(out)
	if len(out) > MaxScopes {
		return nil, fmt.Errorf("%w: more than %d scopes", ErrSyntax, MaxScopes)
	}
	return out, nil
}

// New returns the canonical set of the given tokens, checking each against
// the RFC 6749 §3.3 syntax. The argument slice is not retained.
func New(tokens ...string) (Set, error) {
	for _, t := range tokens {
		if err := ValidToken(t); err != nil {
			return nil, err
		}
	}
	return canonical(slices.Clone(tokens)), nil
}

// ValidToken reports whether t is one RFC 6749 §3.3 scope token.
func ValidToken(t string) error {
	if t == "" {
		return fmt.Errorf("%w: empty scope token", ErrSyntax)
	}
	for i := 0; i < len(t); i++ {
		if !isNQChar(t[i]) {
			return fmt.Errorf("%w: character %#02x not allowed", ErrSyntax, t[i])
		}
	}
	return nil
}

func isNQChar(c byte) bool {
	return c == 0x21 || (c >= 0x23 && c <= 0x5B) || (c >= 0x5D && c <= 0x7E)
}

// canonical sorts a token slice in place into canonical order and removes
// duplicates.
func canonical(s []string) Set {
	slices.SortFunc(s, compare)
	return Set(slices.Compact(s))
}

func compare(a, b string) int {
	switch {
	case a == b:
		return 0
	case a == OpenID:
		return -1
	case b == OpenID:
		return 1
	}
	return strings.Compare(a, b)
}

// Has reports whether the set contains the token.
func (s Set) Has(token string) bool {
	_, ok := slices.BinarySearchFunc(s, token, compare)
	return ok
}

// String returns the canonical space-delimited form; the empty set gives "".
func (s Set) String() string { return strings.Join(s, " ") }

// SubsetOf reports whether every token of s is in t.
func (s Set) SubsetOf(t Set) bool {
	for _, x := range s {
		if !t.Has(x) {
			return false
		}
	}
	return true
}

// Intersect returns the tokens in both s and t, as a new set.
func (s Set) Intersect(t Set) Set {
	var out Set
	for _, x := range s {
		if t.Has(x) {
			out = append(out, x)
		}
	}
	return out
}

// Union returns the tokens in s or t, as a new set.
func (s Set) Union(t Set) Set {
	out := make([]string, 0, len(s)+len(t))
	out = append(append(out, s...), t...)
	return canonical(out)
}

// Without returns s less the given token, as a new set.
func (s Set) Without(token string) Set {
	var out Set
	for _, x := range s {
		if x != token {
			out = append(out, x)
		}
	}
	return out
}
