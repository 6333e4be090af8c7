-- 0001: the initial schema. Identifiers use COLLATE "C" so that they
-- compare byte for byte, whatever the database's default collation.

-- One row per encryption key id ever used: a value sealed under that key,
-- which Open must be able to open, so that a wrong key fails at start.
CREATE TABLE deputy_sealing_keys (
    key_id     text COLLATE "C" PRIMARY KEY,
    sentinel   bytea NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE deputy_clients (
    id               text COLLATE "C" PRIMARY KEY,
    name             text NOT NULL,
    disabled         boolean NOT NULL,
    confidential     boolean NOT NULL,
    signing_alg      text NOT NULL,
    allowed_sources  text[] NOT NULL,
    grants           text[] NOT NULL,
    lifetime_seconds bigint NOT NULL,
    scopes           text[] NOT NULL,
    -- api_type -> its settings, each kept verbatim as a JSON string.
    api_types        jsonb NOT NULL,
    default_api_type text NOT NULL,
    updated_at       timestamptz NOT NULL DEFAULT now()
);

-- Client secrets, sealed: AES-256-GCM under key_id, the associated data
-- naming the client and the secret, so a sealed value cannot be moved to
-- another row. The highest seq is the newest secret.
CREATE TABLE deputy_client_secrets (
    client_id text COLLATE "C" NOT NULL REFERENCES deputy_clients (id) ON DELETE CASCADE,
    id        text COLLATE "C" NOT NULL,
    seq       bigint NOT NULL,
    key_id    text COLLATE "C" NOT NULL,
    sealed    bytea NOT NULL,
    not_after timestamptz,
    PRIMARY KEY (client_id, id)
);

-- Asymmetric keys. public_jwk is the public half (no secret). A private
-- key's JWK is sealed like a client secret, bound to its kid. A removed key
-- keeps its row, without any private material, so that its kid is never
-- used again.
CREATE TABLE deputy_keys (
    kid        text COLLATE "C" PRIMARY KEY,
    seq        bigserial NOT NULL,
    alg        text NOT NULL,
    public_jwk text NOT NULL,
    key_id     text COLLATE "C",
    sealed     bytea,
    sign_from  timestamptz NOT NULL,
    sign_until timestamptz,
    removed_at timestamptz,
    CHECK ((key_id IS NULL) = (sealed IS NULL))
);

-- Refresh grants under the SHA-256 of their token; the token is never
-- stored.
CREATE TABLE deputy_refresh_grants (
    token_hash bytea PRIMARY KEY CHECK (length(token_hash) = 32),
    client_id  text NOT NULL,
    subject    text NOT NULL,
    scope      text[] NOT NULL,
    expires_at timestamptz,
    revoked    boolean NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE deputy_profiles (
    subject    text COLLATE "C" PRIMARY KEY,
    claims     jsonb NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now()
);

-- One-time ids. An id of up to 256 bytes is kept as given; a longer one as
-- 256 zero bytes and its SHA-256 (288 bytes, a length no id is kept as).
CREATE TABLE deputy_replay (
    id         bytea PRIMARY KEY,
    expires_at timestamptz NOT NULL
);
CREATE INDEX deputy_replay_expires_at ON deputy_replay (expires_at);
