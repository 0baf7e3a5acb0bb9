//! Proof that `ddlink-core` works without a heap: a counting global allocator watches the test's
//! own thread while it runs library code.
//!
//! To cover another API, add a `#[test]` that prepares its inputs first and then calls the
//! library inside [`assert_no_alloc`]. A global allocator is per binary, which is why this is its
//! own test file.
// `GlobalAlloc` is an unsafe trait; this test-only binary forwards every call to `System`.
#![allow(unsafe_code)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

struct CountingAllocator;

thread_local! {
    // Const-initialised, no destructor: reading them never allocates, so the allocator may.
    static WATCHING: Cell<bool> = const { Cell::new(false) };
    static ALLOCATIONS: Cell<usize> = const { Cell::new(0) };
}

fn count_if_watching() {
    // `try_with` fails only during thread teardown, when nothing is being watched anyway.
    let _ = WATCHING.try_with(|watching| {
        if watching.get() {
            let _ = ALLOCATIONS.try_with(|count| count.set(count.get() + 1));
        }
    });
}

// SAFETY: every method forwards to `System` with the caller's arguments unchanged, so the
// `GlobalAlloc` contract holds exactly as it does for `System`; counting touches no heap memory.
unsafe impl GlobalAlloc for CountingAllocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        count_if_watching();
        // SAFETY: forwarded unchanged (see the impl comment).
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        count_if_watching();
        // SAFETY: forwarded unchanged.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        count_if_watching();
        // SAFETY: forwarded unchanged.
        unsafe { System.realloc(ptr, layout, new_size) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: forwarded unchanged.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static ALLOCATOR: CountingAllocator = CountingAllocator;

/// Heap allocations made by this thread while `f` runs (other test threads are not counted).
fn allocations_during(f: impl FnOnce()) -> usize {
    ALLOCATIONS.with(|count| count.set(0));
    WATCHING.with(|watching| watching.set(true));
    f();
    WATCHING.with(|watching| watching.set(false));
    ALLOCATIONS.with(Cell::get)
}

/// Fails the test if `f` allocates.
fn assert_no_alloc(f: impl FnOnce()) {
    let count = allocations_during(f);
    assert_eq!(
        count, 0,
        "{count} heap allocation(s) where none are allowed"
    );
}

#[test]
fn the_counter_sees_allocations() {
    let count = allocations_during(|| {
        let boxed = std::hint::black_box(Box::new([7u8; 64]));
        drop(boxed);
    });
    assert_eq!(count, 1);
}

#[cfg(feature = "deflate")]
mod deflate {
    use ddlink_core::deflate::{Compressor, Format, compress_into, max_compressed_len};

    use super::assert_no_alloc;

    const SERIES_PAYLOAD: &[u8] = include_bytes!("data/series_v2_payload.json");

    #[test]
    fn compressing_allocates_nothing() {
        // Text (dynamic-Huffman blocks), then bytes that force stored blocks, and below a short
        // text (a fixed-Huffman block): every code path.
        let mut data = SERIES_PAYLOAD.repeat(8);
        data.extend((0..70_000u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8));
        let mut out = vec![0u8; max_compressed_len(Format::Gzip, data.len())];
        let mut piece = [0u8; 100];
        let mut sizes = (0, 0);
        assert_no_alloc(|| {
            for format in [Format::Zlib, Format::Gzip] {
                sizes.0 += compress_into(format, &data, &mut out).expect("bound-sized buffer");
                sizes.0 += compress_into(format, b"{\"series\":[]}", &mut out).expect("fits");
                let mut compressor = Compressor::new(format);
                let half = data.len() / 2;
                while !compressor
                    .compress(&data[..half], &mut piece)
                    .expect("same buffer")
                    .complete
                {}
                loop {
                    let progress = compressor.finish(&data, &mut piece).expect("same buffer");
                    sizes.1 += progress.written;
                    if progress.complete {
                        break;
                    }
                }
            }
        });
        assert!(sizes.0 > 0, "something was compressed");
        assert!(sizes.1 > 0, "something was compressed in pieces");
    }
}

#[cfg(feature = "net")]
#[test]
fn verifying_rsa_and_ecdsa_chains_allocates_nothing() {
    use ddlink_core::net::tls::{ServerTrust, TrustAnchor, verify_server_chain};
    let root = include_bytes!("data/x509/dd-root.der").as_slice();
    let intermediate = include_bytes!("data/x509/dd-intermediate.der").as_slice();
    let leaf = include_bytes!("data/x509/dd-leaf.der").as_slice();
    let ec_root = include_bytes!("data/x509/ec-root.der").as_slice();
    let ec_leaf = include_bytes!("data/x509/ec-leaf.der").as_slice();
    let anchors = [TrustAnchor::from_der(ec_root), TrustAnchor::from_der(root)];
    let trust = ServerTrust::new(&anchors);
    let mut results = Vec::with_capacity(2);
    assert_no_alloc(|| {
        results.push(verify_server_chain(
            &[leaf, intermediate, root],
            &trust,
            "api.datadoghq.com",
            Some(1_780_272_000),
        ));
        results.push(verify_server_chain(
            &[ec_leaf],
            &trust,
            "api.datadoghq.com",
            None,
        ));
    });
    let ecdsa = if cfg!(all(feature = "x509-p256", feature = "x509-p384")) {
        Ok(())
    } else {
        Err(ddlink_core::net::tls::CertificateError::AlgorithmNotEnabled)
    };
    assert_eq!(results, [Ok(()), ecdsa]);
}

#[test]
fn site_http_retry_and_clock_do_not_allocate() {
    use ddlink_core::clock::{TimeSample, WallClock};
    use ddlink_core::http::{ContentEncoding, Endpoint, RequestHead, ResponseHead, classify};
    use ddlink_core::retry::{Backoff, BackoffConfig};
    use ddlink_core::site::{Onboarding, SandboxPolicy, Site};

    let response = b"HTTP/1.1 429 Too Many Requests\r\nDate: Thu, 06 Jan 2022 00:50:20 GMT\r\n\
X-RateLimit-Reset: 12\r\nContent-Type: application/json\r\n\r\n{}";
    let mut head_buffer = [0u8; 512];
    assert_no_alloc(|| {
        let onboarding = Onboarding::parse(
            Some("https://acme.datadoghq.eu"),
            "datadoghq.eu",
            SandboxPolicy::Deny,
        )
        .expect("valid onboarding");
        let sandbox = Site::sandbox("datadoghq.localhost:8080").expect("valid sandbox");
        assert_eq!(sandbox.logs_host().port(), Some(8080));
        let head = RequestHead::new(Endpoint::SeriesV2, onboarding.site(), "0123abcd")
            .with_body(ContentEncoding::Deflate, 100);
        assert!(head.write(&mut head_buffer).is_ok());
        let (parsed, _) = ResponseHead::parse(response).expect("complete head");
        let outcome = classify(parsed.status, &parsed.headers);
        let mut backoff = Backoff::new(BackoffConfig::default());
        let mut random = || 7u32;
        let after = match outcome {
            ddlink_core::http::Outcome::Retry { after } => after,
            _ => None,
        };
        assert!(backoff.next_delay(&mut random, after).as_secs() >= 12);
        let mut clock = WallClock::new();
        let date = parsed.headers.date.expect("date header");
        let sample = TimeSample {
            server_unix_s: date,
            sent_at_ms: 0,
            received_at_ms: 40,
        };
        assert!(clock.sync(sample).is_ok());
        assert_eq!(clock.now_unix_s(1_040), Ok(date + 1));
    });
}
