//! The factory data block: everything that makes one board a particular device, kept apart from
//! the firmware image so one image serves a whole fleet.
//!
//! A production line writes this block into a reserved flash sector of each device (gateway URL,
//! fleet, device id, factory secret, the trust anchors for the intake, the MAC address and the
//! LAN settings). The QEMU board has no such sector, so the host writes the block into RAM the
//! image does not use before the CPU starts (`-device loader`), together with two things a real
//! device would not get this way: an entropy seed (a real board reads its TRNG) and a run plan
//! (how long to sample before printing its report, which a real device never stops doing).
//!
//! Layout (little-endian): the 8-byte magic [`MAGIC`], the whole block's length as a `u32`, then
//! records `tag: u8, len: u16, value`. Unknown tags are skipped, so older firmware reads newer
//! blocks. [`FactoryData::decode`] borrows from the block: nothing is copied, nothing allocated.

use core::fmt;

use ddlink_core::provision::DEVICE_SECRET_LEN;

/// First bytes of every factory data block.
pub const MAGIC: [u8; 8] = *b"DDLKFAC1";
/// Magic plus the block length.
const HEADER_LEN: usize = MAGIC.len() + 4;
/// Tag byte plus value length.
const RECORD_HEADER_LEN: usize = 3;

const TAG_GATEWAY_URL: u8 = 1;
const TAG_FLEET: u8 = 2;
const TAG_DEVICE_ID: u8 = 3;
const TAG_SECRET: u8 = 4;
const TAG_TRUST_ANCHOR: u8 = 5;
const TAG_MAC: u8 = 6;
const TAG_ADDRESS: u8 = 7;
const TAG_ROUTER: u8 = 8;
const TAG_ENTROPY_SEED: u8 = 9;
const TAG_RUN_PLAN: u8 = 10;

/// Length of the entropy seed, in bytes.
pub const ENTROPY_SEED_LEN: usize = 32;
const RUN_PLAN_LEN: usize = 32;
/// Trust anchors a block can carry (the intake's root and its successor during a rotation,
/// with room to spare); each is one `TAG_TRUST_ANCHOR` record.
pub const MAX_TRUST_ANCHORS: usize = 4;

/// The DER certificates of the CAs the device trusts for the intake, borrowed from the block.
#[derive(Clone, Copy, PartialEq, Eq, Default)]
pub struct TrustAnchorDers<'a> {
    ders: [&'a [u8]; MAX_TRUST_ANCHORS],
    len: usize,
}

impl<'a> TrustAnchorDers<'a> {
    /// Up to [`MAX_TRUST_ANCHORS`] DER certificates; more is [`FactoryError::TooLarge`].
    pub fn new(ders: &[&'a [u8]]) -> Result<Self, FactoryError> {
        let mut anchors = Self::default();
        for der in ders {
            anchors.push(der)?;
        }
        Ok(anchors)
    }

    fn push(&mut self, der: &'a [u8]) -> Result<(), FactoryError> {
        let slot = self.ders.get_mut(self.len).ok_or(FactoryError::TooLarge)?;
        *slot = der;
        self.len += 1;
        Ok(())
    }

    /// The certificates, in the order they were written.
    pub fn as_slice(&self) -> &[&'a [u8]] {
        &self.ders[..self.len]
    }

    /// No anchor: the device speaks plain HTTP (sandbox only).
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

impl fmt::Debug for TrustAnchorDers<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list()
            .entries(self.as_slice().iter().map(|der| der.len()))
            .finish()
    }
}

/// How long a board under test runs (a device in the field samples forever).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RunPlan {
    /// Sampling period in milliseconds.
    pub interval_ms: u64,
    /// How long to sample before reporting, in milliseconds.
    pub duration_ms: u64,
    /// How long to keep sending after sampling stops, in milliseconds.
    pub drain_ms: u64,
    /// How often to re-provision to pick up a new key version, in milliseconds.
    pub reprovision_every_ms: u64,
}

/// One device's factory data, borrowed from its block. `Debug` never prints the secret or the
/// seed.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct FactoryData<'a> {
    /// The gateway's URL (`http://host:port`).
    pub gateway_url: &'a str,
    /// Fleet name.
    pub fleet: &'a str,
    /// Device id.
    pub device_id: &'a str,
    /// The factory secret.
    pub secret: &'a [u8; DEVICE_SECRET_LEN],
    /// DER of the CAs the intake's chain may end at (any one suffices; several during a root
    /// rotation); none means plain HTTP (sandbox only).
    pub trust_anchors: TrustAnchorDers<'a>,
    /// The Ethernet MAC address.
    pub mac: [u8; 6],
    /// The device's IPv4 address and prefix length.
    pub address: ([u8; 4], u8),
    /// The LAN's router, which is also its DNS server.
    pub router: [u8; 4],
    /// Entropy for the CSPRNG; only where the hardware has no TRNG (the emulator).
    pub entropy_seed: Option<&'a [u8; ENTROPY_SEED_LEN]>,
    /// How long to run (boards under test).
    pub run_plan: RunPlan,
}

impl fmt::Debug for FactoryData<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FactoryData")
            .field("gateway_url", &self.gateway_url)
            .field("fleet", &self.fleet)
            .field("device_id", &self.device_id)
            .field("secret", &"<redacted>")
            .field("trust_anchors", &self.trust_anchors)
            .field("mac", &self.mac)
            .field("address", &self.address)
            .field("router", &self.router)
            .field("entropy_seed", &self.entropy_seed.map(|_| "<redacted>"))
            .field("run_plan", &self.run_plan)
            .finish()
    }
}

/// Why a factory data block cannot be read or written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FactoryError {
    /// The block does not start with [`MAGIC`] (nothing was written there).
    NoMagic,
    /// The block, or a record in it, is cut short.
    Truncated,
    /// A required record is absent.
    Missing(&'static str),
    /// A record has the wrong length or is not UTF-8 where text is expected.
    Invalid(&'static str),
    /// The output buffer is too small, or a value is longer than a record can hold.
    TooLarge,
}

impl fmt::Display for FactoryError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NoMagic => f.write_str("no factory data block (magic missing)"),
            Self::Truncated => f.write_str("factory data block is truncated"),
            Self::Missing(field) => write!(f, "factory data lacks the {field}"),
            Self::Invalid(field) => write!(f, "factory data has an invalid {field}"),
            Self::TooLarge => f.write_str("factory data does not fit"),
        }
    }
}

impl<'a> FactoryData<'a> {
    /// Reads a block. `block` may be longer than the block (e.g. a whole flash sector).
    pub fn decode(block: &'a [u8]) -> Result<Self, FactoryError> {
        if block.get(..MAGIC.len()) != Some(MAGIC.as_slice()) {
            return Err(FactoryError::NoMagic);
        }
        let declared = block
            .get(MAGIC.len()..HEADER_LEN)
            .and_then(|b| b.try_into().ok())
            .map(u32::from_le_bytes)
            .and_then(|len| usize::try_from(len).ok())
            .ok_or(FactoryError::Truncated)?;
        let mut rest = block
            .get(HEADER_LEN..declared)
            .ok_or(FactoryError::Truncated)?;
        let mut fields = Fields::default();
        while !rest.is_empty() {
            let (&tag, after_tag) = rest.split_first().ok_or(FactoryError::Truncated)?;
            let len = after_tag
                .get(..2)
                .map(|b| usize::from(u16::from_le_bytes([b[0], b[1]])))
                .ok_or(FactoryError::Truncated)?;
            let value = after_tag.get(2..2 + len).ok_or(FactoryError::Truncated)?;
            fields.set(tag, value)?;
            rest = after_tag.get(2 + len..).ok_or(FactoryError::Truncated)?;
        }
        fields.finish()
    }

    /// Writes the block into `out`; returns its length.
    pub fn encode(&self, out: &mut [u8]) -> Result<usize, FactoryError> {
        let mut writer = Writer {
            out,
            len: HEADER_LEN,
        };
        writer.record(TAG_GATEWAY_URL, &[self.gateway_url.as_bytes()])?;
        writer.record(TAG_FLEET, &[self.fleet.as_bytes()])?;
        writer.record(TAG_DEVICE_ID, &[self.device_id.as_bytes()])?;
        writer.record(TAG_SECRET, &[self.secret])?;
        for der in self.trust_anchors.as_slice() {
            writer.record(TAG_TRUST_ANCHOR, &[der])?;
        }
        writer.record(TAG_MAC, &[&self.mac])?;
        writer.record(TAG_ADDRESS, &[&self.address.0, &[self.address.1]])?;
        writer.record(TAG_ROUTER, &[&self.router])?;
        if let Some(seed) = self.entropy_seed {
            writer.record(TAG_ENTROPY_SEED, &[seed])?;
        }
        let plan = self.run_plan;
        writer.record(
            TAG_RUN_PLAN,
            &[
                &plan.interval_ms.to_le_bytes(),
                &plan.duration_ms.to_le_bytes(),
                &plan.drain_ms.to_le_bytes(),
                &plan.reprovision_every_ms.to_le_bytes(),
            ],
        )?;
        let len = writer.len;
        let header = writer
            .out
            .get_mut(..HEADER_LEN)
            .ok_or(FactoryError::TooLarge)?;
        header[..MAGIC.len()].copy_from_slice(&MAGIC);
        let declared = u32::try_from(len).map_err(|_| FactoryError::TooLarge)?;
        header[MAGIC.len()..].copy_from_slice(&declared.to_le_bytes());
        Ok(len)
    }
}

struct Writer<'o> {
    out: &'o mut [u8],
    len: usize,
}

impl Writer<'_> {
    fn record(&mut self, tag: u8, parts: &[&[u8]]) -> Result<(), FactoryError> {
        let value_len: usize = parts.iter().map(|p| p.len()).sum();
        let encoded_len = u16::try_from(value_len).map_err(|_| FactoryError::TooLarge)?;
        let end = self.len + RECORD_HEADER_LEN + value_len;
        let record = self
            .out
            .get_mut(self.len..end)
            .ok_or(FactoryError::TooLarge)?;
        record[0] = tag;
        record[1..RECORD_HEADER_LEN].copy_from_slice(&encoded_len.to_le_bytes());
        let mut at = RECORD_HEADER_LEN;
        for part in parts {
            record[at..at + part.len()].copy_from_slice(part);
            at += part.len();
        }
        self.len = end;
        Ok(())
    }
}

#[derive(Default)]
struct Fields<'a> {
    gateway_url: Option<&'a str>,
    fleet: Option<&'a str>,
    device_id: Option<&'a str>,
    secret: Option<&'a [u8; DEVICE_SECRET_LEN]>,
    trust_anchors: TrustAnchorDers<'a>,
    mac: Option<[u8; 6]>,
    address: Option<([u8; 4], u8)>,
    router: Option<[u8; 4]>,
    entropy_seed: Option<&'a [u8; ENTROPY_SEED_LEN]>,
    run_plan: Option<RunPlan>,
}

impl<'a> Fields<'a> {
    fn set(&mut self, tag: u8, value: &'a [u8]) -> Result<(), FactoryError> {
        fn text<'v>(value: &'v [u8], name: &'static str) -> Result<&'v str, FactoryError> {
            core::str::from_utf8(value).map_err(|_| FactoryError::Invalid(name))
        }
        fn fixed<'v, const N: usize>(
            value: &'v [u8],
            name: &'static str,
        ) -> Result<&'v [u8; N], FactoryError> {
            value.try_into().map_err(|_| FactoryError::Invalid(name))
        }
        match tag {
            TAG_GATEWAY_URL => self.gateway_url = Some(text(value, "gateway URL")?),
            TAG_FLEET => self.fleet = Some(text(value, "fleet")?),
            TAG_DEVICE_ID => self.device_id = Some(text(value, "device id")?),
            TAG_SECRET => self.secret = Some(fixed(value, "secret")?),
            TAG_TRUST_ANCHOR => self
                .trust_anchors
                .push(value)
                .map_err(|_| FactoryError::Invalid("trust anchors (too many)"))?,
            TAG_MAC => self.mac = Some(*fixed(value, "MAC address")?),
            TAG_ADDRESS => {
                let [a, b, c, d, prefix] = *fixed(value, "address")?;
                if prefix > 32 {
                    return Err(FactoryError::Invalid("address"));
                }
                self.address = Some(([a, b, c, d], prefix));
            }
            TAG_ROUTER => self.router = Some(*fixed(value, "router")?),
            TAG_ENTROPY_SEED => self.entropy_seed = Some(fixed(value, "entropy seed")?),
            TAG_RUN_PLAN => {
                let plan: &[u8; RUN_PLAN_LEN] = fixed(value, "run plan")?;
                let word = |i: usize| {
                    let mut bytes = [0u8; 8];
                    bytes.copy_from_slice(&plan[i * 8..i * 8 + 8]);
                    u64::from_le_bytes(bytes)
                };
                self.run_plan = Some(RunPlan {
                    interval_ms: word(0),
                    duration_ms: word(1),
                    drain_ms: word(2),
                    reprovision_every_ms: word(3),
                });
            }
            // A newer tool's record this firmware does not know.
            _ => {}
        }
        Ok(())
    }

    fn finish(self) -> Result<FactoryData<'a>, FactoryError> {
        Ok(FactoryData {
            gateway_url: self
                .gateway_url
                .ok_or(FactoryError::Missing("gateway URL"))?,
            fleet: self.fleet.ok_or(FactoryError::Missing("fleet"))?,
            device_id: self.device_id.ok_or(FactoryError::Missing("device id"))?,
            secret: self.secret.ok_or(FactoryError::Missing("secret"))?,
            trust_anchors: self.trust_anchors,
            mac: self.mac.ok_or(FactoryError::Missing("MAC address"))?,
            address: self.address.ok_or(FactoryError::Missing("address"))?,
            router: self.router.ok_or(FactoryError::Missing("router"))?,
            entropy_seed: self.entropy_seed,
            run_plan: self.run_plan.ok_or(FactoryError::Missing("run plan"))?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample<'a>(secret: &'a [u8; 32], seed: &'a [u8; 32]) -> FactoryData<'a> {
        FactoryData {
            gateway_url: "http://gateway.localhost:8080",
            fleet: "demo",
            device_id: "sim-0000",
            secret,
            trust_anchors: TrustAnchorDers::new(&[&[0x30, 0x82, 0x01, 0x02], &[0x30, 0x03]])
                .expect("two anchors fit"),
            mac: [0x02, 0, 0, 0, 0, 1],
            address: ([10, 77, 0, 2], 24),
            router: [10, 77, 0, 1],
            entropy_seed: Some(seed),
            run_plan: RunPlan {
                interval_ms: 1_000,
                duration_ms: 5_000,
                drain_ms: 30_000,
                reprovision_every_ms: 600_000,
            },
        }
    }

    #[test]
    fn a_block_reads_back_what_was_written_even_inside_a_larger_sector() {
        let (secret, seed) = ([7u8; 32], [9u8; 32]);
        let data = sample(&secret, &seed);
        let mut sector = [0xffu8; 512];
        let len = data.encode(&mut sector).expect("fits");
        assert!(len < sector.len());
        assert_eq!(FactoryData::decode(&sector), Ok(data));
    }

    #[test]
    fn optional_records_may_be_absent_and_unknown_ones_are_skipped() {
        let (secret, seed) = ([7u8; 32], [9u8; 32]);
        let mut data = sample(&secret, &seed);
        data.trust_anchors = TrustAnchorDers::default();
        data.entropy_seed = None;
        let mut block = [0u8; 512];
        let len = data.encode(&mut block).expect("fits");
        // Append a record with an unknown tag and fix up the declared length.
        block[len..len + 5].copy_from_slice(&[200, 2, 0, 0xaa, 0xbb]);
        block[8..12].copy_from_slice(&u32::try_from(len + 5).unwrap().to_le_bytes());
        assert_eq!(FactoryData::decode(&block), Ok(data));
    }

    #[test]
    fn damaged_blocks_are_refused_with_the_reason() {
        let (secret, seed) = ([7u8; 32], [9u8; 32]);
        let mut block = [0u8; 512];
        let len = sample(&secret, &seed).encode(&mut block).expect("fits");
        assert_eq!(FactoryData::decode(&[0u8; 64]), Err(FactoryError::NoMagic));
        assert_eq!(
            FactoryData::decode(&block[..len - 1]),
            Err(FactoryError::Truncated)
        );
        // A record whose length runs past the block's end.
        let mut cut = block;
        cut[8..12].copy_from_slice(&u32::try_from(len - 1).unwrap().to_le_bytes());
        assert_eq!(FactoryData::decode(&cut), Err(FactoryError::Truncated));
        // Only the header: every required record is missing, the first one is named.
        let mut empty = block;
        empty[8..12].copy_from_slice(&12u32.to_le_bytes());
        assert_eq!(
            FactoryData::decode(&empty),
            Err(FactoryError::Missing("gateway URL"))
        );
        // A secret of the wrong length.
        let mut short_secret = [0u8; 64];
        short_secret[..8].copy_from_slice(&MAGIC);
        short_secret[8..12].copy_from_slice(&16u32.to_le_bytes());
        short_secret[12..16].copy_from_slice(&[TAG_SECRET, 1, 0, 0x55]);
        assert_eq!(
            FactoryData::decode(&short_secret),
            Err(FactoryError::Invalid("secret"))
        );
    }

    #[test]
    fn every_trust_anchor_reads_back_and_one_too_many_is_refused() {
        let (secret, seed) = ([7u8; 32], [9u8; 32]);
        let ders: [&[u8]; MAX_TRUST_ANCHORS] = [&[1], &[2, 2], &[3, 3, 3], &[4]];
        let mut data = sample(&secret, &seed);
        data.trust_anchors = TrustAnchorDers::new(&ders).expect("the maximum fits");
        let mut block = [0u8; 512];
        let len = data.encode(&mut block).expect("fits");
        let read = FactoryData::decode(&block[..len]).expect("reads back");
        assert_eq!(read.trust_anchors.as_slice(), &ders);
        assert_eq!(
            TrustAnchorDers::new(&[&[1], &[2], &[3], &[4], &[5]]),
            Err(FactoryError::TooLarge)
        );
        // A fifth record in a block is refused, not ignored.
        block[len..len + 4].copy_from_slice(&[TAG_TRUST_ANCHOR, 1, 0, 5]);
        block[8..12].copy_from_slice(&u32::try_from(len + 4).unwrap().to_le_bytes());
        assert_eq!(
            FactoryData::decode(&block),
            Err(FactoryError::Invalid("trust anchors (too many)"))
        );
    }

    #[test]
    fn a_block_too_large_for_the_buffer_is_an_error_not_a_panic() {
        let (secret, seed) = ([7u8; 32], [9u8; 32]);
        let data = sample(&secret, &seed);
        let mut small = [0u8; 40];
        assert_eq!(data.encode(&mut small), Err(FactoryError::TooLarge));
    }

    #[test]
    fn debug_output_hides_the_secret_and_the_seed() {
        let (secret, seed) = ([0xabu8; 32], [0xcdu8; 32]);
        let printed = format!("{:?}", sample(&secret, &seed));
        assert!(!printed.contains("171"), "secret bytes leaked: {printed}");
        assert!(!printed.contains("205"), "seed bytes leaked: {printed}");
        assert!(printed.contains("sim-0000"), "{printed}");
    }
}
