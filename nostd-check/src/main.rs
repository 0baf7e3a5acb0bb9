//! Runs ddlink-core's main APIs in a `#![no_std]` binary without an allocator.
//!
//! Linking proves core needs neither `std` nor `alloc`; on the host the process exits 0 only if
//! every call answered as expected (1 otherwise, 101 on a panic).
#![no_std]
#![no_main]

use core::hint::black_box;

use ddlink_core::clock::{TimeSample, WallClock};
use ddlink_core::http::{ContentEncoding, Endpoint, Outcome, RequestHead, ResponseHead, classify};
use ddlink_core::retry::{Backoff, BackoffConfig};
use ddlink_core::site::{Onboarding, SandboxPolicy, Site};

const RESPONSE: &[u8] = b"HTTP/1.1 429 Too Many Requests\r\n\
Date: Thu, 06 Jan 2022 00:50:20 GMT\r\n\
X-RateLimit-Reset: 12\r\n\
Content-Type: application/json\r\n\r\n{\"errors\":[]}";

/// Every check must hold; `black_box` keeps the inputs opaque so the calls are really linked.
fn exercise() -> bool {
    let Ok(onboarding) = Onboarding::parse(
        Some(black_box("https://acme.datadoghq.eu")),
        black_box("datadoghq.eu"),
        SandboxPolicy::Deny,
    ) else {
        return false;
    };
    let site: &Site = onboarding.site();
    let mut head = [0u8; 384];
    let head_ok = RequestHead::new(Endpoint::SeriesV2, site, black_box("0123456789abcdef"))
        .with_body(ContentEncoding::Deflate, 512)
        .write(&mut head)
        .is_ok_and(|len| head.get(..len).is_some_and(|h| h.ends_with(b"\r\n\r\n")));
    let Ok((response, _)) = ResponseHead::parse(black_box(RESPONSE)) else {
        return false;
    };
    let after = match classify(response.status, &response.headers) {
        Outcome::Retry { after } => after,
        _ => return false,
    };
    let mut backoff = Backoff::new(BackoffConfig::default());
    let mut random = || black_box(0x1234_5678u32);
    let delay_ok = backoff.next_delay(&mut random, after).as_secs() >= 12;
    let mut clock = WallClock::new();
    let clock_ok = response.headers.date.is_some_and(|date| {
        let sample = TimeSample {
            server_unix_s: date,
            sent_at_ms: 0,
            received_at_ms: 10,
        };
        clock.sync(sample).is_ok() && clock.now_unix_s(1_010) == Ok(date + 1)
    });
    onboarding.authorize_origin() == "https://acme.datadoghq.eu"
        && site.api_host().as_str() == "api.datadoghq.eu"
        && head_ok
        && delay_ok
        && clock_ok
        && deflate_ok()
        && certificate_ok()
}

#[cfg(feature = "x509")]
fn certificate_ok() -> bool {
    use ddlink_core::net::tls::{CertificateError, ServerTrust, TrustAnchor, verify_server_chain};
    let root = black_box(include_bytes!("../../core/tests/data/x509/dd-root.der").as_slice());
    let intermediate = include_bytes!("../../core/tests/data/x509/dd-intermediate.der").as_slice();
    let leaf = include_bytes!("../../core/tests/data/x509/dd-leaf.der").as_slice();
    let ec_root = include_bytes!("../../core/tests/data/x509/ec-root.der").as_slice();
    let ec_leaf = include_bytes!("../../core/tests/data/x509/ec-leaf.der").as_slice();
    let anchors = [TrustAnchor::from_der(root), TrustAnchor::from_der(ec_root)];
    let trust = ServerTrust::new(&anchors);
    let host = black_box("api.datadoghq.com");
    let ecdsa = if cfg!(feature = "x509-ecdsa") {
        Ok(())
    } else {
        Err(CertificateError::AlgorithmNotEnabled)
    };
    verify_server_chain(
        &[leaf, intermediate, root],
        &trust,
        host,
        Some(1_780_272_000),
    )
    .is_ok()
        && verify_server_chain(&[ec_leaf], &trust, host, None) == ecdsa
        && verify_server_chain(&[leaf], &trust, host, None) == Err(CertificateError::UnknownIssuer)
}

#[cfg(not(feature = "x509"))]
fn certificate_ok() -> bool {
    true
}

#[cfg(feature = "deflate")]
fn deflate_ok() -> bool {
    use ddlink_core::deflate::{Format, compress_into};
    let data = black_box(&[b'a'; 300]);
    let mut out = [0u8; 400];
    compress_into(Format::Zlib, data, &mut out).is_ok_and(|len| len < data.len())
}

#[cfg(not(feature = "deflate"))]
fn deflate_ok() -> bool {
    true
}

/// Entry point: called by the C runtime on the host, or by the linker-set entry on bare metal.
#[unsafe(no_mangle)]
pub extern "C" fn main() -> i32 {
    if exercise() { 0 } else { 1 }
}

/// The precompiled `core` carries unwind tables that name this symbol; with `panic = "abort"`
/// nothing ever calls it, but unoptimised builds still need it to link.
#[unsafe(no_mangle)]
pub extern "C" fn rust_eh_personality() {}

#[panic_handler]
fn panic(_: &core::panic::PanicInfo<'_>) -> ! {
    halt()
}

#[cfg(target_os = "linux")]
fn halt() -> ! {
    unsafe extern "C" {
        fn _exit(status: i32) -> !;
    }
    // SAFETY: `_exit` takes any status and never returns.
    unsafe { _exit(101) }
}

#[cfg(not(target_os = "linux"))]
fn halt() -> ! {
    loop {
        core::hint::spin_loop();
    }
}
