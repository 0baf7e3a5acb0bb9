//! Time of certificate verification on the host (`net::tls::verify_server_chain`): one RSA-2048
//! signature (a leaf under an RSA-2048 CA), one RSA-4096 signature (a leaf signed by an
//! RSA-4096 root), and the Datadog-shaped chain (leaf → RSA-2048 intermediate → RSA-4096 root:
//! one of each). Parsing and hashing are included; they are small next to the exponentiation.
//! Peak stack is measured by the `rsa_stack` bench binary.

use criterion::{Criterion, criterion_group, criterion_main};
use ddlink_core::net::tls::{ServerTrust, TrustAnchor, verify_server_chain};

const ROOT: &[u8] = include_bytes!("../tests/data/x509/dd-root.der");
const INTERMEDIATE: &[u8] = include_bytes!("../tests/data/x509/dd-intermediate.der");
const LEAF: &[u8] = include_bytes!("../tests/data/x509/dd-leaf.der");
const ROOT_LEAF: &[u8] = include_bytes!("../tests/data/x509/root-leaf.der");
const HOST: &str = "api.datadoghq.com";

/// A benchmark name, the chain (leaf first) and the anchor that ends it.
type Case = (&'static str, &'static [&'static [u8]], &'static [u8]);

fn bench(c: &mut Criterion) {
    let cases: [Case; 3] = [
        ("rsa2048_signature", &[LEAF], INTERMEDIATE),
        ("rsa4096_signature", &[ROOT_LEAF], ROOT),
        ("datadog_shaped_chain", &[LEAF, INTERMEDIATE, ROOT], ROOT),
    ];
    for (name, chain, anchor) in cases {
        let anchors = [TrustAnchor::from_der(anchor)];
        let trust = ServerTrust::new(&anchors);
        assert_eq!(
            verify_server_chain(chain, &trust, HOST, None),
            Ok(()),
            "{name}"
        );
        c.bench_function(name, |b| {
            b.iter(|| verify_server_chain(std::hint::black_box(chain), &trust, HOST, None))
        });
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
