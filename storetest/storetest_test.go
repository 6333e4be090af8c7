package storetest_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/google/go-cmp/cmp"

	"github.com/deputyauth/deputy/claims"
	"github.com/deputyauth/deputy/store"
	"github.com/deputyauth/deputy/storetest"
)

// The suite is only worth running if it fails a store that breaks the
// contract. TestSuiteCatchesBrokenStores runs TestBrokenStores in a child
// process (a failing subtest cannot be contained in this one) and checks
// which subtests failed: exactly those each broken store deserves.
const brokenEnv = "STORETEST_RUN_BROKEN_STORES"

// brokenStores lists each broken store, how to run the suite on it, the
// subtests that must fail, and those not to run; every other subtest must
// pass or skip.
var brokenStores = []struct {
	name     string
	run      func(t *testing.T)
	mustFail []string
	skip     []string
}{
	{
		name: "CaseFoldingClients",
		run: func(t *testing.T) {
			storetest.TestClientStore(t, func(t *testing.T, cs []store.Client) store.ClientStore {
				s := &foldingClients{m: map[string]*store.Client{}}
				for _, c := range cs {
					s.m[strings.ToLower(c.ID)] = &c
				}
				return s
			})
		},
		mustFail: []string{"IDsAreCaseSensitive", "IDsDifferingInCaseAreDistinct", "IDsAreMatchedExactly"},
	},
	{
		name: "ClientsMissOnCancel",
		run: func(t *testing.T) {
			storetest.TestClientStore(t, func(t *testing.T, cs []store.Client) store.ClientStore {
				return missOnCancel{seedMemory(t, cs)}
			})
		},
		mustFail: []string{"ContextCanceled", "ContextDeadlineExceeded"},
	},
	{
		name: "ClientsUpdatedInPlace",
		run: func(t *testing.T) {
			storetest.TestClientStore(t, func(t *testing.T, cs []store.Client) store.ClientStore {
				s := &inPlaceClients{m: map[string]*store.Client{}}
				for _, c := range cs {
					s.PutClient(c)
				}
				return s
			})
		},
		mustFail: []string{"SnapshotStable", "PutCopiesInput"},
		// Its reads tear under concurrent Puts, which can crash the
		// child rather than fail a subtest.
		skip: []string{"ConcurrentPutAndClient"},
	},
	{
		name: "RefreshHidesRevoked",
		run: func(t *testing.T) {
			storetest.TestRefreshTokenStore(t, func(t *testing.T, gs map[[32]byte]store.RefreshGrant) store.RefreshTokenStore {
				m := store.NewMemory()
				for h, g := range gs {
					m.PutRefreshGrant(h, g)
				}
				return hideRevoked{m}
			})
		},
		mustFail: []string{"Found", "ConcurrentReaders", "SnapshotStable"},
		// Fails only if a reader happens to see a revoked version.
		skip: []string{"ConcurrentPutAndRefreshToken"},
	},
	{
		name: "ProfilesNotCopied",
		run: func(t *testing.T) {
			storetest.TestProfileStore(t, func(t *testing.T, ps map[string]claims.Set) store.ProfileStore {
				s := &sharedProfiles{m: map[string]claims.Set{}}
				for sub, c := range ps {
					s.PutProfile(sub, c)
				}
				return s
			})
		},
		mustFail: []string{"PutCopiesInput"},
	},
	{
		name: "ReplayCheckThenSet",
		run: func(t *testing.T) {
			storetest.TestReplayCache(t, func(t *testing.T) store.ReplayCache { return &checkThenSet{seen: map[string]time.Time{}} })
		},
		mustFail: []string{"ConcurrentUsesOneWinner"},
		// Its 1 ms round trip makes 15 000 uses take 15 s for nothing
		// this store gets wrong.
		skip: []string{"ManyIDsKeptWithinTTL"},
	},
	{
		name: "ReplayRenewsOnRefusal",
		run: func(t *testing.T) {
			storetest.TestReplayCache(t, func(t *testing.T) store.ReplayCache { return &checkThenSet{seen: map[string]time.Time{}, renew: true} })
		},
		mustFail: []string{"ConcurrentUsesOneWinner", "RefusedWithinTTL"},
		skip:     []string{"ManyIDsKeptWithinTTL"},
	},
	{
		name: "KeysOldestSigns",
		run: func(t *testing.T) {
			storetest.TestKeyStore(t, func(t *testing.T, keys []jose.JSONWebKey) store.KeyStore {
				return &sliceKeys{keys: keys, oldestSigns: true}
			})
		},
		mustFail: []string{"SigningKeyIsNewestOfAlg", "ConcurrentReaders"},
	},
	{
		name: "KeysLeakPrivate",
		run: func(t *testing.T) {
			storetest.TestKeyStore(t, func(t *testing.T, keys []jose.JSONWebKey) store.KeyStore {
				return &sliceKeys{keys: keys, leakPrivate: true}
			})
		},
		mustFail: []string{"SigningKeySignsForItsPublicHalf", "VerificationKeysByKID", "VerificationKeysAllOldestFirst", "NoPrivateMaterialInVerificationKeys", "ConcurrentReaders"},
	},
	{
		name: "RotationIgnoresWindows",
		run: func(t *testing.T) {
			storetest.TestKeyRotation(t, func(t *testing.T, keys []store.Key, now func() time.Time) store.KeyStore {
				s := newWindowKeys(keys, now)
				s.ignoreWindow = true
				return s
			})
		},
		mustFail: []string{"FullRotation", "LatestStartSignsNotLastAdded", "NothingInItsWindow", "RetiredKeyStopsSigning", "StagedKeyPublishedBeforeItSigns", "ZeroStartIsTheTimeOfAdding"},
	},
	{
		name: "RotationHidesStagedKeys",
		run: func(t *testing.T) {
			storetest.TestKeyRotation(t, func(t *testing.T, keys []store.Key, now func() time.Time) store.KeyStore {
				s := newWindowKeys(keys, now)
				s.hideStaged = true
				return s
			})
		},
		mustFail: []string{"FullRotation", "NothingInItsWindow", "PublicOnlyKeyNeverSigns", "RetiredKeyStopsSigning", "StagedKeyPublishedBeforeItSigns", "ZeroStartIsTheTimeOfAdding"},
	},
	{
		name: "RotationJudgedAtLoad",
		run: func(t *testing.T) {
			storetest.TestKeyRotation(t, func(t *testing.T, keys []store.Key, now func() time.Time) store.KeyStore {
				s := newWindowKeys(keys, now)
				s.loadedAt = now()
				return s
			})
		},
		mustFail: []string{"FullRotation", "NothingInItsWindow", "RetiredKeyStopsSigning", "StagedKeyPublishedBeforeItSigns", "ZeroStartIsTheTimeOfAdding"},
	},
}

func TestBrokenStores(t *testing.T) {
	if os.Getenv(brokenEnv) == "" {
		t.Skip("run by TestSuiteCatchesBrokenStores in a child process")
	}
	for _, b := range brokenStores {
		t.Run(b.name, b.run)
	}
}

func TestSuiteCatchesBrokenStores(t *testing.T) {
	if os.Getenv(brokenEnv) != "" {
		t.Skip("already in the child process")
	}
	var skip []string
	for _, b := range brokenStores {
		for _, sub := range b.skip {
			skip = append(skip, "^TestBrokenStores/"+b.name+"/"+sub+"$")
		}
	}
	cmd := exec.CommandContext(t.Context(), os.Args[0], "-test.run=^TestBrokenStores$", "-test.skip="+strings.Join(skip, "|"), "-test.v", "-test.count=1")
	cmd.Env = append(os.Environ(), brokenEnv+"=1")
	out, err := cmd.CombinedOutput()
	var exit *exec.ExitError
	if !errors.As(err, &exit) {
		t.Fatalf("running the suite on broken stores: %v, want a failing exit\n%s", err, out)
	}

	result := map[string]map[string]string{} // store → subtest → PASS, FAIL or SKIP
	line := regexp.MustCompile(`--- (PASS|FAIL|SKIP): TestBrokenStores/(\w+)/(\w+) `)
	for _, m := range line.FindAllStringSubmatch(string(out), -1) {
		if result[m[2]] == nil {
			result[m[2]] = map[string]string{}
		}
		result[m[2]][m[3]] = m[1]
	}
	for _, b := range brokenStores {
		t.Run(b.name, func(t *testing.T) {
			got := result[b.name]
			if len(got) == 0 {
				t.Fatalf("no subtest of %s ran; child output:\n%s", b.name, out)
			}
			var failed []string
			for sub, res := range got {
				if res == "FAIL" {
					failed = append(failed, sub)
				}
			}
			slices.Sort(failed)
			want := slices.Sorted(slices.Values(b.mustFail))
			if d := cmp.Diff(want, failed); d != "" {
				t.Errorf("failing subtests (-want +got):\n%s", d)
			}
		})
	}
	if t.Failed() {
		t.Logf("child output:\n%s", out)
	}
}

// seedMemory returns a Memory holding clients.
func seedMemory(t *testing.T, clients []store.Client) *store.Memory {
	m := store.NewMemory()
	for _, c := range clients {
		if err := m.PutClient(c); err != nil {
			t.Fatal(err)
		}
	}
	return m
}

// foldingClients matches client IDs case-insensitively, like a database
// column with a case-insensitive collation.
type foldingClients struct{ m map[string]*store.Client }

func (s *foldingClients) Client(ctx context.Context, id string) (*store.Client, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if c, ok := s.m[strings.ToLower(id)]; ok {
		return c, nil
	}
	return nil, store.ErrNotFound
}

// missOnCancel reports a cancelled lookup as a miss.
type missOnCancel struct{ *store.Memory }

func (s missOnCancel) Client(ctx context.Context, id string) (*store.Client, error) {
	if ctx.Err() != nil {
		return nil, fmt.Errorf("%w: %s", store.ErrNotFound, id)
	}
	return s.Memory.Client(ctx, id)
}

// inPlaceClients overwrites the record it handed out and keeps the caller's
// slices.
type inPlaceClients struct {
	mu sync.Mutex
	m  map[string]*store.Client
}

func (s *inPlaceClients) PutClient(c store.Client) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if old, ok := s.m[c.ID]; ok {
		*old = c
	} else {
		s.m[c.ID] = &c
	}
	return nil
}

func (s *inPlaceClients) Client(ctx context.Context, id string) (*store.Client, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if c, ok := s.m[id]; ok {
		return c, nil
	}
	return nil, store.ErrNotFound
}

// hideRevoked reports a revoked grant as a miss instead of returning it.
type hideRevoked struct{ *store.Memory }

func (s hideRevoked) RefreshToken(ctx context.Context, hash [32]byte) (*store.RefreshGrant, error) {
	g, err := s.Memory.RefreshToken(ctx, hash)
	if err == nil && g.Revoked {
		return nil, store.ErrNotFound
	}
	return g, err
}

// sharedProfiles keeps the caller's maps instead of copies.
type sharedProfiles struct {
	mu sync.Mutex
	m  map[string]claims.Set
}

func (s *sharedProfiles) PutProfile(subject string, c claims.Set) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.m[subject] = c
}

func (s *sharedProfiles) Profile(ctx context.Context, subject string) (claims.Set, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if c, ok := s.m[subject]; ok {
		return c, nil
	}
	return nil, store.ErrNotFound
}

// checkThenSet checks and records an id in two steps; with renew, a refused
// use also resets the id's expiry to its own TTL.
type checkThenSet struct {
	mu    sync.Mutex
	seen  map[string]time.Time
	renew bool
}

func (c *checkThenSet) Use(ctx context.Context, id string, ttl time.Duration) (bool, error) {
	if err := ctx.Err(); err != nil {
		return false, err
	}
	c.mu.Lock()
	until, ok := c.seen[id]
	c.mu.Unlock()
	first := !ok || time.Now().After(until)
	time.Sleep(time.Millisecond) // a round trip to the database
	if first || c.renew {
		c.mu.Lock()
		c.seen[id] = time.Now().Add(ttl)
		c.mu.Unlock()
	}
	return first, nil
}

// sliceKeys serves keys from a slice, oldest first; it can pick the oldest
// key of an algorithm to sign or hand out private keys to verify.
type sliceKeys struct {
	keys        []jose.JSONWebKey
	oldestSigns bool
	leakPrivate bool
}

func (s *sliceKeys) SigningKey(ctx context.Context, alg string) (*jose.JSONWebKey, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	var found *jose.JSONWebKey
	for i := range s.keys {
		if s.keys[i].Algorithm == alg && (found == nil || !s.oldestSigns) {
			found = &s.keys[i]
		}
	}
	if found == nil {
		return nil, store.ErrNotFound
	}
	return found, nil
}

func (s *sliceKeys) VerificationKeys(ctx context.Context, kid string) ([]jose.JSONWebKey, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	var out []jose.JSONWebKey
	for _, k := range s.keys {
		if kid == "" || k.KeyID == kid {
			if !s.leakPrivate {
				k = k.Public()
			}
			out = append(out, k)
		}
	}
	if len(out) == 0 {
		return nil, store.ErrNotFound
	}
	return out, nil
}

// windowKeys is a KeyStore with signing windows, broken in one of three
// ways: the last key added signs whatever its window (a store from before
// staging), only signing keys are published, or windows are judged once,
// when the store is loaded, as a careless cache would.
type windowKeys struct {
	keys         []store.Key
	now          func() time.Time
	ignoreWindow bool
	hideStaged   bool
	loadedAt     time.Time // judge windows at this time when set
}

func newWindowKeys(keys []store.Key, now func() time.Time) *windowKeys {
	s := &windowKeys{now: now}
	for _, k := range keys {
		if k.SignFrom.IsZero() {
			k.SignFrom = now()
		}
		s.keys = append(s.keys, k)
	}
	return s
}

func (s *windowKeys) at() time.Time {
	if !s.loadedAt.IsZero() {
		return s.loadedAt
	}
	return s.now()
}

func (s *windowKeys) SigningKey(ctx context.Context, alg string) (*jose.JSONWebKey, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	var found *store.Key
	for i := range s.keys {
		k := &s.keys[i]
		if k.Algorithm != alg || k.IsPublic() {
			continue
		}
		if s.ignoreWindow || (k.Signs(s.at()) && (found == nil || !k.SignFrom.Before(found.SignFrom))) {
			found = k
		}
	}
	if found == nil {
		return nil, store.ErrNotFound
	}
	return &found.JSONWebKey, nil
}

func (s *windowKeys) VerificationKeys(ctx context.Context, kid string) ([]jose.JSONWebKey, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	var out []jose.JSONWebKey
	for _, k := range s.keys {
		if s.hideStaged && !k.Signs(s.at()) {
			continue
		}
		if kid == "" || k.KeyID == kid {
			out = append(out, k.Public())
		}
	}
	if len(out) == 0 {
		return nil, store.ErrNotFound
	}
	return out, nil
}
