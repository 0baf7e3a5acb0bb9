//! SHA-2 digests of several parts into a caller's buffer, for the hash an algorithm names
//! (sha2 0.10, the version embedded-tls uses; compact with the feature `small-code`).

use super::x509::Hash;

/// Longest digest (SHA-512).
pub(crate) const MAX_DIGEST_LEN: usize = 64;

impl Hash {
    /// Digest length in bytes.
    pub(crate) const fn len(self) -> usize {
        match self {
            Self::Sha256 => 32,
            Self::Sha384 => 48,
            Self::Sha512 => 64,
        }
    }

    /// Hashes the concatenation of `parts` into the start of `out` and returns that part.
    pub(crate) fn digest<'o>(self, parts: &[&[u8]], out: &'o mut [u8; MAX_DIGEST_LEN]) -> &'o [u8] {
        fn run<D: sha2_tls::Digest>(parts: &[&[u8]], out: &mut [u8]) {
            let mut hasher = D::new();
            for part in parts {
                hasher.update(part);
            }
            out.copy_from_slice(&hasher.finalize());
        }
        let (digest, _) = out.split_at_mut(self.len());
        match self {
            Self::Sha256 => run::<sha2_tls::Sha256>(parts, digest),
            Self::Sha384 => run::<sha2_tls::Sha384>(parts, digest),
            Self::Sha512 => run::<sha2_tls::Sha512>(parts, digest),
        }
        digest
    }
}
