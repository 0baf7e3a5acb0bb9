-- How long a device may use the key from a provisioning answer (docs/PROTOCOL.md, leases):
-- 60 s to 30 days, one day unless the fleet was created with another.
ALTER TABLE provision_fleets ADD COLUMN lease_secs BIGINT NOT NULL DEFAULT 86400
    CHECK (lease_secs BETWEEN 60 AND 2592000);
