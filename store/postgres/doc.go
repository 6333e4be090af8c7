// Package postgres is a deputy store on PostgreSQL, so that several
// replicas of an auth server share one set of clients, secrets, keys,
// refresh grants and profiles, and one replay cache. It implements every
// interface of package store, plus the writers an operator needs.
//
//	st, err := postgres.Open(ctx, "postgres://deputy@db.internal/deputy", postgres.Config{
//		EncryptionKeys: map[string][]byte{"2026-11": key}, // 32 bytes, from a secret manager
//		ActiveKey:      "2026-11",
//	})
//	if err != nil { // a bad config, an unreachable database, a wrong key
//		return err
//	}
//	defer st.Close()
//	x, err := engine.New(engine.Config{Issuer: iss, Clients: st, Keys: st,
//		RefreshTokens: st, Profiles: st, Replay: st})
//
// # Secrets at rest
//
// Client secrets, private keys and add-on settings (Client.APITypes, which
// hold firebase's private_key and Azure's keys) are sealed with AES-256-GCM
// under a key the host supplies (Config.EncryptionKeys, by key id); each row
// records the id of the key that sealed it, and the sealed value's
// associated data names the row (client and secret ID, kid, or client and
// api_type) and the key id, so a value copied into another row does not
// open. Refresh tokens are stored only as their SHA-256. Public keys, the
// rest of a client's record and profiles are stored in the clear. Open fails, rather than a lookup later, when a row is sealed under
// a key id the Config lacks, or when a configured key is not the one its id
// stood for: each key id seals a sentinel the first time it is used, and
// Open opens it.
//
// To rotate the encryption key: add the new key to every replica's
// EncryptionKeys; make it ActiveKey everywhere; call Reseal once, which
// re-encrypts every row sealed under another key; then drop the old key.
//
// # Caching and replicas
//
// Clients and the key set are cached in each process for Config.CacheTTL
// (default 5s). Every write announces what it changed with pg_notify in its
// own transaction, and each Store LISTENs on a dedicated connection and
// drops what changed, so a change made through one replica reaches the
// others' caches within milliseconds of its commit (BenchmarkPropagation,
// on a loaded two-core machine: a median of 0.3 to 0.45 ms after the
// writer's commit returned, a 99th percentile of 2 to 5 ms). The writing Store drops its own entry at once. If the
// listener connection fails, the Store reconnects with backoff (50 ms
// doubling to 5 s) and meanwhile serves cache entries only until their TTL
// runs out; on reconnecting it drops the whole cache, as notices may have
// been missed. Signing windows of keys are judged by Config.Now at each
// lookup, never when the cache is filled. Refresh grants and profiles are
// never cached: a revocation holds on the next request everywhere.
//
// # Replay
//
// Use is one statement, INSERT ... ON CONFLICT (id) DO UPDATE ... WHERE the
// stored record has expired, RETURNING: PostgreSQL serialises concurrent
// inserts of one id on any connection, so exactly one caller is first.
// Expired ids are deleted in batches of Config.PruneBatch by a background
// goroutine that skips locked rows, so it never holds up Use.
//
// # Failure
//
// Every query takes the caller's context; lookups are also bounded by
// Config.QueryTimeout (default 5s). A database that is down or hangs makes
// lookups fail with an error that is not store.ErrNotFound, which the
// engine answers with server_error and no token; a done context yields an
// error wrapping ctx.Err(). A replica whose cache is warm keeps serving
// lookups of cached clients and keys while the database is down, for up to
// CacheTTL; Replay, refresh grants and profiles need the database.
//
// # Schema
//
// Migrate applies numbered migrations, each once, recording them in
// deputy_schema_migrations (version, name, applied_at). It runs them in one
// transaction holding pg_advisory_xact_lock(0x646570757479), so replicas
// starting at once are safe: one migrates, the others wait and find nothing
// to do. Open calls it. A database that records a migration this binary
// does not know, applied by a newer deputy, is refused with
// ErrSchemaTooNew, by Open and Migrate alike, rather than read and written
// as if it were the schema this binary knows. The schema, migrations 0001
// and 0002:
//
//	-- 0001: the initial schema. Identifiers use COLLATE "C" so that they
//	-- compare byte for byte, whatever the database's default collation.
//
//	-- One row per encryption key id ever used: a value sealed under that key,
//	-- which Open must be able to open, so that a wrong key fails at start.
//	CREATE TABLE deputy_sealing_keys (
//	    key_id     text COLLATE "C" PRIMARY KEY,
//	    sentinel   bytea NOT NULL,
//	    created_at timestamptz NOT NULL DEFAULT now()
//	);
//
//	CREATE TABLE deputy_clients (
//	    id               text COLLATE "C" PRIMARY KEY,
//	    name             text NOT NULL,
//	    disabled         boolean NOT NULL,
//	    confidential     boolean NOT NULL,
//	    signing_alg      text NOT NULL,
//	    allowed_sources  text[] NOT NULL,
//	    grants           text[] NOT NULL,
//	    lifetime_seconds bigint NOT NULL,
//	    scopes           text[] NOT NULL,
//	    -- api_type -> its settings, each kept verbatim as a JSON string.
//	    api_types        jsonb NOT NULL,
//	    default_api_type text NOT NULL,
//	    updated_at       timestamptz NOT NULL DEFAULT now()
//	);
//
//	-- Client secrets, sealed: AES-256-GCM under key_id, the associated data
//	-- naming the client and the secret, so a sealed value cannot be moved to
//	-- another row. The highest seq is the newest secret.
//	CREATE TABLE deputy_client_secrets (
//	    client_id text COLLATE "C" NOT NULL REFERENCES deputy_clients (id) ON DELETE CASCADE,
//	    id        text COLLATE "C" NOT NULL,
//	    seq       bigint NOT NULL,
//	    key_id    text COLLATE "C" NOT NULL,
//	    sealed    bytea NOT NULL,
//	    not_after timestamptz,
//	    PRIMARY KEY (client_id, id)
//	);
//
//	-- Asymmetric keys. public_jwk is the public half (no secret). A private
//	-- key's JWK is sealed like a client secret, bound to its kid. A removed key
//	-- keeps its row, without any private material, so that its kid is never
//	-- used again.
//	CREATE TABLE deputy_keys (
//	    kid        text COLLATE "C" PRIMARY KEY,
//	    seq        bigserial NOT NULL,
//	    alg        text NOT NULL,
//	    public_jwk text NOT NULL,
//	    key_id     text COLLATE "C",
//	    sealed     bytea,
//	    sign_from  timestamptz NOT NULL,
//	    sign_until timestamptz,
//	    removed_at timestamptz,
//	    CHECK ((key_id IS NULL) = (sealed IS NULL))
//	);
//
//	-- Refresh grants under the SHA-256 of their token; the token is never
//	-- stored.
//	CREATE TABLE deputy_refresh_grants (
//	    token_hash bytea PRIMARY KEY CHECK (length(token_hash) = 32),
//	    client_id  text NOT NULL,
//	    subject    text NOT NULL,
//	    scope      text[] NOT NULL,
//	    expires_at timestamptz,
//	    revoked    boolean NOT NULL,
//	    updated_at timestamptz NOT NULL DEFAULT now()
//	);
//
//	CREATE TABLE deputy_profiles (
//	    subject    text COLLATE "C" PRIMARY KEY,
//	    claims     jsonb NOT NULL,
//	    updated_at timestamptz NOT NULL DEFAULT now()
//	);
//
//	-- One-time ids. An id of up to 256 bytes is kept as given; a longer one as
//	-- 256 zero bytes and its SHA-256 (288 bytes, a length no id is kept as).
//	CREATE TABLE deputy_replay (
//	    id         bytea PRIMARY KEY,
//	    expires_at timestamptz NOT NULL
//	);
//	CREATE INDEX deputy_replay_expires_at ON deputy_replay (expires_at);
//
//	-- 0002: add-on settings sealed. Settings carry secrets (firebase's
//	-- private_key, Azure's sasKey and storageAccessKey), so a row with
//	-- api_types_key_id keeps in api_types, for each api_type, the base64 of its
//	-- settings sealed under that key, the associated data naming the client
//	-- and the api_type. A row without it, written before this migration, keeps
//	-- its settings in the clear until Reseal seals them.
//	ALTER TABLE deputy_clients ADD COLUMN api_types_key_id text COLLATE "C";
package postgres
