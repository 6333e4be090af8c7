package postgres

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"time"
)

// Config configures a Store. It is checked once, by Open, and must not be
// modified afterwards.
type Config struct {
	// EncryptionKeys maps key ids to 32-byte AES-256 keys that seal client
	// secrets and private keys at rest. Every key id that sealed a row in
	// the database must be present; Open fails otherwise. Key ids are 1 to
	// 64 bytes of UTF-8, without NUL. Required.
	EncryptionKeys map[string][]byte
	// ActiveKey is the id of the key, in EncryptionKeys, that seals new
	// rows and that Reseal moves old rows to. Required.
	ActiveKey string
	// CacheTTL is how long a client or the key set is served from the
	// in-process cache before it is read again. Changes made through any
	// Store on the database reach the caches of the others at once by
	// LISTEN/NOTIFY; the TTL bounds staleness while that channel is down.
	// 0 means 5s; a negative value disables the cache (every lookup reads
	// the database, and no listener connection is opened).
	CacheTTL time.Duration
	// Now is the clock of key signing windows, of secret expiry when
	// ExpireSecret is given no time, of the time recorded for a key added
	// without a start, and of replay expiry. nil means time.Now. Cache
	// freshness uses the process's monotonic clock whatever Now says.
	Now func() time.Time
	// ListenDSN, when set, is the DSN of the LISTEN connection, for when
	// the main DSN leads through a pooler (such as PgBouncer in transaction
	// mode) that cannot keep a LISTEN. "" means the DSN given to Open.
	ListenDSN string
	// QueryTimeout bounds each lookup (Client, RefreshToken, Profile, Use,
	// SigningKey, VerificationKeys) on top of its context, so a database
	// that hangs yields an error rather than a stuck request. 0 means 5s;
	// negative means no bound beyond the context.
	QueryTimeout time.Duration
	// PruneInterval is how often expired replay ids are deleted, in batches
	// of PruneBatch. 0 means one minute; negative disables pruning (another
	// replica, or a cron job, must do it).
	PruneInterval time.Duration
	// PruneBatch is how many expired replay ids one DELETE removes, so no
	// statement holds locks for long. 0 means 1000.
	PruneBatch int
}

// Defaults of Config's zero values.
const (
	DefaultCacheTTL      = 5 * time.Second
	DefaultQueryTimeout  = 5 * time.Second
	DefaultPruneInterval = time.Minute
	DefaultPruneBatch    = 1000
)

// ErrConfig is wrapped by every error Open returns for a bad Config.
var ErrConfig = errors.New("postgres: invalid config")

// check validates c and returns a copy with defaults filled in; it reports
// every problem at once.
func (c Config) check() (Config, error) {
	var errs []error
	bad := func(format string, a ...any) {
		errs = append(errs, fmt.Errorf("%w: "+format, append([]any{ErrConfig}, a...)...))
	}
	if len(c.EncryptionKeys) == 0 {
		bad("EncryptionKeys is empty: client secrets and private keys are sealed with it")
	}
	for _, id := range slices.Sorted(maps.Keys(c.EncryptionKeys)) {
		if id == "" || len(id) > 64 || !storable(id) {
			bad("encryption key id %q must be 1 to 64 bytes of UTF-8 without NUL", id)
		}
		if n := len(c.EncryptionKeys[id]); n != 32 {
			bad("encryption key %q is %d bytes, want 32 (AES-256)", id, n)
		}
	}
	switch _, ok := c.EncryptionKeys[c.ActiveKey]; {
	case c.ActiveKey == "":
		bad("ActiveKey is empty: name the EncryptionKeys entry that seals new rows")
	case !ok:
		bad("ActiveKey %q is not in EncryptionKeys", c.ActiveKey)
	}
	if c.PruneBatch < 0 {
		bad("PruneBatch is negative")
	}
	if err := errors.Join(errs...); err != nil {
		return c, err
	}
	if c.CacheTTL == 0 {
		c.CacheTTL = DefaultCacheTTL
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.QueryTimeout == 0 {
		c.QueryTimeout = DefaultQueryTimeout
	}
	if c.PruneInterval == 0 {
		c.PruneInterval = DefaultPruneInterval
	}
	if c.PruneBatch == 0 {
		c.PruneBatch = DefaultPruneBatch
	}
	// Keep our own copy, so a caller changing its map changes nothing.
	keys := make(map[string][]byte, len(c.EncryptionKeys))
	for id, k := range c.EncryptionKeys {
		keys[id] = slices.Clone(k)
	}
	c.EncryptionKeys = keys
	return c, nil
}
