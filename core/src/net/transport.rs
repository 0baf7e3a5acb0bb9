//! One HTTP exchange with an intake host: resolve, connect, optionally open verified TLS, write
//! the request head (from [`crate::http::RequestHead`], which validates every header value) and
//! body, then read the response head with reqwless and keep the headers ddlink acts on.

use core::net::SocketAddr;

use embedded_io_async::{Read, Write};
use embedded_nal_async::{AddrType, Dns, TcpConnect};
use embedded_tls::{CryptoRngCore, TlsClock};

use super::tls::{CertificateError, OpenError, ServerTrust, open_verified};
use crate::http::{RequestError, RequestHead, ResponseHead, ResponseHeaders};

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

/// Caller-owned memory for one exchange (see the crate README for sizing).
#[derive(Debug)]
pub struct NetBuffers<'a> {
    /// TLS record read buffer: [`super::tls::TLS_READ_BUFFER`] bytes for real servers.
    pub tls_read: &'a mut [u8],
    /// TLS record write buffer: at least [`super::tls::TLS_MIN_WRITE_BUFFER`] bytes.
    pub tls_write: &'a mut [u8],
    /// Request head (≈ 300 bytes with a sandbox host; 512 is comfortable).
    pub head: &'a mut [u8],
    /// Response head (status line and headers; bodies are not read). 1 KiB is comfortable.
    pub response: &'a mut [u8],
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
}

/// Sends `head` + `body` and returns the response head.
pub(crate) async fn exchange<T, D, R, C>(
    tcp: &T,
    dns: &D,
    security: Security<'_>,
    head: &RequestHead<'_>,
    body: &[u8],
    buffers: &mut NetBuffers<'_>,
    rng: R,
) -> Result<ResponseHead, ExchangeError>
where
    T: TcpConnect,
    D: Dns,
    R: CryptoRngCore,
    C: TlsClock,
{
    let head_len = head.write(buffers.head).map_err(ExchangeError::Request)?;
    let head_bytes = buffers.head.get(..head_len).ok_or(ExchangeError::Io)?;
    let host = head.host();
    let default_port = match security {
        Security::Tls(_) => HTTPS_PORT,
        Security::PlainHttpSandboxOnly => HTTP_PORT,
    };
    let address = dns
        .get_host_by_name(host.name(), AddrType::Either)
        .await
        .map_err(|_| ExchangeError::Dns)?;
    let remote = SocketAddr::new(address, host.port().unwrap_or(default_port));
    let connection = tcp
        .connect(remote)
        .await
        .map_err(|_| ExchangeError::Connect)?;
    match security {
        Security::PlainHttpSandboxOnly => {
            let mut connection = connection;
            round_trip(&mut connection, head_bytes, body, buffers.response).await
        }
        Security::Tls(trust) => {
            let mut tls = open_verified::<_, _, C>(
                connection,
                host.name(),
                trust,
                rng,
                buffers.tls_read,
                buffers.tls_write,
            )
            .await
            .map_err(|e| match e {
                OpenError::Certificate(reason) => ExchangeError::Certificate(reason),
                OpenError::Tls(_) => ExchangeError::Tls,
            })?;
            round_trip(&mut tls, head_bytes, body, buffers.response).await
        }
    }
}

async fn round_trip<C: Read + Write>(
    connection: &mut C,
    head: &[u8],
    body: &[u8],
    response_buffer: &mut [u8],
) -> Result<ResponseHead, ExchangeError> {
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
    Ok(ResponseHead {
        status: response.status.0,
        headers,
    })
}
