-- Challenges are looked up by device when one is issued (at most a few outstanding each);
-- `issued` numbers a device's challenges in order, so the oldest can be replaced.
ALTER TABLE provision_challenges ADD COLUMN issued BIGINT NOT NULL DEFAULT 0;
CREATE INDEX provision_challenges_device ON provision_challenges (fleet, device_id, issued);
