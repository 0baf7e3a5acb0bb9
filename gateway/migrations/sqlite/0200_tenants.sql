-- Tenants (SQLite): vendor customer accounts, the people who sign in, and which tenant owns each
-- connection, fleet and event. An existing single-organisation database is carried over into
-- the `default` tenant: its connections, its events, and its fleets, bound to the connection
-- whose key devices were handed until now (the most recently updated usable one).

CREATE TABLE tenants (
    id         TEXT PRIMARY KEY,
    created_at INTEGER NOT NULL
);

INSERT INTO tenants (id, created_at) VALUES ('default', CAST(strftime('%s', 'now') AS INTEGER));

-- `operator` is vendor staff: home tenant `default`, signs in with the admin credential
-- (admin_credential), sees every tenant's health. Tenant admins have an Argon2id password hash.
CREATE TABLE users (
    name          TEXT PRIMARY KEY,
    tenant_id     TEXT NOT NULL REFERENCES tenants (id),
    operator      INTEGER NOT NULL CHECK (operator IN (0, 1)),
    password_hash TEXT,
    created_at    INTEGER NOT NULL
);

INSERT INTO users (name, tenant_id, operator, password_hash, created_at)
VALUES ('operator', 'default', 1, NULL, CAST(strftime('%s', 'now') AS INTEGER));

-- One-time invitations to become an admin of a tenant: only the token's SHA-256 is kept.
CREATE TABLE invites (
    token_hash TEXT PRIMARY KEY,
    tenant_id  TEXT NOT NULL REFERENCES tenants (id),
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL
);

-- Sessions opened before tenants existed were opened with the admin credential.
ALTER TABLE admin_sessions ADD COLUMN user_name TEXT NOT NULL DEFAULT 'operator';

-- SQLite cannot add a column that both references another table and has a non-NULL default;
-- the gateway writes tenant_id explicitly everywhere, and checks the fleet/connection tenant
-- match in the statements that bind and read (see src/provision/store.rs).
ALTER TABLE connections ADD COLUMN tenant_id TEXT NOT NULL DEFAULT 'default';
CREATE INDEX connections_tenant ON connections (tenant_id);
-- An organisation belongs to at most one tenant (rows without a dd_oid are keyed by a hash of
-- domain and name in their id).
CREATE UNIQUE INDEX connections_org ON connections (domain, org_id) WHERE org_id <> '';

ALTER TABLE provision_fleets ADD COLUMN tenant_id TEXT NOT NULL DEFAULT 'default';
ALTER TABLE provision_fleets ADD COLUMN connection_id TEXT;
CREATE INDEX provision_fleets_tenant ON provision_fleets (tenant_id);
UPDATE provision_fleets SET connection_id = (
    SELECT id FROM connections
    ORDER BY CASE WHEN state = 'active' AND api_key IS NOT NULL THEN 0 ELSE 1 END, updated_at DESC, id
    LIMIT 1
);

ALTER TABLE gateway_events ADD COLUMN tenant_id TEXT NOT NULL DEFAULT 'default';
CREATE INDEX gateway_events_tenant ON gateway_events (tenant_id, id);
