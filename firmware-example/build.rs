//! Linker setup for the board image only: host builds (simulator, tests) are left untouched.

use std::env;
use std::path::PathBuf;

fn main() {
    println!("cargo:rerun-if-changed=memory.x");
    let board = env::var_os("CARGO_FEATURE_BOARD_MPS2_AN386").is_some();
    let target = env::var("TARGET").unwrap_or_default();
    if !board || !target.starts_with("thumb") {
        return;
    }
    // cortex-m-rt's link.x includes memory.x from the linker search path.
    let out = PathBuf::from(env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"));
    std::fs::copy("memory.x", out.join("memory.x")).expect("copying memory.x");
    println!("cargo:rustc-link-search={}", out.display());
    for arg in ["--nmagic", "-Tlink.x"] {
        println!("cargo:rustc-link-arg-bin=ddlink-board-mps2-an386={arg}");
    }
}
