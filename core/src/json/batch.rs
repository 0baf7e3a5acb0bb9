//! Batches: [`RecordBatch`], the typed batch over an endpoint's [`BatchFormat`], and the framing
//! every format shares: a fixed opening (`{"series":[` or `[`), comma-separated items and a fixed
//! closing (`]}` or `]`).
//!
//! The closing always sits right after the last complete item and its bytes are reserved before
//! an item is written, so the buffer holds a complete, sendable JSON document after every call,
//! whether the push succeeded or not: an item that does not fit is rolled back whole, never
//! truncated.

use core::marker::PhantomData;

use super::writer::{JsonWriter, WriteError};
use super::{BufferTooSmall, PushError};

/// Why [`Frame::push`] refused an item.
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
pub(crate) struct Frame<'a> {
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

impl<'a> Frame<'a> {
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

/// One intake endpoint's payload format: how a [`RecordBatch`] validates, writes and frames its
/// records. Sealed: the formats are this crate's ([`SeriesBatch`](crate::metrics::SeriesBatch)
/// and its siblings name them).
pub trait BatchFormat: sealed::Format {}

impl<F: sealed::Format> BatchFormat for F {}

pub(crate) mod sealed {
    use super::super::writer::{JsonWriter, WriteError};

    /// What a format declares; implemented next to each record type.
    pub trait Format {
        /// The record the batch holds.
        type Record<'r>;
        /// Why a record breaks a Datadog rule.
        type Error;
        /// Bytes before the first record and after the last.
        const OPEN: &'static [u8];
        const CLOSE: &'static [u8];
        /// The limit of `RecordBatch::new`: the largest body Datadog accepts as sent.
        const DEFAULT_MAX_LEN: usize;
        /// The cap on `RecordBatch::with_max_len` (the largest decompressed body).
        const MAX_LEN: usize;
        /// Most records per payload.
        const MAX_RECORDS: usize = usize::MAX;
        /// Longest serialized record, and the error for one longer than that.
        const MAX_RECORD: Option<(usize, Self::Error)> = None;

        /// Checks `record` against Datadog's rules (times against `now` when known).
        fn validate(record: &Self::Record<'_>, now: Option<i64>) -> Result<(), Self::Error>;

        /// Writes one record.
        fn write(out: &mut JsonWriter<'_>, record: &Self::Record<'_>) -> Result<(), WriteError>;
    }
}

/// A payload of one intake endpoint being filled in a caller's buffer.
///
/// After every [`push`](Self::push), successful or not, [`as_payload`](Self::as_payload) is a
/// complete document holding exactly the records pushed successfully. Used through the
/// endpoints' names: [`SeriesBatch`](crate::metrics::SeriesBatch),
/// [`SeriesV1Batch`](crate::metrics::SeriesV1Batch),
/// [`DistributionBatch`](crate::metrics::DistributionBatch), [`LogBatch`](crate::logs::LogBatch)
/// and [`CheckBatch`](crate::checks::CheckBatch).
#[derive(Debug)]
pub struct RecordBatch<'a, F: BatchFormat> {
    frame: Frame<'a>,
    format: PhantomData<F>,
}

impl<'a, F: BatchFormat> RecordBatch<'a, F> {
    /// An empty batch in `buf`, limited to the largest body the endpoint accepts as sent
    /// (uncompressed, or compressed, whichever way it is sent).
    pub fn new(buf: &'a mut [u8]) -> Result<Self, BufferTooSmall> {
        Self::with_max_len(buf, F::DEFAULT_MAX_LEN)
    }

    /// An empty batch in `buf`, limited to `max_len` bytes, capped at the endpoint's largest
    /// decompressed body (above the default limit the caller must compress the payload below
    /// that limit before sending).
    pub fn with_max_len(buf: &'a mut [u8], max_len: usize) -> Result<Self, BufferTooSmall> {
        let max_len = max_len.min(F::MAX_LEN);
        Frame::new(buf, max_len, F::MAX_RECORDS, F::OPEN, F::CLOSE).map(|frame| Self {
            frame,
            format: PhantomData,
        })
    }

    /// Validates `record` (its timestamps against `now`, POSIX seconds, when known) and appends
    /// it. On any error the batch is unchanged.
    pub fn push(
        &mut self,
        record: &F::Record<'_>,
        now: Option<i64>,
    ) -> Result<(), PushError<F::Error>> {
        F::validate(record, now).map_err(PushError::Invalid)?;
        let (max_record_len, too_long) = match F::MAX_RECORD {
            Some((len, error)) => (len, Some(error)),
            None => (usize::MAX, None),
        };
        self.frame
            .push(|out| F::write(out, record), max_record_len)
            .map_err(|error| match (error, too_long) {
                (FrameError::TooLarge, _) => PushError::TooLarge,
                (FrameError::ItemTooLong, Some(too_long)) => PushError::Invalid(too_long),
                (FrameError::Full | FrameError::ItemTooLong, _) => PushError::Full,
            })
    }

    /// Number of records in the batch.
    pub fn len(&self) -> usize {
        self.frame.len()
    }

    /// Whether no record has been pushed (the payload is then valid but empty).
    pub fn is_empty(&self) -> bool {
        self.frame.len() == 0
    }

    /// The complete JSON payload so far; valid after every `push`, whatever it returned.
    pub fn as_payload(&self) -> &[u8] {
        self.frame.payload()
    }

    /// Ends the batch and returns the complete JSON payload, borrowed from the buffer.
    pub fn finish(self) -> &'a [u8] {
        self.frame.into_payload()
    }

    /// Empties the batch (after its payload was sent) to fill the same buffer again.
    pub fn clear(&mut self) {
        self.frame.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn full_push_leaves_previous_items_and_closing_intact() {
        let mut buf = [0u8; 12];
        let mut batch = Frame::new(&mut buf, usize::MAX, usize::MAX, b"[", b"]").unwrap();
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
        let mut batch = Frame::new(&mut buf, usize::MAX, 4, b"[", b"]").unwrap();
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
        let mut batch = Frame::new(&mut buf, usize::MAX, 1, b"[", b"]").unwrap();
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
        let mut batch = Frame::new(&mut buf, usize::MAX, usize::MAX, b"[", b"]").unwrap();
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
            Frame::new(&mut buf, 1, usize::MAX, b"[", b"]").err(),
            Some(BufferTooSmall)
        );
        let mut batch = Frame::new(&mut buf, 3, usize::MAX, b"[", b"]").unwrap();
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
        let mut batch = Frame::new(&mut buf, usize::MAX, usize::MAX, b"{\"s\":[", b"]}").unwrap();
        batch.push(|w| w.integer(7), usize::MAX).unwrap();
        batch.clear();
        assert_eq!(batch.payload(), br#"{"s":[]}"#);
        assert_eq!(batch.len(), 0);
    }
}
