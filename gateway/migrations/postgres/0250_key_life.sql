-- The key's life: a refused refresh token now means the integration was uninstalled at
-- Datadog, and a key Datadog rejects is its own state (devices get no key in either).
UPDATE connections SET state = 'uninstalled' WHERE state = 'needs_reauth';
UPDATE connections SET state = 'key_revoked' WHERE state = 'active' AND key_valid = 0;
UPDATE gateway_events SET kind = 'uninstalled' WHERE kind = 'needs_reauth';
UPDATE gateway_events SET kind = 'key_revoked' WHERE kind = 'key_invalid';
