//! Byte-level helpers: a bounded cursor over a caller's buffer and strict base64.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;

use super::ProvisionError;

/// Appends into a fixed buffer; a write that does not fit fails without writing anything.
pub(crate) struct Cursor<'a> {
    out: &'a mut [u8],
    len: usize,
}

impl<'a> Cursor<'a> {
    pub(crate) fn new(out: &'a mut [u8]) -> Self {
        Self { out, len: 0 }
    }

    pub(crate) fn put(&mut self, bytes: &[u8]) -> Result<(), ProvisionError> {
        let end = self
            .len
            .checked_add(bytes.len())
            .ok_or(ProvisionError::BufferTooSmall)?;
        self.out
            .get_mut(self.len..end)
            .ok_or(ProvisionError::BufferTooSmall)?
            .copy_from_slice(bytes);
        self.len = end;
        Ok(())
    }

    /// Appends `bytes` as standard base64 with padding.
    pub(crate) fn put_base64(&mut self, bytes: &[u8]) -> Result<(), ProvisionError> {
        let rest = self
            .out
            .get_mut(self.len..)
            .ok_or(ProvisionError::BufferTooSmall)?;
        let written = STANDARD
            .encode_slice(bytes, rest)
            .map_err(|_| ProvisionError::BufferTooSmall)?;
        self.len = self
            .len
            .checked_add(written)
            .ok_or(ProvisionError::BufferTooSmall)?;
        Ok(())
    }

    pub(crate) fn written(&self) -> &[u8] {
        self.out.get(..self.len).unwrap_or(&[])
    }
}

/// Length of the base64 text (standard, padded) of `len` bytes.
pub(crate) const fn base64_len(len: usize) -> usize {
    len.div_ceil(3) * 4
}

/// Decodes canonical padded standard base64 into exactly `N` bytes.
pub(crate) fn decode_exact<const N: usize>(text: &str) -> Result<[u8; N], ProvisionError> {
    if text.len() != base64_len(N) {
        return Err(ProvisionError::InvalidEncoding);
    }
    let mut out = [0u8; N];
    match STANDARD.decode_slice(text, &mut out) {
        Ok(len) if len == N => Ok(out),
        _ => Err(ProvisionError::InvalidEncoding),
    }
}

/// Decodes canonical padded standard base64 into `out`, returning the decoded length.
pub(crate) fn decode_into(text: &str, out: &mut [u8]) -> Result<usize, ProvisionError> {
    if text.len() > base64_len(out.len()) {
        return Err(ProvisionError::InvalidEncoding);
    }
    STANDARD
        .decode_slice(text, out)
        .map_err(|_| ProvisionError::InvalidEncoding)
}
