//! A tiny fixed-capacity ASCII string, so sandbox hosts and origins need no allocator and stay `Copy`.

use core::fmt;
use core::hash::{Hash, Hasher};

/// At most `N` bytes (`N` ≤ 255) of ASCII text stored inline.
///
/// Only ASCII is ever pushed, so the bytes are always valid UTF-8; bytes past `len` stay zero.
#[derive(Clone, Copy)]
pub(crate) struct InlineStr<const N: usize> {
    bytes: [u8; N],
    len: u8,
}

impl<const N: usize> InlineStr<N> {
    /// Rejects a capacity that the `u8` length could not describe, at compile time.
    const CAPACITY_FITS_U8: () = assert!(N <= u8::MAX as usize);

    pub(crate) const fn new() -> Self {
        let () = Self::CAPACITY_FITS_U8;
        Self {
            bytes: [0; N],
            len: 0,
        }
    }

    /// Concatenates `parts`, lower-casing ASCII letters; `None` if a byte is not ASCII or the
    /// result would not fit (nothing is half-built: the caller gets either all or nothing).
    pub(crate) fn concat_lowercase(parts: &[&str]) -> Option<Self> {
        Self::concat_mapped(parts, |byte| byte.to_ascii_lowercase())
    }

    /// Copies ASCII `text` as is; `None` if it is not ASCII or does not fit.
    pub(crate) fn from_ascii(text: &str) -> Option<Self> {
        Self::concat_mapped(&[text], |byte| byte)
    }

    fn concat_mapped(parts: &[&str], map: impl Fn(u8) -> u8) -> Option<Self> {
        let mut out = Self::new();
        for part in parts {
            for &byte in part.as_bytes() {
                if !byte.is_ascii() {
                    return None;
                }
                let slot = out.bytes.get_mut(usize::from(out.len))?;
                *slot = map(byte);
                out.len = out.len.checked_add(1)?;
            }
        }
        Some(out)
    }

    pub(crate) fn as_str(&self) -> &str {
        let filled = self.bytes.get(..usize::from(self.len)).unwrap_or(&[]);
        // Only ASCII is stored (see `concat_lowercase`), so this never falls back.
        core::str::from_utf8(filled).unwrap_or("")
    }
}

impl<const N: usize> PartialEq for InlineStr<N> {
    fn eq(&self, other: &Self) -> bool {
        self.as_str() == other.as_str()
    }
}

impl<const N: usize> Eq for InlineStr<N> {}

impl<const N: usize> Hash for InlineStr<N> {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.as_str().hash(state);
    }
}

impl<const N: usize> fmt::Debug for InlineStr<N> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}

#[cfg(test)]
mod tests {
    use super::InlineStr;

    #[test]
    fn concatenates_and_lowercases() {
        let s = InlineStr::<16>::concat_lowercase(&["API.", "Example"]).expect("fits");
        assert_eq!(s.as_str(), "api.example");
    }

    #[test]
    fn refuses_overflow_and_non_ascii_whole() {
        assert!(InlineStr::<4>::concat_lowercase(&["abc", "de"]).is_none());
        assert!(InlineStr::<8>::concat_lowercase(&["é"]).is_none());
        assert_eq!(
            InlineStr::<4>::concat_lowercase(&["ab", "cd"])
                .expect("exactly full")
                .as_str(),
            "abcd"
        );
    }

    #[test]
    fn from_ascii_keeps_case() {
        let s = InlineStr::<8>::from_ascii("Ab-C").expect("fits");
        assert_eq!(s.as_str(), "Ab-C");
        assert!(InlineStr::<2>::from_ascii("abc").is_none());
    }

    #[test]
    fn equality_ignores_unused_capacity() {
        let a = InlineStr::<8>::concat_lowercase(&["ab"]).expect("fits");
        let b = InlineStr::<8>::concat_lowercase(&["a", "b"]).expect("fits");
        assert_eq!(a, b);
        assert_ne!(a, InlineStr::<8>::concat_lowercase(&["abc"]).expect("fits"));
    }
}
