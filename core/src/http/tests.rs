use super::*;
use crate::site::{Region, Site};
use proptest::prelude::*;

const KEY: &str = "0123456789abcdef0123456789abcdef";

fn written(head: &RequestHead<'_>) -> String {
    let mut buffer = [0u8; 512];
    let len = head.write(&mut buffer).expect("head fits");
    String::from_utf8(buffer[..len].to_vec()).expect("ASCII head")
}

#[test]
fn series_head_with_deflate_is_exact() {
    let site = Site::from(Region::Eu1);
    let head = RequestHead::new(Endpoint::SeriesV2, &site, KEY)
        .with_body(ContentEncoding::Deflate, 1234)
        .with_user_agent("acme-sensor/2.1 (esp32)");
    assert_eq!(
        written(&head),
        "POST /api/v2/series HTTP/1.1\r\n\
         Host: api.datadoghq.eu\r\n\
         DD-API-KEY: 0123456789abcdef0123456789abcdef\r\n\
         Content-Type: application/json\r\n\
         Content-Encoding: deflate\r\n\
         Content-Length: 1234\r\n\
         Accept: application/json\r\n\
         User-Agent: acme-sensor/2.1 (esp32)\r\n\r\n"
    );
}

#[test]
fn logs_go_to_the_logs_host_and_identity_has_no_encoding_header() {
    let site = Site::from(Region::Us5);
    let head =
        RequestHead::new(Endpoint::LogsV2, &site, KEY).with_body(ContentEncoding::Identity, 0);
    let text = written(&head);
    assert!(
        text.starts_with(
            "POST /api/v2/logs HTTP/1.1\r\nHost: http-intake.logs.us5.datadoghq.com\r\n"
        )
    );
    assert!(!text.contains("Content-Encoding"));
    assert!(text.contains("Content-Length: 0\r\n"));
    assert!(text.contains(&format!("User-Agent: {DEFAULT_USER_AGENT}\r\n")));
    let gzip = RequestHead::new(Endpoint::LogsV2, &site, KEY).with_body(ContentEncoding::Gzip, 9);
    assert!(written(&gzip).contains("Content-Encoding: gzip\r\nContent-Length: 9\r\n"));
}

#[test]
fn only_documented_encodings_are_sent() {
    use ContentEncoding::{Deflate, Gzip, Identity};
    let site = Site::from(Region::Us1);
    let table = [
        (Endpoint::SeriesV2, [true, true, true]),
        (Endpoint::SeriesV1, [true, true, true]),
        (Endpoint::LogsV2, [true, true, true]),
        (Endpoint::DistributionPointsV1, [true, true, false]),
        (Endpoint::EventsV1, [true, false, false]),
        (Endpoint::CheckRunV1, [true, false, false]),
    ];
    for (endpoint, accepted) in table {
        for (encoding, expected) in [Identity, Deflate, Gzip].into_iter().zip(accepted) {
            assert_eq!(
                endpoint.accepts_encoding(encoding),
                expected,
                "{endpoint:?} {encoding:?}"
            );
            let head = RequestHead::new(endpoint, &site, KEY).with_body(encoding, 3);
            let mut buffer = [0xA5u8; 512];
            if expected {
                assert!(head.write(&mut buffer).is_ok(), "{endpoint:?} {encoding:?}");
            } else {
                assert_eq!(
                    head.write(&mut buffer),
                    Err(RequestError::EncodingNotAccepted)
                );
                assert!(buffer.iter().all(|&b| b == 0xA5), "nothing written");
            }
        }
    }
}

#[test]
fn every_endpoint_has_its_path_method_and_host() {
    let site = Site::from(Region::Us1);
    let expected = [
        ("POST", "/api/v2/series", "api.datadoghq.com"),
        ("POST", "/api/v1/series", "api.datadoghq.com"),
        ("POST", "/api/v1/distribution_points", "api.datadoghq.com"),
        ("POST", "/api/v1/events", "api.datadoghq.com"),
        ("POST", "/api/v2/logs", "http-intake.logs.datadoghq.com"),
        ("POST", "/api/v1/check_run", "api.datadoghq.com"),
        ("GET", "/api/v1/validate", "api.datadoghq.com"),
    ];
    for (endpoint, (method, path, host)) in Endpoint::ALL.into_iter().zip(expected) {
        let head = RequestHead::new(endpoint, &site, KEY);
        let text = written(&head);
        assert!(
            text.starts_with(&format!("{method} {path} HTTP/1.1\r\nHost: {host}\r\n")),
            "{text}"
        );
        assert_eq!(head.encoded_len(), Ok(text.len()));
        assert_eq!(text.matches("\r\n\r\n").count(), 1);
        assert!(text.ends_with("\r\n\r\n"));
    }
}

#[test]
fn validate_is_a_get_without_body_headers() {
    let site = Site::from(Region::Us1);
    let head = RequestHead::new(Endpoint::ValidateV1, &site, KEY);
    let text = written(&head);
    assert!(!text.contains("Content-"));
    let with_body = head.with_body(ContentEncoding::Identity, 3);
    assert_eq!(
        with_body.write(&mut [0u8; 512]),
        Err(RequestError::BodyNotAllowed)
    );
    let with_encoding = head.with_body(ContentEncoding::Gzip, 0);
    assert_eq!(with_encoding.validate(), Err(RequestError::BodyNotAllowed));
}

#[test]
fn sandbox_host_header_carries_the_port() {
    let site = Site::sandbox("datadoghq.localhost:8080").expect("sandbox");
    let head = RequestHead::new(Endpoint::LogsV2, &site, KEY);
    assert!(written(&head).contains("Host: http-intake.logs.datadoghq.localhost:8080\r\n"));
    assert_eq!(head.host().port(), Some(8080));
}

#[test]
fn injection_is_refused_and_nothing_is_written() {
    let site = Site::from(Region::Us1);
    let bad_keys = [
        "",
        "abc\r\nX-Evil: 1",
        "abc\n",
        "abc\r",
        "a\0b",
        "a b",
        "a\tb",
        "ключ",
        "a\x7f",
    ];
    for key in bad_keys {
        let mut buffer = [0xAAu8; 512];
        let head = RequestHead::new(Endpoint::SeriesV2, &site, key);
        assert_eq!(
            head.write(&mut buffer),
            Err(RequestError::InvalidHeaderValue(HeaderField::ApiKey)),
            "{key:?}"
        );
        assert!(
            buffer.iter().all(|&byte| byte == 0xAA),
            "buffer touched for {key:?}"
        );
    }
    let bad_agents = ["", " lead", "trail ", "a\r\nb", "a\nb", "a\0", "é"];
    for agent in bad_agents {
        let head = RequestHead::new(Endpoint::SeriesV2, &site, KEY).with_user_agent(agent);
        assert_eq!(
            head.encoded_len(),
            Err(RequestError::InvalidHeaderValue(HeaderField::UserAgent)),
            "{agent:?}"
        );
    }
    let agent = RequestHead::new(Endpoint::SeriesV2, &site, KEY).with_user_agent("a b\tc");
    assert_eq!(agent.validate(), Ok(()));
}

#[test]
fn small_buffer_is_an_error_and_untouched() {
    let site = Site::from(Region::Us1);
    let head =
        RequestHead::new(Endpoint::SeriesV2, &site, KEY).with_body(ContentEncoding::Deflate, 7);
    let needed = head.encoded_len().expect("valid");
    let mut short = vec![0x55u8; needed - 1];
    assert_eq!(head.write(&mut short), Err(RequestError::BufferTooSmall));
    assert!(short.iter().all(|&byte| byte == 0x55));
    let mut exact = vec![0u8; needed];
    assert_eq!(head.write(&mut exact), Ok(needed));
    assert_eq!(head.write(&mut []), Err(RequestError::BufferTooSmall));
}

#[test]
fn huge_content_length_is_formatted() {
    let site = Site::from(Region::Us1);
    let head = RequestHead::new(Endpoint::SeriesV2, &site, KEY)
        .with_body(ContentEncoding::Gzip, usize::MAX);
    assert!(written(&head).contains(&format!("Content-Length: {}\r\n", usize::MAX)));
}

#[test]
fn debug_never_shows_the_key() {
    let site = Site::from(Region::Us1);
    let head = RequestHead::new(Endpoint::SeriesV2, &site, KEY);
    let debug = format!("{head:?}");
    assert!(!debug.contains(KEY));
    assert!(debug.contains("<redacted>"));
    let error = format!("{}", RequestError::InvalidHeaderValue(HeaderField::ApiKey));
    assert_eq!(error, "invalid DD-API-KEY");
}

/// Shaped like the recording `rust-v1-validate-403.json`, with headers a real response adds.
const FORBIDDEN: &[u8] = b"HTTP/1.1 403 Forbidden\r\n\
Date: Thu, 06 Jan 2022 00:50:20 GMT\r\n\
Content-Type: application/json\r\n\
Content-Length: 32\r\n\
Connection: keep-alive\r\n\
\r\n\
{\"errors\":[\"API key required\"]}";

#[test]
fn parses_a_recorded_forbidden_response() {
    let (head, used) = ResponseHead::parse(FORBIDDEN).expect("complete head");
    assert_eq!(head.status, 403);
    assert_eq!(&FORBIDDEN[used..], b"{\"errors\":[\"API key required\"]}");
    assert_eq!(head.headers.date, Some(1_641_430_220));
    assert_eq!(head.headers.body_type, Some(BodyType::Json));
    assert_eq!(head.headers.content_length, Some(32));
    assert!(!head.headers.connection_close, "keep-alive is not close");
    assert_eq!(classify(head.status, &head.headers), Outcome::Reprovision);
}

#[test]
fn connection_close_is_found_among_the_options_in_any_case() {
    let mut headers = ResponseHeaders::default();
    headers.observe("connection", " Upgrade, CLOSE ");
    assert!(headers.connection_close);
    headers.observe("Connection", "keep-alive");
    assert!(!headers.connection_close, "the later header wins");
    headers.observe("Connection", "closed");
    assert!(!headers.connection_close, "only the exact option counts");
}

#[test]
fn rate_limit_headers_any_case_and_whitespace() {
    let raw = b"HTTP/1.1 429 Too Many Requests\n\
x-ratelimit-limit: 1600\n\
X-Ratelimit-Period:3600\n\
X-RATELIMIT-REMAINING: \t0 \n\
X-RateLimit-Reset:   2299\t\n\
X-RateLimit-Name: metrics_query\n\
content-type: text/plain; charset=utf-8\n\
\n";
    let (head, used) = ResponseHead::parse(raw).expect("bare LF accepted");
    assert_eq!(used, raw.len());
    let limit = head.headers.rate_limit;
    assert_eq!(
        (limit.limit, limit.period, limit.remaining, limit.reset),
        (Some(1600), Some(3600), Some(0), Some(2299))
    );
    assert_eq!(limit.name(), Some("metrics_query"));
    assert_eq!(head.headers.body_type, Some(BodyType::Text));
    assert_eq!(
        classify(head.status, &head.headers),
        Outcome::Retry { after: Some(2299) }
    );
}

#[test]
fn incomplete_and_malformed_heads() {
    assert_eq!(ResponseHead::parse(b""), Err(ResponseError::Incomplete));
    assert_eq!(
        ResponseHead::parse(b"HTTP/1.1 202 Accepted"),
        Err(ResponseError::Incomplete)
    );
    assert_eq!(
        ResponseHead::parse(b"HTTP/1.1 202 Accepted\r\nDate: x\r\n"),
        Err(ResponseError::Incomplete)
    );
    for line in [
        &b"HTTP/2 202 Accepted\r\n\r\n"[..],
        b"HTTP/1.1 2020 Accepted\r\n\r\n",
        b"HTTP/1.1 20 Accepted\r\n\r\n",
        b"HTTP/1.1 099\r\n\r\n",
        b"HTTP/1.1 600\r\n\r\n",
        b"HTTP/1.1  202\r\n\r\n",
        b"http/1.1 202\r\n\r\n",
        b"HTTP/1.1 202\x00\r\n\r\n",
        b"HTTP/1.1 202 Acc\x00epted\r\n\r\n",
    ] {
        assert_eq!(
            ResponseHead::parse(line),
            Err(ResponseError::InvalidStatusLine),
            "{:?}",
            String::from_utf8_lossy(line)
        );
    }
    assert_eq!(
        ResponseHead::parse(b"HTTP/1.0 200\r\n\r\n").map(|(h, _)| h.status),
        Ok(200)
    );
    for line in [
        &b"HTTP/1.1 202 Accepted\r\nNoColon\r\n\r\n"[..],
        b"HTTP/1.1 202 Accepted\r\n: empty\r\n\r\n",
        b"HTTP/1.1 202 Accepted\r\nDate : x\r\n\r\n",
        b"HTTP/1.1 202 Accepted\r\nA: b\r\n  folded\r\n\r\n",
    ] {
        assert_eq!(
            ResponseHead::parse(line),
            Err(ResponseError::InvalidHeaderLine)
        );
    }
}

#[test]
fn malformed_known_values_are_ignored_not_fatal() {
    let raw = b"HTTP/1.1 202 Accepted\r\n\
Date: yesterday\r\n\
X-RateLimit-Reset: -5\r\n\
X-RateLimit-Limit: 99999999999999999999999\r\n\
X-RateLimit-Name: has space\r\n\
Retry-After: soon\r\n\
Content-Length: 1e3\r\n\r\n";
    let (head, _) = ResponseHead::parse(raw).expect("parses");
    assert_eq!(head.status, 202);
    assert_eq!(head.headers.date, None);
    assert_eq!(head.headers.rate_limit.reset, None);
    assert_eq!(head.headers.rate_limit.limit, Some(u32::MAX));
    assert_eq!(head.headers.rate_limit.name(), None);
    assert_eq!(head.headers.retry_after, None);
    assert_eq!(head.headers.content_length, None);
    assert_eq!(classify(head.status, &head.headers), Outcome::Accepted);
}

#[test]
fn observe_accepts_pieces_from_a_client() {
    let mut headers = ResponseHeaders::default();
    headers.observe("Content-Type", "application/vnd.api+json");
    headers.observe(b"retry-after".as_slice(), b" 30 ".as_slice());
    headers.observe("X-Unrelated", "whatever\r\n");
    assert_eq!(headers.body_type, Some(BodyType::Json));
    assert_eq!(headers.retry_after, Some(RetryAfter::Seconds(30)));
    assert_eq!(classify(503, &headers), Outcome::Retry { after: Some(30) });
    headers.observe("Content-Type", "text/html");
    assert_eq!(headers.body_type, Some(BodyType::Html));
    headers.observe("Content-Type", "application/xml");
    assert_eq!(headers.body_type, Some(BodyType::Other));
    headers.observe("Content-Type", "Text/JSON ; charset=utf-8");
    assert_eq!(headers.body_type, Some(BodyType::Json));
    headers.observe("Content-Type", "text/jsonx+json");
    assert_eq!(headers.body_type, Some(BodyType::Other));
}

#[test]
fn retry_after_date_is_relative_to_the_response_date() {
    let mut headers = ResponseHeaders::default();
    headers.observe("Retry-After", "Thu, 06 Jan 2022 00:51:20 GMT");
    assert_eq!(headers.retry_after, Some(RetryAfter::At(1_641_430_280)));
    assert_eq!(
        headers.retry_after_seconds(),
        None,
        "no Date to compare with"
    );
    headers.observe("Date", "Thu, 06 Jan 2022 00:50:20 GMT");
    assert_eq!(headers.retry_after_seconds(), Some(60));
    headers.observe("Date", "Thu, 06 Jan 2022 00:59:00 GMT");
    assert_eq!(
        headers.retry_after_seconds(),
        Some(0),
        "a past time means now"
    );
    headers.observe("Retry-After", "99999999999");
    assert_eq!(headers.retry_after_seconds(), Some(u32::MAX));
}

#[test]
fn classification_table() {
    let none = ResponseHeaders::default();
    let cases = [
        (200, Outcome::Accepted),
        (202, Outcome::Accepted),
        (204, Outcome::Accepted),
        (401, Outcome::Reprovision),
        (403, Outcome::Reprovision),
        (408, Outcome::Retry { after: None }),
        (429, Outcome::Retry { after: None }),
        (500, Outcome::Retry { after: None }),
        (503, Outcome::Retry { after: None }),
        (599, Outcome::Retry { after: None }),
        (301, Outcome::Retry { after: None }),
        (100, Outcome::Retry { after: None }),
        (0, Outcome::Retry { after: None }),
        (700, Outcome::Retry { after: None }),
        (
            400,
            Outcome::Drop {
                reason: DropReason::BadRequest,
            },
        ),
        (
            413,
            Outcome::Drop {
                reason: DropReason::PayloadTooLarge,
            },
        ),
        (
            404,
            Outcome::Drop {
                reason: DropReason::ClientError { status: 404 },
            },
        ),
        (
            422,
            Outcome::Drop {
                reason: DropReason::ClientError { status: 422 },
            },
        ),
        (
            402,
            Outcome::Drop {
                reason: DropReason::ClientError { status: 402 },
            },
        ),
    ];
    for (status, outcome) in cases {
        assert_eq!(classify(status, &none), outcome, "{status}");
    }
}

#[test]
fn reset_counts_only_when_rate_limited() {
    let mut headers = ResponseHeaders::default();
    headers.observe("X-RateLimit-Reset", "40");
    headers.observe("X-RateLimit-Remaining", "12");
    assert_eq!(classify(503, &headers), Outcome::Retry { after: None });
    assert_eq!(classify(429, &headers), Outcome::Retry { after: Some(40) });
    headers.observe("Retry-After", "90");
    assert_eq!(classify(429, &headers), Outcome::Retry { after: Some(90) });
    assert_eq!(classify(503, &headers), Outcome::Retry { after: Some(90) });
    headers.observe("Retry-After", "5");
    headers.observe("X-RateLimit-Remaining", "0");
    assert_eq!(classify(500, &headers), Outcome::Retry { after: Some(40) });
    assert_eq!(classify(202, &headers), Outcome::Accepted);
}

/// Mostly plausible header values, with injection attempts and arbitrary text mixed in.
fn header_text() -> impl Strategy<Value = String> {
    prop_oneof![
        "[!-~]{1,40}",
        "[ -~]{0,40}",
        "[!-~]{0,10}[\r\n\0\t ][!-~]{0,10}",
        any::<String>(),
    ]
}

proptest! {
    #[test]
    fn response_parser_never_panics(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
        if let Ok((head, used)) = ResponseHead::parse(&bytes) {
            prop_assert!(used <= bytes.len());
            prop_assert!((100..=599).contains(&head.status));
        }
    }

    #[test]
    fn structured_responses_parse(
        status in 100u16..600,
        reset in any::<u32>(),
        name in "[A-Za-z-]{1,20}",
        value in "[ -~]{0,40}",
    ) {
        let raw = format!("HTTP/1.1 {status} X\r\n{name}: {value}\r\nX-RateLimit-Reset: {reset}\r\n\r\nbody");
        let (head, used) = ResponseHead::parse(raw.as_bytes()).expect("well-formed head");
        prop_assert_eq!(head.status, status);
        prop_assert_eq!(&raw[used..], "body");
        if !name.eq_ignore_ascii_case("x-ratelimit-reset") {
            prop_assert_eq!(head.headers.rate_limit.reset, Some(reset));
        }
    }

    #[test]
    fn request_writer_never_emits_a_broken_head(
        key in header_text(),
        agent in header_text(),
        length in any::<usize>(),
        endpoint in prop::sample::select(Endpoint::ALL.to_vec()),
        capacity in 0usize..400,
    ) {
        let site = Site::from(Region::Us1);
        let (encoding, length) = match endpoint.method() {
            Method::Get => (ContentEncoding::Identity, 0),
            Method::Post if endpoint.accepts_encoding(ContentEncoding::Deflate) => {
                (ContentEncoding::Deflate, length)
            }
            Method::Post => (ContentEncoding::Identity, length),
        };
        let head = RequestHead::new(endpoint, &site, &key)
            .with_body(encoding, length)
            .with_user_agent(&agent);
        let mut buffer = vec![0xA5u8; capacity];
        match head.write(&mut buffer) {
            Ok(len) => {
                let text = std::str::from_utf8(&buffer[..len]).expect("ASCII");
                prop_assert!(text.ends_with("\r\n\r\n"));
                prop_assert_eq!(text.matches("\r\n\r\n").count(), 1);
                prop_assert_eq!(text.matches('\n').count(), text.matches("\r\n").count());
                prop_assert!(!text.contains('\0'));
                let (parsed_head_lines, _) = text.split_at(len - 2);
                prop_assert!(parsed_head_lines.lines().all(|line| !line.is_empty()));
                let key_line = format!("DD-API-KEY: {key}\r\n");
                prop_assert!(text.contains(&key_line));
            }
            Err(_) => prop_assert!(buffer.iter().all(|&byte| byte == 0xA5)),
        }
    }
}
