//! Response-head parsing, header observation (`Date`, `Retry-After`, `X-RateLimit-*`), HTTP dates
//! and classification never panic, and a 429's delay honours both server limits.
#![no_main]

use ddlink_core::http::{
    Outcome, ResponseHead, ResponseHeaders, classify, parse_http_date, parse_status_line,
};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok((head, used)) = ResponseHead::parse(data) {
        assert!(used <= data.len());
        assert!((100..=599).contains(&head.status));
        let _ = classify(head.status, &head.headers);
        let _ = head.headers.rate_limit.name();
        let retry_after = head.headers.retry_after_seconds();
        let reset = head.headers.rate_limit.reset;
        let Outcome::Retry { after } = classify(429, &head.headers) else {
            panic!("429 is always retried");
        };
        assert_eq!(after.is_some(), retry_after.is_some() || reset.is_some());
        assert!(after >= retry_after && after >= reset, "{after:?}");
    }
    let _ = parse_status_line(data);
    let _ = parse_http_date(data);
    // The same bytes as one header pair, split at the first colon, as a client would hand it over.
    let split = data
        .iter()
        .position(|&byte| byte == b':')
        .unwrap_or(data.len());
    let (name, value) = data.split_at(split);
    let mut headers = ResponseHeaders::default();
    headers.observe(name, value.get(1..).unwrap_or_default());
    let _ = classify(
        u16::from_le_bytes([
            data.first().copied().unwrap_or(0),
            data.get(1).copied().unwrap_or(0),
        ]),
        &headers,
    );
});
