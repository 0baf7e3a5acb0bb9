//! The device's provisioning client: asks the ddlink gateway for its key (`docs/PROTOCOL.md`)
//! over plain HTTP on the LAN. Every request is MAC'd and the key comes back sealed, so TLS is
//! not needed for this leg. The protocol itself (bodies, MACs, opening the sealed key) is
//! `ddlink_core::provision`; this module only moves the bytes.

use core::net::SocketAddr;

#[cfg(doc)]
use ddlink_core::provision::RETRY_AFTER_MAX_SECS;
use ddlink_core::provision::{
    CHALLENGE_PATH, Challenge, ChallengeReply, DeviceIdentity, LastError, PROVISION_PATH,
    PROVISION_REQUEST_MAX_LEN, ProvisionError, ProvisionExchange, ProvisionOutcome,
    RESPONSE_MAX_LEN, read_challenge_response,
};
use ddlink_core::site::SandboxPolicy;
use embedded_nal_async::{AddrType, Dns, TcpConnect};
use rand_core::{CryptoRng, RngCore};
use reqwless::client::HttpConnection;
use reqwless::headers::ContentType;
use reqwless::request::{Request, RequestBuilder};

/// Where the gateway listens: `http://host[:port]` (no path, no TLS).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GatewayAddress<'a> {
    host: &'a str,
    authority: &'a str,
    port: u16,
}

/// Why a gateway URL was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GatewayUrlError {
    /// Only `http://` is supported for the gateway.
    UnsupportedScheme,
    /// The host is empty or the port is not a number in 1–65535.
    InvalidAuthority,
}

impl<'a> GatewayAddress<'a> {
    /// Parses `http://host[:port][/]`.
    pub fn parse(url: &'a str) -> Result<Self, GatewayUrlError> {
        let authority = url
            .strip_prefix("http://")
            .ok_or(GatewayUrlError::UnsupportedScheme)?;
        let authority = authority.strip_suffix('/').unwrap_or(authority);
        let (host, port) = match authority.rsplit_once(':') {
            Some((host, port)) => (
                host,
                port.parse::<u16>()
                    .ok()
                    .filter(|p| *p != 0)
                    .ok_or(GatewayUrlError::InvalidAuthority)?,
            ),
            None => (authority, 80),
        };
        let valid_host = !host.is_empty()
            && host
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-');
        if !valid_host {
            return Err(GatewayUrlError::InvalidAuthority);
        }
        Ok(Self {
            host,
            authority,
            port,
        })
    }
}

/// Why provisioning did not produce an outcome.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProvisionFailure {
    /// Resolving or connecting to the gateway, or the HTTP exchange, failed.
    Network,
    /// The gateway does not know the fleet.
    UnknownFleet,
    /// The gateway asked to wait (challenge rate limit), in seconds.
    RateLimited(u32),
    /// The answer was malformed or did not authenticate.
    Protocol(ProvisionError),
}

/// What a provisioning attempt sends besides the device's identity.
#[derive(Debug, Clone, Copy)]
pub struct ProvisionRequest<'a> {
    pub identity: DeviceIdentity<'a>,
    /// Whether a sandbox (`*.localhost`) site is acceptable.
    pub sandbox: SandboxPolicy,
    /// Why the device provisions again, reported to the gateway (MAC'd).
    pub last_error: Option<LastError>,
}

/// Runs both provisioning steps and returns the gateway's verdict.
pub async fn provision<T, D, R>(
    tcp: &T,
    dns: &D,
    gateway: GatewayAddress<'_>,
    attempt: ProvisionRequest<'_>,
    rng: &mut R,
) -> Result<ProvisionOutcome, ProvisionFailure>
where
    T: TcpConnect,
    D: Dns,
    R: RngCore + CryptoRng,
{
    let mut request = [0u8; PROVISION_REQUEST_MAX_LEN];
    // Response head + body; the body alone is copied to `answer`.
    let mut scratch = [0u8; RESPONSE_MAX_LEN + 1024];
    let mut answer = [0u8; RESPONSE_MAX_LEN];
    let identity = attempt.identity;
    let len = identity
        .write_challenge_request(&mut request)
        .map_err(ProvisionFailure::Protocol)?;
    let body = request.get(..len).ok_or(ProvisionFailure::Network)?;
    let (status, reply) = post(
        tcp,
        dns,
        gateway,
        CHALLENGE_PATH,
        body,
        &mut scratch,
        &mut answer,
    )
    .await?;
    let challenge = issued_challenge(status, reply)?;
    let mut nonce = [0u8; 16];
    rng.fill_bytes(&mut nonce);
    let mut exchange = ProvisionExchange::new(identity, &challenge, nonce);
    if let Some(last_error) = attempt.last_error {
        exchange = exchange.with_last_error(last_error);
    }
    let len = exchange
        .write_request(&mut request)
        .map_err(ProvisionFailure::Protocol)?;
    let body = request.get(..len).ok_or(ProvisionFailure::Network)?;
    let (status, reply) = post(
        tcp,
        dns,
        gateway,
        PROVISION_PATH,
        body,
        &mut scratch,
        &mut answer,
    )
    .await?;
    exchange
        .read_response(status, reply, attempt.sandbox)
        .map_err(ProvisionFailure::Protocol)
}

/// The challenge of a step-1 answer, or why there is none.
fn issued_challenge(status: u16, reply: &[u8]) -> Result<Challenge, ProvisionFailure> {
    match read_challenge_response(status, reply).map_err(ProvisionFailure::Protocol)? {
        ChallengeReply::Issued(challenge) => Ok(challenge),
        ChallengeReply::UnknownFleet => Err(ProvisionFailure::UnknownFleet),
        ChallengeReply::RateLimited { retry_after_secs } => {
            Err(ProvisionFailure::RateLimited(retry_after_secs))
        }
    }
}

/// How long the gateway asked the device to wait before its next attempt, in milliseconds, if
/// either step answered `429 rate_limited`. Core clamps the unauthenticated `retry_after` to
/// [`RETRY_AFTER_MAX_SECS`], so a forged answer delays provisioning by an hour at most.
pub fn rate_limit_wait_ms(attempt: &Result<ProvisionOutcome, ProvisionFailure>) -> Option<u64> {
    match attempt {
        Ok(ProvisionOutcome::RateLimited { retry_after_secs })
        | Err(ProvisionFailure::RateLimited(retry_after_secs)) => {
            Some(u64::from(*retry_after_secs) * 1_000)
        }
        _ => None,
    }
}

/// POSTs JSON; returns the status and the response body, copied into `answer` (a body longer
/// than `answer` is an error, never truncated).
async fn post<'a, T: TcpConnect, D: Dns>(
    tcp: &T,
    dns: &D,
    gateway: GatewayAddress<'_>,
    path: &str,
    body: &[u8],
    scratch: &mut [u8],
    answer: &'a mut [u8],
) -> Result<(u16, &'a [u8]), ProvisionFailure> {
    let address = dns
        .get_host_by_name(gateway.host, AddrType::Either)
        .await
        .map_err(|_| ProvisionFailure::Network)?;
    let socket = tcp
        .connect(SocketAddr::new(address, gateway.port))
        .await
        .map_err(|_| ProvisionFailure::Network)?;
    let mut connection = HttpConnection::Plain(socket);
    let request = Request::post(path)
        .host(gateway.authority)
        .content_type(ContentType::ApplicationJson)
        .body(body)
        .build();
    let response = connection
        .send(request, scratch)
        .await
        .map_err(|_| ProvisionFailure::Network)?;
    let status = response.status.0;
    let body = response
        .body()
        .read_to_end()
        .await
        .map_err(|_| ProvisionFailure::Network)?;
    let slot = answer
        .get_mut(..body.len())
        .ok_or(ProvisionFailure::Network)?;
    slot.copy_from_slice(body);
    Ok((status, slot))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_gateway_urls() {
        let a = GatewayAddress::parse("http://gw.localhost:8080/").unwrap();
        assert_eq!(
            (a.host, a.port, a.authority),
            ("gw.localhost", 8080, "gw.localhost:8080")
        );
        assert_eq!(GatewayAddress::parse("http://10.0.0.2").unwrap().port, 80);
        assert_eq!(
            GatewayAddress::parse("https://gw"),
            Err(GatewayUrlError::UnsupportedScheme)
        );
        for bad in [
            "http://",
            "http://gw:0",
            "http://gw:x",
            "http://g w:1",
            "http://gw:70000",
        ] {
            assert_eq!(
                GatewayAddress::parse(bad),
                Err(GatewayUrlError::InvalidAuthority),
                "{bad}"
            );
        }
    }

    /// A forged `429` (unauthenticated, so anyone on the path can send one) asking for
    /// `u32::MAX` seconds delays the next provisioning attempt by an hour, not 136 years.
    #[test]
    fn forged_rate_limit_waits_an_hour_at_most() {
        const HOUR_MS: u64 = 3_600_000;
        let forged = br#"{"status":"rate_limited","retry_after":4294967295}"#;
        let step_1 = issued_challenge(429, forged).map(|_| ProvisionOutcome::Pending);
        assert!(
            matches!(step_1, Err(ProvisionFailure::RateLimited(3_600))),
            "{step_1:?}"
        );
        assert_eq!(rate_limit_wait_ms(&step_1), Some(HOUR_MS));

        let secret = ddlink_core::provision::DeviceSecret::from_hex(&"ab".repeat(32)).unwrap();
        let identity = DeviceIdentity::new("acme", "pump-7", &secret).unwrap();
        let challenge = Challenge::from_bytes([1; 32], 60);
        let exchange = ProvisionExchange::new(identity, &challenge, [2; 16]);
        let step_2 = exchange
            .read_response(429, forged, SandboxPolicy::Deny)
            .map_err(ProvisionFailure::Protocol);
        assert_eq!(rate_limit_wait_ms(&step_2), Some(HOUR_MS));

        let honest = br#"{"status":"rate_limited","retry_after":42}"#;
        let step_1 = issued_challenge(429, honest).map(|_| ProvisionOutcome::Pending);
        assert_eq!(rate_limit_wait_ms(&step_1), Some(42_000));
        assert_eq!(rate_limit_wait_ms(&Ok(ProvisionOutcome::Pending)), None);
        assert_eq!(rate_limit_wait_ms(&Err(ProvisionFailure::Network)), None);
    }
}
