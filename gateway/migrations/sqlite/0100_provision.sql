-- Device provisioning (src/provision): fleets, devices, and single-use challenges (SQLite).
-- The fleet key is a sealed blob (src/crypto.rs, row identity provision_fleets.fleet_key.<name>).

CREATE TABLE provision_fleets (
    name         TEXT PRIMARY KEY,
    fleet_key    BLOB NOT NULL,
    auto_approve INTEGER NOT NULL,
    created_at   INTEGER NOT NULL
);

-- One row per device, created on its first valid (MAC-verified) contact.
CREATE TABLE provision_devices (
    fleet        TEXT NOT NULL REFERENCES provision_fleets (name),
    device_id    TEXT NOT NULL,
    state        TEXT NOT NULL CHECK (state IN ('pending', 'approved', 'revoked')),
    first_seen   INTEGER NOT NULL,
    last_seen    INTEGER NOT NULL,
    last_address TEXT,
    -- key_version of the last API key handed to this device (NULL: none yet).
    key_version  INTEGER,
    PRIMARY KEY (fleet, device_id)
);

-- Only the SHA-256 of a challenge is kept; a row is deleted when used or expired.
CREATE TABLE provision_challenges (
    challenge_hash TEXT PRIMARY KEY,
    fleet          TEXT NOT NULL,
    device_id      TEXT NOT NULL,
    expires_at     INTEGER NOT NULL
);

CREATE INDEX provision_challenges_expiry ON provision_challenges (expires_at);
