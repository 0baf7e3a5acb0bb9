//! `Content-Encoding` handling with a bound on the decoded size (no decompression bombs).

use std::fmt;
use std::io::Read;

use flate2::{Decompress, FlushDecompress, Status};

/// The encodings Datadog's intake endpoints accept, each endpoint a subset.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ContentEncoding {
    Identity,
    /// `deflate`: a zlib (RFC 1950) stream, as Datadog's clients send it.
    Deflate,
    Gzip,
    /// `zstd1`: one standard zstd frame (the value Datadog's v2 series API names).
    Zstd1,
}

impl ContentEncoding {
    pub(crate) fn name(self) -> &'static str {
        match self {
            Self::Identity => "identity",
            Self::Deflate => "deflate",
            Self::Gzip => "gzip",
            Self::Zstd1 => "zstd1",
        }
    }

    /// Parses a `Content-Encoding` header; absent means identity.
    pub(crate) fn parse(header: Option<&str>) -> Result<Self, DecodeError> {
        let Some(value) = header.map(str::trim) else {
            return Ok(Self::Identity);
        };
        [Self::Identity, Self::Deflate, Self::Gzip, Self::Zstd1]
            .into_iter()
            .find(|e| value.eq_ignore_ascii_case(e.name()))
            .ok_or_else(|| DecodeError::Unsupported(value.to_owned()))
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum DecodeError {
    /// The encoding is unknown or not accepted by this endpoint.
    Unsupported(String),
    /// The body is not a complete, valid stream of the declared encoding.
    Corrupt(String),
    /// The decoded body reached the endpoint's limit.
    TooLarge { limit: usize },
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Unsupported(name) => write!(f, "Unsupported Content-Encoding: {name}"),
            Self::Corrupt(why) => write!(f, "Failed to decompress the payload: {why}"),
            Self::TooLarge { limit } => {
                write!(f, "Decompressed payload too large (limit {limit} bytes)")
            }
        }
    }
}

/// Decodes `body`; the result must be strictly smaller than `limit` bytes.
pub(crate) fn decode(
    encoding: ContentEncoding,
    body: &[u8],
    limit: usize,
) -> Result<Vec<u8>, DecodeError> {
    let decoded = match encoding {
        ContentEncoding::Identity => body.to_vec(),
        ContentEncoding::Deflate => inflate_zlib(body, limit)?,
        ContentEncoding::Gzip => read_bounded(flate2::read::GzDecoder::new(body), limit)?,
        ContentEncoding::Zstd1 => {
            let decoder = ruzstd::decoding::StreamingDecoder::new(body)
                .map_err(|e| DecodeError::Corrupt(format!("invalid zstd frame: {e}")))?;
            read_bounded(decoder, limit)?
        }
    };
    if decoded.len() >= limit {
        return Err(DecodeError::TooLarge { limit });
    }
    Ok(decoded)
}

/// Inflates a zlib stream, insisting that it ends (a truncated stream is an error, not a
/// short body) and that nothing follows it.
fn inflate_zlib(body: &[u8], limit: usize) -> Result<Vec<u8>, DecodeError> {
    let mut inflater = Decompress::new(true);
    let mut out = Vec::with_capacity(body.len().saturating_mul(4).min(limit));
    loop {
        if out.len() == out.capacity() {
            if out.len() >= limit {
                return Err(DecodeError::TooLarge { limit });
            }
            out.reserve((out.len().max(4096)).min(limit - out.len()));
        }
        let consumed = usize::try_from(inflater.total_in()).unwrap_or(usize::MAX);
        let input = body.get(consumed..).unwrap_or_default();
        let before = (inflater.total_in(), inflater.total_out());
        let status = inflater
            .decompress_vec(input, &mut out, FlushDecompress::None)
            .map_err(|e| DecodeError::Corrupt(format!("invalid zlib stream: {e}")))?;
        match status {
            Status::StreamEnd => {
                let used = usize::try_from(inflater.total_in()).unwrap_or(usize::MAX);
                if used != body.len() {
                    return Err(DecodeError::Corrupt(
                        "data after the end of the zlib stream".into(),
                    ));
                }
                return Ok(out);
            }
            Status::Ok | Status::BufError => {
                let progressed = (inflater.total_in(), inflater.total_out()) != before;
                if !progressed && out.len() < out.capacity() {
                    return Err(DecodeError::Corrupt("truncated zlib stream".into()));
                }
            }
        }
    }
}

fn read_bounded(reader: impl Read, limit: usize) -> Result<Vec<u8>, DecodeError> {
    let mut out = Vec::new();
    let cap = u64::try_from(limit).unwrap_or(u64::MAX);
    reader
        .take(cap)
        .read_to_end(&mut out)
        .map_err(|e| DecodeError::Corrupt(e.to_string()))?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use super::*;

    fn zlib(data: &[u8]) -> Vec<u8> {
        let mut enc = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
        enc.write_all(data).unwrap();
        enc.finish().unwrap()
    }

    fn gzip(data: &[u8]) -> Vec<u8> {
        let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        enc.write_all(data).unwrap();
        enc.finish().unwrap()
    }

    fn zstd(data: &[u8]) -> Vec<u8> {
        ruzstd::encoding::compress_to_vec(data, ruzstd::encoding::CompressionLevel::Fastest)
    }

    const TEXT: &[u8] =
        b"{\"series\":[{\"metric\":\"a.b\",\"points\":[]}]} repeated repeated repeated";

    #[test]
    fn parses_header_values() {
        assert_eq!(ContentEncoding::parse(None), Ok(ContentEncoding::Identity));
        assert_eq!(
            ContentEncoding::parse(Some(" GZIP ")),
            Ok(ContentEncoding::Gzip)
        );
        assert_eq!(
            ContentEncoding::parse(Some("zstd1")),
            Ok(ContentEncoding::Zstd1)
        );
        assert_eq!(
            ContentEncoding::parse(Some("br")),
            Err(DecodeError::Unsupported("br".into()))
        );
    }

    #[test]
    fn round_trips_every_encoding() {
        assert_eq!(
            decode(ContentEncoding::Deflate, &zlib(TEXT), 1000).unwrap(),
            TEXT
        );
        assert_eq!(
            decode(ContentEncoding::Gzip, &gzip(TEXT), 1000).unwrap(),
            TEXT
        );
        assert_eq!(
            decode(ContentEncoding::Zstd1, &zstd(TEXT), 1000).unwrap(),
            TEXT
        );
        assert_eq!(decode(ContentEncoding::Identity, TEXT, 1000).unwrap(), TEXT);
    }

    #[test]
    fn rejects_truncated_and_trailing_data() {
        for enc in [
            ContentEncoding::Deflate,
            ContentEncoding::Gzip,
            ContentEncoding::Zstd1,
        ] {
            let full = match enc {
                ContentEncoding::Deflate => zlib(TEXT),
                ContentEncoding::Gzip => gzip(TEXT),
                _ => zstd(TEXT),
            };
            for cut in [1, full.len() / 2, full.len() - 1] {
                let res = decode(enc, &full[..cut], 1000);
                assert!(
                    matches!(res, Err(DecodeError::Corrupt(_))),
                    "{enc:?} cut {cut}: {res:?}"
                );
            }
        }
        let mut trailing = zlib(TEXT);
        trailing.push(0);
        assert!(matches!(
            decode(ContentEncoding::Deflate, &trailing, 1000),
            Err(DecodeError::Corrupt(_))
        ));
        // Raw deflate (no zlib header) is not what Datadog means by `deflate`.
        let mut raw =
            flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::default());
        raw.write_all(TEXT).unwrap();
        let raw = raw.finish().unwrap();
        assert!(matches!(
            decode(ContentEncoding::Deflate, &raw, 1000),
            Err(DecodeError::Corrupt(_))
        ));
    }

    #[test]
    fn bounds_the_decoded_size() {
        let bomb = vec![b'a'; 1 << 20];
        for (enc, body) in [
            (ContentEncoding::Deflate, zlib(&bomb)),
            (ContentEncoding::Gzip, gzip(&bomb)),
            (ContentEncoding::Zstd1, zstd(&bomb)),
            (ContentEncoding::Identity, bomb.clone()),
        ] {
            assert_eq!(
                decode(enc, &body, 1000),
                Err(DecodeError::TooLarge { limit: 1000 }),
                "{enc:?}"
            );
        }
        // The limit is exclusive: "less than 5 megabytes".
        assert_eq!(
            decode(ContentEncoding::Deflate, &zlib(&[b'x'; 10]), 10),
            Err(DecodeError::TooLarge { limit: 10 })
        );
        assert_eq!(
            decode(ContentEncoding::Deflate, &zlib(&[b'x'; 9]), 10)
                .unwrap()
                .len(),
            9
        );
    }
}
