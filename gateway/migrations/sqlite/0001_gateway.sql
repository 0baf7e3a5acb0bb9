-- Gateway core tables (SQLite). Timestamps are unix seconds; secrets are sealed blobs
-- (see src/crypto.rs), never plaintext.

-- OAuth authorisations in flight: the state itself is never stored, only its SHA-256.
CREATE TABLE oauth_states (
    state_hash    TEXT PRIMARY KEY,
    pkce_verifier BLOB NOT NULL,
    site          TEXT NOT NULL,
    domain        TEXT NOT NULL,
    session_hash  TEXT NOT NULL,
    created_at    INTEGER NOT NULL,
    expires_at    INTEGER NOT NULL
);

CREATE TABLE connections (
    id                TEXT PRIMARY KEY,
    org_id            TEXT NOT NULL,
    org_name          TEXT NOT NULL,
    domain            TEXT NOT NULL,
    site              TEXT NOT NULL,
    state             TEXT NOT NULL,
    access_token      BLOB,
    refresh_token     BLOB,
    access_expires_at INTEGER NOT NULL,
    api_key           BLOB,
    api_key_id        TEXT,
    api_key_last4     TEXT,
    key_version       INTEGER NOT NULL,
    key_valid         INTEGER,
    key_checked_at    INTEGER,
    lease_owner       TEXT,
    lease_until       INTEGER NOT NULL DEFAULT 0,
    created_at        INTEGER NOT NULL,
    updated_at        INTEGER NOT NULL
);

CREATE TABLE admin_sessions (
    session_hash TEXT PRIMARY KEY,
    created_at   INTEGER NOT NULL,
    expires_at   INTEGER NOT NULL
);

-- Single row (id = 1): the Argon2id PHC string of the admin password or first-run token.
CREATE TABLE admin_credential (
    id            INTEGER PRIMARY KEY CHECK (id = 1),
    password_hash TEXT NOT NULL,
    created_at    INTEGER NOT NULL
);

CREATE TABLE gateway_events (
    id      INTEGER PRIMARY KEY AUTOINCREMENT,
    at      INTEGER NOT NULL,
    kind    TEXT NOT NULL,
    message TEXT NOT NULL
);
