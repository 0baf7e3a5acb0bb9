//! zlib (RFC 1950) and gzip (RFC 1952) compression in 2 KiB of RAM, with no allocator.
//!
//! HTTP `Content-Encoding: deflate` is a zlib stream and `gzip` a gzip stream; Datadog's metric
//! and log intakes take both. No published crate compresses without an allocator at this size
//! (miniz_oxide's compressor needs `alloc`, zlib-rs needs a ~134 KiB arena), hence this module.
//!
//! # How it compresses
//! DEFLATE (RFC 1951) blocks of up to 65,535 input bytes. A block's bytes are turned into greedy
//! LZ77 matches with a one-byte lazy step, found through a 512-entry hash table, twice: the
//! first pass counts the symbols, from which optimal Huffman codes (at most 15 bits) are built;
//! the second writes the tokens. Of a dynamic-Huffman block (those codes plus their code-length
//! header), a fixed-Huffman block (no header; wins on short blocks) and a stored block, the one
//! with the fewest bits is written, counted exactly before anything is sent. So the output never
//! exceeds [`max_compressed_len`]: the input, the framing and 5 bytes per 65,535-byte block.
//!
//! On the `/api/v2/series` batch of 10 series × 100 points (46 KB) the zlib stream is 1.10× the
//! size flate2 (miniz_oxide) level 6 makes of it, 1.12× on a 12 KB batch of 60 one-point series
//! (`core/benches/deflate.rs` prints the figures of each run). A larger hash table or two
//! candidates per bucket were measured and did not pay: on this JSON they find longer but more
//! distant matches whose distance codes cost more than the bytes they save.
//!
//! # Memory
//! A [`Compressor`] is 2,088 bytes on Cortex-M (2,104 on 64-bit hosts); a compile-time
//! assertion keeps it ≤ 4 KiB. Where the bytes go (Cortex-M):
//!
//! | part | bytes |
//! |---|---|
//! | LZ77 hash table: 512 positions (`u16`, modulo 2^16) | 1,024 |
//! | Block codes: 288 literal/length + 30 distance symbols, 2-byte code + 1-byte length each | 954 |
//! | Dynamic header: code-length code (19 symbols) and the three counts | 44 |
//! | Bit writer, framing bytes, positions, checksum, stage, lazy lookahead | 66 |
//!
//! Starting a block also takes about 2 KiB of stack, released before the block's first byte
//! is written: the symbol counts (644 B) and, while a code is built, one sort entry per symbol
//! (1,152 B) and a count per code length (128 B). Nothing else is needed: the window is **the
//! caller's own payload buffer**: matches reach back up to 32 KiB into bytes already consumed,
//! which are read again from `data`, never copied. Flash: see the footprint table in
//! `core/README.md`; the CRC-32 table (1 KiB) is built at compile time.
//!
//! # Streaming kind: streaming output over a growing input buffer
//! Every call receives `data`, the payload written so far, and writes as much compressed output
//! as fits into `out`, remembering where it stopped; the next call may bring a new `out` (a TCP
//! write buffer, a chunk of a second buffer) and a longer `data`. This covers both uses:
//! - the payload is complete: call [`Compressor::finish`] until `complete`, handing out each
//!   piece as it fills ([`compress_into`] does this into one buffer);
//! - the payload is still being written (a batch growing in its buffer): call
//!   [`Compressor::compress`] as it grows, then `finish`.
//!
//! Input chunks that live in separate buffers are deliberately not supported: a match must be
//! able to point 32 KiB back, so either the compressor copies the window (32 KiB of RAM, the
//! cost this design avoids) or the caller keeps it contiguous, which a device assembling one
//! HTTP body in one buffer does anyway. The contract is therefore: **`data` in each call starts
//! with the same bytes as in the previous call** and is at least [`Compressor::consumed`] long.
//! A shorter `data` is an [`Error::InputMismatch`]; rewritten bytes cannot be detected and yield
//! a stream that fails its checksum at the receiver.
//!
//! The output bytes do not depend on how `out` or `data` were split across calls.
//!
//! ```
//! use ddlink_core::deflate::{Compressor, Format, compress_into, max_compressed_len};
//!
//! let payload = br#"{"series":[{"metric":"a.b","points":[{"timestamp":1,"value":2.0}]}]}"#;
//! // One shot, into a buffer sized for the worst case.
//! let mut body = [0u8; max_compressed_len(Format::Zlib, 128)];
//! let len = compress_into(Format::Zlib, payload, &mut body)?;
//!
//! // The same stream in 16-byte pieces, e.g. straight into a socket.
//! let mut compressor = Compressor::new(Format::Zlib);
//! let mut piece = [0u8; 16];
//! let mut offset = 0;
//! loop {
//!     let progress = compressor.finish(payload, &mut piece)?;
//!     assert_eq!(piece[..progress.written], body[offset..offset + progress.written]);
//!     offset += progress.written;
//!     if progress.complete {
//!         break;
//!     }
//! }
//! assert_eq!(offset, len);
//! # Ok::<(), ddlink_core::deflate::Error>(())
//! ```

mod bits;
mod codes;
mod compressor;
mod dynamic;
mod fixed;
mod gzip;
mod huffman;
mod lz77;
mod stored;
mod symbols;
mod zlib;

use core::fmt;

pub use compressor::Compressor;

/// Stream framing around the DEFLATE data.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Format {
    /// RFC 1950: 2-byte header, Adler-32 trailer. HTTP `Content-Encoding: deflate`.
    Zlib,
    /// RFC 1952: 10-byte header (no name, mtime 0, OS 255), CRC-32 and size trailer.
    /// HTTP `Content-Encoding: gzip`.
    Gzip,
}

impl Format {
    /// The HTTP `Content-Encoding` value for this framing.
    pub const fn content_encoding(self) -> &'static str {
        match self {
            Self::Zlib => "deflate",
            Self::Gzip => "gzip",
        }
    }

    /// Header plus trailer bytes.
    pub const fn framing_len(self) -> usize {
        match self {
            Self::Zlib => zlib::HEADER.len() + zlib::TRAILER_LEN,
            Self::Gzip => gzip::HEADER.len() + gzip::TRAILER_LEN,
        }
    }
}

impl From<Format> for crate::http::ContentEncoding {
    /// The request-head encoding for a body compressed in `format`.
    fn from(format: Format) -> Self {
        match format {
            Format::Zlib => Self::Deflate,
            Format::Gzip => Self::Gzip,
        }
    }
}

/// What one [`Compressor`] call achieved.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Progress {
    /// Bytes written at the front of `out`.
    pub written: usize,
    /// `finish`: the stream is complete. `compress`: everything `data` allows so far is out.
    /// False when `out` filled up first.
    pub complete: bool,
}

/// Why compression stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Error {
    /// [`compress_into`]: `out` cannot hold the whole stream. Its contents are not a valid stream.
    OutputFull,
    /// `data` is shorter than the input already consumed, or changed length between `finish`
    /// calls: it must be the same buffer each time, only ever extended before `finish`.
    InputMismatch,
    /// [`Compressor::compress`] was called after [`Compressor::finish`].
    AfterFinish,
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::OutputFull => "compressed output does not fit the buffer",
            Self::InputMismatch => "input is not the same buffer the compressor already consumed",
            Self::AfterFinish => "compress called after finish",
        })
    }
}

impl core::error::Error for Error {}

/// The largest stream `input_len` bytes can compress to in `format`: the input, the framing and
/// 5 bytes per stored block of 65,535 bytes (at least one block). Saturates at `usize::MAX`.
pub const fn max_compressed_len(format: Format, input_len: usize) -> usize {
    let blocks = if input_len == 0 {
        1
    } else {
        input_len.div_ceil(stored::MAX_LEN)
    };
    input_len
        .saturating_add(format.framing_len())
        .saturating_add(blocks.saturating_mul(stored::OVERHEAD))
}

/// Compresses all of `data` into `out` as one `format` stream; returns its length.
///
/// Uses about 4 KiB of stack (the [`Compressor`] and, while a block starts, its code building).
/// An `out` of [`max_compressed_len`] bytes always suffices.
///
/// # Errors
/// [`Error::OutputFull`] if the stream does not fit; `out` then holds no usable result.
pub fn compress_into(format: Format, data: &[u8], out: &mut [u8]) -> Result<usize, Error> {
    let progress = Compressor::new(format).finish(data, out)?;
    if progress.complete {
        Ok(progress.written)
    } else {
        Err(Error::OutputFull)
    }
}
