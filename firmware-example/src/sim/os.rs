//! The host's sockets as `embedded-nal-async` traits, with `*.localhost` resolved to loopback.
//!
//! RFC 6761 reserves `localhost` and its subdomains for loopback; browsers and curl resolve
//! them so, but glibc without systemd-resolved does not, and the sandbox's Datadog stand-in is
//! reached as `api.datadoghq.localhost`. Other names go to the OS resolver.

use core::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use embedded_nal_async::{AddrType, Dns};

use super::dns::is_under;

/// The OS network stack (TCP + DNS) for a simulated device.
pub fn os_stack() -> LocalhostDns<std_embedded_nal_async::Stack> {
    LocalhostDns(std_embedded_nal_async::Stack::default())
}

/// Wraps a resolver so that `localhost` and `*.localhost` resolve to loopback without asking it;
/// TCP connections go straight to the wrapped stack.
#[derive(Debug, Clone, Default)]
pub struct LocalhostDns<S>(pub S);

impl<S: Dns> Dns for LocalhostDns<S> {
    type Error = S::Error;

    async fn get_host_by_name(&self, host: &str, addr_type: AddrType) -> Result<IpAddr, S::Error> {
        let name = host.trim_end_matches('.').to_ascii_lowercase();
        if is_under(&name, "localhost") {
            return Ok(match addr_type {
                AddrType::IPv6 => IpAddr::V6(Ipv6Addr::LOCALHOST),
                AddrType::IPv4 | AddrType::Either => IpAddr::V4(Ipv4Addr::LOCALHOST),
            });
        }
        self.0.get_host_by_name(host, addr_type).await
    }

    async fn get_host_by_address(
        &self,
        addr: IpAddr,
        result: &mut [u8],
    ) -> Result<usize, S::Error> {
        self.0.get_host_by_address(addr, result).await
    }
}

impl<S: embedded_nal_async::TcpConnect> embedded_nal_async::TcpConnect for LocalhostDns<S> {
    type Error = S::Error;
    type Connection<'a>
        = S::Connection<'a>
    where
        Self: 'a;

    async fn connect<'a>(
        &'a self,
        remote: core::net::SocketAddr,
    ) -> Result<Self::Connection<'a>, Self::Error> {
        self.0.connect(remote).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sandbox_names_resolve_to_loopback_without_the_os() {
        let stack = os_stack();
        for host in ["api.datadoghq.localhost", "LOCALHOST", "x.localhost."] {
            let ip = futures_lite::future::block_on(stack.get_host_by_name(host, AddrType::IPv4));
            assert_eq!(ip.unwrap(), IpAddr::V4(Ipv4Addr::LOCALHOST), "{host}");
        }
    }
}
