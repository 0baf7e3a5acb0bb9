//! Device and fleet names: the one syntax both sides check before anything is derived or sent.
//!
//! Both are `[a-z0-9._-]{1,64}`. The alphabet needs no JSON escaping and contains no `0x00`, so
//! the `0x00`-separated device-secret derivation is unambiguous and request bodies can be written
//! without an escaper.

use super::ProvisionError;

/// Longest `device_id` and fleet name, in bytes.
pub const NAME_MAX_LEN: usize = 64;

fn is_name(text: &str) -> bool {
    (1..=NAME_MAX_LEN).contains(&text.len())
        && text
            .bytes()
            .all(|byte| matches!(byte, b'a'..=b'z' | b'0'..=b'9' | b'.' | b'_' | b'-'))
}

/// Checks a `device_id` against `[a-z0-9._-]{1,64}`.
pub fn validate_device_id(device_id: &str) -> Result<(), ProvisionError> {
    if is_name(device_id) {
        Ok(())
    } else {
        Err(ProvisionError::InvalidDeviceId)
    }
}

/// Checks a fleet name against `[a-z0-9._-]{1,64}` (the same rule as `device_id`; the gateway
/// applies it when a fleet is created).
pub fn validate_fleet(fleet: &str) -> Result<(), ProvisionError> {
    if is_name(fleet) {
        Ok(())
    } else {
        Err(ProvisionError::InvalidFleet)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_the_alphabet_and_bounds() {
        assert_eq!(validate_device_id("sensor-0042.a_b"), Ok(()));
        assert_eq!(validate_device_id("0"), Ok(()));
        assert_eq!(
            validate_fleet(core::str::from_utf8(&[b'z'; 64]).unwrap_or("")),
            Ok(())
        );
    }

    #[test]
    fn rejects_everything_else() {
        for bad in ["", "A", "a b", "a/b", "é", "a\"b", "a\\b", "a\u{0}b", "a:b"] {
            assert_eq!(
                validate_device_id(bad),
                Err(ProvisionError::InvalidDeviceId),
                "{bad:?}"
            );
            assert_eq!(
                validate_fleet(bad),
                Err(ProvisionError::InvalidFleet),
                "{bad:?}"
            );
        }
        let long = [b'a'; 65];
        let long = core::str::from_utf8(&long).unwrap_or("");
        assert_eq!(
            validate_device_id(long),
            Err(ProvisionError::InvalidDeviceId)
        );
    }
}
