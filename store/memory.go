package store

import (
	"context"
	"crypto/sha256"
	"fmt"
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
	keys    []memKey                    // oldest first
	retired map[string]bool             // kids removed: never reused
	signing map[string]*jose.JSONWebKey // alg → newest private key
	byKID   map[string][]jose.JSONWebKey
	public  []jose.JSONWebKey // every public half, oldest first

	replayMu   sync.Mutex
	replay     map[string]time.Time // id → when it may be used again
	replayNext time.Time            // next sweep of expired ids
	now        func() time.Time
}

type memKey struct {
	private *jose.JSONWebKey // nil for a public-only key
	public  jose.JSONWebKey
}

// NewMemory returns an empty store.
func NewMemory() *Memory {
	return &Memory{
		clients:  make(map[string]*Client),
		refresh:  make(map[[32]byte]*RefreshGrant),
		profiles: make(map[string]claims.Set),
		signing:  make(map[string]*jose.JSONWebKey),
		byKID:    make(map[string][]jose.JSONWebKey),
		replay:   make(map[string]time.Time),
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

// replaySweep bounds how often Use scans for expired ids.
const replaySweep = time.Second

// Use implements ReplayCache. Expired ids are swept at most once a second,
// so memory stays bounded by the ids used within their TTLs.
func (m *Memory) Use(ctx context.Context, id string, ttl time.Duration) (bool, error) {
	if err := ctxErr(ctx); err != nil {
		return false, err
	}
	m.replayMu.Lock()
	defer m.replayMu.Unlock()
	now := m.now()
	if now.After(m.replayNext) {
		for k, until := range m.replay {
			if !now.Before(until) {
				delete(m.replay, k)
			}
		}
		m.replayNext = now.Add(replaySweep)
	}
	if until, ok := m.replay[id]; ok && now.Before(until) {
		return false, nil
	}
	m.replay[id] = now.Add(ttl)
	return true, nil
}

// AddKey validates k (ValidateKey) and adds it. A private key becomes the
// signing key of its algorithm, being the newest; every key, private or
// public-only, verifies by its kid until RemoveKey. A kid already present,
// or removed before, is refused: an ID names one key material forever.
func (m *Memory) AddKey(k jose.JSONWebKey) error {
	if err := ValidateKey(&k); err != nil {
		return err
	}
	mk := memKey{public: k.Public()}
	if !k.IsPublic() {
		priv := k
		mk.private = &priv
	}
	m.keysMu.Lock()
	defer m.keysMu.Unlock()
	if _, dup := m.byKID[k.KeyID]; dup || m.retired[k.KeyID] {
		return fmt.Errorf("%w %q: kid already used", ErrInvalidKey, k.KeyID)
	}
	m.keys = append(slices.Clip(m.keys), mk)
	m.rebuildKeys()
	return nil
}

// RemoveKey removes the key with the given kid; once it returns, the key
// neither signs nor verifies. If it was the signing key of its algorithm,
// the newest remaining private key of that algorithm takes over.
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

// rebuildKeys recomputes the lookup tables from m.keys. The tables are
// replaced, never modified, so slices already handed out stay unchanged.
func (m *Memory) rebuildKeys() {
	signing := make(map[string]*jose.JSONWebKey)
	byKID := make(map[string][]jose.JSONWebKey, len(m.keys))
	public := make([]jose.JSONWebKey, 0, len(m.keys))
	for _, k := range m.keys {
		if k.private != nil {
			signing[k.private.Algorithm] = k.private
		}
		byKID[k.public.KeyID] = []jose.JSONWebKey{k.public}
		public = append(public, k.public)
	}
	m.signing, m.byKID, m.public = signing, byKID, public
}

// SigningKey implements KeyStore.
func (m *Memory) SigningKey(ctx context.Context, alg string) (*jose.JSONWebKey, error) {
	if err := ctxErr(ctx); err != nil {
		return nil, err
	}
	m.keysMu.RLock()
	k, ok := m.signing[alg]
	m.keysMu.RUnlock()
	if !ok {
		return nil, notFound("signing key for", alg)
	}
	return k, nil
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
