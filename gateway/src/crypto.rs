//! Sealing secrets at rest: XChaCha20-Poly1305 under a master key ring.
//!
//! A sealed blob is `VERSION ‖ key_id_len ‖ key_id ‖ nonce(24) ‖ ciphertext+tag`. The key id
//! travels with every ciphertext so a rotated ring can still open old rows, and the row identity
//! (`table`, `column`, `row id`) is the associated data, so a ciphertext copied into another row
//! or column fails to open.

use std::fmt;
use std::io::Write as _;
use std::path::{Path, PathBuf};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use secrecy::{ExposeSecret, SecretString};
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

const BLOB_VERSION: u8 = 1;
const NONCE_LEN: usize = 24;
const KEY_LEN: usize = 32;

/// Errors from sealing and key handling. Never carries plaintext or key material.
#[derive(Debug, thiserror::Error)]
pub enum CryptoError {
    #[error("sealed value is malformed")]
    Malformed,
    #[error("sealed value uses master key `{0}`, which is not configured")]
    UnknownKey(String),
    #[error("sealed value failed authentication (wrong key, or copied from another row)")]
    Authentication,
    #[error("master key must be 32 bytes, base64-encoded")]
    BadMasterKey,
    #[error("master key file {path}: {source}")]
    KeyFile {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("random number generator failed")]
    Random,
}

/// Where a sealed value lives; becomes the AEAD associated data.
#[derive(Debug, Clone, Copy)]
pub struct SealContext<'a> {
    pub table: &'a str,
    pub column: &'a str,
    pub row_id: &'a str,
}

impl<'a> SealContext<'a> {
    pub fn new(table: &'a str, column: &'a str, row_id: &'a str) -> Self {
        Self {
            table,
            column,
            row_id,
        }
    }

    fn associated_data(&self) -> Vec<u8> {
        let mut aad =
            Vec::with_capacity(16 + self.table.len() + self.column.len() + self.row_id.len());
        aad.extend_from_slice(b"ddlink/seal/v1\0");
        for part in [self.table, self.column, self.row_id] {
            // Length-prefixed so ("a", "b\0c") and ("a\0b", "c") can never collide.
            aad.extend_from_slice(&(part.len() as u64).to_be_bytes());
            aad.extend_from_slice(part.as_bytes());
        }
        aad
    }
}

/// One 32-byte master key and its id (derived from the key, so it needs no configuration).
pub struct MasterKey {
    id: String,
    cipher: XChaCha20Poly1305,
}

impl fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MasterKey")
            .field("id", &self.id)
            .finish_non_exhaustive()
    }
}

impl MasterKey {
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, CryptoError> {
        if bytes.len() != KEY_LEN {
            return Err(CryptoError::BadMasterKey);
        }
        let digest = Sha256::new_with_prefix(b"ddlink/master-key-id/v1\0")
            .chain_update(bytes)
            .finalize();
        let id = digest[..8].iter().map(|b| format!("{b:02x}")).collect();
        let cipher =
            XChaCha20Poly1305::new_from_slice(bytes).map_err(|_| CryptoError::BadMasterKey)?;
        Ok(Self { id, cipher })
    }

    /// Parses the base64 form used in `DDLINK_MASTER_KEY` and key files.
    pub fn from_base64(text: &SecretString) -> Result<Self, CryptoError> {
        let bytes = Zeroizing::new(
            B64.decode(text.expose_secret().trim())
                .map_err(|_| CryptoError::BadMasterKey)?,
        );
        Self::from_bytes(&bytes)
    }

    /// A fresh random key and its base64 form (for writing a key file).
    pub fn generate() -> Result<(Self, SecretString), CryptoError> {
        let mut bytes = Zeroizing::new([0u8; KEY_LEN]);
        getrandom::fill(bytes.as_mut()).map_err(|_| CryptoError::Random)?;
        let encoded = SecretString::from(B64.encode(bytes.as_ref()));
        Ok((Self::from_bytes(bytes.as_ref())?, encoded))
    }

    /// Reads a configured key file (a symbolic link is followed: secret stores often mount
    /// keys that way). Warns if group or others can read it.
    pub fn read_file(path: &Path) -> Result<Self, CryptoError> {
        let file = std::fs::File::open(path).map_err(|source| CryptoError::KeyFile {
            path: path.to_owned(),
            source,
        })?;
        Self::read_from(file, path)
    }

    fn read_from(mut file: std::fs::File, path: &Path) -> Result<Self, CryptoError> {
        use std::io::Read as _;
        let io_err = |source| CryptoError::KeyFile {
            path: path.to_owned(),
            source,
        };
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            let mode = file.metadata().map_err(io_err)?.permissions().mode();
            if mode & 0o044 != 0 {
                tracing::warn!(
                    path = %path.display(),
                    mode = format_args!("{:o}", mode & 0o777),
                    "the master key file is readable by group or others; run `chmod 600` on it"
                );
            }
        }
        let mut text = Zeroizing::new(String::new());
        file.read_to_string(&mut text).map_err(io_err)?;
        Self::from_base64(&SecretString::from(text.as_str().to_owned()))
    }

    /// Reads `path`, or creates it with a new key (mode 0600, refusing to overwrite) when absent.
    /// The gateway chose this path itself, so a symbolic link there is refused, not followed.
    pub fn load_or_create_file(path: &Path) -> Result<Self, CryptoError> {
        let io_err = |source| CryptoError::KeyFile {
            path: path.to_owned(),
            source,
        };
        let mut read = std::fs::OpenOptions::new();
        read.read(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::custom_flags(&mut read, libc::O_NOFOLLOW);
        match read.open(path) {
            Ok(file) => return Self::read_from(file, path),
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => {}
            Err(error) => return Err(io_err(error)),
        }
        let (key, encoded) = Self::generate()?;
        let mut options = std::fs::OpenOptions::new();
        // create_new (O_EXCL) never follows a link, dangling or not.
        options.write(true).create_new(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        let mut file = options.open(path).map_err(io_err)?;
        file.write_all(encoded.expose_secret().as_bytes())
            .and_then(|()| file.write_all(b"\n"))
            .and_then(|()| file.sync_all())
            .map_err(io_err)?;
        Ok(key)
    }

    pub fn id(&self) -> &str {
        &self.id
    }
}

/// The active master key (used for every new seal) plus older keys that can still open.
#[derive(Debug)]
pub struct KeyRing {
    active: MasterKey,
    previous: Vec<MasterKey>,
}

impl KeyRing {
    pub fn new(active: MasterKey, previous: Vec<MasterKey>) -> Self {
        Self { active, previous }
    }

    pub fn active_key_id(&self) -> &str {
        self.active.id()
    }

    fn key(&self, id: &str) -> Option<&MasterKey> {
        std::iter::once(&self.active)
            .chain(self.previous.iter())
            .find(|k| k.id == id)
    }

    /// Seals `plaintext` for the row described by `ctx` under the active key.
    pub fn seal(&self, ctx: &SealContext<'_>, plaintext: &[u8]) -> Result<Vec<u8>, CryptoError> {
        let mut nonce = [0u8; NONCE_LEN];
        getrandom::fill(&mut nonce).map_err(|_| CryptoError::Random)?;
        let aad = ctx.associated_data();
        let ciphertext = self
            .active
            .cipher
            .encrypt(
                XNonce::from_slice(&nonce),
                Payload {
                    msg: plaintext,
                    aad: &aad,
                },
            )
            .map_err(|_| CryptoError::Authentication)?;
        let id = self.active.id.as_bytes();
        let mut blob = Vec::with_capacity(2 + id.len() + NONCE_LEN + ciphertext.len());
        blob.push(BLOB_VERSION);
        blob.push(u8::try_from(id.len()).map_err(|_| CryptoError::Malformed)?);
        blob.extend_from_slice(id);
        blob.extend_from_slice(&nonce);
        blob.extend_from_slice(&ciphertext);
        Ok(blob)
    }

    pub fn seal_str(
        &self,
        ctx: &SealContext<'_>,
        secret: &SecretString,
    ) -> Result<Vec<u8>, CryptoError> {
        self.seal(ctx, secret.expose_secret().as_bytes())
    }

    /// Opens a blob sealed for the same row identity.
    pub fn open(
        &self,
        ctx: &SealContext<'_>,
        blob: &[u8],
    ) -> Result<Zeroizing<Vec<u8>>, CryptoError> {
        let parts = BlobParts::parse(blob)?;
        let key = self
            .key(parts.key_id)
            .ok_or_else(|| CryptoError::UnknownKey(parts.key_id.to_owned()))?;
        let aad = ctx.associated_data();
        key.cipher
            .decrypt(
                XNonce::from_slice(parts.nonce),
                Payload {
                    msg: parts.ciphertext,
                    aad: &aad,
                },
            )
            .map(Zeroizing::new)
            .map_err(|_| CryptoError::Authentication)
    }

    pub fn open_string(
        &self,
        ctx: &SealContext<'_>,
        blob: &[u8],
    ) -> Result<SecretString, CryptoError> {
        let bytes = self.open(ctx, blob)?;
        let text = std::str::from_utf8(&bytes).map_err(|_| CryptoError::Malformed)?;
        Ok(SecretString::from(text.to_owned()))
    }

    /// The key id a blob was sealed under.
    pub fn key_id_of(blob: &[u8]) -> Result<&str, CryptoError> {
        Ok(BlobParts::parse(blob)?.key_id)
    }

    /// Whether a blob should be re-sealed under the active key (rotation).
    pub fn needs_reseal(&self, blob: &[u8]) -> Result<bool, CryptoError> {
        Ok(Self::key_id_of(blob)? != self.active.id)
    }

    /// Opens with whichever key sealed it and seals again under the active key.
    pub fn reseal(&self, ctx: &SealContext<'_>, blob: &[u8]) -> Result<Vec<u8>, CryptoError> {
        let plaintext = self.open(ctx, blob)?;
        self.seal(ctx, &plaintext)
    }
}

struct BlobParts<'a> {
    key_id: &'a str,
    nonce: &'a [u8],
    ciphertext: &'a [u8],
}

impl<'a> BlobParts<'a> {
    fn parse(blob: &'a [u8]) -> Result<Self, CryptoError> {
        let (&version, rest) = blob.split_first().ok_or(CryptoError::Malformed)?;
        if version != BLOB_VERSION {
            return Err(CryptoError::Malformed);
        }
        let (&id_len, rest) = rest.split_first().ok_or(CryptoError::Malformed)?;
        let (id, rest) = rest
            .split_at_checked(usize::from(id_len))
            .ok_or(CryptoError::Malformed)?;
        let key_id = std::str::from_utf8(id).map_err(|_| CryptoError::Malformed)?;
        let (nonce, ciphertext) = rest
            .split_at_checked(NONCE_LEN)
            .ok_or(CryptoError::Malformed)?;
        if ciphertext.len() < 16 {
            return Err(CryptoError::Malformed);
        }
        Ok(Self {
            key_id,
            nonce,
            ciphertext,
        })
    }
}

/// SHA-256 hex of a bearer value (session ids, OAuth `state`): the database only sees hashes.
pub fn hash_token(token: &str) -> String {
    Sha256::digest(token.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// A random URL-safe token with `bytes` bytes of entropy.
pub fn random_token(bytes: usize) -> Result<String, CryptoError> {
    let mut buf = Zeroizing::new(vec![0u8; bytes]);
    getrandom::fill(&mut buf).map_err(|_| CryptoError::Random)?;
    Ok(base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(&*buf))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ring() -> KeyRing {
        KeyRing::new(MasterKey::generate().unwrap().0, Vec::new())
    }

    #[test]
    fn seal_then_open_round_trips() {
        let ring = ring();
        let ctx = SealContext::new("connections", "api_key", "org-1");
        let blob = ring.seal(&ctx, b"abcdef0123456789").unwrap();
        assert_eq!(&*ring.open(&ctx, &blob).unwrap(), b"abcdef0123456789");
        assert!(!blob.windows(16).any(|w| w == b"abcdef0123456789"));
        assert_eq!(KeyRing::key_id_of(&blob).unwrap(), ring.active_key_id());
    }

    #[test]
    fn blob_moved_to_another_row_or_column_fails() {
        let ring = ring();
        let blob = ring
            .seal(&SealContext::new("connections", "api_key", "org-1"), b"k")
            .unwrap();
        for ctx in [
            SealContext::new("connections", "api_key", "org-2"),
            SealContext::new("connections", "access_token", "org-1"),
            SealContext::new("fleets", "api_key", "org-1"),
        ] {
            assert!(matches!(
                ring.open(&ctx, &blob),
                Err(CryptoError::Authentication)
            ));
        }
    }

    #[test]
    fn tampered_and_truncated_blobs_are_rejected() {
        let ring = ring();
        let ctx = SealContext::new("t", "c", "r");
        let mut blob = ring.seal(&ctx, b"secret").unwrap();
        for len in 0..blob.len() {
            assert!(
                ring.open(&ctx, &blob[..len]).is_err(),
                "prefix {len} opened"
            );
        }
        let last = blob.len() - 1;
        blob[last] ^= 1;
        assert!(matches!(
            ring.open(&ctx, &blob),
            Err(CryptoError::Authentication)
        ));
    }

    #[test]
    fn rotation_keeps_old_blobs_readable_and_reseals_under_the_new_key() {
        let (old, old_text) = MasterKey::generate().unwrap();
        let old_ring = KeyRing::new(old, Vec::new());
        let ctx = SealContext::new("t", "c", "r");
        let blob = old_ring.seal(&ctx, b"token").unwrap();

        let rotated = KeyRing::new(
            MasterKey::generate().unwrap().0,
            vec![MasterKey::from_base64(&old_text).unwrap()],
        );
        assert!(rotated.needs_reseal(&blob).unwrap());
        let resealed = rotated.reseal(&ctx, &blob).unwrap();
        assert!(!rotated.needs_reseal(&resealed).unwrap());
        assert_eq!(&*rotated.open(&ctx, &resealed).unwrap(), b"token");

        let without_old = KeyRing::new(MasterKey::generate().unwrap().0, Vec::new());
        assert!(matches!(
            without_old.open(&ctx, &blob),
            Err(CryptoError::UnknownKey(_))
        ));
    }

    #[test]
    fn key_file_is_created_once_with_owner_only_mode() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("master.key");
        let first = MasterKey::load_or_create_file(&path).unwrap();
        let second = MasterKey::load_or_create_file(&path).unwrap();
        assert_eq!(first.id(), second.id());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
    }

    #[cfg(unix)]
    #[test]
    fn a_key_file_others_can_read_is_warned_about() {
        use std::os::unix::fs::PermissionsExt as _;
        #[derive(Clone, Default)]
        struct Logs(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);
        impl std::io::Write for Logs {
            fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
                self.0.lock().unwrap().extend_from_slice(bytes);
                Ok(bytes.len())
            }
            fn flush(&mut self) -> std::io::Result<()> {
                Ok(())
            }
        }
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("master.key");
        MasterKey::load_or_create_file(&path).unwrap();
        let logs = Logs::default();
        let writer = logs.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_writer(move || writer.clone())
            .finish();
        tracing::subscriber::with_default(subscriber, || {
            tracing::callsite::rebuild_interest_cache();
            MasterKey::read_file(&path).unwrap();
            assert!(logs.0.lock().unwrap().is_empty(), "0600 is fine");
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o640)).unwrap();
            MasterKey::load_or_create_file(&path).unwrap();
        });
        let text = String::from_utf8(logs.0.lock().unwrap().clone()).unwrap();
        assert!(text.contains("readable by group or others"), "{text}");
        assert!(text.contains("640"), "{text}");
    }

    #[test]
    fn bad_master_keys_are_refused_without_echoing_them() {
        let err = MasterKey::from_base64(&SecretString::from("c2hvcnQ=".to_owned())).unwrap_err();
        assert!(matches!(err, CryptoError::BadMasterKey));
        assert!(!format!("{err}").contains("c2hvcnQ"));
        assert!(!format!("{:?}", MasterKey::generate().unwrap().0).contains("cipher"));
    }
}
