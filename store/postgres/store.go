package postgres

import (
	"context"
	"embed"
	"encoding/base64"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"path"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/deputyauth/deputy/store"
)

// Store is a deputy store on PostgreSQL. It implements store.ClientStore,
// store.RefreshTokenStore, store.ProfileStore, store.ReplayCache and
// store.KeyStore, and the writers an operator needs. It is safe for
// concurrent use; several Stores, in one process or in many, may share one
// database.
type Store struct {
	pool      *pgxpool.Pool
	cfg       Config
	listenCfg *pgx.ConnConfig // of the LISTEN connection
	sealer    *sealer

	cache     *cache // nil when CacheTTL < 0
	listening atomic.Bool

	stop context.CancelFunc
	wg   sync.WaitGroup
}

var (
	_ store.ClientStore       = (*Store)(nil)
	_ store.RefreshTokenStore = (*Store)(nil)
	_ store.ProfileStore      = (*Store)(nil)
	_ store.ReplayCache       = (*Store)(nil)
	_ store.KeyStore          = (*Store)(nil)
)

// Open connects to the database at dsn (a PostgreSQL URL or keyword/value
// string, as pgxpool.ParseConfig reads it, including pool_max_conns),
// checks cfg, runs the migrations (Migrate) and checks the encryption keys:
// every key id that sealed a row must be in cfg.EncryptionKeys and each key
// must open the sentinel sealed under its id, so a missing or wrong key is
// an error here rather than a failed lookup later. It then starts the
// cache listener and the replay pruner, which Close stops.
func Open(ctx context.Context, dsn string, cfg Config) (*Store, error) {
	cfg, err := cfg.check()
	if err != nil {
		return nil, err
	}
	sealer, err := newSealer(cfg.EncryptionKeys, cfg.ActiveKey)
	if err != nil {
		return nil, err
	}
	pcfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		return nil, dsnError("DSN", err)
	}
	pool, err := pgxpool.NewWithConfig(ctx, pcfg)
	if err != nil {
		return nil, fmt.Errorf("postgres: %w", err)
	}
	// The listener is a plain connection: parse its DSN as the pool's,
	// which knows the pool_* parameters, and take the connection part.
	listen := pcfg.ConnConfig
	if cfg.ListenDSN != "" {
		lcfg, err := pgxpool.ParseConfig(cfg.ListenDSN)
		if err != nil {
			pool.Close()
			return nil, dsnError("ListenDSN", err)
		}
		listen = lcfg.ConnConfig
	}
	s := &Store{pool: pool, cfg: cfg, listenCfg: listen, sealer: sealer}
	if err := pool.Ping(ctx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("postgres: connecting: %w", err)
	}
	if err := s.Migrate(ctx); err != nil {
		pool.Close()
		return nil, err
	}
	if err := s.checkKeys(ctx); err != nil {
		pool.Close()
		return nil, err
	}
	bg, stop := context.WithCancel(context.Background())
	s.stop = stop
	if cfg.CacheTTL > 0 {
		s.cache = newCache(cfg.CacheTTL)
		s.wg.Go(func() { s.listen(bg) })
	}
	if cfg.PruneInterval > 0 {
		s.wg.Go(func() { s.prune(bg) })
	}
	return s, nil
}

// Close stops the listener and the pruner and closes every connection,
// waiting for queries in flight. It may be called more than once; the
// Store must not be used afterwards (lookups fail, or serve what is
// cached).
func (s *Store) Close() {
	s.stop()
	s.wg.Wait()
	s.pool.Close()
}

// dsnError reports a DSN that does not parse without quoting it: pgx's
// error holds the DSN with its password redacted only on a best-effort
// basis (a keyword/value DSN with "password = x", an escaped space or a
// doubled quote keeps it), and the error it wraps may quote part of it.
// Only pgx's description of the problem is kept, which never holds a
// value of the DSN's password.
func dsnError(what string, err error) error {
	msg := "it does not parse"
	var pe *pgconn.ParseConfigError
	if errors.As(err, &pe) {
		// pe.Error() is "cannot parse `<dsn>`: <msg>[ (<wrapped error>)]".
		m := pe.Error()
		if inner := errors.Unwrap(pe); inner != nil {
			m = strings.TrimSuffix(m, " ("+inner.Error()+")")
		}
		if i := strings.LastIndex(m, "`: "); i >= 0 {
			msg = m[i+len("`: "):]
		}
	}
	return fmt.Errorf("%w: %s: %s (the %s is not shown: it may hold a password)", ErrConfig, what, msg, what)
}

// Pool returns the Store's connection pool, for health checks and metrics.
func (s *Store) Pool() *pgxpool.Pool { return s.pool }

// Listening reports whether the cache invalidation listener is connected
// (always false without a cache). While it is not, cached clients and keys
// may be up to CacheTTL stale. A host may report it in its health check.
func (s *Store) Listening() bool { return s.listening.Load() }

//go:embed migrations/*.sql
var migrationFS embed.FS

// migration is one numbered schema change.
type migration struct {
	version int
	name    string
	sql     string
}

// migrations returns the embedded migrations in order. Their file names
// start with the version: 0001_initial.sql.
func migrations() ([]migration, error) {
	entries, err := fs.ReadDir(migrationFS, "migrations")
	if err != nil {
		return nil, err
	}
	var out []migration
	for _, e := range entries {
		v, err := strconv.Atoi(strings.SplitN(e.Name(), "_", 2)[0])
		if err != nil {
			return nil, fmt.Errorf("postgres: migration %s: no version number", e.Name())
		}
		b, err := migrationFS.ReadFile(path.Join("migrations", e.Name()))
		if err != nil {
			return nil, err
		}
		out = append(out, migration{v, e.Name(), string(b)})
	}
	slices.SortFunc(out, func(a, b migration) int { return a.version - b.version })
	return out, nil
}

// migrationLock is the pg_advisory_xact_lock key that serialises Migrate
// across every process on the database ("deputy" in ASCII).
const migrationLock = 0x646570757479

// Migrate brings the schema up to date: it applies, in order, every
// migration not yet recorded in deputy_schema_migrations, in one
// transaction holding an advisory lock, so replicas starting at once apply
// each migration exactly once and none sees a half-made schema. Open calls
// it; running it again does nothing. A database with a migration this
// binary does not know is refused with an error wrapping ErrSchemaTooNew.
func (s *Store) Migrate(ctx context.Context) error {
	ms, err := migrations()
	if err != nil {
		return err
	}
	err = pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, "SELECT pg_advisory_xact_lock($1)", int64(migrationLock)); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `CREATE TABLE IF NOT EXISTS deputy_schema_migrations (
			version    integer PRIMARY KEY,
			name       text NOT NULL,
			applied_at timestamptz NOT NULL DEFAULT now())`); err != nil {
			return err
		}
		rows, err := tx.Query(ctx, "SELECT version FROM deputy_schema_migrations")
		if err != nil {
			return err
		}
		applied, err := pgx.CollectRows(rows, pgx.RowTo[int32])
		if err != nil {
			return err
		}
		if err := checkKnown(ms, applied); err != nil {
			return err
		}
		for _, m := range ms {
			if slices.Contains(applied, int32(m.version)) {
				continue
			}
			if _, err := tx.Exec(ctx, m.sql); err != nil {
				return fmt.Errorf("migration %s: %w", m.name, err)
			}
			if _, err := tx.Exec(ctx, "INSERT INTO deputy_schema_migrations (version, name) VALUES ($1, $2)", m.version, m.name); err != nil {
				return err
			}
		}
		return nil
	})
	if errors.Is(err, ErrSchemaTooNew) {
		return err
	}
	if err != nil {
		return s.fail(ctx, "migrating", err)
	}
	return nil
}

// checkKnown refuses a schema with applied migrations not among ms: this
// binary would read and write tables it does not understand.
func checkKnown(ms []migration, applied []int32) error {
	var unknown []string
	slices.Sort(applied)
	for _, v := range applied {
		if !slices.ContainsFunc(ms, func(m migration) bool { return int32(m.version) == v }) {
			unknown = append(unknown, strconv.Itoa(int(v)))
		}
	}
	if len(unknown) == 0 {
		return nil
	}
	what := "version "
	if len(unknown) > 1 {
		what = "versions "
	}
	return fmt.Errorf("%w: deputy_schema_migrations records %s%s, which this binary does not know (it knows up to version %d); run the newer deputy that migrated it",
		ErrSchemaTooNew, what, strings.Join(unknown, ", "), ms[len(ms)-1].version)
}

// checkKeys makes sure every configured key opens its sentinel (sealing
// one for a key id seen for the first time), that every key id a row is
// sealed under is configured, and that a row of each opens.
func (s *Store) checkKeys(ctx context.Context) error {
	// One transaction, so that a failed check records no sentinel: a wrong
	// key must not become the key of record.
	return pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error { return s.checkKeysIn(ctx, tx) })
}

func (s *Store) checkKeysIn(ctx context.Context, tx pgx.Tx) error {
	for _, id := range slices.Sorted(maps.Keys(s.cfg.EncryptionKeys)) {
		_, sealed := s.sealer.sealWith(id, []byte(sentinelText), "sentinel")
		if _, err := tx.Exec(ctx, "INSERT INTO deputy_sealing_keys (key_id, sentinel) VALUES ($1, $2) ON CONFLICT (key_id) DO NOTHING", id, sealed); err != nil {
			return s.fail(ctx, "recording encryption key", err)
		}
		var stored []byte
		if err := tx.QueryRow(ctx, "SELECT sentinel FROM deputy_sealing_keys WHERE key_id = $1", id).Scan(&stored); err != nil {
			return s.fail(ctx, "checking encryption key", err)
		}
		plain, err := s.sealer.open(id, stored, "sentinel")
		if err != nil || string(plain) != sentinelText {
			return fmt.Errorf("%w: encryption key %q is not the key that id stood for when first used with this database", ErrSealing, id)
		}
	}
	// One row per key id in use, opened: a key id without a sentinel (a
	// partial restore, say) is still checked against real data.
	rows, err := tx.Query(ctx, `
		SELECT DISTINCT ON (key_id) key_id, $1::text, client_id, id, sealed FROM deputy_client_secrets
		UNION ALL
		SELECT DISTINCT ON (key_id) key_id, $2::text, kid, '', sealed FROM deputy_keys WHERE key_id IS NOT NULL`,
		kindSecret, kindKey)
	if err != nil {
		return s.fail(ctx, "checking encryption keys", err)
	}
	type sample struct {
		keyID, kind, owner, id string
		sealed                 []byte
	}
	samples, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (sample, error) {
		var x sample
		err := r.Scan(&x.keyID, &x.kind, &x.owner, &x.id, &x.sealed)
		return x, err
	})
	if err != nil {
		return s.fail(ctx, "checking encryption keys", err)
	}
	// And one client's api_types settings per key id.
	rows, err = tx.Query(ctx, `SELECT DISTINCT ON (api_types_key_id) api_types_key_id, id, api_types
		FROM deputy_clients WHERE api_types_key_id IS NOT NULL`)
	if err != nil {
		return s.fail(ctx, "checking encryption keys", err)
	}
	type apiSample struct {
		keyID, client string
		settings      map[string]string
	}
	apiSamples, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (apiSample, error) {
		var x apiSample
		err := r.Scan(&x.keyID, &x.client, &x.settings)
		return x, err
	})
	if err != nil {
		return s.fail(ctx, "checking encryption keys", err)
	}
	for _, x := range apiSamples {
		// One sealed add-on of the row is enough to prove its key.
		names := slices.Sorted(maps.Keys(x.settings))
		if len(names) == 0 {
			continue
		}
		name := names[0]
		sealed, err := base64.StdEncoding.DecodeString(x.settings[name])
		if err != nil {
			return fmt.Errorf("%w: client %q: api_type %q: sealed settings are not base64", ErrSealing, x.client, name)
		}
		samples = append(samples, sample{x.keyID, kindAPIType, x.client, name, sealed})
	}
	var missing []string
	for _, x := range samples {
		if _, ok := s.cfg.EncryptionKeys[x.keyID]; !ok {
			if q := strconv.Quote(x.keyID); !slices.Contains(missing, q) {
				missing = append(missing, q)
			}
			continue
		}
		parts := []string{x.owner, x.id}
		if x.kind == kindKey {
			parts = parts[:1]
		}
		if _, err := s.sealer.open(x.keyID, x.sealed, x.kind, parts...); err != nil {
			return err
		}
	}
	if len(missing) > 0 {
		slices.Sort(missing)
		return fmt.Errorf("%w: rows are sealed under encryption key ids %s, which Config.EncryptionKeys lacks (Reseal moves rows to the active key before an old key is dropped)", ErrSealing, strings.Join(missing, ", "))
	}
	return nil
}

// fail wraps a database error of op. If ctx is done, the error wraps
// ctx.Err(), whatever pgx reported, so a cancelled lookup is never taken
// for a miss or a bare I/O failure.
func (s *Store) fail(ctx context.Context, op string, err error) error {
	if cerr := ctx.Err(); cerr != nil && !errors.Is(err, cerr) {
		return fmt.Errorf("postgres: %s: %w (%w)", op, cerr, err)
	}
	return fmt.Errorf("postgres: %s: %w", op, err)
}

// ctxErr returns an error wrapping ctx.Err() if ctx is done.
func ctxErr(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("postgres: %w", err)
	}
	return nil
}

// lookupCtx bounds a lookup by QueryTimeout.
func (s *Store) lookupCtx(ctx context.Context) (context.Context, context.CancelFunc) {
	if s.cfg.QueryTimeout < 0 {
		return ctx, func() {}
	}
	return context.WithTimeout(ctx, s.cfg.QueryTimeout)
}

// storable reports whether id can be the value of a text column:
// PostgreSQL text is UTF-8 without NUL, so any other string names no row,
// and a query with it fails instead of missing. Lookups of IDs a caller
// controls (client_id, a token's kid or sub) check it, so such an ID is a
// miss, as on store.Memory, rather than a store failure (server_error).
func storable(id string) bool {
	return utf8.ValidString(id) && !strings.ContainsRune(id, 0)
}

// notFound names what was missed; only a short prefix of a caller's id is
// quoted.
func notFound(what, id string) error {
	const max = 64
	if len(id) > max {
		id = id[:max] + "…"
	}
	return fmt.Errorf("%w: %s %q", store.ErrNotFound, what, id)
}

// ErrSchemaTooNew is wrapped by the error of Open and Migrate for a
// database whose schema has migrations this binary does not know: a newer
// deputy migrated it.
var ErrSchemaTooNew = errors.New("postgres: database schema is newer than this binary")
