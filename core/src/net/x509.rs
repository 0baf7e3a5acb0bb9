//! The few X.509 fields a TLS client needs, read without copying from a DER certificate:
//! the signed part and its signature, issuer and subject names (compared byte for byte), the
//! validity window, the public key, `basicConstraints` and the subject alternative names.
//!
//! Supported: version 1–3 certificates; signatures `sha{256,384,512}WithRSAEncryption` and
//! `ecdsa-with-SHA{256,384,512}`; keys `rsaEncryption` (2048–4096-bit modulus, exponent up to
//! 32 bits) and `id-ecPublicKey` on P-256 or P-384 (parsed in every build; checked only with the
//! curve's feature, see `signatures`). Not supported (refused): RSASSA-PSS or
//! Ed25519 *certificate* signatures, other curves, unknown critical extensions (fail closed).

use super::chain::CertificateError;
use super::der::{self, Reader, Tlv};
use crate::http::date::{days_in_month, days_since_epoch};

/// A hash function named by an algorithm identifier.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Hash {
    Sha256,
    Sha384,
    Sha512,
}

/// How a certificate is signed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SignatureAlgorithm {
    RsaPkcs1(Hash),
    Ecdsa(Hash),
}

/// A subject public key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum PublicKey<'a> {
    /// Big-endian modulus (no leading zero) and public exponent.
    Rsa {
        modulus: &'a [u8],
        exponent: u32,
    },
    /// Uncompressed or compressed SEC1 point.
    P256(&'a [u8]),
    P384(&'a [u8]),
}

/// Smallest and largest RSA modulus accepted, in bytes (2048 and 4096 bits).
pub(crate) const RSA_MIN_MODULUS_BYTES: usize = 256;
pub(crate) const RSA_MAX_MODULUS_BYTES: usize = 512;

/// A parsed certificate borrowing its DER.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Certificate<'a> {
    /// The whole `tbsCertificate` encoding: what the issuer signed.
    pub(crate) signed: &'a [u8],
    pub(crate) signature_algorithm: SignatureAlgorithm,
    pub(crate) signature: &'a [u8],
    /// Encoded `Name`s.
    pub(crate) issuer: &'a [u8],
    pub(crate) subject: &'a [u8],
    /// Unix seconds, inclusive.
    pub(crate) not_before: u64,
    pub(crate) not_after: u64,
    pub(crate) public_key: PublicKey<'a>,
    /// `basicConstraints` says `cA: TRUE`.
    pub(crate) is_ca: bool,
    /// Contents of the `subjectAltName` `GeneralNames`, if present.
    pub(crate) subject_alt_names: Option<&'a [u8]>,
}

// Object identifiers, as the bytes of their DER contents.
const OID_RSA_ENCRYPTION: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01];
const OID_SHA256_WITH_RSA: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x0b];
const OID_SHA384_WITH_RSA: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x0c];
const OID_SHA512_WITH_RSA: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x0d];
const OID_EC_PUBLIC_KEY: &[u8] = &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01];
const OID_ECDSA_SHA256: &[u8] = &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 0x02];
const OID_ECDSA_SHA384: &[u8] = &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 0x03];
const OID_ECDSA_SHA512: &[u8] = &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 0x04];
const OID_P256: &[u8] = &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07];
const OID_P384: &[u8] = &[0x2b, 0x81, 0x04, 0x00, 0x22];
const OID_COMMON_NAME: &[u8] = &[0x55, 0x04, 0x03];
const OID_KEY_USAGE: &[u8] = &[0x55, 0x1d, 0x0f];
const OID_SUBJECT_ALT_NAME: &[u8] = &[0x55, 0x1d, 0x11];
const OID_BASIC_CONSTRAINTS: &[u8] = &[0x55, 0x1d, 0x13];
const OID_EXTENDED_KEY_USAGE: &[u8] = &[0x55, 0x1d, 0x25];

/// Context-specific tags in `TBSCertificate`.
const TAG_VERSION: u8 = 0xa0;
const TAG_ISSUER_UNIQUE_ID: u8 = 0x81;
const TAG_SUBJECT_UNIQUE_ID: u8 = 0x82;
const TAG_EXTENSIONS: u8 = 0xa3;
/// `dNSName` in `GeneralName`.
const TAG_DNS_NAME: u8 = 0x82;

const MALFORMED: CertificateError = CertificateError::Malformed;

impl From<der::Malformed> for CertificateError {
    fn from(_: der::Malformed) -> Self {
        MALFORMED
    }
}

impl<'a> Certificate<'a> {
    /// Parses one DER certificate; trailing bytes are refused.
    pub(crate) fn parse(der: &'a [u8]) -> Result<Self, CertificateError> {
        let mut outer = Reader::new(der);
        let certificate = outer.expect(der::TAG_SEQUENCE)?;
        outer.finish()?;
        let mut fields = Reader::new(certificate.value);
        let tbs = fields.expect(der::TAG_SEQUENCE)?;
        let outer_algorithm = fields.expect(der::TAG_SEQUENCE)?;
        let signature = der::bit_string_bytes(fields.read()?)?;
        fields.finish()?;

        let mut tbs_fields = Reader::new(tbs.value);
        if let Some(version) = tbs_fields.optional(TAG_VERSION)? {
            let mut inner = Reader::new(version.value);
            let number = inner.expect(der::TAG_INTEGER)?;
            inner.finish()?;
            // v2 (1) or v3 (2); v1 is written by omitting the field.
            if !matches!(number.value, [1] | [2]) {
                return Err(MALFORMED);
            }
        }
        tbs_fields.expect(der::TAG_INTEGER)?; // serial number
        let inner_algorithm = tbs_fields.expect(der::TAG_SEQUENCE)?;
        // RFC 5280 4.1.1.2: both algorithm fields must be the same.
        if inner_algorithm.encoded != outer_algorithm.encoded {
            return Err(MALFORMED);
        }
        let issuer = tbs_fields.expect(der::TAG_SEQUENCE)?;
        let (not_before, not_after) = validity(tbs_fields.expect(der::TAG_SEQUENCE)?)?;
        let subject = tbs_fields.expect(der::TAG_SEQUENCE)?;
        let public_key = public_key(tbs_fields.expect(der::TAG_SEQUENCE)?)?;
        tbs_fields.optional(TAG_ISSUER_UNIQUE_ID)?;
        tbs_fields.optional(TAG_SUBJECT_UNIQUE_ID)?;
        let mut is_ca = false;
        let mut subject_alt_names = None;
        if let Some(extensions) = tbs_fields.optional(TAG_EXTENSIONS)? {
            let mut wrapper = Reader::new(extensions.value);
            let list = wrapper.expect(der::TAG_SEQUENCE)?;
            wrapper.finish()?;
            let mut list = Reader::new(list.value);
            while !list.is_empty() {
                let extension = list.expect(der::TAG_SEQUENCE)?;
                let mut parts = Reader::new(extension.value);
                let id = parts.expect(der::TAG_OID)?.value;
                let critical = match parts.optional(der::TAG_BOOLEAN)? {
                    Some(flag) => boolean(flag)?,
                    None => false,
                };
                let value = parts.expect(der::TAG_OCTET_STRING)?.value;
                parts.finish()?;
                match id {
                    OID_BASIC_CONSTRAINTS => is_ca = basic_constraints_ca(value)?,
                    OID_SUBJECT_ALT_NAME => {
                        let mut names = Reader::new(value);
                        subject_alt_names = Some(names.expect(der::TAG_SEQUENCE)?.value);
                        names.finish()?;
                    }
                    // Key usages are not enforced: a TLS 1.3 server key only ever signs, and a
                    // CA's signing ability is what basicConstraints grants.
                    OID_KEY_USAGE | OID_EXTENDED_KEY_USAGE => {}
                    _ if critical => return Err(CertificateError::UnknownCriticalExtension),
                    _ => {}
                }
            }
        }
        tbs_fields.finish()?;

        Ok(Self {
            signed: tbs.encoded,
            signature_algorithm: signature_algorithm(outer_algorithm)?,
            signature,
            issuer: issuer.encoded,
            subject: subject.encoded,
            not_before,
            not_after,
            public_key,
            is_ca,
            subject_alt_names,
        })
    }

    /// The DNS names this certificate is for: its SAN dNSNames if it has any, else the
    /// subject's common names (RFC 6125 6.4.4). Calls `visit` until it returns true.
    pub(crate) fn any_dns_name(&self, mut visit: impl FnMut(&[u8]) -> bool) -> bool {
        let mut saw_dns_name = false;
        if let Some(names) = self.subject_alt_names {
            let mut reader = Reader::new(names);
            while let Ok(name) = reader.read() {
                if name.tag == TAG_DNS_NAME {
                    saw_dns_name = true;
                    if visit(name.value) {
                        return true;
                    }
                }
            }
        }
        if saw_dns_name {
            return false;
        }
        let mut rdns = Reader::new(self.subject);
        let Ok(name) = rdns.expect(der::TAG_SEQUENCE) else {
            return false;
        };
        let mut rdns = Reader::new(name.value);
        while let Ok(rdn) = rdns.expect(der::TAG_SET) {
            let mut attributes = Reader::new(rdn.value);
            while let Ok(attribute) = attributes.expect(der::TAG_SEQUENCE) {
                let mut parts = Reader::new(attribute.value);
                let (Ok(id), Ok(value)) = (parts.expect(der::TAG_OID), parts.read()) else {
                    continue;
                };
                // UTF8String, PrintableString or IA5String; the matcher refuses non-DNS bytes.
                let text_string = matches!(value.tag, 0x0c | 0x13 | 0x16);
                if id.value == OID_COMMON_NAME && text_string && visit(value.value) {
                    return true;
                }
            }
        }
        false
    }
}

fn boolean(tlv: Tlv<'_>) -> Result<bool, CertificateError> {
    match tlv.value {
        [0x00] => Ok(false),
        [0xff] => Ok(true),
        _ => Err(MALFORMED),
    }
}

/// `BasicConstraints ::= SEQUENCE { cA BOOLEAN DEFAULT FALSE, pathLenConstraint INTEGER OPTIONAL }`
fn basic_constraints_ca(value: &[u8]) -> Result<bool, CertificateError> {
    let mut outer = Reader::new(value);
    let sequence = outer.expect(der::TAG_SEQUENCE)?;
    outer.finish()?;
    let mut fields = Reader::new(sequence.value);
    let ca = match fields.optional(der::TAG_BOOLEAN)? {
        Some(flag) => boolean(flag)?,
        None => false,
    };
    fields.optional(der::TAG_INTEGER)?;
    fields.finish()?;
    Ok(ca)
}

fn signature_algorithm(algorithm: Tlv<'_>) -> Result<SignatureAlgorithm, CertificateError> {
    let mut fields = Reader::new(algorithm.value);
    let id = fields.expect(der::TAG_OID)?.value;
    let algorithm = match id {
        OID_SHA256_WITH_RSA => SignatureAlgorithm::RsaPkcs1(Hash::Sha256),
        OID_SHA384_WITH_RSA => SignatureAlgorithm::RsaPkcs1(Hash::Sha384),
        OID_SHA512_WITH_RSA => SignatureAlgorithm::RsaPkcs1(Hash::Sha512),
        OID_ECDSA_SHA256 => SignatureAlgorithm::Ecdsa(Hash::Sha256),
        OID_ECDSA_SHA384 => SignatureAlgorithm::Ecdsa(Hash::Sha384),
        OID_ECDSA_SHA512 => SignatureAlgorithm::Ecdsa(Hash::Sha512),
        _ => return Err(CertificateError::UnsupportedAlgorithm),
    };
    // RSA: parameters NULL (RFC 4055; absence tolerated). ECDSA: absent (RFC 5758).
    if matches!(algorithm, SignatureAlgorithm::RsaPkcs1(_)) {
        fields.optional(der::TAG_NULL)?;
    }
    fields.finish()?;
    Ok(algorithm)
}

/// A DER `SubjectPublicKeyInfo` on its own (test vectors come as such).
#[cfg(test)]
pub(crate) fn parse_public_key_info(der: &[u8]) -> Result<PublicKey<'_>, CertificateError> {
    let mut reader = Reader::new(der);
    let info = reader.expect(der::TAG_SEQUENCE)?;
    reader.finish()?;
    public_key(info)
}

/// `SubjectPublicKeyInfo ::= SEQUENCE { algorithm AlgorithmIdentifier, subjectPublicKey BIT STRING }`
fn public_key(info: Tlv<'_>) -> Result<PublicKey<'_>, CertificateError> {
    let mut fields = Reader::new(info.value);
    let algorithm = fields.expect(der::TAG_SEQUENCE)?;
    let key = der::bit_string_bytes(fields.read()?)?;
    fields.finish()?;
    let mut algorithm = Reader::new(algorithm.value);
    let id = algorithm.expect(der::TAG_OID)?.value;
    match id {
        OID_RSA_ENCRYPTION => {
            algorithm.optional(der::TAG_NULL)?;
            algorithm.finish()?;
            rsa_public_key(key)
        }
        OID_EC_PUBLIC_KEY => {
            let curve = algorithm.expect(der::TAG_OID)?.value;
            algorithm.finish()?;
            match curve {
                OID_P256 => Ok(PublicKey::P256(key)),
                OID_P384 => Ok(PublicKey::P384(key)),
                _ => Err(CertificateError::UnsupportedAlgorithm),
            }
        }
        _ => Err(CertificateError::UnsupportedAlgorithm),
    }
}

/// `RSAPublicKey ::= SEQUENCE { modulus INTEGER, publicExponent INTEGER }`
fn rsa_public_key(key: &[u8]) -> Result<PublicKey<'_>, CertificateError> {
    let mut outer = Reader::new(key);
    let sequence = outer.expect(der::TAG_SEQUENCE)?;
    outer.finish()?;
    let mut fields = Reader::new(sequence.value);
    let modulus = der::positive_integer(fields.read()?)?;
    let exponent = der::positive_integer(fields.read()?)?;
    fields.finish()?;
    if !(RSA_MIN_MODULUS_BYTES..=RSA_MAX_MODULUS_BYTES).contains(&modulus.len()) {
        return Err(CertificateError::UnsupportedAlgorithm);
    }
    if exponent.len() > 4 {
        return Err(CertificateError::UnsupportedAlgorithm);
    }
    let exponent = exponent
        .iter()
        .fold(0u32, |acc, &b| (acc << 8) | u32::from(b));
    // An even modulus or exponent (or e = 1) is no RSA key; refusing it also keeps the
    // Montgomery arithmetic, which needs an odd modulus, well defined.
    let modulus_odd = modulus.last().is_some_and(|b| b & 1 == 1);
    if !modulus_odd || exponent < 3 || exponent & 1 == 0 {
        return Err(MALFORMED);
    }
    Ok(PublicKey::Rsa { modulus, exponent })
}

/// `Validity ::= SEQUENCE { notBefore Time, notAfter Time }`, in Unix seconds.
fn validity(validity: Tlv<'_>) -> Result<(u64, u64), CertificateError> {
    let mut fields = Reader::new(validity.value);
    let not_before = time(fields.read()?)?;
    let not_after = time(fields.read()?)?;
    fields.finish()?;
    Ok((not_before, not_after))
}

/// `UTCTime` `YYMMDDHHMMSSZ` (years 1950–2049) or `GeneralizedTime` `YYYYMMDDHHMMSSZ`.
fn time(tlv: Tlv<'_>) -> Result<u64, CertificateError> {
    let (year, rest) = match (tlv.tag, tlv.value.len()) {
        (der::TAG_UTC_TIME, 13) => {
            let two = digits(tlv.value.get(..2))?;
            (if two < 50 { 2000 + two } else { 1900 + two }, 2)
        }
        (der::TAG_GENERALIZED_TIME, 15) => (digits(tlv.value.get(..4))?, 4),
        _ => return Err(MALFORMED),
    };
    let field = |at: usize| digits(tlv.value.get(rest + at..rest + at + 2));
    let (month, day, hour, minute, second) =
        (field(0)?, field(2)?, field(4)?, field(6)?, field(8)?);
    let valid = tlv.value.last() == Some(&b'Z')
        && year >= 1970
        && (1..=12).contains(&month)
        && day >= 1
        && day <= days_in_month(year, month)
        && hour < 24
        && minute < 60
        && second < 60;
    if !valid {
        return Err(MALFORMED);
    }
    Ok(days_since_epoch(year, month, day) * 86_400 + hour * 3_600 + minute * 60 + second)
}

fn digits(text: Option<&[u8]>) -> Result<u64, CertificateError> {
    let text = text.ok_or(MALFORMED)?;
    text.iter().try_fold(0u64, |acc, &byte| {
        if byte.is_ascii_digit() {
            Ok(acc * 10 + u64::from(byte - b'0'))
        } else {
            Err(MALFORMED)
        }
    })
}

/// Whether `host` (the name the device connects to) matches the certificate name `pattern`:
/// ASCII case-insensitive; a pattern may start with `*.` standing for exactly one label, and
/// only when at least two labels follow (`*.com` matches nothing). Non-DNS bytes never match.
pub(crate) fn host_matches(pattern: &[u8], host: &[u8]) -> bool {
    let dns_bytes = |name: &[u8]| {
        !name.is_empty()
            && name
                .iter()
                .all(|b| b.is_ascii_alphanumeric() || *b == b'-' || *b == b'.')
    };
    if !dns_bytes(host) || host.ends_with(b".") || host.starts_with(b".") {
        return false;
    }
    match pattern.strip_prefix(b"*.") {
        Some(suffix) => {
            if !dns_bytes(suffix) || suffix.iter().filter(|b| **b == b'.').count() < 1 {
                return false;
            }
            match host.iter().position(|b| *b == b'.') {
                Some(dot) if dot > 0 => host
                    .get(dot + 1..)
                    .is_some_and(|rest| rest.eq_ignore_ascii_case(suffix)),
                _ => false,
            }
        }
        None => dns_bytes(pattern) && pattern.eq_ignore_ascii_case(host),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wildcards_cover_exactly_one_leftmost_label() {
        assert!(host_matches(b"api.datadoghq.com", b"API.datadoghq.com"));
        assert!(host_matches(b"*.datadoghq.com", b"api.datadoghq.com"));
        assert!(!host_matches(b"*.datadoghq.com", b"datadoghq.com"));
        assert!(!host_matches(b"*.datadoghq.com", b"a.b.datadoghq.com"));
        assert!(!host_matches(b"*.com", b"datadoghq.com"));
        assert!(!host_matches(b"a*.datadoghq.com", b"api.datadoghq.com"));
        assert!(!host_matches(b"*.*.com", b"a.b.com"));
        assert!(!host_matches(b"api.datadoghq.com", b"api.datadoghq.com."));
        assert!(!host_matches(b"api.datadoghq.com", b"api.datadoghq.co"));
        assert!(!host_matches(b"*.datadoghq.com", b".datadoghq.com"));
        assert!(!host_matches(b"ex ample.com", b"ex ample.com"));
    }

    #[test]
    fn times_decode_both_forms() {
        let utc = Tlv {
            tag: der::TAG_UTC_TIME,
            value: b"700101000000Z",
            encoded: &[],
        };
        assert_eq!(time(utc), Ok(0));
        let generalized = Tlv {
            tag: der::TAG_GENERALIZED_TIME,
            value: b"20380119031408Z",
            encoded: &[],
        };
        assert_eq!(time(generalized), Ok(2_147_483_648));
        let bad_day = Tlv {
            tag: der::TAG_UTC_TIME,
            value: b"250230000000Z",
            encoded: &[],
        };
        assert_eq!(time(bad_day), Err(MALFORMED));
    }
}
