//! A minimal DER reader for X.509: one-byte tags, definite lengths of up to three length
//! bytes (16 MiB), borrowed values. Everything it does not understand is an error, never a
//! panic, so it can be fed any bytes a server sends.

/// The input is not the DER this reader understands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Malformed;

pub(crate) const TAG_BOOLEAN: u8 = 0x01;
pub(crate) const TAG_INTEGER: u8 = 0x02;
pub(crate) const TAG_BIT_STRING: u8 = 0x03;
pub(crate) const TAG_OCTET_STRING: u8 = 0x04;
pub(crate) const TAG_NULL: u8 = 0x05;
pub(crate) const TAG_OID: u8 = 0x06;
pub(crate) const TAG_UTC_TIME: u8 = 0x17;
pub(crate) const TAG_GENERALIZED_TIME: u8 = 0x18;
pub(crate) const TAG_SEQUENCE: u8 = 0x30;
pub(crate) const TAG_SET: u8 = 0x31;

/// One tag-length-value element.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Tlv<'a> {
    pub(crate) tag: u8,
    pub(crate) value: &'a [u8],
    /// The whole encoding, header included (what a signature covers, what names compare).
    pub(crate) encoded: &'a [u8],
}

/// Reads consecutive elements from a byte slice.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Reader<'a> {
    rest: &'a [u8],
}

impl<'a> Reader<'a> {
    pub(crate) const fn new(bytes: &'a [u8]) -> Self {
        Self { rest: bytes }
    }

    pub(crate) const fn is_empty(&self) -> bool {
        self.rest.is_empty()
    }

    /// The next element's tag, if any.
    pub(crate) fn peek_tag(&self) -> Option<u8> {
        self.rest.first().copied()
    }

    /// The next element, whatever its tag.
    pub(crate) fn read(&mut self) -> Result<Tlv<'a>, Malformed> {
        let (&tag, after_tag) = self.rest.split_first().ok_or(Malformed)?;
        // High tag numbers (low five bits all set) never occur in the structures read here.
        if tag & 0x1f == 0x1f {
            return Err(Malformed);
        }
        let (&first, after_first) = after_tag.split_first().ok_or(Malformed)?;
        let (length, after_length) = if first < 0x80 {
            (usize::from(first), after_first)
        } else {
            let count = usize::from(first & 0x7f);
            // 0x80 is BER's indefinite length; more than three bytes is never needed here.
            if count == 0 || count > 3 {
                return Err(Malformed);
            }
            let bytes = after_first.get(..count).ok_or(Malformed)?;
            let length = bytes
                .iter()
                .fold(0usize, |acc, &b| (acc << 8) | usize::from(b));
            // DER: the shortest form, so no leading zero byte and no long form below 128.
            if bytes.first() == Some(&0) || length < 0x80 {
                return Err(Malformed);
            }
            (length, after_first.get(count..).ok_or(Malformed)?)
        };
        let value = after_length.get(..length).ok_or(Malformed)?;
        let header_len = self.rest.len() - after_length.len();
        let encoded = self.rest.get(..header_len + length).ok_or(Malformed)?;
        self.rest = after_length.get(length..).ok_or(Malformed)?;
        Ok(Tlv {
            tag,
            value,
            encoded,
        })
    }

    /// The next element, which must have `tag`.
    pub(crate) fn expect(&mut self, tag: u8) -> Result<Tlv<'a>, Malformed> {
        let tlv = self.read()?;
        if tlv.tag == tag {
            Ok(tlv)
        } else {
            Err(Malformed)
        }
    }

    /// The next element if it has `tag` (an OPTIONAL or DEFAULT field), else nothing is read.
    pub(crate) fn optional(&mut self, tag: u8) -> Result<Option<Tlv<'a>>, Malformed> {
        if self.peek_tag() == Some(tag) {
            self.read().map(Some)
        } else {
            Ok(None)
        }
    }

    /// Fails unless everything was read.
    pub(crate) fn finish(&self) -> Result<(), Malformed> {
        if self.rest.is_empty() {
            Ok(())
        } else {
            Err(Malformed)
        }
    }
}

/// The contents of a BIT STRING that must have no unused bits (keys and signatures).
pub(crate) fn bit_string_bytes(tlv: Tlv<'_>) -> Result<&[u8], Malformed> {
    match tlv.value.split_first() {
        Some((0, bytes)) if tlv.tag == TAG_BIT_STRING => Ok(bytes),
        _ => Err(Malformed),
    }
}

/// A positive INTEGER's magnitude, big-endian without the sign byte DER may put in front.
pub(crate) fn positive_integer(tlv: Tlv<'_>) -> Result<&[u8], Malformed> {
    if tlv.tag != TAG_INTEGER {
        return Err(Malformed);
    }
    match tlv.value {
        [] => Err(Malformed),
        [first, ..] if first & 0x80 != 0 => Err(Malformed),
        // Zero is never a valid key part; a zero byte before one without its top bit is not DER.
        [0] => Err(Malformed),
        [0, next, ..] if next & 0x80 == 0 => Err(Malformed),
        [0, rest @ ..] => Ok(rest),
        bytes => Ok(bytes),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_short_and_long_lengths() {
        let mut long = [0u8; 3 + 200];
        long[..3].copy_from_slice(&[0x04, 0x81, 200]);
        let tlv = Reader::new(&long).read().unwrap();
        assert_eq!(
            (tlv.tag, tlv.value.len(), tlv.encoded.len()),
            (0x04, 200, 203)
        );
        let mut reader = Reader::new(&[0x02, 0x01, 0x05, 0x05, 0x00]);
        assert_eq!(reader.expect(TAG_INTEGER).unwrap().value, &[5]);
        assert_eq!(reader.expect(TAG_NULL).unwrap().value, &[] as &[u8]);
        assert!(reader.is_empty());
    }

    #[test]
    fn refuses_non_der_lengths_and_truncation() {
        for bad in [
            &[0x04, 0x80, 0x00][..],            // indefinite
            &[0x04, 0x81, 0x05, 1, 2, 3, 4, 5], // long form below 128
            &[0x04, 0x82, 0x00, 0x90],          // leading zero length byte
            &[0x04, 0x84, 1, 0, 0, 0],          // four length bytes
            &[0x04, 0x05, 1, 2],                // truncated value
            &[0x1f, 0x01, 0x00],                // high tag number
            &[0x04],                            // no length
        ] {
            assert_eq!(
                Reader::new(bad).read().map(|t| t.tag),
                Err(Malformed),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn integers_are_positive_and_minimal() {
        let int = |v: &'static [u8]| Tlv {
            tag: TAG_INTEGER,
            value: v,
            encoded: v,
        };
        assert_eq!(positive_integer(int(&[0x00, 0x80])), Ok(&[0x80][..]));
        assert_eq!(positive_integer(int(&[0x01, 0x00])), Ok(&[0x01, 0x00][..]));
        assert_eq!(positive_integer(int(&[0x80])), Err(Malformed));
        assert_eq!(positive_integer(int(&[0x00, 0x01])), Err(Malformed));
        assert_eq!(positive_integer(int(&[])), Err(Malformed));
    }
}
