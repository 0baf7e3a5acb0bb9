-- How long a device may use the key from a provisioning answer (docs/PROTOCOL.md, leases):
-- 10 s to 30 days, one day unless the fleet was created with another.
ALTER TABLE provision_fleets ADD COLUMN lease_secs BIGINT NOT NULL DEFAULT 86400
    CHECK (lease_secs BETWEEN 10 AND 2592000);
