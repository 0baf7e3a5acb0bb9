//! Integration tests of the emulator over real HTTP (one test binary to keep links short).

mod bad_input;
mod binary;
mod common;
mod conformance;
mod faults;
mod key_life;
mod oauth_flow;
mod orgs;
mod test_api_auth;
mod tls;
