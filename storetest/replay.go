package storetest

import (
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/deputyauth/deputy/store"
)

// Timing of the expiry subtests. shortTTL is long enough for one Use to
// follow another within it even on a loaded machine; expiryWait bounds how
// long a cache may keep an id past its TTL (a cache counting in whole
// seconds still passes).
const (
	shortTTL   = 50 * time.Millisecond
	longTTL    = time.Minute
	expiryWait = 2 * time.Second
)

// TestReplayCache checks a ReplayCache. newCache must return a fresh, empty
// cache. The suite uses random ids, so a cache shared between subtests also
// works. Three subtests wait for a TTL to pass, about 0.5 s in all.
func TestReplayCache(t *testing.T, newCache func(t *testing.T) store.ReplayCache) {
	open := func(t *testing.T) store.ReplayCache {
		t.Helper()
		c := newCache(t)
		if c == nil {
			t.Fatal("factory returned a nil ReplayCache")
		}
		return c
	}
	// use calls Use and fails the test on an error.
	use := func(t *testing.T, c store.ReplayCache, id string, ttl time.Duration) bool {
		t.Helper()
		first, err := c.Use(t.Context(), id, ttl)
		if err != nil {
			t.Fatalf("Use(%q, %v): %v", id, ttl, err)
		}
		return first
	}

	t.Run("FirstUseWins", func(t *testing.T) {
		c := open(t)
		id := randomID("jti-")
		if !use(t, c, id, longTTL) {
			t.Errorf("Use(%q) of a new id = false, want true", id)
		}
	})

	t.Run("SecondUseLoses", func(t *testing.T) {
		c := open(t)
		id := randomID("jti-")
		use(t, c, id, longTTL)
		for i := range 2 {
			if use(t, c, id, longTTL) {
				t.Errorf("use %d of %q = true, want false", i+2, id)
			}
		}
	})

	t.Run("IDsAreIndependent", func(t *testing.T) {
		c := open(t)
		// Ids that differ only in case, in trailing space or in the last
		// character of a long common prefix.
		base := randomID("https://issuer.example/|")
		long := base + strings.Repeat("x", 400)
		ids := []string{base + "a", base + "A", base + "a ", base, long + "1", long + "2"}
		for _, id := range ids {
			if !use(t, c, id, longTTL) {
				t.Errorf("first Use(%q) = false, want true: it collides with another id", id)
			}
		}
		for _, id := range ids {
			if use(t, c, id, longTTL) {
				t.Errorf("second Use(%q) = true, want false", id)
			}
		}
	})

	t.Run("ConcurrentUsesOneWinner", func(t *testing.T) {
		c := open(t)
		id := randomID("jti-")
		const n = 100
		var wins atomic.Int32
		var wg sync.WaitGroup
		start := make(chan struct{})
		for range n {
			wg.Go(func() {
				<-start
				first, err := c.Use(t.Context(), id, longTTL)
				if err != nil {
					t.Errorf("Use(%q): %v", id, err)
				}
				if first {
					wins.Add(1)
				}
			})
		}
		close(start)
		wg.Wait()
		if got := wins.Load(); got != 1 {
			t.Errorf("%d concurrent uses of one id: %d reported first, want exactly 1", n, got)
		}
	})

	t.Run("ReusableAfterTTL", func(t *testing.T) {
		c := open(t)
		id := randomID("jti-")
		if !use(t, c, id, shortTTL) {
			t.Fatalf("first Use(%q) = false, want true", id)
		}
		// Poll less often than the TTL, so that even a cache that renews
		// an id on every refused use lets it go.
		deadline := time.Now().Add(expiryWait)
		for {
			time.Sleep(2 * shortTTL)
			if use(t, c, id, shortTTL) {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("Use(%q) still refused %v after its TTL of %v", id, expiryWait, shortTTL)
			}
		}
	})

	t.Run("RefusedWithinTTL", func(t *testing.T) {
		c := open(t)
		id := randomID("jti-")
		use(t, c, id, longTTL)
		// A refused use with a short TTL must not shorten the first one.
		if use(t, c, id, time.Millisecond) {
			t.Fatalf("second Use(%q) = true, want false", id)
		}
		time.Sleep(2 * shortTTL)
		if use(t, c, id, time.Millisecond) {
			t.Errorf("Use(%q) = true %v after a use with TTL %v, want false", id, 2*shortTTL, longTTL)
		}
	})

	t.Run("RenewedAfterTTLKept", func(t *testing.T) {
		c := open(t)
		id, clock := randomID("jti-"), randomID("clock-")
		use(t, c, id, shortTTL)
		use(t, c, clock, shortTTL)
		// clock, used just after id with the same TTL, tells when id's
		// record has expired, without using id itself.
		deadline := time.Now().Add(expiryWait)
		for {
			time.Sleep(2 * shortTTL)
			if use(t, c, clock, shortTTL) {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("Use(%q) still refused %v after its TTL of %v", clock, expiryWait, shortTTL)
			}
		}
		// Recorded afresh; forgetting the first record must not forget
		// the second.
		if !use(t, c, id, longTTL) {
			t.Fatalf("Use(%q) = false after its TTL, want true", id)
		}
		time.Sleep(2 * shortTTL)
		for range 100 { // calls that may sweep expired records
			use(t, c, randomID("noise-"), time.Millisecond)
		}
		if use(t, c, id, longTTL) {
			t.Errorf("Use(%q) = true within the TTL of its renewed record", id)
		}
	})

	t.Run("ManyIDsKeptWithinTTL", func(t *testing.T) {
		c := open(t)
		// A cache that evicts live ids to bound its size breaks the
		// contract: every id is kept for its TTL however many there are.
		const n = 5000
		ids := make([]string, n)
		for i := range ids {
			ids[i] = randomID("many-")
			if !use(t, c, ids[i], longTTL) {
				t.Fatalf("first Use(%q) = false, want true", ids[i])
			}
			use(t, c, randomID("short-"), time.Millisecond)
		}
		refused := 0
		for _, id := range ids {
			if !use(t, c, id, longTTL) {
				refused++
			}
		}
		if refused != n {
			t.Errorf("%d of %d ids refused on second use within their TTL, want all", refused, n)
		}
	})

	for _, cc := range ctxCases {
		t.Run(cc.name, func(t *testing.T) {
			c := open(t)
			first, err := c.Use(cc.ctx(t), randomID("jti-"), longTTL)
			checkCtxErr(t, "Use", err, cc.want)
			if first {
				t.Error("Use with a done context reported first = true")
			}
		})
	}
}
