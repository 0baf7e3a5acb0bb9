//! Properties of the provisioning parsers: no input makes them panic, and no single-byte change
//! to an authenticated field of an approval gets past the device.

mod provision_support;

use ddlink_core::provision::{
    Challenge, DeviceIdentity, DeviceSecret, ProvisionExchange, ProvisionOutcome,
    read_challenge_response,
};
use ddlink_core::site::{Region, SandboxPolicy, Site};
use proptest::prelude::*;
use provision_support::{Approval, TEST_API_KEY, TEST_CHALLENGE, TEST_DEVICE_NONCE, TEST_SECRET};

fn approval(secret: &DeviceSecret) -> Approval {
    Approval::seal(
        secret,
        Site::from(Region::Ap1),
        41,
        1_790_000_123,
        TEST_API_KEY,
    )
}

/// Replaces byte `index % len` of `bytes` by a different value.
fn change_one_byte(bytes: &mut [u8], index: usize, delta: u8) {
    let len = bytes.len();
    let slot = &mut bytes[index % len];
    *slot = slot.wrapping_add(delta.max(1));
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn parsers_never_panic(status in 100u16..600, body in proptest::collection::vec(any::<u8>(), 0..1200)) {
        let secret = DeviceSecret::from_bytes(TEST_SECRET);
        let identity = DeviceIdentity::new("fleet-1", "dev-1", &secret).expect("identity");
        let exchange = ProvisionExchange::new(identity, &Challenge::from_bytes(TEST_CHALLENGE, 60), TEST_DEVICE_NONCE);
        let _ = read_challenge_response(status, &body);
        let _ = exchange.read_response(status, &body, SandboxPolicy::Allow);
    }

    #[test]
    fn json_shaped_noise_never_panics(
        fields in proptest::collection::vec(
            (prop_oneof![Just("status"), Just("site"), Just("sealed_key"), Just("nonce"), Just("key_version"), Just("server_time"), Just("lease_secs"), Just("x")],
             prop_oneof![Just("\"approved\"".to_owned()), Just("-1".to_owned()), Just("18446744073709551616".to_owned()),
                         Just("[[1]]".to_owned()), Just("{\"a\":{}}".to_owned()), Just("\"\\u00e9\\n\"".to_owned()),
                         "\"[A-Za-z0-9+/=]{0,120}\"", Just("null".to_owned())]),
            0..10),
    ) {
        let body = format!("{{{}}}", fields.iter().map(|(k, v)| format!("\"{k}\":{v}")).collect::<Vec<_>>().join(","));
        let secret = DeviceSecret::from_bytes(TEST_SECRET);
        let identity = DeviceIdentity::new("fleet-1", "dev-1", &secret).expect("identity");
        let exchange = ProvisionExchange::new(identity, &Challenge::from_bytes(TEST_CHALLENGE, 60), TEST_DEVICE_NONCE);
        let outcome = exchange.read_response(200, body.as_bytes(), SandboxPolicy::Allow);
        // Noise can never authenticate.
        prop_assert!(!matches!(outcome, Ok(ProvisionOutcome::Approved(_))));
        let _ = read_challenge_response(200, body.as_bytes());
    }

    #[test]
    fn any_single_byte_tampering_is_detected(field in 0usize..6, index in any::<usize>(), delta in any::<u8>()) {
        let secret = DeviceSecret::from_bytes(TEST_SECRET);
        let identity = DeviceIdentity::new("fleet-1", "dev-1", &secret).expect("identity");
        let exchange = ProvisionExchange::new(identity, &Challenge::from_bytes(TEST_CHALLENGE, 60), TEST_DEVICE_NONCE);
        let genuine = approval(&secret);
        prop_assert!(matches!(
            exchange.read_response(200, genuine.to_json().as_bytes(), SandboxPolicy::Allow),
            Ok(ProvisionOutcome::Approved(_))
        ));

        let mut tampered = genuine.clone();
        match field {
            0 => change_one_byte(&mut tampered.sealed_key, index, delta),
            1 => change_one_byte(&mut tampered.nonce, index, delta),
            2 => {
                let mut site = tampered.site.into_bytes();
                change_one_byte(&mut site, index, delta);
                // Keep the body valid JSON text so the seal, not the parser, is what is tested
                // whenever the change leaves a printable site.
                tampered.site = String::from_utf8_lossy(&site).into_owned();
            }
            3 => {
                let mut bytes = tampered.key_version.to_be_bytes();
                change_one_byte(&mut bytes, index, delta);
                tampered.key_version = u32::from_be_bytes(bytes);
            }
            4 => {
                let mut bytes = tampered.lease_secs.to_be_bytes();
                change_one_byte(&mut bytes, index, delta);
                tampered.lease_secs = u32::from_be_bytes(bytes);
            }
            _ => {
                let mut bytes = tampered.server_time.to_be_bytes();
                change_one_byte(&mut bytes, index, delta);
                tampered.server_time = u64::from_be_bytes(bytes);
            }
        }
        let outcome = exchange.read_response(200, tampered.to_json().as_bytes(), SandboxPolicy::Allow);
        prop_assert!(outcome.is_err(), "field {field}: tampering not detected: {outcome:?}");
    }
}
