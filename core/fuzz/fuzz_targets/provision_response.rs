//! Fuzzes the device's reading of the gateway's answers: first two bytes pick the HTTP status,
//! the rest is the body. Neither parser may panic, noise may never yield a key, and no answer
//! may ask the device to wait longer than `RETRY_AFTER_MAX_SECS`.
#![no_main]

use ddlink_core::provision::{
    Challenge, ChallengeReply, DeviceIdentity, DeviceSecret, ProvisionExchange, ProvisionOutcome,
    RETRY_AFTER_MAX_SECS, read_challenge_response,
};
use ddlink_core::site::SandboxPolicy;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((status, body)) = data.split_first_chunk::<2>() else {
        return;
    };
    let status = u16::from_be_bytes(*status);
    if let Ok(ChallengeReply::RateLimited { retry_after_secs }) =
        read_challenge_response(status, body)
    {
        assert!(retry_after_secs <= RETRY_AFTER_MAX_SECS);
    }

    let secret = DeviceSecret::from_bytes([0x42; 32]);
    let Ok(identity) = DeviceIdentity::new("fleet", "device", &secret) else {
        return;
    };
    let exchange =
        ProvisionExchange::new(identity, &Challenge::from_bytes([0x17; 32], 60), [0x99; 16]);
    for sandbox in [SandboxPolicy::Deny, SandboxPolicy::Allow] {
        let outcome = exchange.read_response(status, body, sandbox);
        match outcome {
            Ok(ProvisionOutcome::Approved(_)) => panic!("an unauthenticated input produced a key"),
            Ok(ProvisionOutcome::RateLimited { retry_after_secs }) => {
                assert!(retry_after_secs <= RETRY_AFTER_MAX_SECS);
            }
            _ => {}
        }
    }
});
