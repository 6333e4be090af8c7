package store

import (
	"fmt"
	"testing"
	"time"
)

// fakeClock is a Memory clock the test moves by hand.
type fakeClock struct{ t time.Time }

func (c *fakeClock) now() time.Time          { return c.t }
func (c *fakeClock) advance(d time.Duration) { c.t = c.t.Add(d) }

func TestMemoryReplayKeepsIDForExactlyTTL(t *testing.T) {
	clock := &fakeClock{t: time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)}
	m := NewMemory()
	m.now = clock.now
	use := func() bool {
		t.Helper()
		first, err := m.Use(t.Context(), "jti", 10*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		return first
	}

	if !use() {
		t.Fatal("first use refused")
	}
	clock.advance(10*time.Second - time.Nanosecond)
	if use() {
		t.Fatal("use 1ns before the TTL ends accepted")
	}
	clock.advance(time.Nanosecond)
	if !use() {
		t.Fatal("use once the TTL has passed refused")
	}
}

func TestMemoryReplaySweepsExpiredIDs(t *testing.T) {
	clock := &fakeClock{t: time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)}
	m := NewMemory()
	m.now = clock.now
	use := func(id string, ttl time.Duration) {
		t.Helper()
		if first, err := m.Use(t.Context(), id, ttl); err != nil || !first {
			t.Fatalf("Use(%q) = %v, %v; want true", id, first, err)
		}
	}

	for i := range 100 {
		use(fmt.Sprintf("short-%d", i), time.Second)
	}
	for i := range 5 {
		use(fmt.Sprintf("long-%d", i), time.Hour)
	}
	if n := len(m.replay); n != 105 {
		t.Fatalf("%d ids recorded, want 105", n)
	}

	clock.advance(2 * replaySweep)
	use("trigger", time.Second)
	if n := len(m.replay); n != 5+1 {
		t.Errorf("%d ids kept after the short ones expired, want 6 (5 long + trigger)", n)
	}
	for i := range 5 {
		if first, _ := m.Use(t.Context(), fmt.Sprintf("long-%d", i), time.Hour); first {
			t.Errorf("long-%d was swept within its TTL", i)
		}
	}

	// Memory stays bounded under a steady stream of short-lived ids.
	for i := range 1000 {
		clock.advance(100 * time.Millisecond)
		use(fmt.Sprintf("stream-%d", i), time.Second)
	}
	if n := len(m.replay); n > 5+int((time.Second+replaySweep)/(100*time.Millisecond))+1 {
		t.Errorf("%d ids kept under a stream of 1s ids every 100ms, want about 20", n)
	}
}
