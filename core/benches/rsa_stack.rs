//! Peak stack of certificate verification, measured without `unsafe`: the verification runs on
//! a fresh thread with a given stack size in a child process (a stack overflow aborts only the
//! child), and a binary search finds the smallest size that works. The same search for an empty
//! closure gives the thread's own overhead (glibc keeps TLS and guard data in that allocation),
//! which is subtracted. Resolution: 256 bytes.
//!
//! Run: `cargo bench -p ddlink-core --features net --bench rsa_stack` (release profile).

use std::process::{Command, ExitCode, Stdio};

use ddlink_core::net::tls::{ServerTrust, TrustAnchor, verify_server_chain};

const ROOT: &[u8] = include_bytes!("../tests/data/x509/dd-root.der");
const INTERMEDIATE: &[u8] = include_bytes!("../tests/data/x509/dd-intermediate.der");
const LEAF: &[u8] = include_bytes!("../tests/data/x509/dd-leaf.der");
const ROOT_LEAF: &[u8] = include_bytes!("../tests/data/x509/root-leaf.der");
const HOST: &str = "api.datadoghq.com";

const CASES: [&str; 4] = [
    "baseline",
    "rsa2048_signature",
    "rsa4096_signature",
    "datadog_shaped_chain",
];

/// Runs one case on the current thread; true if it verified.
fn run(case: &str) -> bool {
    let (chain, anchor): (&[&[u8]], &[u8]) = match case {
        "baseline" => return true,
        "rsa2048_signature" => (&[LEAF], INTERMEDIATE),
        "rsa4096_signature" => (&[ROOT_LEAF], ROOT),
        "datadog_shaped_chain" => (&[LEAF, INTERMEDIATE, ROOT], ROOT),
        _ => return false,
    };
    let anchors = [TrustAnchor::from_der(anchor)];
    let trust = ServerTrust::new(&anchors);
    verify_server_chain(std::hint::black_box(chain), &trust, HOST, None).is_ok()
}

/// In a child: runs `case` on a thread with `stack` bytes.
fn probe(case: &str, stack: usize) -> ExitCode {
    let case = case.to_owned();
    let worked = std::thread::Builder::new()
        .stack_size(stack)
        .spawn(move || run(&case))
        .ok()
        .and_then(|thread| thread.join().ok())
        .unwrap_or(false);
    if worked {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

fn fits(case: &str, stack: usize) -> bool {
    Command::new(std::env::current_exe().expect("own path"))
        .args(["--probe", case, &stack.to_string()])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|status| status.success())
}

/// Smallest stack (multiple of 256 bytes) that runs `case`.
fn smallest_stack(case: &str) -> usize {
    let (mut low, mut high) = (0usize, 4 << 20);
    assert!(
        fits(case, high),
        "{case} does not run even with {high} bytes"
    );
    while high - low > 256 {
        let middle = (low + high) / 2 / 256 * 256;
        if fits(case, middle) {
            high = middle;
        } else {
            low = middle;
        }
    }
    high
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().collect();
    if let [_, flag, case, stack] = args.as_slice()
        && flag == "--probe"
    {
        return probe(case, stack.parse().unwrap_or(0));
    }
    // `cargo bench` passes `--bench`; any other run measures too.
    let baseline = smallest_stack("baseline");
    println!("thread overhead (empty closure): {baseline} bytes");
    for case in CASES.iter().skip(1) {
        let total = smallest_stack(case);
        println!(
            "{case}: peak stack {} bytes (smallest thread stack {total} bytes)",
            total.saturating_sub(baseline)
        );
    }
    ExitCode::SUCCESS
}
