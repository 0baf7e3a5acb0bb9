//! The streaming state machine: framing, block choice (dynamic Huffman, fixed Huffman or
//! stored) and resumable output into caller slices of any size.

use core::fmt;

use super::bits::BitWriter;
use super::codes::{self, BlockCodes, SymbolCounts};
use super::dynamic::{self, DynamicHeader};
use super::lz77::Matcher;
use super::{Error, Format, Progress, gzip, stored, zlib};

/// Streaming zlib or gzip compressor; about 2.1 KiB, with no buffer of its own.
///
/// Feed it the caller's payload buffer, which may still be growing, with [`Compressor::compress`],
/// then end the stream with [`Compressor::finish`]; both write as much as fits into `out` and
/// resume where they stopped on the next call. See the [module documentation](super) for the
/// contract on `data`.
#[derive(Clone)]
pub struct Compressor {
    format: Format,
    stage: Stage,
    block: Block,
    bits: BitWriter,
    framing: FramingBytes,
    /// Input bytes already turned into tokens or copied into a stored block.
    pos: usize,
    /// The input length fixed by the first call to `finish`.
    final_len: Option<usize>,
    /// Adler-32 (zlib) or CRC-32 (gzip) of the input up to the end of the current block.
    checksum: u32,
    matcher: Matcher,
    /// The codes of the current Huffman block.
    codes: BlockCodes,
    /// The code-length header of the current block, if it is dynamic.
    header: DynamicHeader,
}

// The RAM budget of the design (≤ 4 KiB of compressor state besides the caller's buffers; see the
// module documentation for where the bytes go).
const _: () = assert!(core::mem::size_of::<Compressor>() <= 4096);

/// BFINAL and BTYPE.
const HUFFMAN_HEADER_BITS: u32 = 3;
const BTYPE_FIXED: u32 = 0b01;
const BTYPE_DYNAMIC: u32 = 0b10;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stage {
    Header,
    Blocks,
    Trailer,
    Done,
}

/// The block being written; `end` is the input position where it ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Block {
    /// Between blocks.
    Idle,
    /// The code lengths of a dynamic block; `cursor` as in [`DynamicHeader::write_step`].
    DynamicHeader {
        end: usize,
        last: bool,
        cursor: u16,
    },
    /// The tokens of a fixed or dynamic block.
    Huffman {
        end: usize,
        last: bool,
    },
    Stored {
        end: usize,
        last: bool,
    },
}

impl Compressor {
    /// A compressor that writes a `format` stream.
    pub const fn new(format: Format) -> Self {
        let framing = match format {
            Format::Zlib => FramingBytes::new(&zlib::HEADER),
            Format::Gzip => FramingBytes::new(&gzip::HEADER),
        };
        let checksum = match format {
            Format::Zlib => zlib::ADLER32_INIT,
            Format::Gzip => gzip::CRC32_INIT,
        };
        Self {
            format,
            stage: Stage::Header,
            block: Block::Idle,
            bits: BitWriter::new(),
            framing,
            pos: 0,
            final_len: None,
            checksum,
            matcher: Matcher::new(),
            codes: BlockCodes::new(),
            header: DynamicHeader::new(),
        }
    }

    /// The stream format being written.
    pub const fn format(&self) -> Format {
        self.format
    }

    /// Input bytes that the emitted (or partly emitted) blocks cover. `data` given to later calls
    /// must be at least this long and start with the same bytes.
    pub const fn consumed(&self) -> usize {
        match self.block {
            Block::Idle => self.pos,
            Block::DynamicHeader { end, .. }
            | Block::Huffman { end, .. }
            | Block::Stored { end, .. } => end,
        }
    }

    /// Whether the whole stream, trailer included, has been written out.
    pub fn is_finished(&self) -> bool {
        self.stage == Stage::Done
    }

    /// Compresses what `data` allows so far into `out`.
    ///
    /// `data` is the payload written so far: every call passes the same buffer, possibly longer.
    /// Blocks hold 65,535 input bytes, so input is only emitted while more than that is pending;
    /// the rest waits for more data or for [`Self::finish`]. Returns the bytes written to the
    /// front of `out`; `complete` is false when `out` filled up first (call again with more room).
    ///
    /// # Errors
    /// [`Error::InputMismatch`] if `data` is shorter than [`Self::consumed`];
    /// [`Error::AfterFinish`] once `finish` has been called.
    pub fn compress(&mut self, data: &[u8], out: &mut [u8]) -> Result<Progress, Error> {
        if self.final_len.is_some() {
            return Err(Error::AfterFinish);
        }
        if data.len() < self.consumed() {
            return Err(Error::InputMismatch);
        }
        self.drive(data, out)
    }

    /// Compresses the rest of `data`, the complete payload, and ends the stream.
    ///
    /// Call again with fresh room in `out` until `complete` is true; the stream is then written
    /// entirely and further calls write nothing.
    ///
    /// # Errors
    /// [`Error::InputMismatch`] if `data` is shorter than [`Self::consumed`], or its length
    /// differs from the one given to the first `finish` call.
    pub fn finish(&mut self, data: &[u8], out: &mut [u8]) -> Result<Progress, Error> {
        match self.final_len {
            Some(len) if len != data.len() => return Err(Error::InputMismatch),
            Some(_) => {}
            None if data.len() < self.consumed() => return Err(Error::InputMismatch),
            None => self.final_len = Some(data.len()),
        }
        self.drive(data, out)
    }

    fn drive(&mut self, data: &[u8], out: &mut [u8]) -> Result<Progress, Error> {
        let mut written = 0;
        let partial = |written| {
            Ok(Progress {
                written,
                complete: false,
            })
        };
        loop {
            match self.stage {
                Stage::Header => {
                    if !self.framing.drain(out, &mut written) {
                        return partial(written);
                    }
                    self.stage = Stage::Blocks;
                }
                Stage::Blocks => match self.block {
                    Block::Idle => {
                        let Some((len, last)) = self.next_block_len(data.len()) else {
                            return Ok(Progress {
                                written,
                                complete: true,
                            });
                        };
                        self.bits.flush(out, &mut written);
                        if !self.bits.has_room(stored::HEADER_MAX_BITS) {
                            return partial(written);
                        }
                        self.begin_block(data, len, last)?;
                    }
                    Block::DynamicHeader {
                        end,
                        last,
                        mut cursor,
                    } => {
                        loop {
                            self.bits.flush(out, &mut written);
                            if !self.bits.has_room(dynamic::MAX_STEP_BITS) {
                                self.block = Block::DynamicHeader { end, last, cursor };
                                return partial(written);
                            }
                            if self
                                .header
                                .write_step(&self.codes, &mut self.bits, &mut cursor)
                            {
                                break;
                            }
                        }
                        self.block = Block::Huffman { end, last };
                    }
                    Block::Huffman { end, last } => {
                        let window = data.get(..end).ok_or(Error::InputMismatch)?;
                        loop {
                            self.bits.flush(out, &mut written);
                            if !self.bits.has_room(codes::MAX_TOKEN_BITS) {
                                return partial(written);
                            }
                            let Some(token) = self.matcher.next_token(window, self.pos) else {
                                self.codes.write_end_of_block(&mut self.bits);
                                self.end_block(last);
                                break;
                            };
                            self.codes.write_token(&mut self.bits, token);
                            self.pos += token.input_len();
                        }
                    }
                    Block::Stored { end, last } => {
                        self.bits.flush(out, &mut written);
                        if self.bits.pending() > 0 {
                            return partial(written);
                        }
                        let rest = data.get(self.pos..end).ok_or(Error::InputMismatch)?;
                        let copied = copy_prefix(out.get_mut(written..).unwrap_or_default(), rest);
                        written += copied;
                        self.pos += copied;
                        if self.pos < end {
                            return partial(written);
                        }
                        self.end_block(last);
                    }
                },
                Stage::Trailer => {
                    self.bits.flush(out, &mut written);
                    if self.bits.pending() > 0 || !self.framing.drain(out, &mut written) {
                        return partial(written);
                    }
                    self.stage = Stage::Done;
                }
                Stage::Done => {
                    return Ok(Progress {
                        written,
                        complete: true,
                    });
                }
            }
        }
    }

    /// Length of the next block and whether it is the last, if one can start now. Only the
    /// last block may be shorter than `stored::MAX_LEN`, and it is never empty unless the whole
    /// input is: that keeps the block count, and so the size bound, at `ceil(n / 65535)`.
    fn next_block_len(&self, data_len: usize) -> Option<(usize, bool)> {
        let pending = data_len.saturating_sub(self.pos);
        if pending > stored::MAX_LEN {
            Some((stored::MAX_LEN, false))
        } else if self.final_len.is_some() {
            Some((pending, true))
        } else {
            None
        }
    }

    /// Chooses the cheapest block type for `data[pos..pos + len]`, folds the block into the
    /// checksum and writes the block header (all of it for fixed and stored blocks, BFINAL and
    /// BTYPE for dynamic ones). Needs `stored::HEADER_MAX_BITS` of room.
    fn begin_block(&mut self, data: &[u8], len: usize, last: bool) -> Result<(), Error> {
        let start = self.pos;
        let end = start.checked_add(len).ok_or(Error::InputMismatch)?;
        let window = data.get(..end).ok_or(Error::InputMismatch)?;
        let block = window.get(start..).ok_or(Error::InputMismatch)?;
        self.checksum = match self.format {
            Format::Zlib => zlib::adler32_update(self.checksum, block),
            Format::Gzip => gzip::crc32_update(self.checksum, block),
        };

        let pending = self.bits.pending();
        let stored_bits = stored::end_bit(pending, len).saturating_sub(u64::from(pending));
        // Tokenise once to count symbols, then again (identically) to write.
        let counts = self.count_symbols(window, start);
        self.codes.set_optimal(&counts);
        self.header.build(&self.codes);
        let dynamic_bits = self.header.cost(&self.codes) + counts.cost(&self.codes);
        let fixed_bits = counts.fixed_cost();
        let huffman_bits = u64::from(HUFFMAN_HEADER_BITS) + dynamic_bits.min(fixed_bits);
        if huffman_bits > stored_bits {
            let len = u16::try_from(len).map_err(|_| Error::InputMismatch)?;
            stored::write_header(&mut self.bits, last, len);
            self.block = Block::Stored { end, last };
        } else if dynamic_bits < fixed_bits {
            self.bits
                .put(u32::from(last) | (BTYPE_DYNAMIC << 1), HUFFMAN_HEADER_BITS);
            self.block = Block::DynamicHeader {
                end,
                last,
                cursor: 0,
            };
        } else {
            self.codes.set_fixed();
            self.bits
                .put(u32::from(last) | (BTYPE_FIXED << 1), HUFFMAN_HEADER_BITS);
            self.block = Block::Huffman { end, last };
        }
        Ok(())
    }

    /// Symbol counts of the block `window[start..]`. Leaves the matcher ready to tokenise the
    /// block again.
    fn count_symbols(&mut self, window: &[u8], start: usize) -> SymbolCounts {
        let mut counts = SymbolCounts::new();
        self.matcher.start_block(window, start);
        let mut pos = start;
        while let Some(token) = self.matcher.next_token(window, pos) {
            counts.add(token);
            pos += token.input_len();
        }
        self.matcher.start_block(window, start);
        counts
    }

    fn end_block(&mut self, last: bool) {
        self.block = Block::Idle;
        if last {
            self.bits.align_to_byte();
            self.framing = match self.format {
                Format::Zlib => FramingBytes::new(&zlib::trailer(self.checksum)),
                Format::Gzip => FramingBytes::new(&gzip::trailer(self.checksum, self.pos)),
            };
            self.stage = Stage::Trailer;
        }
    }
}

impl fmt::Debug for Compressor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The hash table is noise; position and stage are what a reader needs.
        f.debug_struct("Compressor")
            .field("format", &self.format)
            .field("stage", &self.stage)
            .field("block", &self.block)
            .field("consumed", &self.consumed())
            .finish_non_exhaustive()
    }
}

/// Header or trailer bytes waiting for output space.
#[derive(Debug, Clone, Copy)]
struct FramingBytes {
    bytes: [u8; 10],
    len: u8,
    sent: u8,
}

impl FramingBytes {
    /// Takes at most 10 bytes, the longest framing (the gzip header).
    const fn new(src: &[u8]) -> Self {
        let mut bytes = [0u8; 10];
        let mut len = 0;
        while len < src.len() && len < bytes.len() {
            bytes[len] = src[len];
            len += 1;
        }
        Self {
            bytes,
            len: len as u8,
            sent: 0,
        }
    }

    /// Writes what fits into `out[*written..]`; true once everything is out.
    fn drain(&mut self, out: &mut [u8], written: &mut usize) -> bool {
        let rest = self
            .bytes
            .get(usize::from(self.sent)..usize::from(self.len))
            .unwrap_or_default();
        let copied = copy_prefix(out.get_mut(*written..).unwrap_or_default(), rest);
        *written += copied;
        // `copied` ≤ 10, so this cannot truncate.
        self.sent = self.sent.saturating_add(copied as u8);
        self.sent >= self.len
    }
}

/// Copies as much of `src` as fits at the front of `dst`; returns the count.
fn copy_prefix(dst: &mut [u8], src: &[u8]) -> usize {
    let count = dst.len().min(src.len());
    if let (Some(dst), Some(src)) = (dst.get_mut(..count), src.get(..count)) {
        dst.copy_from_slice(src);
    }
    count
}
