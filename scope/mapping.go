package scope

import (
	"errors"
	"fmt"
	"maps"
	"slices"

	"github.com/deputyauth/deputy/claims"
)

// Mapping maps each known scope to the claim names it releases. A scope with
// no claims (openid, offline_access) is known but releases nothing. A scope
// absent from the Mapping is unknown.
//
// A Mapping given to the engine replaces Standard entirely, so extend a copy
// of Standard rather than starting from nothing. A Mapping must not be
// modified once in use.
type Mapping map[string][]string

// Standard is the OIDC Core §5.4 mapping: openid and offline_access release
// no claims; profile, email, address and phone release their standard claims.
// Treat it as read-only; With returns an extended copy.
var Standard = Mapping{
	OpenID:           nil,
	"offline_access": nil,
	"profile": {
		"name", "family_name", "given_name", "middle_name", "nickname",
		"preferred_username", "profile", "picture", "website", "gender",
		"birthdate", "zoneinfo", "locale", "updated_at",
	},
	"email":   {"email", "email_verified"},
	"address": {"address"},
	"phone":   {"phone_number", "phone_number_verified"},
}

// With returns a copy of m in which scope releases the given claims, in
// addition to anything m already maps it to. m is not modified.
func (m Mapping) With(scope string, claimNames ...string) Mapping {
	out := m.Clone()
	out[scope] = append(slices.Clone(out[scope]), claimNames...)
	return out
}

// Clone returns a deep copy of m.
func (m Mapping) Clone() Mapping {
	out := make(Mapping, len(m)+1)
	for k, v := range m {
		out[k] = slices.Clone(v)
	}
	return out
}

// ErrOwnedClaim is wrapped by Validate when a scope maps to a claim that the
// engine owns (claims.IsOwned): such a mapping could smuggle iss, aud or exp
// from a source token into a minted one.
var ErrOwnedClaim = errors.New("scope: mapping names an owned claim")

// Validate checks that every scope name is a valid scope token, that no
// claim name is empty or owned (claims.IsOwned: in any letter case, with
// Unicode case folding, so "ſub" and "Sub" are refused as sub is), and that
// "openid" is known. It reports every problem at once.
func (m Mapping) Validate() error {
	var errs []error
	if _, ok := m[OpenID]; !ok {
		errs = append(errs, fmt.Errorf("scope: mapping lacks %q", OpenID))
	}
	for _, s := range slices.Sorted(maps.Keys(m)) {
		if err := ValidToken(s); err != nil {
			errs = append(errs, fmt.Errorf("scope %q: %w", s, err))
		}
		for _, c := range m[s] {
			switch {
			case c == "":
				errs = append(errs, fmt.Errorf("scope %q: empty claim name", s))
			case claims.IsOwned(c):
				// Case-folded variants too (claims.IsOwned): a relying
				// party decoding into a Go struct matches JSON names with
				// Unicode case folding.
				errs = append(errs, fmt.Errorf("scope %q: %w: %q", s, ErrOwnedClaim, c))
			}
		}
	}
	return errors.Join(errs...)
}

// Known reports whether every token of s is a scope of m, and returns the
// first one that is not.
func (m Mapping) Known(s Set) (unknown string, ok bool) {
	for _, t := range s {
		if _, ok := m[t]; !ok {
			return t, false
		}
	}
	return "", true
}

// Filter returns the claims of c that the scopes in s release under m: for
// each known scope of s, each mapped claim present in c. Owned claims
// (claims.IsOwned, which folds case) are never returned, even if m names
// them. Values are shared with c, not
// copied: clone the result (claims.Set.Clone) before modifying nested values.
// The result is never nil.
func (m Mapping) Filter(c claims.Set, s Set) claims.Set {
	var buf [32]string
	names := m.Released(c, s, buf[:0])
	out := make(claims.Set, len(names))
	for _, name := range names {
		out[name] = c[name]
	}
	return out
}

// Released appends to dst the names of the claims of c that the scopes in s
// release under m — the keys Filter would return — sorted and without
// repeats, and returns the extended slice. With a dst of enough capacity it
// allocates nothing, which lets a caller encode the claims without building
// a map.
func (m Mapping) Released(c claims.Set, s Set, dst []string) []string {
	start := len(dst)
	for _, t := range s {
		for _, name := range m[t] {
			if _, ok := c[name]; ok && !claims.IsOwned(name) {
				dst = append(dst, name)
			}
		}
	}
	slices.Sort(dst[start:])
	return append(dst[:start], slices.Compact(dst[start:])...)
}

// Covering returns openid plus every scope of m, other than openid, at least
// one of whose claims c carries (unowned, present). It is the meaning of
// Auth0's scope=passthrough.
func (m Mapping) Covering(c claims.Set) Set {
	out := Set{OpenID}
	for s, names := range m {
		for _, name := range names {
			if _, ok := c[name]; ok && !claims.IsOwned(name) {
				out = append(out, s)
				break
			}
		}
	}
	return canonical(out)
}
