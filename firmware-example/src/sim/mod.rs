//! Desktop simulation support (feature `sim`): the networks a simulated device can run on.
//!
//! - [`os`]: the host's own sockets through `std-embedded-nal-async` (no root, no embassy-net);
//! - [`netsim`]: embassy-net joined to an in-process router that forwards to loopback (no root,
//!   exercises smoltcp; optional packet loss);
//! - [`qemu`]: a board image under QEMU, its Ethernet frames bridged over loopback UDP to the
//!   same kind of router;
//! - a TAP interface is set up by the binary (`--tap`), since it needs a pre-created device.

pub mod dns;
pub mod netsim;
pub mod os;
pub mod qemu;
pub mod runner;
pub mod world;
