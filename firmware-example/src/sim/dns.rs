//! A minimal DNS responder for the simulated router: it answers `A` queries for names under a
//! sandbox suffix (`*.localhost` by default) with one address and refuses everything else, so a
//! device resolves its intake hosts exactly as it would in the field, without any real resolver.

use std::net::Ipv4Addr;

/// Fixed DNS header length (RFC 1035 §4.1.1).
const HEADER_LEN: usize = 12;
const TYPE_A: u16 = 1;
const CLASS_IN: u16 = 1;
const RCODE_NXDOMAIN: u8 = 3;
const RCODE_FORMERR: u8 = 1;
/// Short on purpose: a re-provisioned simulation may point names elsewhere.
const ANSWER_TTL_SECONDS: u32 = 5;

/// The question a query asks, as far as the responder cares.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Question {
    /// Lower-cased name without the trailing dot.
    pub name: String,
    /// Query type (1 = A, 28 = AAAA, ...).
    pub qtype: u16,
    /// Query class (1 = IN).
    pub qclass: u16,
    /// Offset just past the question in the query packet.
    end: usize,
}

/// Parses the single question of a standard query; `None` for anything malformed or unusual.
pub fn parse_question(query: &[u8]) -> Option<Question> {
    let header = query.get(..HEADER_LEN)?;
    let is_response = header[2] & 0x80 != 0;
    let opcode = (header[2] >> 3) & 0x0f;
    let question_count = u16::from_be_bytes([header[4], header[5]]);
    if is_response || opcode != 0 || question_count != 1 {
        return None;
    }
    let mut pos = HEADER_LEN;
    let mut name = String::new();
    loop {
        let label_len = usize::from(*query.get(pos)?);
        pos += 1;
        if label_len == 0 {
            break;
        }
        // Compression pointers (top bits set) never appear in a query's only question.
        if label_len > 63 {
            return None;
        }
        let label = query.get(pos..pos + label_len)?;
        if !name.is_empty() {
            name.push('.');
        }
        name.push_str(std::str::from_utf8(label).ok()?);
        pos += label_len;
        if name.len() > 253 {
            return None;
        }
    }
    let fixed = query.get(pos..pos + 4)?;
    Some(Question {
        name: name.to_ascii_lowercase(),
        qtype: u16::from_be_bytes([fixed[0], fixed[1]]),
        qclass: u16::from_be_bytes([fixed[2], fixed[3]]),
        end: pos + 4,
    })
}

/// True when `name` is `suffix` itself or a name under it.
pub fn is_under(name: &str, suffix: &str) -> bool {
    name == suffix
        || name
            .strip_suffix(suffix)
            .is_some_and(|head| head.ends_with('.'))
}

/// Builds the answer to `query`: `address` for an `A IN` question under `suffix`, an empty
/// NOERROR answer for other types of such names, NXDOMAIN for names outside it and FORMERR for
/// a malformed query (when it has at least a header to echo). `None` when nothing can be said.
pub fn respond(query: &[u8], suffix: &str, address: Ipv4Addr) -> Option<Vec<u8>> {
    let header = query.get(..HEADER_LEN)?;
    let Some(question) = parse_question(query) else {
        let mut reply = header.to_vec();
        reply[2] = 0x80 | (header[2] & 0x01);
        reply[3] = RCODE_FORMERR;
        reply[4..12].fill(0);
        return Some(reply);
    };
    let local = is_under(&question.name, suffix);
    let answer_a = local && question.qtype == TYPE_A && question.qclass == CLASS_IN;
    let mut reply = Vec::with_capacity(question.end + 16);
    reply.extend_from_slice(&header[..2]);
    // QR=1, opcode 0, AA=1, keep RD; RA=1 and the response code.
    reply.push(0x84 | (header[2] & 0x01));
    reply.push(0x80 | if local { 0 } else { RCODE_NXDOMAIN });
    reply.extend_from_slice(&1u16.to_be_bytes());
    reply.extend_from_slice(&u16::from(answer_a).to_be_bytes());
    reply.extend_from_slice(&[0, 0, 0, 0]);
    reply.extend_from_slice(&query[HEADER_LEN..question.end]);
    if answer_a {
        // Name as a pointer to the question at offset 12.
        reply.extend_from_slice(&[0xc0, 0x0c]);
        reply.extend_from_slice(&TYPE_A.to_be_bytes());
        reply.extend_from_slice(&CLASS_IN.to_be_bytes());
        reply.extend_from_slice(&ANSWER_TTL_SECONDS.to_be_bytes());
        reply.extend_from_slice(&4u16.to_be_bytes());
        reply.extend_from_slice(&address.octets());
    }
    Some(reply)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn query(id: u16, name: &str, qtype: u16) -> Vec<u8> {
        let mut q = Vec::new();
        q.extend_from_slice(&id.to_be_bytes());
        q.extend_from_slice(&[0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0]);
        for label in name.split('.') {
            q.push(u8::try_from(label.len()).unwrap());
            q.extend_from_slice(label.as_bytes());
        }
        q.push(0);
        q.extend_from_slice(&qtype.to_be_bytes());
        q.extend_from_slice(&CLASS_IN.to_be_bytes());
        q
    }

    #[test]
    fn answers_a_for_sandbox_names() {
        let q = query(0x1234, "API.datadoghq.localhost", TYPE_A);
        let r = respond(&q, "localhost", Ipv4Addr::new(10, 0, 0, 1)).unwrap();
        assert_eq!(&r[..2], &[0x12, 0x34]);
        assert_eq!(r[3] & 0x0f, 0, "NOERROR");
        assert_eq!(u16::from_be_bytes([r[6], r[7]]), 1, "one answer");
        assert_eq!(&r[r.len() - 4..], &[10, 0, 0, 1]);
    }

    #[test]
    fn refuses_names_outside_the_sandbox() {
        for name in ["api.datadoghq.com", "evillocalhost", "localhost.example"] {
            let r = respond(&query(7, name, TYPE_A), "localhost", Ipv4Addr::LOCALHOST).unwrap();
            assert_eq!(r[3] & 0x0f, RCODE_NXDOMAIN, "{name}");
            assert_eq!(u16::from_be_bytes([r[6], r[7]]), 0, "{name}");
        }
    }

    #[test]
    fn aaaa_for_sandbox_names_is_empty_noerror() {
        let r = respond(
            &query(9, "a.localhost", 28),
            "localhost",
            Ipv4Addr::LOCALHOST,
        )
        .unwrap();
        assert_eq!(r[3] & 0x0f, 0);
        assert_eq!(u16::from_be_bytes([r[6], r[7]]), 0);
    }

    #[test]
    fn malformed_queries_get_formerr_or_nothing() {
        assert_eq!(respond(&[1, 2, 3], "localhost", Ipv4Addr::LOCALHOST), None);
        let mut q = query(5, "a.localhost", TYPE_A);
        q.truncate(q.len() - 3);
        let r = respond(&q, "localhost", Ipv4Addr::LOCALHOST).unwrap();
        assert_eq!(r[3] & 0x0f, RCODE_FORMERR);
        let mut pointer = query(5, "a.localhost", TYPE_A);
        pointer[12] = 0xc0;
        let r = respond(&pointer, "localhost", Ipv4Addr::LOCALHOST).unwrap();
        assert_eq!(r[3] & 0x0f, RCODE_FORMERR);
    }
}
