//! Link arguments for the check binary: on Linux it is started by the C runtime and needs libc
//! (nothing else: no std); on a bare-metal target there is no runtime, so `main` is the entry.
fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    match std::env::var("CARGO_CFG_TARGET_OS").as_deref() {
        Ok("none") => println!("cargo:rustc-link-arg-bins=--entry=main"),
        _ => println!("cargo:rustc-link-arg-bins=-lc"),
    }
}
