//! The framing shared by every batch writer: a fixed opening (`{"series":[` or `[`),
//! comma-separated items and a fixed closing (`]}` or `]`).
//!
//! The closing always sits right after the last complete item and its bytes are reserved before
//! an item is written, so the buffer holds a complete, sendable JSON document after every call,
//! whether the push succeeded or not: an item that does not fit is rolled back whole, never
//! truncated.

use super::writer::{JsonWriter, WriteError};
use super::{BufferTooSmall, PushError};

/// Why [`Batch::push`] refused an item.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum FrameError {
    /// No room left in this batch.
    Full,
    /// No room even in an empty batch.
    TooLarge,
    /// The serialized item is longer than the per-item limit.
    ItemTooLong,
}

/// The framing shared by every batch writer: opening, comma-separated items, closing.
#[derive(Debug)]
pub(crate) struct Batch<'a> {
    buf: &'a mut [u8],
    /// Usable length: `min(buf.len(), max_len)`; never less than `open.len() + close.len()`.
    capacity: usize,
    open: &'static [u8],
    close: &'static [u8],
    /// End of the last complete item (or of the opening); the closing is written from here.
    body_end: usize,
    items: usize,
    max_items: usize,
}

impl<'a> Batch<'a> {
    /// Starts an empty batch in `buf`, using at most `max_len` bytes and `max_items` items.
    pub(crate) fn new(
        buf: &'a mut [u8],
        max_len: usize,
        max_items: usize,
        open: &'static [u8],
        close: &'static [u8],
    ) -> Result<Self, BufferTooSmall> {
        let capacity = buf.len().min(max_len);
        let frame_len = open.len().saturating_add(close.len());
        if capacity < frame_len || max_items == 0 {
            return Err(BufferTooSmall);
        }
        let mut batch = Self {
            buf,
            capacity,
            open,
            close,
            body_end: open.len(),
            items: 0,
            max_items,
        };
        batch.clear();
        Ok(batch)
    }

    /// Empties the batch, keeping the buffer and limits.
    pub(crate) fn clear(&mut self) {
        if let Some(dst) = self.buf.get_mut(..self.open.len()) {
            dst.copy_from_slice(self.open);
        }
        self.body_end = self.open.len();
        self.items = 0;
        self.write_close();
    }

    /// [`push`](Self::push) without a per-item limit, as the public [`PushError`]: with no
    /// item limit only the batch can be full.
    pub(crate) fn push_unlimited<E>(
        &mut self,
        write_item: impl FnOnce(&mut JsonWriter<'_>) -> Result<(), WriteError>,
    ) -> Result<(), PushError<E>> {
        self.push(write_item, usize::MAX)
            .map_err(|error| match error {
                FrameError::TooLarge => PushError::TooLarge,
                FrameError::Full | FrameError::ItemTooLong => PushError::Full,
            })
    }

    /// Appends the item `write_item` writes, or leaves the batch exactly as it was.
    pub(crate) fn push(
        &mut self,
        write_item: impl FnOnce(&mut JsonWriter<'_>) -> Result<(), WriteError>,
        max_item_len: usize,
    ) -> Result<(), FrameError> {
        if self.items >= self.max_items {
            return Err(FrameError::Full);
        }
        let separator = usize::from(self.items > 0);
        let item_start = self.body_end.saturating_add(separator);
        // `capacity >= open + close` and `body_end >= open`, so this never underflows in practice;
        // saturating keeps it panic-free regardless.
        let item_limit = self.capacity.saturating_sub(self.close.len());
        let written = self.buf.get_mut(item_start..item_limit).and_then(|region| {
            let mut writer = JsonWriter::new(region);
            write_item(&mut writer).ok().map(|()| writer.len())
        });
        match written {
            Some(len) if len > max_item_len => {
                self.write_close();
                Err(FrameError::ItemTooLong)
            }
            Some(len) => {
                if separator == 1
                    && let Some(comma) = self.buf.get_mut(self.body_end)
                {
                    *comma = b',';
                }
                self.body_end = item_start.saturating_add(len);
                self.items = self.items.saturating_add(1);
                self.write_close();
                Ok(())
            }
            None => {
                // The writer may have overwritten the closing with a partial item.
                self.write_close();
                Err(if self.items == 0 {
                    FrameError::TooLarge
                } else {
                    FrameError::Full
                })
            }
        }
    }

    /// Number of items in the batch.
    pub(crate) fn len(&self) -> usize {
        self.items
    }

    /// The complete JSON document: opening, items, closing.
    pub(crate) fn payload(&self) -> &[u8] {
        let end = self.body_end.saturating_add(self.close.len());
        self.buf.get(..end).unwrap_or_default()
    }

    /// Ends the batch, returning the complete JSON document with the buffer's lifetime.
    pub(crate) fn into_payload(self) -> &'a [u8] {
        let end = self.body_end.saturating_add(self.close.len());
        let buf: &'a [u8] = self.buf;
        buf.get(..end).unwrap_or_default()
    }

    fn write_close(&mut self) {
        let end = self.body_end.saturating_add(self.close.len());
        if let Some(dst) = self.buf.get_mut(self.body_end..end) {
            dst.copy_from_slice(self.close);
        }
    }
}

/// Adds the accessors every typed batch shares to a newtype around [`Batch`] (field `0`).
macro_rules! batch_accessors {
    ($batch:ident) => {
        impl<'a> $batch<'a> {
            /// Number of records in the batch.
            pub fn len(&self) -> usize {
                self.0.len()
            }

            /// Whether no record has been pushed (the payload is then valid but empty).
            pub fn is_empty(&self) -> bool {
                self.0.len() == 0
            }

            /// The complete JSON payload so far; valid after every `push`, whatever it returned.
            pub fn as_payload(&self) -> &[u8] {
                self.0.payload()
            }

            /// Ends the batch and returns the complete JSON payload, borrowed from the buffer.
            pub fn finish(self) -> &'a [u8] {
                self.0.into_payload()
            }

            /// Empties the batch (after its payload was sent) to fill the same buffer again.
            pub fn clear(&mut self) {
                self.0.clear();
            }
        }
    };
}
pub(crate) use batch_accessors;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn full_push_leaves_previous_items_and_closing_intact() {
        let mut buf = [0u8; 12];
        let mut batch = Batch::new(&mut buf, usize::MAX, usize::MAX, b"[", b"]").unwrap();
        assert_eq!(batch.payload(), b"[]");
        batch.push(|w| w.string("abc"), usize::MAX).unwrap();
        assert_eq!(batch.payload(), br#"["abc"]"#);
        assert_eq!(
            batch.push(|w| w.string("abcd"), usize::MAX),
            Err(FrameError::Full)
        );
        assert_eq!(batch.payload(), br#"["abc"]"#);
        batch.push(|w| w.string("d"), usize::MAX).unwrap();
        assert_eq!(batch.into_payload(), br#"["abc","d"]"#);
    }

    #[test]
    fn item_larger_than_empty_batch_is_too_large() {
        let mut buf = [0u8; 6];
        let mut batch = Batch::new(&mut buf, usize::MAX, 4, b"[", b"]").unwrap();
        assert_eq!(
            batch.push(|w| w.string("abcd"), usize::MAX),
            Err(FrameError::TooLarge)
        );
        assert_eq!(batch.payload(), b"[]");
        assert_eq!(batch.len(), 0);
    }

    #[test]
    fn item_count_limit_reports_full() {
        let mut buf = [0u8; 64];
        let mut batch = Batch::new(&mut buf, usize::MAX, 1, b"[", b"]").unwrap();
        batch.push(|w| w.integer(1), usize::MAX).unwrap();
        assert_eq!(
            batch.push(|w| w.integer(2), usize::MAX),
            Err(FrameError::Full)
        );
        assert_eq!(batch.payload(), b"[1]");
    }

    #[test]
    fn item_longer_than_item_limit_is_rolled_back() {
        let mut buf = [0u8; 64];
        let mut batch = Batch::new(&mut buf, usize::MAX, usize::MAX, b"[", b"]").unwrap();
        assert_eq!(
            batch.push(|w| w.string("abc"), 4),
            Err(FrameError::ItemTooLong)
        );
        assert_eq!(batch.payload(), b"[]");
        batch.push(|w| w.string("ab"), 4).unwrap();
        assert_eq!(batch.payload(), br#"["ab"]"#);
    }

    #[test]
    fn max_len_below_buffer_length_caps_the_batch() {
        let mut buf = [0u8; 64];
        assert_eq!(
            Batch::new(&mut buf, 1, usize::MAX, b"[", b"]").err(),
            Some(BufferTooSmall)
        );
        let mut batch = Batch::new(&mut buf, 3, usize::MAX, b"[", b"]").unwrap();
        assert_eq!(
            batch.push(|w| w.integer(12), usize::MAX),
            Err(FrameError::TooLarge)
        );
        batch.push(|w| w.integer(1), usize::MAX).unwrap();
        assert_eq!(batch.payload(), b"[1]");
    }

    #[test]
    fn clear_restarts_an_empty_batch() {
        let mut buf = [0u8; 16];
        let mut batch = Batch::new(&mut buf, usize::MAX, usize::MAX, b"{\"s\":[", b"]}").unwrap();
        batch.push(|w| w.integer(7), usize::MAX).unwrap();
        batch.clear();
        assert_eq!(batch.payload(), br#"{"s":[]}"#);
        assert_eq!(batch.len(), 0);
    }
}
