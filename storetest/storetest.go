package storetest

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"reflect"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/google/go-cmp/cmp"

	"github.com/deputyauth/deputy/claims"
	"github.com/deputyauth/deputy/store"
)

// ClientPutter is implemented by client stores that can add or replace a
// client. The suite uses it to check that a record returned earlier is not
// changed by a later Put and that Put and Client may run concurrently.
type ClientPutter interface {
	// PutClient stores a copy of c, replacing any client with the same ID.
	// Later changes to c's slices and maps do not affect the stored client.
	PutClient(c store.Client) error
}

// RefreshTokenPutter is implemented by refresh token stores that can add or
// replace a grant. The store keeps the grant under the SHA-256 of token.
type RefreshTokenPutter interface {
	// PutRefreshToken stores a copy of g for token, replacing any grant for
	// the same token.
	PutRefreshToken(token string, g store.RefreshGrant)
}

// ProfilePutter is implemented by profile stores that can add or replace a
// profile.
type ProfilePutter interface {
	// PutProfile stores a deep copy of c as the subject's claims, replacing
	// any earlier profile of the subject. Later changes to c, at any depth,
	// do not affect the stored profile.
	PutProfile(subject string, c claims.Set)
}

// KeyAdder is implemented by key stores that can add a key at run time. The
// added key is the newest: if private, it becomes the signing key of its
// algorithm.
type KeyAdder interface {
	// AddKey adds k, or returns an error if the store refuses it.
	AddKey(k jose.JSONWebKey) error
}

// KeyRemover is implemented by key stores that can remove a key at run time.
// Once RemoveKey returns, the key neither signs nor verifies, and the
// remaining private key of its algorithm whose signing window began last,
// if any, signs instead.
type KeyRemover interface {
	// RemoveKey removes the key with the given kid; an unknown kid is not an
	// error.
	RemoveKey(kid string)
}

// Concurrency of the subtests that hammer a store from many goroutines.
const (
	goroutines = 8
	iterations = 25
)

// recordOpts compares records the way a database may return them: a nil
// slice or map equals an empty one, and JSON settings compare by their
// decoded value. time.Time compares with its Equal method, which cmp uses on
// its own.
var recordOpts = cmp.Options{
	cmp.FilterValues(bothEmpty, cmp.Comparer(func(_, _ any) bool { return true })),
	cmp.FilterValues(func(x, y json.RawMessage) bool { return len(x) > 0 || len(y) > 0 }, cmp.Comparer(jsonEqual)),
}

// bothEmpty reports whether x and y are slices or maps of one type and both
// have no elements.
func bothEmpty(x, y any) bool {
	vx, vy := reflect.ValueOf(x), reflect.ValueOf(y)
	if !vx.IsValid() || !vy.IsValid() || vx.Type() != vy.Type() {
		return false
	}
	switch vx.Kind() {
	case reflect.Slice, reflect.Map:
		return vx.Len() == 0 && vy.Len() == 0
	}
	return false
}

// jsonEqual reports whether x and y hold the same JSON value; invalid JSON
// compares byte for byte.
func jsonEqual(x, y json.RawMessage) bool {
	var vx, vy any
	if json.Unmarshal(x, &vx) != nil || json.Unmarshal(y, &vy) != nil {
		return bytes.Equal(x, y)
	}
	return cmp.Equal(vx, vy)
}

// diff reports a mismatch between want and got as a cmp.Diff.
func diff(t *testing.T, what string, want, got any, opts ...cmp.Option) {
	t.Helper()
	if d := cmp.Diff(want, got, opts...); d != "" {
		t.Errorf("%s mismatch (-want +got):\n%s", what, d)
	}
}

// ctxCase is a context that every lookup must refuse.
type ctxCase struct {
	name string
	ctx  func(t *testing.T) context.Context
	want error
}

var ctxCases = []ctxCase{
	{"ContextCanceled", func(t *testing.T) context.Context {
		ctx, cancel := context.WithCancel(t.Context())
		cancel()
		return ctx
	}, context.Canceled},
	{"ContextDeadlineExceeded", func(t *testing.T) context.Context {
		ctx, cancel := context.WithDeadline(t.Context(), time.Unix(1, 0))
		t.Cleanup(cancel)
		return ctx
	}, context.DeadlineExceeded},
}

// checkCtxErr checks the error of a call made with a done context.
func checkCtxErr(t *testing.T, call string, err, want error) {
	t.Helper()
	switch {
	case err == nil:
		t.Errorf("%s: no error, want one wrapping %v", call, want)
	case errors.Is(err, store.ErrNotFound):
		t.Errorf("%s: error %q wraps store.ErrNotFound; a done context is not a miss", call, err)
	case !errors.Is(err, want):
		t.Errorf("%s: error %q does not wrap %v", call, err, want)
	}
}

// checkNotFound checks the error of a lookup that must miss; found tells
// whether the lookup returned a record anyway.
func checkNotFound(t *testing.T, call string, err error, found bool) {
	t.Helper()
	switch {
	case err == nil && found:
		t.Errorf("%s: found a record, want an error wrapping store.ErrNotFound", call)
	case err == nil:
		t.Errorf("%s: no record and no error, want an error wrapping store.ErrNotFound", call)
	case !errors.Is(err, store.ErrNotFound):
		t.Errorf("%s: error %q does not wrap store.ErrNotFound", call, err)
	case found:
		t.Errorf("%s: returned a record along with the error", call)
	}
}

// randomBytes returns n bytes from crypto/rand.
func randomBytes(n int) []byte {
	b := make([]byte, n)
	rand.Read(b)
	return b
}

// randomID returns a random identifier with the given prefix, so that
// subtests never collide even in a store shared between them.
func randomID(prefix string) string {
	return prefix + base64.RawURLEncoding.EncodeToString(randomBytes(12))
}

// date returns a whole-second UTC time, which every database represents
// exactly.
func date(year int, month time.Month, day int) time.Time {
	return time.Date(year, month, day, 12, 34, 56, 0, time.UTC)
}
