//! JSON output for the telemetry encoders: [`RecordBatch`], the typed batch that keeps a caller's
//! buffer a complete payload at all times, and the errors every batch shares: [`PushError`] and
//! [`BufferTooSmall`]. The slice writer underneath is crate-internal.

mod batch;
mod writer;

use core::fmt;

pub(crate) use batch::sealed::Format;
pub use batch::{BatchFormat, RecordBatch};
pub(crate) use writer::{JsonWriter, WriteError};

/// Why a record was not added to a batch. The batch is unchanged and still a valid payload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum PushError<E> {
    /// The record breaks a Datadog rule; sending it would be refused, so it was not written.
    Invalid(E),
    /// The batch has no room left (bytes or entries): send it, clear the batch and push the
    /// record again.
    Full,
    /// The record does not fit even into an empty batch of this size: it can never be sent with
    /// this buffer and limit.
    TooLarge,
}

impl<E: fmt::Display> fmt::Display for PushError<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Invalid(reason) => write!(f, "invalid record: {reason}"),
            Self::Full => f.write_str("batch is full"),
            Self::TooLarge => f.write_str("record is larger than an empty batch"),
        }
    }
}

/// The buffer (or the chosen maximum length) cannot even hold an empty batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct BufferTooSmall;

impl fmt::Display for BufferTooSmall {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("buffer too small for an empty batch")
    }
}

/// Writes one JSON document into `buf` with `write`, returning the written prefix, or `None`
/// when it does not fit (the buffer content is then unspecified, never returned).
pub(crate) fn write_document<'b>(
    buf: &'b mut [u8],
    write: impl FnOnce(&mut JsonWriter<'_>) -> Result<(), WriteError>,
) -> Option<&'b [u8]> {
    let mut writer = JsonWriter::new(buf);
    write(&mut writer).ok()?;
    let len = writer.len();
    let buf: &'b [u8] = buf;
    buf.get(..len)
}
