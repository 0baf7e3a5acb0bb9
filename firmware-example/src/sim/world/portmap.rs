//! Redirects a device's connections to one port to another port on the same address, so the
//! intake's port (the emulator's, named in the site the gateway hands out) leads to the HTTPS
//! front instead. The device still resolves and verifies the intake's real host name.

use core::net::SocketAddr;

use embedded_nal_async::TcpConnect;

/// A `TcpConnect` that sends connections for port `from` to port `to`.
#[derive(Debug, Clone, Copy)]
pub struct PortMap<'a, T> {
    pub inner: &'a T,
    pub from: u16,
    pub to: u16,
}

impl<T: TcpConnect> TcpConnect for PortMap<'_, T> {
    type Error = T::Error;
    type Connection<'c>
        = T::Connection<'c>
    where
        Self: 'c;

    async fn connect<'c>(&'c self, remote: SocketAddr) -> Result<Self::Connection<'c>, T::Error> {
        let remote = if remote.port() == self.from {
            SocketAddr::new(remote.ip(), self.to)
        } else {
            remote
        };
        self.inner.connect(remote).await
    }
}
