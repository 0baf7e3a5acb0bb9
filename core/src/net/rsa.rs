//! RSA signature verification without a heap: RSASSA-PKCS1-v1_5 (certificate signatures) and
//! RSASSA-PSS with MGF1 and a salt as long as the hash (TLS 1.3 `rsa_pss_rsae_*`), for moduli
//! of 2048 to 4096 bits, per RFC 8017 §8.
//!
//! # Big integers
//!
//! `s^e mod n` runs on RustCrypto `crypto-bigint` 0.7 fixed-size `Uint`s in Montgomery form with
//! a modulus set at runtime (`FixedMontyForm`). Alternatives considered:
//! - `crypto-bigint` 0.5 (already in the tree through `p256`): same design, but its runtime
//!   Montgomery set-up is a constant-time bit-serial division, several times slower on a 4096-bit
//!   modulus, and the 0.5 line only gets fixes for the elliptic-curve crates that pin it;
//! - the `rsa` crate: needs `alloc` (its integers are heap-backed `BoxedUint`s);
//! - small "heapless RSA" crates: single-author, unaudited, not maintained.
//!
//! Everything here is public data (key, signature, message hash), so variable-time code is
//! fine and used where it is faster: the modulus set-up (`new_vartime`) and square-and-multiply
//! over the public exponent (16 squarings and one multiplication for 65537). The integer size is
//! picked from the modulus length (2048, 3072 or 4096 bits) so a 2048-bit key does not pay for
//! 4096-bit arithmetic; each size is one monomorphised copy of the exponentiation. With
//! `small-code` there is no 3072-bit copy: such keys (Datadog's chain has none) use the 4096-bit
//! arithmetic, slower but the same result.

use crypto_bigint::modular::{FixedMontyForm, FixedMontyParams};
use crypto_bigint::{Odd, U2048, U4096, Uint, Word};

/// The middle integer size: moduli above 2048 bits and up to this many bytes use it.
#[cfg(not(feature = "small-code"))]
const MID_SIZE_BYTES: usize = crypto_bigint::U3072::BYTES;
#[cfg(not(feature = "small-code"))]
const MID_SIZE_LIMBS: usize = crypto_bigint::U3072::LIMBS;
#[cfg(feature = "small-code")]
const MID_SIZE_BYTES: usize = U4096::BYTES;
#[cfg(feature = "small-code")]
const MID_SIZE_LIMBS: usize = U4096::LIMBS;

use super::hash::MAX_DIGEST_LEN;
use super::x509::{Hash, RSA_MAX_MODULUS_BYTES, RSA_MIN_MODULUS_BYTES};

/// The signature does not verify under the key (or the key or signature is unusable).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct BadSignature;

/// An RSA public key as found in a certificate.
#[derive(Debug, Clone, Copy)]
pub(crate) struct RsaKey<'a> {
    /// Big-endian, no leading zero byte.
    pub(crate) modulus: &'a [u8],
    pub(crate) exponent: u32,
}

const WORD_BYTES: usize = Word::BITS as usize / 8;

/// `DigestInfo` headers (RFC 8017 §9.2 note 1) that precede the hash in a PKCS#1 v1.5 block.
const DIGEST_INFO_SHA256: &[u8] = &[
    0x30, 0x31, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x01, 0x05,
    0x00, 0x04, 0x20,
];
const DIGEST_INFO_SHA384: &[u8] = &[
    0x30, 0x41, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x02, 0x05,
    0x00, 0x04, 0x30,
];
const DIGEST_INFO_SHA512: &[u8] = &[
    0x30, 0x51, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x03, 0x05,
    0x00, 0x04, 0x40,
];

impl RsaKey<'_> {
    /// RSASSA-PKCS1-v1_5-VERIFY of `digest` (already hashed with `hash`).
    pub(crate) fn verify_pkcs1v15(
        &self,
        hash: Hash,
        digest: &[u8],
        signature: &[u8],
    ) -> Result<(), BadSignature> {
        let mut block = [0u8; RSA_MAX_MODULUS_BYTES];
        let em = self.public_operation(signature, &mut block)?;
        let digest_info = match hash {
            Hash::Sha256 => DIGEST_INFO_SHA256,
            Hash::Sha384 => DIGEST_INFO_SHA384,
            Hash::Sha512 => DIGEST_INFO_SHA512,
        };
        if digest.len() != hash.len() {
            return Err(BadSignature);
        }
        // EM = 0x00 || 0x01 || PS (at least eight 0xff) || 0x00 || DigestInfo || H
        let tail_len = digest_info.len() + digest.len();
        let padding_end = em.len().checked_sub(tail_len + 1).ok_or(BadSignature)?;
        let (head, tail) = em.split_at(padding_end);
        let ok = matches!(head, [0x00, 0x01, padding @ ..] if padding.len() >= 8 && padding.iter().all(|b| *b == 0xff))
            && tail.first() == Some(&0x00)
            && tail.get(1..=digest_info.len()) == Some(digest_info)
            && tail.get(1 + digest_info.len()..) == Some(digest);
        if ok { Ok(()) } else { Err(BadSignature) }
    }

    /// RSASSA-PSS-VERIFY (EMSA-PSS with MGF1 over `hash` and a salt of the hash's length, as
    /// TLS 1.3 requires) of `digest`, the `hash` of the signed message.
    pub(crate) fn verify_pss(
        &self,
        hash: Hash,
        digest: &[u8],
        signature: &[u8],
    ) -> Result<(), BadSignature> {
        let mut block = [0u8; RSA_MAX_MODULUS_BYTES];
        let em = self.public_operation(signature, &mut block)?;
        let h_len = hash.len();
        if digest.len() != h_len {
            return Err(BadSignature);
        }
        // emBits = modBits - 1: when modBits - 1 is a multiple of 8 the block has one more
        // (zero) byte than the encoded message.
        let mod_bits = bit_length(self.modulus);
        let em_bits = mod_bits.saturating_sub(1);
        let em = if em_bits.is_multiple_of(8) {
            match em.split_first_mut() {
                Some((0, rest)) => rest,
                _ => return Err(BadSignature),
            }
        } else {
            em
        };
        let unused_top_bits = 8 * em.len() - em_bits;
        let salt_len = h_len;
        let db_len = em
            .len()
            .checked_sub(h_len + 1)
            .filter(|db_len| *db_len > salt_len)
            .ok_or(BadSignature)?;
        let (masked_db, rest) = em.split_at_mut(db_len);
        let (h, trailer) = rest.split_at(h_len);
        let top_mask = 0xffu8.checked_shr(unused_top_bits as u32).unwrap_or(0);
        if trailer != [0xbc] || masked_db.first().is_none_or(|b| b & !top_mask != 0) {
            return Err(BadSignature);
        }
        mgf1_xor(hash, h, masked_db);
        let db = masked_db;
        if let Some(first) = db.first_mut() {
            *first &= top_mask;
        }
        // DB = PS (zeros) || 0x01 || salt
        let (padding, salt_part) = db.split_at(db_len - salt_len - 1);
        if padding.iter().any(|b| *b != 0) || salt_part.first() != Some(&0x01) {
            return Err(BadSignature);
        }
        let salt = salt_part.get(1..).ok_or(BadSignature)?;
        let mut expected = [0u8; MAX_DIGEST_LEN];
        let expected = hash.digest(&[&[0u8; 8], digest, salt], &mut expected);
        if expected == h {
            Ok(())
        } else {
            Err(BadSignature)
        }
    }

    /// `signature^e mod n` as a big-endian block of the modulus's length (RSAVP1), written into
    /// the start of `out`.
    fn public_operation<'o>(
        &self,
        signature: &[u8],
        out: &'o mut [u8; RSA_MAX_MODULUS_BYTES],
    ) -> Result<&'o mut [u8], BadSignature> {
        let k = self.modulus.len();
        if signature.len() != k || !(RSA_MIN_MODULUS_BYTES..=RSA_MAX_MODULUS_BYTES).contains(&k) {
            return Err(BadSignature);
        }
        let (block, _) = out.split_at_mut(k);
        if k <= U2048::BYTES {
            power::<{ U2048::LIMBS }>(self.modulus, self.exponent, signature, block)?;
        } else if k <= MID_SIZE_BYTES {
            power::<{ MID_SIZE_LIMBS }>(self.modulus, self.exponent, signature, block)?;
        } else {
            power::<{ U4096::LIMBS }>(self.modulus, self.exponent, signature, block)?;
        }
        Ok(block)
    }
}

/// `base^exponent mod modulus` into `out` (big-endian, `out.len()` bytes), all of them at most
/// `LIMBS` words long; fails if `base >= modulus` or the modulus is even.
fn power<const LIMBS: usize>(
    modulus: &[u8],
    exponent: u32,
    base: &[u8],
    out: &mut [u8],
) -> Result<(), BadSignature> {
    let modulus = from_be_bytes::<LIMBS>(modulus)?;
    let base = from_be_bytes::<LIMBS>(base)?;
    if base >= modulus {
        return Err(BadSignature);
    }
    let modulus = Odd::new(modulus).into_option().ok_or(BadSignature)?;
    let params = FixedMontyParams::new_vartime(modulus);
    let base = FixedMontyForm::new(&base, &params);
    // Left-to-right square-and-multiply over the (public) exponent's bits below the top one.
    let mut accumulator = base;
    let top_bit = u32::BITS - 1 - exponent.leading_zeros().min(u32::BITS - 1);
    for bit in (0..top_bit).rev() {
        accumulator = accumulator.square();
        if exponent >> bit & 1 == 1 {
            accumulator = accumulator.mul(&base);
        }
    }
    write_be_bytes(&accumulator.retrieve(), out)
}

/// A big-endian byte string as a `Uint`; fails if it does not fit.
fn from_be_bytes<const LIMBS: usize>(bytes: &[u8]) -> Result<Uint<LIMBS>, BadSignature> {
    let mut words = [0 as Word; LIMBS];
    if bytes.len() > LIMBS * WORD_BYTES {
        return Err(BadSignature);
    }
    for (chunk, word) in bytes.rchunks(WORD_BYTES).zip(words.iter_mut()) {
        *word = chunk.iter().fold(0, |acc, &b| (acc << 8) | Word::from(b));
    }
    Ok(Uint::from_words(words))
}

/// Writes `value` big-endian into exactly `out.len()` bytes; fails if it does not fit.
fn write_be_bytes<const LIMBS: usize>(
    value: &Uint<LIMBS>,
    out: &mut [u8],
) -> Result<(), BadSignature> {
    let mut words = value.as_words().iter();
    for chunk in out.rchunks_mut(WORD_BYTES) {
        let word = words.next().copied().unwrap_or(0);
        let bytes = word.to_be_bytes();
        let skip = WORD_BYTES - chunk.len();
        // A partial top chunk: the word's bytes above it must be zero.
        let (high, low) = bytes.split_at(skip);
        if high.iter().any(|b| *b != 0) {
            return Err(BadSignature);
        }
        chunk.copy_from_slice(low);
    }
    if words.any(|w| *w != 0) {
        return Err(BadSignature);
    }
    Ok(())
}

/// Bit length of a big-endian magnitude without leading zero bytes.
fn bit_length(magnitude: &[u8]) -> usize {
    match magnitude.first() {
        Some(&top) => 8 * magnitude.len() - top.leading_zeros() as usize,
        None => 0,
    }
}

/// XORs MGF1(`seed`) over `hash` into `target` (RFC 8017 B.2.1).
fn mgf1_xor(hash: Hash, seed: &[u8], target: &mut [u8]) {
    let mut block = [0u8; MAX_DIGEST_LEN];
    for (counter, chunk) in (0u32..).zip(target.chunks_mut(hash.len())) {
        let mask = hash.digest(&[seed, &counter.to_be_bytes()], &mut block);
        for (byte, m) in chunk.iter_mut().zip(mask) {
            *byte ^= m;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::net::x509::{PublicKey, parse_public_key_info};

    /// Vectors from Python `cryptography` (OpenSSL), see tests/data/x509/make_vectors.py.
    macro_rules! vector {
        ($($part:expr),+) => {
            include_bytes!(concat!("../../tests/data/x509/", $($part),+))
        };
    }
    const MESSAGE: &[u8] = vector!("message.bin");

    struct Vectors {
        spki: &'static [u8],
        pkcs1: [&'static [u8]; 3],
        pss: [&'static [u8]; 3],
    }

    macro_rules! key_vectors {
        ($bits:literal) => {
            Vectors {
                spki: vector!("rsa", $bits, ".spki.der"),
                pkcs1: [
                    vector!("rsa", $bits, ".pkcs1-sha256.sig"),
                    vector!("rsa", $bits, ".pkcs1-sha384.sig"),
                    vector!("rsa", $bits, ".pkcs1-sha512.sig"),
                ],
                pss: [
                    vector!("rsa", $bits, ".pss-sha256.sig"),
                    vector!("rsa", $bits, ".pss-sha384.sig"),
                    vector!("rsa", $bits, ".pss-sha512.sig"),
                ],
            }
        };
    }

    const HASHES: [Hash; 3] = [Hash::Sha256, Hash::Sha384, Hash::Sha512];

    fn rsa_key(spki: &[u8]) -> RsaKey<'_> {
        match parse_public_key_info(spki).unwrap() {
            PublicKey::Rsa { modulus, exponent } => RsaKey { modulus, exponent },
            other => panic!("not RSA: {other:?}"),
        }
    }

    #[test]
    fn known_answers_verify_and_tampering_fails() {
        for (bits, vectors) in [
            (2048, key_vectors!("2048")),
            (3072, key_vectors!("3072")),
            (4096, key_vectors!("4096")),
        ] {
            let key = rsa_key(vectors.spki);
            assert_eq!(key.modulus.len() * 8, bits);
            assert_eq!(key.exponent, 65_537);
            for ((hash, pkcs1), pss) in HASHES.iter().zip(vectors.pkcs1).zip(vectors.pss) {
                let mut buffer = [0u8; MAX_DIGEST_LEN];
                let digest = hash.digest(&[MESSAGE], &mut buffer);
                assert_eq!(
                    key.verify_pkcs1v15(*hash, digest, pkcs1),
                    Ok(()),
                    "{bits} {hash:?}"
                );
                assert_eq!(
                    key.verify_pss(*hash, digest, pss),
                    Ok(()),
                    "{bits} {hash:?}"
                );
                // Each padding refuses the other's signature.
                assert_eq!(key.verify_pkcs1v15(*hash, digest, pss), Err(BadSignature));
                assert_eq!(key.verify_pss(*hash, digest, pkcs1), Err(BadSignature));
                // A flipped bit anywhere in the signature or the digest fails.
                for position in [0, pkcs1.len() / 2, pkcs1.len() - 1] {
                    let mut forged = [0u8; RSA_MAX_MODULUS_BYTES];
                    let forged = &mut forged[..pkcs1.len()];
                    forged.copy_from_slice(pkcs1);
                    forged[position] ^= 1;
                    assert_eq!(
                        key.verify_pkcs1v15(*hash, digest, forged),
                        Err(BadSignature)
                    );
                    forged.copy_from_slice(pss);
                    forged[position] ^= 1;
                    assert_eq!(key.verify_pss(*hash, digest, forged), Err(BadSignature));
                }
                let mut other_digest = [0u8; MAX_DIGEST_LEN];
                let other_digest = hash.digest(&[MESSAGE, b"!"], &mut other_digest);
                assert_eq!(
                    key.verify_pkcs1v15(*hash, other_digest, pkcs1),
                    Err(BadSignature)
                );
                assert_eq!(key.verify_pss(*hash, other_digest, pss), Err(BadSignature));
            }
            // Wrong hash for the signature, wrong-length signature.
            let mut buffer = [0u8; MAX_DIGEST_LEN];
            let digest = Hash::Sha384.digest(&[MESSAGE], &mut buffer);
            assert_eq!(
                key.verify_pkcs1v15(Hash::Sha384, digest, vectors.pkcs1[0]),
                Err(BadSignature)
            );
            let short = &vectors.pkcs1[1][1..];
            assert_eq!(
                key.verify_pkcs1v15(Hash::Sha384, digest, short),
                Err(BadSignature)
            );
        }
    }

    #[test]
    fn a_signature_not_below_the_modulus_is_refused() {
        let vectors = key_vectors!("2048");
        let key = rsa_key(vectors.spki);
        let mut buffer = [0u8; MAX_DIGEST_LEN];
        let digest = Hash::Sha256.digest(&[MESSAGE], &mut buffer);
        assert_eq!(
            key.verify_pkcs1v15(Hash::Sha256, digest, key.modulus),
            Err(BadSignature)
        );
        assert_eq!(
            key.verify_pss(Hash::Sha256, digest, &[0xff; 256]),
            Err(BadSignature)
        );
    }

    #[test]
    fn big_endian_round_trip_and_overflow() {
        let bytes: [u8; 9] = [1, 2, 3, 4, 5, 6, 7, 8, 9];
        let value = from_be_bytes::<4>(&bytes).unwrap();
        let mut out = [0u8; 9];
        write_be_bytes(&value, &mut out).unwrap();
        assert_eq!(out, bytes);
        let mut short = [0u8; 8];
        assert_eq!(write_be_bytes(&value, &mut short), Err(BadSignature));
        assert_eq!(from_be_bytes::<1>(&bytes), Err(BadSignature));
    }

    #[test]
    fn small_power_matches_schoolbook() {
        // 7^65537 mod 1000003 = 881993 (checked with Python's pow()).
        let modulus = 1_000_003u32.to_be_bytes();
        let mut out = [0u8; 4];
        power::<1>(&modulus, 65_537, &7u32.to_be_bytes(), &mut out).unwrap();
        assert_eq!(u32::from_be_bytes(out), 881_993);
        // A base not below the modulus is refused.
        assert_eq!(
            power::<1>(&modulus, 3, &modulus, &mut out),
            Err(BadSignature)
        );
    }
}
