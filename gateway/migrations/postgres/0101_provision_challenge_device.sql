-- Challenges are looked up by device when one is issued (at most a few outstanding each).
CREATE INDEX provision_challenges_device ON provision_challenges (fleet, device_id);
