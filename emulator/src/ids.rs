//! Random identifiers and secrets in the formats Datadog uses.

use base64::Engine as _;

/// Fills a buffer from the OS generator. The emulator cannot mint unpredictable codes or
/// tokens without it, so a failure here is unrecoverable.
fn random_bytes<const N: usize>() -> [u8; N] {
    let mut bytes = [0u8; N];
    getrandom::fill(&mut bytes).expect("the operating system's random number generator failed");
    bytes
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// 32 lowercase hex characters, the shape of a Datadog API key.
pub(crate) fn api_key() -> String {
    hex(&random_bytes::<16>())
}

/// An opaque, URL-safe secret (authorization codes, access and refresh tokens).
pub(crate) fn token() -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(random_bytes::<32>())
}

/// A random (version 4) UUID in its canonical lowercase form.
pub(crate) fn uuid() -> String {
    let mut b = random_bytes::<16>();
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let h = hex(&b);
    format!(
        "{}-{}-{}-{}-{}",
        &h[0..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    )
}

/// A 19-digit numeric event id like the ones Datadog's v1 events API returns.
pub(crate) fn event_id() -> u64 {
    const LOW: u64 = 1_000_000_000_000_000_000;
    LOW + u64::from_le_bytes(random_bytes::<8>()) % (8 * LOW)
}

/// A 24-character event uid like the v2 events intake returns (`AZsKLCxvAACrUQTfNDwMWwAA`).
pub(crate) fn event_uid() -> String {
    base64::engine::general_purpose::STANDARD_NO_PAD.encode(random_bytes::<18>())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shapes_match_datadog_formats() {
        let key = api_key();
        assert_eq!(key.len(), 32);
        assert!(
            key.chars()
                .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase())
        );
        let id = uuid();
        assert_eq!(id.len(), 36);
        assert_eq!(&id[14..15], "4");
        assert_eq!(event_id().to_string().len(), 19);
        assert_eq!(event_uid().len(), 24);
        assert_ne!(token(), token());
    }
}
