-- Tenants (PostgreSQL): vendor customer accounts, the people who sign in, and which tenant owns
-- each connection, fleet and event. An existing single-organisation database is carried over
-- into the `default` tenant: its connections, its events, and its fleets, bound to the
-- connection whose key devices were handed until now (the most recently updated usable one).

CREATE TABLE tenants (
    id         TEXT PRIMARY KEY,
    created_at BIGINT NOT NULL
);

INSERT INTO tenants (id, created_at) VALUES ('default', CAST(FLOOR(EXTRACT(EPOCH FROM now())) AS BIGINT));

-- `operator` is vendor staff: home tenant `default`, signs in with the admin credential
-- (admin_credential), sees every tenant's health. Tenant admins have an Argon2id password hash.
CREATE TABLE users (
    name          TEXT PRIMARY KEY,
    tenant_id     TEXT NOT NULL REFERENCES tenants (id),
    operator      BIGINT NOT NULL CHECK (operator IN (0, 1)),
    password_hash TEXT,
    created_at    BIGINT NOT NULL
);

INSERT INTO users (name, tenant_id, operator, password_hash, created_at)
VALUES ('operator', 'default', 1, NULL, CAST(FLOOR(EXTRACT(EPOCH FROM now())) AS BIGINT));

-- One-time invitations to become an admin of a tenant: only the token's SHA-256 is kept.
CREATE TABLE invites (
    token_hash TEXT PRIMARY KEY,
    tenant_id  TEXT NOT NULL REFERENCES tenants (id),
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL
);

-- Sessions opened before tenants existed were opened with the admin credential.
ALTER TABLE admin_sessions ADD COLUMN user_name TEXT NOT NULL DEFAULT 'operator' REFERENCES users (name);
ALTER TABLE admin_sessions ALTER COLUMN user_name DROP DEFAULT;

ALTER TABLE connections ADD COLUMN tenant_id TEXT NOT NULL DEFAULT 'default' REFERENCES tenants (id);
ALTER TABLE connections ALTER COLUMN tenant_id DROP DEFAULT;
ALTER TABLE connections ADD CONSTRAINT connections_tenant_id_id UNIQUE (tenant_id, id);
-- An organisation belongs to at most one tenant (rows without a dd_oid are keyed by a hash of
-- domain and name in their id).
CREATE UNIQUE INDEX connections_org ON connections (domain, org_id) WHERE org_id <> '';

ALTER TABLE provision_fleets ADD COLUMN tenant_id TEXT NOT NULL DEFAULT 'default' REFERENCES tenants (id);
ALTER TABLE provision_fleets ALTER COLUMN tenant_id DROP DEFAULT;
ALTER TABLE provision_fleets ADD COLUMN connection_id TEXT;
-- A fleet can only be bound to a connection of its own tenant.
ALTER TABLE provision_fleets ADD CONSTRAINT provision_fleets_connection
    FOREIGN KEY (tenant_id, connection_id) REFERENCES connections (tenant_id, id);
CREATE INDEX provision_fleets_tenant ON provision_fleets (tenant_id);
UPDATE provision_fleets SET connection_id = (
    SELECT id FROM connections
    ORDER BY CASE WHEN state = 'active' AND api_key IS NOT NULL THEN 0 ELSE 1 END, updated_at DESC, id
    LIMIT 1
);

ALTER TABLE gateway_events ADD COLUMN tenant_id TEXT NOT NULL DEFAULT 'default' REFERENCES tenants (id);
ALTER TABLE gateway_events ALTER COLUMN tenant_id DROP DEFAULT;
CREATE INDEX gateway_events_tenant ON gateway_events (tenant_id, id);
