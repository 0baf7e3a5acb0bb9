//! `net::Uploader` against a scripted in-memory network: the queue, verdicts, back-off,
//! re-provisioning, connection reuse (keep-alive, server close, idle timeout, host switch) and
//! counters, with no sockets. (Real sockets, TLS and embassy-net are tested
//! in `firmware-example/tests`.)
#![cfg(feature = "net")]

use std::cell::RefCell;
use std::collections::VecDeque;
use std::future::Future;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::pin::pin;
use std::task::{Context, Waker};

use ddlink_core::http::{ContentEncoding, DropReason, Endpoint};
use ddlink_core::net::{
    Connection, CredentialsError, DropCause, ExchangeBuffers, ExchangeError, QueueError,
    RetryCause, Security, SendReport, TlsBuffers, Uploader,
};
use ddlink_core::provision::ApiKey;
use ddlink_core::retry::{BackoffConfig, Jitter};
use ddlink_core::site::{Region, Site};
use embassy_futures::block_on;
use embedded_io_async::{ErrorKind, ErrorType, Read, Write};
use embedded_nal_async::{AddrType, Dns, TcpConnect};

/// What the fake network does for one connection attempt.
enum Step {
    /// Accept the connection, answer one request with these bytes, then close.
    Respond(&'static [u8]),
    /// Accept the connection and answer each request with the next of these, then close.
    Serve(&'static [&'static [u8]]),
    /// Accept the connection and never answer.
    Hang,
    /// Refuse the connection.
    Refuse,
}

#[derive(Default)]
struct FakeNet {
    script: RefCell<VecDeque<Step>>,
    requests: RefCell<Vec<Vec<u8>>>,
    connected_to: RefCell<Vec<SocketAddr>>,
}

impl FakeNet {
    fn new(steps: impl IntoIterator<Item = Step>) -> Self {
        Self {
            script: RefCell::new(steps.into_iter().collect()),
            ..Self::default()
        }
    }
}

struct FakeConnection<'a> {
    net: &'a FakeNet,
    /// Answers for the requests still to come; `None` never answers.
    answers: Option<VecDeque<&'static [u8]>>,
    /// The answer being read; empty once the server has closed.
    answer: &'static [u8],
    sent: Vec<u8>,
}

impl ErrorType for FakeConnection<'_> {
    type Error = ErrorKind;
}

impl Read for FakeConnection<'_> {
    async fn read(&mut self, buf: &mut [u8]) -> Result<usize, ErrorKind> {
        if self.answers.is_none() {
            std::future::pending::<()>().await;
        }
        let n = buf.len().min(self.answer.len());
        buf[..n].copy_from_slice(&self.answer[..n]);
        self.answer = &self.answer[n..];
        Ok(n)
    }
}

impl Write for FakeConnection<'_> {
    async fn write(&mut self, buf: &[u8]) -> Result<usize, ErrorKind> {
        self.sent.extend_from_slice(buf);
        Ok(buf.len())
    }

    /// A request is complete: the server answers it, or closes when it has no answer left.
    async fn flush(&mut self) -> Result<(), ErrorKind> {
        if let Some(answers) = &mut self.answers {
            self.answer = answers.pop_front().unwrap_or_default();
        }
        Ok(())
    }
}

impl Drop for FakeConnection<'_> {
    fn drop(&mut self) {
        self.net
            .requests
            .borrow_mut()
            .push(std::mem::take(&mut self.sent));
    }
}

impl TcpConnect for FakeNet {
    type Error = ErrorKind;
    type Connection<'a> = FakeConnection<'a>;

    async fn connect<'a>(&'a self, remote: SocketAddr) -> Result<FakeConnection<'a>, ErrorKind> {
        self.connected_to.borrow_mut().push(remote);
        let answers = match self.script.borrow_mut().pop_front() {
            Some(Step::Respond(answer)) => Some(VecDeque::from([answer])),
            Some(Step::Serve(answers)) => Some(answers.iter().copied().collect()),
            Some(Step::Hang) => None,
            Some(Step::Refuse) | None => return Err(ErrorKind::ConnectionRefused),
        };
        Ok(FakeConnection {
            net: self,
            answers,
            answer: &[],
            sent: Vec::new(),
        })
    }
}

impl Dns for FakeNet {
    type Error = ErrorKind;

    async fn get_host_by_name(&self, host: &str, _: AddrType) -> Result<IpAddr, ErrorKind> {
        if host.ends_with(".localhost") {
            Ok(IpAddr::V4(Ipv4Addr::LOCALHOST))
        } else {
            Err(ErrorKind::NotFound)
        }
    }

    async fn get_host_by_address(&self, _: IpAddr, _: &mut [u8]) -> Result<usize, ErrorKind> {
        Err(ErrorKind::Unsupported)
    }
}

/// Deterministic "CSPRNG" for tests only (jitter draws; no TLS here).
struct TestRng(u64);

impl rand_core::RngCore for TestRng {
    fn next_u32(&mut self) -> u32 {
        (self.next_u64() >> 32) as u32
    }
    fn next_u64(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1);
        self.0
    }
    fn fill_bytes(&mut self, dest: &mut [u8]) {
        for b in dest {
            *b = self.next_u32() as u8;
        }
    }
    fn try_fill_bytes(&mut self, dest: &mut [u8]) -> Result<(), rand_core::Error> {
        self.fill_bytes(dest);
        Ok(())
    }
}

impl rand_core::CryptoRng for TestRng {}

const ACCEPTED: &[u8] = b"HTTP/1.1 202 Accepted\r\nContent-Type: application/json\r\nContent-Length: 13\r\n\r\n{\"errors\":[]}";
const ACCEPTED_THEN_CLOSE: &[u8] =
    b"HTTP/1.1 202 Accepted\r\nConnection: close\r\nContent-Length: 13\r\n\r\n{\"errors\":[]}";
const ACCEPTED_CHUNKED: &[u8] =
    b"HTTP/1.1 202 Accepted\r\nTransfer-Encoding: chunked\r\n\r\nd\r\n{\"errors\":[]}\r\n0\r\n\r\n";
const BAD_REQUEST: &[u8] = b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n";
const TOO_LARGE: &[u8] = b"HTTP/1.1 413 Payload Too Large\r\nContent-Length: 0\r\n\r\n";
const FORBIDDEN: &[u8] =
    b"HTTP/1.1 403 Forbidden\r\nContent-Length: 24\r\n\r\n{\"errors\":[\"Forbidden\"]}";
const RATE_LIMITED: &[u8] = b"HTTP/1.1 429 Too Many Requests\r\nX-RateLimit-Remaining: 0\r\nX-RateLimit-Reset: 7\r\nContent-Length: 0\r\n\r\n";
const UNAVAILABLE: &[u8] = b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\n\r\n";
const KEY: &str = "0123456789abcdef0123456789abcdef";

struct Memory {
    head: [u8; 512],
    response: [u8; 1024],
}

impl Memory {
    fn new() -> Self {
        Self {
            head: [0; 512],
            response: [0; 1024],
        }
    }

    fn buffers(&mut self) -> ExchangeBuffers<'_> {
        ExchangeBuffers {
            head: &mut self.head,
            response: &mut self.response,
        }
    }
}

/// One `send_next` on a connection of its own (closed when it returns).
fn send_fresh<const SLOTS: usize, const SLOT_BYTES: usize>(
    uploader: &mut Uploader<'_, SLOTS, SLOT_BYTES>,
    net: &FakeNet,
    now_ms: u64,
    rng: &mut TestRng,
) -> SendReport {
    let mut tls = TlsBuffers::default();
    let mut connection = tls.connection();
    block_on(uploader.send_next(&mut connection, net, net, now_ms, rng))
}

/// One `send_next` on `connection`.
fn send_on<'t, const SLOTS: usize, const SLOT_BYTES: usize>(
    uploader: &mut Uploader<'_, SLOTS, SLOT_BYTES>,
    connection: &mut Connection<'_, FakeConnection<'t>>,
    net: &'t FakeNet,
    now_ms: u64,
) -> SendReport {
    block_on(uploader.send_next(connection, net, net, now_ms, &mut TestRng(1)))
}

fn backoff() -> BackoffConfig {
    BackoffConfig {
        base_ms: 1_000,
        cap_ms: 60_000,
        jitter: Jitter::Full,
    }
}

fn sandbox() -> Site {
    Site::sandbox("datadoghq.localhost:8443").unwrap()
}

fn uploader(memory: &mut Memory) -> Uploader<'_, 3, 128> {
    let mut uploader = Uploader::new(Security::PlainHttpSandboxOnly, memory.buffers(), backoff());
    uploader
        .set_credentials(sandbox(), ApiKey::new(KEY).unwrap())
        .unwrap();
    uploader
}

fn submit(
    uploader: &mut Uploader<'_, 3, 128>,
    endpoint: Endpoint,
    items: u32,
) -> Result<(), QueueError> {
    uploader.submit(
        endpoint,
        ContentEncoding::Identity,
        items,
        b"{\"series\":[]}",
    )
}

/// On a new connection the first payload is accepted and the next is not sent on it: the
/// connection is closed (`Reconnect`, again on every later call) and the payload stays.
fn accept_one_then_reconnect<'t>(
    uploader: &mut Uploader<'_, 3, 128>,
    tls: &mut TlsBuffers<'_>,
    net: &'t FakeNet,
    now_ms: u64,
) {
    let mut connection: Connection<'_, FakeConnection<'t>> = tls.connection();
    let queued = uploader.queued();
    assert!(matches!(
        send_on(uploader, &mut connection, net, 0),
        SendReport::Accepted(_)
    ));
    for _ in 0..2 {
        assert_eq!(
            send_on(uploader, &mut connection, net, now_ms),
            SendReport::Reconnect
        );
        assert!(connection.is_closed());
    }
    assert_eq!(uploader.queued(), queued - 1);
}

#[test]
fn accepted_payload_leaves_the_queue_and_request_is_well_formed() {
    let mut memory = Memory::new();
    let mut up = uploader(&mut memory);
    submit(&mut up, Endpoint::SeriesV2, 5).unwrap();
    let net = FakeNet::new([Step::Respond(ACCEPTED)]);
    let report = send_fresh(&mut up, &net, 0, &mut TestRng(1));
    assert!(
        matches!(report, SendReport::Accepted(info) if info.items == 5),
        "{report:?}"
    );
    assert_eq!(up.queued(), 0);
    assert_eq!(
        send_fresh(&mut up, &net, 0, &mut TestRng(1)),
        SendReport::Idle
    );
    let counters = up.counters();
    assert_eq!(
        (counters.sent, counters.accepted, counters.items_accepted),
        (1, 1, 5)
    );
    assert_eq!(counters.queue_high_water, 1);

    assert_eq!(
        *net.connected_to.borrow(),
        vec![SocketAddr::from((Ipv4Addr::LOCALHOST, 8443))]
    );
    let request = String::from_utf8(net.requests.borrow()[0].clone()).unwrap();
    assert!(
        request.starts_with("POST /api/v2/series HTTP/1.1\r\n"),
        "{request}"
    );
    assert!(
        request.contains("\r\nHost: api.datadoghq.localhost:8443\r\n"),
        "{request}"
    );
    assert!(
        request.contains(&format!("\r\nDD-API-KEY: {KEY}\r\n")),
        "{request}"
    );
    assert!(request.contains("\r\nContent-Length: 13\r\n"), "{request}");
    // Keep-alive is HTTP/1.1's default: nothing asks the server to close.
    assert!(!request.contains("Connection:"), "{request}");
    assert!(request.ends_with("\r\n\r\n{\"series\":[]}"), "{request}");
}

#[test]
fn logs_go_to_the_logs_host() {
    let mut memory = Memory::new();
    let mut up = uploader(&mut memory);
    submit(&mut up, Endpoint::LogsV2, 1).unwrap();
    let net = FakeNet::new([Step::Respond(ACCEPTED)]);
    send_fresh(&mut up, &net, 0, &mut TestRng(1));
    let request = String::from_utf8(net.requests.borrow()[0].clone()).unwrap();
    assert!(request.starts_with("POST /api/v2/logs HTTP/1.1\r\n"));
    assert!(request.contains("\r\nHost: http-intake.logs.datadoghq.localhost:8443\r\n"));
}

#[test]
fn refused_payloads_are_dropped_with_their_reason() {
    let mut memory = Memory::new();
    let mut up = uploader(&mut memory);
    submit(&mut up, Endpoint::SeriesV2, 2).unwrap();
    submit(&mut up, Endpoint::SeriesV2, 3).unwrap();
    let net = FakeNet::new([Step::Respond(BAD_REQUEST), Step::Respond(TOO_LARGE)]);
    let first = send_fresh(&mut up, &net, 0, &mut TestRng(1));
    assert!(matches!(
        first,
        SendReport::Dropped(_, DropCause::Refused(DropReason::BadRequest))
    ));
    // A refusal does not delay the next payload.
    let second = send_fresh(&mut up, &net, 0, &mut TestRng(1));
    assert!(matches!(
        second,
        SendReport::Dropped(_, DropCause::Refused(DropReason::PayloadTooLarge))
    ));
    let c = up.counters();
    assert_eq!(
        (c.dropped_bad_request, c.dropped_too_large, c.items_dropped),
        (1, 1, 5)
    );
    assert_eq!(c.dropped(), 2);
    assert_eq!(up.queued(), 0);
}

#[test]
fn retries_keep_the_payload_and_back_off() {
    let mut memory = Memory::new();
    let mut up = uploader(&mut memory);
    submit(&mut up, Endpoint::SeriesV2, 4).unwrap();
    let net = FakeNet::new([
        Step::Refuse,
        Step::Respond(UNAVAILABLE),
        Step::Respond(RATE_LIMITED),
        Step::Respond(ACCEPTED),
    ]);
    let mut rng = TestRng(9);
    let report = send_fresh(&mut up, &net, 1_000, &mut rng);
    let SendReport::Retrying {
        cause: RetryCause::Network(ExchangeError::Connect),
        until_ms,
        ..
    } = report
    else {
        panic!("{report:?}");
    };
    assert!(
        (1_000..=2_000).contains(&until_ms),
        "first back-off within base: {until_ms}"
    );
    // Too early: nothing is sent.
    if until_ms > 1_000 {
        assert_eq!(
            send_fresh(&mut up, &net, until_ms - 1, &mut rng),
            SendReport::Waiting { until_ms }
        );
    }
    let report = send_fresh(&mut up, &net, until_ms, &mut rng);
    let SendReport::Retrying {
        cause: RetryCause::Status(503),
        until_ms,
        ..
    } = report
    else {
        panic!("{report:?}");
    };
    let report = send_fresh(&mut up, &net, until_ms, &mut rng);
    let SendReport::Retrying {
        cause: RetryCause::Status(429),
        until_ms: rate_limited_until,
        ..
    } = report
    else {
        panic!("{report:?}");
    };
    assert!(
        rate_limited_until >= until_ms + 7_000,
        "X-RateLimit-Reset honoured: {rate_limited_until} vs {until_ms}"
    );
    let report = send_fresh(&mut up, &net, rate_limited_until, &mut rng);
    assert!(matches!(report, SendReport::Accepted(info) if info.items == 4));
    let c = up.counters();
    assert_eq!(
        (c.sent, c.retried, c.network_errors, c.accepted),
        (4, 3, 1, 1)
    );
    assert_eq!(c.dropped(), 0);
}

#[test]
fn forbidden_asks_for_reprovisioning_and_keeps_the_payload() {
    let mut memory = Memory::new();
    let mut up = uploader(&mut memory);
    submit(&mut up, Endpoint::EventsV1, 1).unwrap();
    let net = FakeNet::new([Step::Respond(FORBIDDEN), Step::Respond(ACCEPTED)]);
    assert_eq!(
        send_fresh(&mut up, &net, 0, &mut TestRng(1)),
        SendReport::Reprovision
    );
    assert!(!up.has_credentials());
    assert_eq!(up.queued(), 1);
    assert_eq!(
        send_fresh(&mut up, &net, 0, &mut TestRng(1)),
        SendReport::NeedsCredentials
    );
    up.set_credentials(
        sandbox(),
        ApiKey::new("fedcba9876543210fedcba9876543210").unwrap(),
    )
    .unwrap();
    let report = send_fresh(&mut up, &net, 0, &mut TestRng(1));
    assert!(matches!(report, SendReport::Accepted(_)));
    let request = String::from_utf8(net.requests.borrow()[1].clone()).unwrap();
    assert!(request.contains("DD-API-KEY: fedcba9876543210fedcba9876543210\r\n"));
    assert_eq!(up.counters().reprovision_requests, 1);
}

#[test]
fn overflow_is_counted_and_nothing_else_is_lost() {
    let mut memory = Memory::new();
    let mut up = uploader(&mut memory);
    for items in 1..=3 {
        submit(&mut up, Endpoint::SeriesV2, items).unwrap();
    }
    assert_eq!(
        submit(&mut up, Endpoint::SeriesV2, 10),
        Err(QueueError::Full)
    );
    assert_eq!(
        up.submit(
            Endpoint::SeriesV2,
            ContentEncoding::Identity,
            1,
            &[b'x'; 129]
        ),
        Err(QueueError::TooLarge)
    );
    // Checked before the queue: refused even when full, and never counted as a drop.
    assert_eq!(
        up.submit(Endpoint::EventsV1, ContentEncoding::Deflate, 1, b"x"),
        Err(QueueError::EncodingNotAccepted)
    );
    let c = up.counters();
    assert_eq!(
        (c.enqueued, c.dropped_queue_overflow, c.items_dropped),
        (3, 1, 10)
    );
    assert_eq!(c.queue_high_water, 3);
    assert_eq!(up.free_slots(), 0);
}

#[test]
fn plain_http_is_refused_for_real_datadog_sites() {
    let mut memory = Memory::new();
    let mut up: Uploader<'_, 1, 16> =
        Uploader::new(Security::PlainHttpSandboxOnly, memory.buffers(), backoff());
    let result = up.set_credentials(Site::from_region(Region::Us1), ApiKey::new(KEY).unwrap());
    assert_eq!(result, Err(CredentialsError::PlainHttpNeedsSandbox));
    assert!(!up.has_credentials());
}

/// What a firmware's executor stores for the uploader: the `send_next` future (handshake state
/// and certificate verifier included) while it runs, and the kept-alive [`Connection`] (the TLS
/// session's keys and record state) between requests. Run with `--nocapture` to see the sizes
/// quoted in the README.
#[test]
fn the_https_send_future_stays_small() {
    let mut memory = Memory::new();
    let mut up: Uploader<'_, 1, 64> = Uploader::new(
        Security::Tls(ddlink_core::net::ServerTrust::new(&[])),
        memory.buffers(),
        backoff(),
    );
    let net = FakeNet::new([]);
    let mut rng = TestRng(1);
    let mut tls = TlsBuffers::default();
    let mut connection = tls.connection();
    let connection_size = core::mem::size_of_val(&connection);
    let future = up.send_next(&mut connection, &net, &net, 0, &mut rng);
    let size = core::mem::size_of_val(&future);
    let verifier = core::mem::size_of::<
        ddlink_core::net::tls::ChainVerifier<'static, ddlink_core::net::tls::NoClock>,
    >();
    eprintln!(
        "send_next future: {size} bytes; Connection: {connection_size} bytes; ChainVerifier: {verifier} bytes"
    );
    assert!(size < 12 * 1024, "send_next future is {size} bytes");
    assert!(
        connection_size < 2 * 1024,
        "Connection is {connection_size} bytes"
    );
    assert!(verifier < 768, "ChainVerifier is {verifier} bytes");
}

#[test]
fn unresolvable_host_is_a_network_retry() {
    let mut memory = Memory::new();
    let mut up: Uploader<'_, 1, 64> = Uploader::new(
        Security::Tls(ddlink_core::net::ServerTrust::new(&[])),
        memory.buffers(),
        backoff(),
    );
    up.set_credentials(Site::from_region(Region::Eu1), ApiKey::new(KEY).unwrap())
        .unwrap();
    up.submit(Endpoint::SeriesV2, ContentEncoding::Deflate, 1, b"x")
        .unwrap();
    let net = FakeNet::new([]);
    let report = send_fresh(&mut up, &net, 0, &mut TestRng(1));
    assert!(
        matches!(
            report,
            SendReport::Retrying {
                cause: RetryCause::Network(ExchangeError::Dns),
                ..
            }
        ),
        "{report:?}"
    );
    assert!(net.connected_to.borrow().is_empty());
}

#[test]
fn debug_output_never_shows_the_key() {
    let mut memory = Memory::new();
    let up = uploader(&mut memory);
    let text = format!("{up:?}");
    assert!(!text.contains(KEY), "{text}");
}

#[test]
fn one_connection_carries_every_request_to_the_same_host() {
    let mut memory = Memory::new();
    let mut up = uploader(&mut memory);
    for items in 1..=3 {
        submit(&mut up, Endpoint::SeriesV2, items).unwrap();
    }
    let net = FakeNet::new([Step::Serve(&[ACCEPTED, ACCEPTED_CHUNKED, ACCEPTED])]);
    let mut tls = TlsBuffers::default();
    let mut connection = tls.connection();
    for items in 1..=3 {
        let report = send_on(&mut up, &mut connection, &net, u64::from(items));
        assert!(
            matches!(report, SendReport::Accepted(info) if info.items == items),
            "{report:?}"
        );
        assert!(connection.is_open(), "kept open after request {items}");
    }
    assert_eq!(connection.answered(), 3);
    assert_eq!(connection.last_used_ms(), 3);
    drop(connection);
    assert_eq!(net.connected_to.borrow().len(), 1, "one TCP connection");
    let c = up.counters();
    assert_eq!((c.sent, c.accepted, c.connections_opened), (3, 3, 1));
    let sent = String::from_utf8(net.requests.borrow()[0].clone()).unwrap();
    assert_eq!(sent.matches("POST /api/v2/series HTTP/1.1\r\n").count(), 3);
}

#[test]
fn a_server_that_closed_an_idle_connection_costs_one_immediate_retry_on_a_fresh_one() {
    let mut memory = Memory::new();
    let mut up = uploader(&mut memory);
    for items in [1, 2] {
        submit(&mut up, Endpoint::SeriesV2, items).unwrap();
    }
    // The first connection answers once and is then closed by the server; the second answers.
    let net = FakeNet::new([Step::Serve(&[ACCEPTED]), Step::Respond(ACCEPTED)]);
    let mut tls = TlsBuffers::default();
    accept_one_then_reconnect(&mut up, &mut tls, &net, 1_000);
    assert_eq!(up.queued(), 1, "the payload stays");
    let mut connection = tls.connection();
    let report = send_on(&mut up, &mut connection, &net, 1_000);
    assert!(
        matches!(report, SendReport::Accepted(info) if info.items == 2),
        "no back-off before the fresh attempt: {report:?}"
    );
    let c = up.counters();
    assert_eq!(
        (
            c.stale_retries,
            c.retried,
            c.network_errors,
            c.connections_opened
        ),
        (1, 0, 0, 2)
    );
    assert_eq!(c.items_accepted, 3);
}

#[test]
fn a_failure_on_a_fresh_connection_backs_off() {
    let mut memory = Memory::new();
    let mut up = uploader(&mut memory);
    submit(&mut up, Endpoint::SeriesV2, 1).unwrap();
    // Accepted, then closed without an answer: not a stale keep-alive, a real failure.
    let net = FakeNet::new([Step::Serve(&[])]);
    let report = send_fresh(&mut up, &net, 0, &mut TestRng(1));
    assert!(
        matches!(
            report,
            SendReport::Retrying {
                cause: RetryCause::Network(ExchangeError::Io),
                until_ms: 1..,
                ..
            }
        ),
        "{report:?}"
    );
    assert_eq!(up.counters().stale_retries, 0);
    assert_eq!(up.queued(), 1);
}

#[test]
fn the_server_saying_connection_close_is_honoured() {
    let mut memory = Memory::new();
    let mut up = uploader(&mut memory);
    for items in [1, 2] {
        submit(&mut up, Endpoint::SeriesV2, items).unwrap();
    }
    let net = FakeNet::new([Step::Serve(&[ACCEPTED_THEN_CLOSE, ACCEPTED])]);
    let mut tls = TlsBuffers::default();
    let mut connection = tls.connection();
    assert!(matches!(
        send_on(&mut up, &mut connection, &net, 0),
        SendReport::Accepted(_)
    ));
    assert!(connection.is_closed(), "closed after the answer");
    assert_eq!(
        send_on(&mut up, &mut connection, &net, 0),
        SendReport::Reconnect
    );
    assert_eq!(net.connected_to.borrow().len(), 1);
    assert_eq!(up.counters().stale_retries, 0, "nothing failed");
    assert_eq!(up.queued(), 1);
}

#[test]
fn an_idle_connection_is_closed_after_the_firmware_s_timeout() {
    let mut memory = Memory::new();
    let mut up = uploader(&mut memory).with_idle_timeout_ms(5_000);
    for items in [1, 2] {
        submit(&mut up, Endpoint::SeriesV2, items).unwrap();
    }
    let net = FakeNet::new([Step::Serve(&[ACCEPTED, ACCEPTED])]);
    let mut tls = TlsBuffers::default();
    let mut connection = tls.connection();
    assert_eq!(up.idle_deadline_ms(&connection), None, "not open yet");
    assert!(matches!(
        send_on(&mut up, &mut connection, &net, 1_000),
        SendReport::Accepted(_)
    ));
    assert_eq!(up.idle_deadline_ms(&connection), Some(6_000));
    assert!(!block_on(up.close_if_idle(&mut connection, 5_999)));
    assert!(connection.is_open());
    // `send_next` applies the timeout too: the second payload is not sent on a stale connection.
    assert_eq!(
        send_on(&mut up, &mut connection, &net, 6_000),
        SendReport::Reconnect
    );
    assert!(connection.is_closed());
    assert_eq!(up.idle_deadline_ms(&connection), None);
    assert_eq!(up.queued(), 1);
    assert_eq!(up.counters().sent, 1);

    let net = FakeNet::new([Step::Respond(ACCEPTED)]);
    let mut again = tls.connection();
    assert!(matches!(
        send_on(&mut up, &mut again, &net, 6_000),
        SendReport::Accepted(_)
    ));
    assert!(block_on(up.close_if_idle(&mut again, 11_000)));
    assert!(again.is_closed());
}

#[test]
fn a_payload_for_the_other_host_gets_its_own_connection() {
    let mut memory = Memory::new();
    let mut up = uploader(&mut memory);
    submit(&mut up, Endpoint::SeriesV2, 1).unwrap();
    submit(&mut up, Endpoint::LogsV2, 1).unwrap();
    let net = FakeNet::new([Step::Serve(&[ACCEPTED, ACCEPTED]), Step::Respond(ACCEPTED)]);
    let mut tls = TlsBuffers::default();
    accept_one_then_reconnect(&mut up, &mut tls, &net, 0);
    let mut connection = tls.connection();
    let report = send_on(&mut up, &mut connection, &net, 0);
    assert!(
        matches!(report, SendReport::Accepted(info) if info.endpoint == Endpoint::LogsV2),
        "{report:?}"
    );
    assert_eq!(
        connection.host().map(|h| h.to_string()),
        Some("http-intake.logs.datadoghq.localhost:8443".to_owned())
    );
    assert_eq!(up.counters().connections_opened, 2);
}

#[test]
fn an_exchange_abandoned_mid_flight_retires_its_connection_and_keeps_the_payload() {
    let mut memory = Memory::new();
    let mut up = uploader(&mut memory);
    submit(&mut up, Endpoint::SeriesV2, 1).unwrap();
    let net = FakeNet::new([Step::Hang]);
    let mut tls = TlsBuffers::default();
    let mut connection = tls.connection();
    let mut rng = TestRng(1);
    {
        let mut attempt = pin!(up.send_next(&mut connection, &net, &net, 0, &mut rng));
        let mut context = Context::from_waker(Waker::noop());
        assert!(attempt.as_mut().poll(&mut context).is_pending());
        // Dropped here, as a timeout would.
    }
    assert!(connection.is_closed(), "half a request was sent on it");
    assert!(!connection.is_open());
    assert_eq!(up.queued(), 1);
    assert_eq!(
        send_on(&mut up, &mut connection, &net, 0),
        SendReport::Reconnect
    );
}
