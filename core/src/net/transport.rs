//! HTTP/1.1 exchanges with an intake host over a [`Connection`] kept open between requests
//! (keep-alive): resolve, connect and optionally open verified TLS on the first request, then
//! for each request write the head (from [`crate::http::RequestHead`], which validates every
//! header value) and body, read the response head with reqwless, keep the headers ddlink acts
//! on, and read the body to its end so the next response starts where it should.
//!
//! A TLS session holds its record buffers for as long as it lives and embedded-tls gives them
//! back only when it is dropped, so a [`Connection`] borrows them from [`TlsBuffers`] and is
//! used up once it closes: make the next one with [`TlsBuffers::connection`].

use core::net::SocketAddr;

use embedded_io_async::{Read, Write};
use embedded_nal_async::{AddrType, Dns, TcpConnect};
use embedded_tls::{Aes128GcmSha256, CryptoRngCore, TlsClock, TlsConnection};

use super::tls::{CertificateError, OpenError, ServerTrust, open_verified};
use crate::http::{RequestError, RequestHead, ResponseHead, ResponseHeaders};
use crate::site::Host;

/// Default ports when the site names none.
const HTTPS_PORT: u16 = 443;
const HTTP_PORT: u16 = 80;

/// How the uploader reaches intake hosts.
#[derive(Debug, Clone, Copy)]
pub enum Security<'a> {
    /// HTTPS: TLS 1.3, server chain verified against these anchors and the host name.
    Tls(ServerTrust<'a>),
    /// Plain HTTP, accepted only for a sandbox site (the local emulator); never for Datadog.
    PlainHttpSandboxOnly,
}

/// Caller-owned memory for the uploader and its connections (see the crate README for sizing);
/// [`NetBuffers::split`] hands the TLS part to the connections and the rest to the uploader.
#[derive(Debug)]
pub struct NetBuffers<'a> {
    /// TLS record read buffer: [`super::tls::TLS_READ_BUFFER`] bytes for real servers.
    pub tls_read: &'a mut [u8],
    /// TLS record write buffer: at least [`super::tls::TLS_MIN_WRITE_BUFFER`] bytes.
    pub tls_write: &'a mut [u8],
    /// Request head (≈ 300 bytes with a sandbox host; 512 is comfortable).
    pub head: &'a mut [u8],
    /// Response head (status line and headers; bodies are read and discarded). 1 KiB is
    /// comfortable.
    pub response: &'a mut [u8],
}

impl<'a> NetBuffers<'a> {
    /// The uploader's part (request and response heads) and the connections' part (TLS records).
    pub fn split(self) -> (ExchangeBuffers<'a>, TlsBuffers<'a>) {
        (
            ExchangeBuffers {
                head: self.head,
                response: self.response,
            },
            TlsBuffers {
                read: self.tls_read,
                write: self.tls_write,
            },
        )
    }
}

/// The uploader's memory: where each request head is written and each response head read.
#[derive(Debug)]
pub struct ExchangeBuffers<'a> {
    /// Request head (see [`NetBuffers::head`]).
    pub head: &'a mut [u8],
    /// Response head (see [`NetBuffers::response`]).
    pub response: &'a mut [u8],
}

/// TLS record buffers, lent to one [`Connection`] at a time (empty for plain HTTP).
#[derive(Debug, Default)]
pub struct TlsBuffers<'a> {
    /// See [`NetBuffers::tls_read`].
    pub read: &'a mut [u8],
    /// See [`NetBuffers::tls_write`].
    pub write: &'a mut [u8],
}

impl TlsBuffers<'_> {
    /// A new, not yet opened connection borrowing these buffers until it is dropped.
    pub fn connection<S: Read + Write>(&mut self) -> Connection<'_, S> {
        Connection {
            state: State::Unopened {
                tls_read: &mut *self.read,
                tls_write: &mut *self.write,
            },
            host: None,
            answered: 0,
            last_used_ms: 0,
            mid_exchange: false,
        }
    }
}

// No allocator to box the session in; the connection is held once, by the firmware's run loop.
#[allow(
    clippy::large_enum_variant,
    reason = "the TLS session is the connection's reason to exist"
)]
enum State<'b, S: Read + Write> {
    Unopened {
        tls_read: &'b mut [u8],
        tls_write: &'b mut [u8],
    },
    Plain(S),
    Tls(TlsConnection<'b, S, Aes128GcmSha256>),
    Closed,
}

/// One connection to an intake host: opened by the first request sent on it, reused by the
/// following ones to the same host, and closed for good when the server says
/// `Connection: close`, an exchange fails, the uploader finds it idle too long or the next
/// payload goes to another host ([`Connection::is_closed`]).
pub struct Connection<'b, S: Read + Write> {
    state: State<'b, S>,
    host: Option<Host>,
    answered: u32,
    last_used_ms: u64,
    /// Set while a request is written or its answer read: if that stops half-way (an error, or
    /// the exchange's future was dropped), the stream is out of step and carries nothing more.
    mid_exchange: bool,
}

impl<S: Read + Write> core::fmt::Debug for Connection<'_, S> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        let state = match self.state {
            State::Unopened { .. } => "unopened",
            State::Plain(_) => "plain",
            State::Tls(_) => "tls",
            State::Closed => "closed",
        };
        f.debug_struct("Connection")
            .field("state", &state)
            .field("host", &self.host)
            .field("answered", &self.answered)
            .field("last_used_ms", &self.last_used_ms)
            .field("mid_exchange", &self.mid_exchange)
            .finish()
    }
}

impl<S: Read + Write> Connection<'_, S> {
    /// True once the connection can carry no more requests: use a new one.
    pub fn is_closed(&self) -> bool {
        self.mid_exchange || matches!(self.state, State::Closed)
    }

    /// True while a TCP (and TLS) connection is established and can carry the next request.
    pub fn is_open(&self) -> bool {
        !self.mid_exchange && matches!(self.state, State::Plain(_) | State::Tls(_))
    }

    /// Responses received on this connection.
    pub fn answered(&self) -> u32 {
        self.answered
    }

    /// The host it is connected to, once opened.
    pub fn host(&self) -> Option<Host> {
        self.host
    }

    /// When the last response arrived (monotonic ms), or when it was opened.
    pub fn last_used_ms(&self) -> u64 {
        self.last_used_ms
    }

    /// Closes it (with a TLS `close_notify` when the session is healthy); it stays closed.
    pub async fn close(&mut self) {
        let state = core::mem::replace(&mut self.state, State::Closed);
        if let State::Tls(tls) = state
            && !self.mid_exchange
        {
            // Best effort: the socket is dropped either way.
            let _ = tls.close().await;
        }
    }

    fn close_now(&mut self) {
        self.state = State::Closed;
    }
}

/// Why an exchange produced no response.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum ExchangeError {
    /// The host name did not resolve.
    Dns,
    /// The TCP connection could not be opened.
    Connect,
    /// The server was not trusted (certificate chain, host name or handshake signature).
    Certificate(CertificateError),
    /// The TLS handshake failed for another reason (protocol, cipher, I/O during the handshake).
    Tls,
    /// Reading or writing failed, or the peer closed before a complete response head.
    Io,
    /// The response head did not fit in [`NetBuffers::response`] or was not HTTP.
    BadResponse,
    /// The request head could not be written (buffer too small or an invalid header value).
    Request(RequestError),
    /// The connection was already closed (see [`Connection::is_closed`]).
    Closed,
}

/// What one request needs besides the connection.
pub(crate) struct Request<'r> {
    pub(crate) security: Security<'r>,
    pub(crate) head: &'r RequestHead<'r>,
    pub(crate) body: &'r [u8],
    pub(crate) now_ms: u64,
}

/// Sends the request on `connection` (opening it first when it is new) and returns the response
/// head. On any error the connection is closed; it stays open after an answer unless the server
/// asked to close it or the body's end could not be found.
pub(crate) async fn exchange<'t, T, D, R, C>(
    connection: &mut Connection<'_, T::Connection<'t>>,
    tcp: &'t T,
    dns: &D,
    request: Request<'_>,
    buffers: &mut ExchangeBuffers<'_>,
    rng: R,
) -> Result<ResponseHead, ExchangeError>
where
    T: TcpConnect,
    D: Dns,
    R: CryptoRngCore,
    C: TlsClock,
{
    if connection.is_closed() {
        connection.close_now();
        return Err(ExchangeError::Closed);
    }
    let head_len = request
        .head
        .write(buffers.head)
        .map_err(ExchangeError::Request)?;
    let head_bytes = buffers.head.get(..head_len).ok_or(ExchangeError::Io)?;
    let host = request.head.host();
    if let State::Unopened { .. } = connection.state {
        let result = open::<T, D, R, C>(connection, tcp, dns, request.security, host, rng).await;
        if let Err(error) = result {
            connection.close_now();
            return Err(error);
        }
        connection.host = Some(host);
        connection.last_used_ms = request.now_ms;
    }
    connection.mid_exchange = true;
    let result = match &mut connection.state {
        State::Plain(socket) => {
            round_trip(socket, head_bytes, request.body, buffers.response).await
        }
        State::Tls(tls) => round_trip(tls, head_bytes, request.body, buffers.response).await,
        State::Unopened { .. } | State::Closed => Err(ExchangeError::Closed),
    };
    match result {
        Ok((head, reusable)) => {
            connection.mid_exchange = false;
            connection.answered = connection.answered.saturating_add(1);
            connection.last_used_ms = request.now_ms;
            if !reusable {
                connection.close().await;
            }
            Ok(head)
        }
        Err(error) => {
            connection.close_now();
            Err(error)
        }
    }
}

/// Resolves, connects and (for HTTPS) runs the verified handshake, leaving `connection` open.
async fn open<'t, T, D, R, C>(
    connection: &mut Connection<'_, T::Connection<'t>>,
    tcp: &'t T,
    dns: &D,
    security: Security<'_>,
    host: Host,
    rng: R,
) -> Result<(), ExchangeError>
where
    T: TcpConnect,
    D: Dns,
    R: CryptoRngCore,
    C: TlsClock,
{
    let State::Unopened {
        tls_read,
        tls_write,
    } = core::mem::replace(&mut connection.state, State::Closed)
    else {
        return Err(ExchangeError::Closed);
    };
    let default_port = match security {
        Security::Tls(_) => HTTPS_PORT,
        Security::PlainHttpSandboxOnly => HTTP_PORT,
    };
    let address = dns
        .get_host_by_name(host.name(), AddrType::Either)
        .await
        .map_err(|_| ExchangeError::Dns)?;
    let remote = SocketAddr::new(address, host.port().unwrap_or(default_port));
    let socket = tcp
        .connect(remote)
        .await
        .map_err(|_| ExchangeError::Connect)?;
    connection.state = match security {
        Security::PlainHttpSandboxOnly => State::Plain(socket),
        Security::Tls(trust) => {
            let tls =
                open_verified::<_, _, C>(socket, host.name(), trust, rng, tls_read, tls_write)
                    .await
                    .map_err(|e| match e {
                        OpenError::Certificate(reason) => ExchangeError::Certificate(reason),
                        OpenError::Tls(_) => ExchangeError::Tls,
                    })?;
            State::Tls(tls)
        }
    };
    Ok(())
}

/// Writes the request, reads the response head and then its body to the end. Also says whether
/// the connection can carry the next request: not when the server said `Connection: close` or
/// sent a body without a length (it ends only when the server closes).
async fn round_trip<C: Read + Write>(
    connection: &mut C,
    head: &[u8],
    body: &[u8],
    response_buffer: &mut [u8],
) -> Result<(ResponseHead, bool), ExchangeError> {
    connection
        .write_all(head)
        .await
        .map_err(|_| ExchangeError::Io)?;
    connection
        .write_all(body)
        .await
        .map_err(|_| ExchangeError::Io)?;
    connection.flush().await.map_err(|_| ExchangeError::Io)?;
    let response = reqwless::response::Response::read(
        connection,
        reqwless::request::Method::POST,
        response_buffer,
    )
    .await
    .map_err(|e| match e {
        reqwless::Error::BufferTooSmall | reqwless::Error::Codec => ExchangeError::BadResponse,
        _ => ExchangeError::Io,
    })?;
    let mut headers = ResponseHeaders::default();
    for (name, value) in response.headers() {
        headers.observe(name, value);
    }
    let status = response.status.0;
    let delimited = response.content_length.is_some()
        || response
            .transfer_encoding
            .contains(&reqwless::headers::TransferEncoding::Chunked);
    if delimited {
        let mut body = response.body().reader();
        let mut scratch = [0u8; 64];
        while body
            .read(&mut scratch)
            .await
            .map_err(|_| ExchangeError::Io)?
            > 0
        {}
    }
    Ok((
        ResponseHead { status, headers },
        delimited && !headers.connection_close,
    ))
}
