package store

import (
	"cmp"
	"context"
	"crypto/sha256"
	"fmt"
	"math/bits"
	"slices"
	"sync"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/deputyauth/deputy/claims"
)

// Memory implements ClientStore, RefreshTokenStore, ProfileStore,
// ReplayCache and KeyStore in memory. It is safe for concurrent use; the
// zero value is not usable, call NewMemory.
//
// Every Put stores a deep copy of its argument and every lookup returns the
// stored copy itself, which is never modified afterwards: lookups allocate
// nothing.
type Memory struct {
	mu       sync.RWMutex
	clients  map[string]*Client
	refresh  map[[32]byte]*RefreshGrant
	profiles map[string]claims.Set

	keysMu  sync.RWMutex
	keys    []memKey            // oldest first
	retired map[string]bool     // kids removed: never reused
	signing map[string][]memKey // alg → private keys, latest window start first
	byKID   map[string][]jose.JSONWebKey
	public  []jose.JSONWebKey // every public half, oldest first

	replay replayCache
	now    func() time.Time
}

type memKey struct {
	private     *jose.JSONWebKey // nil for a public-only key
	public      jose.JSONWebKey
	from, until time.Time // signing window; until zero: no end
}

// NewMemory returns an empty store.
func NewMemory() *Memory {
	return &Memory{
		clients:  make(map[string]*Client),
		refresh:  make(map[[32]byte]*RefreshGrant),
		profiles: make(map[string]claims.Set),
		signing:  make(map[string][]memKey),
		byKID:    make(map[string][]jose.JSONWebKey),
		now:      time.Now,
	}
}

func ctxErr(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("store: %w", err)
	}
	return nil
}

// notFound names what was missed. The id comes from the caller (a client_id
// is whatever a request said), so only a short prefix of it is quoted.
func notFound(what, id string) error {
	const max = 64
	if len(id) > max {
		id = id[:max] + "…"
	}
	return fmt.Errorf("%w: %s %q", ErrNotFound, what, id)
}

// PutClient validates c (Client.Validate) and stores a copy of it, replacing
// any client with the same ID. Records returned before are not changed.
func (m *Memory) PutClient(c Client) error {
	if err := c.Validate(); err != nil {
		return err
	}
	cp := c.Clone()
	m.mu.Lock()
	m.clients[c.ID] = cp
	m.mu.Unlock()
	return nil
}

// DeleteClient removes a client; deleting an unknown client does nothing.
func (m *Memory) DeleteClient(id string) {
	m.mu.Lock()
	delete(m.clients, id)
	m.mu.Unlock()
}

// Client implements ClientStore.
func (m *Memory) Client(ctx context.Context, id string) (*Client, error) {
	if err := ctxErr(ctx); err != nil {
		return nil, err
	}
	m.mu.RLock()
	c, ok := m.clients[id]
	m.mu.RUnlock()
	if !ok {
		return nil, notFound("client", id)
	}
	return c, nil
}

// PutRefreshToken stores a copy of g under the SHA-256 of token; the token
// itself is not kept. It replaces any grant for the same token.
func (m *Memory) PutRefreshToken(token string, g RefreshGrant) {
	m.PutRefreshGrant(sha256.Sum256([]byte(token)), g)
}

// PutRefreshGrant stores a copy of g under hash, the SHA-256 of its refresh
// token, replacing any grant for the same hash. It is for grants loaded from
// elsewhere, where only the hash is known.
func (m *Memory) PutRefreshGrant(hash [32]byte, g RefreshGrant) {
	g.Scope = slices.Clone(g.Scope)
	m.mu.Lock()
	m.refresh[hash] = &g
	m.mu.Unlock()
}

// RefreshToken implements RefreshTokenStore.
func (m *Memory) RefreshToken(ctx context.Context, hash [32]byte) (*RefreshGrant, error) {
	if err := ctxErr(ctx); err != nil {
		return nil, err
	}
	m.mu.RLock()
	g, ok := m.refresh[hash]
	m.mu.RUnlock()
	if !ok {
		return nil, fmt.Errorf("%w: refresh token", ErrNotFound)
	}
	return g, nil
}

// PutProfile stores a deep copy of the user's claims, replacing any earlier
// profile of the subject.
func (m *Memory) PutProfile(subject string, c claims.Set) {
	cp := c.Clone()
	if cp == nil {
		cp = claims.Set{}
	}
	m.mu.Lock()
	m.profiles[subject] = cp
	m.mu.Unlock()
}

// DeleteProfile removes a user's profile.
func (m *Memory) DeleteProfile(subject string) {
	m.mu.Lock()
	delete(m.profiles, subject)
	m.mu.Unlock()
}

// Profile implements ProfileStore.
func (m *Memory) Profile(ctx context.Context, subject string) (claims.Set, error) {
	if err := ctxErr(ctx); err != nil {
		return nil, err
	}
	m.mu.RLock()
	c, ok := m.profiles[subject]
	m.mu.RUnlock()
	if !ok {
		return nil, notFound("profile", subject)
	}
	return c, nil
}

// Use implements ReplayCache. The cache keeps, for each id, the first 128
// bits of its SHA-256 digest and its expiry: about 70 bytes an id, however
// long the id. (Two ids with the same digest prefix would count as one;
// finding such a pair takes some 2^64 hashes and only makes the second look
// used.) Each call also sweeps at most eight expired ids, earliest expiry
// first, so no call holds the lock for a pass over the cache, and memory
// stays bounded by the ids used within their TTLs plus expired ones awaiting
// their sweep, each for at most a sixteenth of its TTL (or about a second).
// TTLs over 70 years count as 70 years.
func (m *Memory) Use(ctx context.Context, id string, ttl time.Duration) (bool, error) {
	if err := ctxErr(ctx); err != nil {
		return false, err
	}
	var buf [64]byte // ids of up to 64 bytes are hashed without allocating
	sum := sha256.Sum256(append(buf[:0], id...))
	key := replayKey(sum[:16])
	r := &m.replay
	r.mu.Lock()
	defer r.mu.Unlock()
	now := r.offset(m.now())
	r.sweep(now, replaySweepBatch)
	if exp, ok := r.ids[key]; ok && now < exp {
		return false, nil
	}
	if ttl <= 0 {
		return true, nil // already expired: nothing to keep
	}
	exp := now + int64(min(ttl, maxReplayOffset))
	if r.ids == nil {
		r.ids = make(map[replayKey]int64)
		r.due = make(map[int64]*replayBucket)
	}
	r.ids[key] = exp
	r.schedule(key, exp, ttl)
	return true, nil
}

// replaySweepBatch is how many records one Use call may sweep. It is more
// than the one record a call adds, so a backlog drains.
const replaySweepBatch = 8

// maxReplayOffset bounds offsets and TTLs (2^61 ns, about 73 years) so that
// their sums never overflow.
const maxReplayOffset = 1 << 61

// minReplayGrainShift sets the finest bucket width, 2^30 ns (about a
// second).
const minReplayGrainShift = 30

// replayChunk is the most digests one chunk of a bucket holds, so that
// growing a bucket never copies more than a few kilobytes.
const replayChunk = 256

// replayKey is the digest under which the replay cache keeps an id.
type replayKey [16]byte

// replayCache is Memory's ReplayCache. ids holds each digest's expiry;
// due is a calendar that says which digests to look at once a time has
// passed: a digest expiring at exp is filed under the end of a bucket,
// exp rounded up to the bucket's width, which grows with the TTL (between a
// 32nd and a 16th of it, at least about a second), so that few buckets are
// in use at once, whatever the TTLs. Times are nanoseconds since base on
// the store's clock.
type replayCache struct {
	mu   sync.Mutex
	ids  map[replayKey]int64
	due  map[int64]*replayBucket // bucket end → digests filed there
	ends []int64                 // keys of due, latest first
	base time.Time
	init bool
}

// replayBucket holds the digests filed under one end, as a stack of chunks.
// A digest renewed after its TTL may be filed in two buckets; the sweep
// checks ids before deleting.
type replayBucket struct {
	full [][]replayKey
	cur  []replayKey
}

// offset returns now in nanoseconds since the first Use, within
// ±maxReplayOffset. time.Time.Sub uses the monotonic clock when both times
// carry it.
func (r *replayCache) offset(now time.Time) int64 {
	if !r.init {
		r.base, r.init = now, true
	}
	return int64(max(-maxReplayOffset, min(now.Sub(r.base), maxReplayOffset)))
}

// schedule files key, expiring at exp after a TTL of ttl, in the calendar.
func (r *replayCache) schedule(key replayKey, exp int64, ttl time.Duration) {
	shift := max(minReplayGrainShift, bits.Len64(uint64(min(ttl, maxReplayOffset)))-5)
	mask := int64(1)<<shift - 1
	end := (exp + mask) &^ mask
	b := r.due[end]
	if b == nil {
		b = new(replayBucket)
		r.due[end] = b
		// Latest first, so the next end to sweep is the last element.
		i, _ := slices.BinarySearchFunc(r.ends, end, func(e, t int64) int { return cmp.Compare(t, e) })
		r.ends = slices.Insert(r.ends, i, end)
	}
	if len(b.cur) == replayChunk {
		b.full = append(b.full, b.cur)
		b.cur = nil
	}
	b.cur = append(b.cur, key)
}

// sweep deletes up to budget expired records whose bucket has ended by now.
func (r *replayCache) sweep(now int64, budget int) {
	for budget > 0 && len(r.ends) > 0 {
		end := r.ends[len(r.ends)-1]
		if end > now {
			return
		}
		b := r.due[end]
		for budget > 0 && len(b.cur) > 0 {
			key := b.cur[len(b.cur)-1]
			b.cur = b.cur[:len(b.cur)-1]
			budget--
			if exp, ok := r.ids[key]; ok && exp <= now {
				delete(r.ids, key)
			}
			if len(b.cur) == 0 && len(b.full) > 0 {
				b.cur = b.full[len(b.full)-1]
				b.full = b.full[:len(b.full)-1]
			}
		}
		if len(b.cur) > 0 {
			return
		}
		delete(r.due, end)
		r.ends = r.ends[:len(r.ends)-1]
	}
}

// AddKey validates k (ValidateKey) and adds it, published and, for a
// private key, signing at once: StageKey with no window. Being the newest,
// it takes over signing for its algorithm. A kid already present, or
// removed before, is refused: an ID names one key material forever.
func (m *Memory) AddKey(k jose.JSONWebKey) error {
	return m.StageKey(Key{JSONWebKey: k})
}

// StageKey validates k and adds it: published at once, signing within its
// window (a zero SignFrom becomes the store's now). A window that ends
// before it starts is refused, as is a kid already present or removed
// before.
func (m *Memory) StageKey(k Key) error {
	if err := ValidateKey(&k.JSONWebKey); err != nil {
		return err
	}
	if !k.SignUntil.IsZero() && !k.SignFrom.IsZero() && !k.SignFrom.Before(k.SignUntil) {
		return fmt.Errorf("%w %q: signing window ends before it starts", ErrInvalidKey, k.KeyID)
	}
	mk := memKey{public: PublicKey(&k.JSONWebKey), from: k.SignFrom, until: k.SignUntil}
	if !k.IsPublic() {
		priv := k.JSONWebKey
		mk.private = &priv
	}
	m.keysMu.Lock()
	defer m.keysMu.Unlock()
	if _, dup := m.byKID[k.KeyID]; dup || m.retired[k.KeyID] {
		return fmt.Errorf("%w %q: kid already used", ErrInvalidKey, k.KeyID)
	}
	if mk.from.IsZero() {
		mk.from = m.now()
	}
	m.keys = append(slices.Clip(m.keys), mk)
	m.rebuildKeys()
	return nil
}

// RetireKey ends the signing window of the key with the given kid at at
// (the store's now when zero), or keeps an earlier end it already has. The
// key stays published until RemoveKey, so tokens it signed keep verifying.
// An unknown kid wraps ErrNotFound.
func (m *Memory) RetireKey(kid string, at time.Time) error {
	m.keysMu.Lock()
	defer m.keysMu.Unlock()
	if at.IsZero() {
		at = m.now()
	}
	i := slices.IndexFunc(m.keys, func(k memKey) bool { return k.public.KeyID == kid })
	if i < 0 {
		return notFound("key", kid)
	}
	keys := slices.Clone(m.keys)
	if k := &keys[i]; k.until.IsZero() || at.Before(k.until) {
		k.until = at
	}
	m.keys = keys
	m.rebuildKeys()
	return nil
}

// RemoveKey removes the key with the given kid; once it returns, the key
// neither signs nor verifies. If it was the signing key of its algorithm,
// the remaining key whose window began last takes over.
func (m *Memory) RemoveKey(kid string) {
	m.keysMu.Lock()
	defer m.keysMu.Unlock()
	n := len(m.keys)
	m.keys = slices.DeleteFunc(slices.Clone(m.keys), func(k memKey) bool { return k.public.KeyID == kid })
	if len(m.keys) < n {
		if m.retired == nil {
			m.retired = make(map[string]bool)
		}
		m.retired[kid] = true
	}
	m.rebuildKeys()
}

// Keys returns the schedule of every published key, oldest first: public
// halves only, with their signing windows (SignFrom as recorded).
func (m *Memory) Keys() []Key {
	m.keysMu.RLock()
	defer m.keysMu.RUnlock()
	out := make([]Key, len(m.keys))
	for i, k := range m.keys {
		out[i] = Key{JSONWebKey: k.public, SignFrom: k.from, SignUntil: k.until}
	}
	return out
}

// SetClock makes the store read time from now (key windows and the replay
// cache) instead of time.Now. Call it before the
// store is shared; it is not safe for concurrent use with other methods.
func (m *Memory) SetClock(now func() time.Time) {
	if now == nil {
		now = time.Now
	}
	m.now = now
}

// rebuildKeys recomputes the lookup tables from m.keys. The tables are
// replaced, never modified, so slices already handed out stay unchanged.
func (m *Memory) rebuildKeys() {
	signing := make(map[string][]memKey)
	byKID := make(map[string][]jose.JSONWebKey, len(m.keys))
	public := make([]jose.JSONWebKey, 0, len(m.keys))
	for _, k := range m.keys {
		if k.private != nil {
			signing[k.private.Algorithm] = append(signing[k.private.Algorithm], k)
		}
		byKID[k.public.KeyID] = []jose.JSONWebKey{k.public}
		public = append(public, k.public)
	}
	for _, ks := range signing {
		// Latest start first; the stable sort keeps the one added last
		// first among equal starts, as ks is in reverse order of adding.
		slices.Reverse(ks)
		slices.SortStableFunc(ks, func(a, b memKey) int { return b.from.Compare(a.from) })
	}
	m.signing, m.byKID, m.public = signing, byKID, public
}

// SigningKey implements KeyStore.
func (m *Memory) SigningKey(ctx context.Context, alg string) (*jose.JSONWebKey, error) {
	if err := ctxErr(ctx); err != nil {
		return nil, err
	}
	// The clock is read under the lock: a key added (its window starting
	// at the adder's now) just before a key is removed must not look
	// not-yet-started to a reader that read the clock before both.
	m.keysMu.RLock()
	now := m.now()
	ks := m.signing[alg]
	m.keysMu.RUnlock()
	for _, k := range ks {
		if !now.Before(k.from) && (k.until.IsZero() || now.Before(k.until)) {
			return k.private, nil
		}
	}
	return nil, notFound("signing key for", alg)
}

// VerificationKeys implements KeyStore.
func (m *Memory) VerificationKeys(ctx context.Context, kid string) ([]jose.JSONWebKey, error) {
	if err := ctxErr(ctx); err != nil {
		return nil, err
	}
	m.keysMu.RLock()
	var ks []jose.JSONWebKey
	if kid == "" {
		ks = m.public
	} else {
		ks = m.byKID[kid]
	}
	m.keysMu.RUnlock()
	if len(ks) == 0 {
		return nil, notFound("key", kid)
	}
	return ks, nil
}

var (
	_ ClientStore       = (*Memory)(nil)
	_ RefreshTokenStore = (*Memory)(nil)
	_ ProfileStore      = (*Memory)(nil)
	_ ReplayCache       = (*Memory)(nil)
	_ KeyStore          = (*Memory)(nil)
)
