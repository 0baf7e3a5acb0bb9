//! Request heads: arbitrary API keys and user agents either fail cleanly (buffer untouched) or
//! give exactly one well-formed head.
#![no_main]

use ddlink_core::http::{ContentEncoding, Endpoint, RequestHead};
use ddlink_core::site::{Region, Site};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&selector, rest)) = data.split_first() else {
        return;
    };
    let Ok(text) = core::str::from_utf8(rest) else {
        return;
    };
    let (key, agent) = text.split_once('\n').unwrap_or((text, "ddlink"));
    let endpoint = Endpoint::ALL[usize::from(selector) % Endpoint::ALL.len()];
    let site = Site::from(Region::ALL[usize::from(selector >> 3) % Region::ALL.len()]);
    let head = match endpoint {
        Endpoint::ValidateV1 => RequestHead::new(endpoint, &site, key),
        _ if endpoint.accepts_encoding(ContentEncoding::Gzip) => {
            RequestHead::new(endpoint, &site, key).with_body(ContentEncoding::Gzip, text.len())
        }
        _ => {
            RequestHead::new(endpoint, &site, key).with_body(ContentEncoding::Identity, text.len())
        }
    }
    .with_user_agent(agent);
    let mut buffer = [0xA5u8; 512];
    match head.write(&mut buffer) {
        Ok(len) => {
            let written = &buffer[..len];
            assert!(written.ends_with(b"\r\n\r\n"));
            assert_eq!(written.windows(4).filter(|w| w == b"\r\n\r\n").count(), 1);
            let bare_lf = written
                .iter()
                .enumerate()
                .any(|(i, &b)| b == b'\n' && (i == 0 || written[i - 1] != b'\r'));
            assert!(!bare_lf);
            let bare_cr = written
                .iter()
                .enumerate()
                .any(|(i, &b)| b == b'\r' && written.get(i + 1) != Some(&b'\n'));
            assert!(!bare_cr);
            // Tabs may appear inside User-Agent (an RFC 9110 field value); nothing else invisible.
            assert!(written.iter().all(|&b| {
                b == b'\r' || b == b'\n' || b == b'\t' || (b' '..=b'~').contains(&b)
            }));
        }
        Err(_) => assert!(buffer.iter().all(|&byte| byte == 0xA5)),
    }
});
