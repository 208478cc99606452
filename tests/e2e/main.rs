//! The integration tests, linked into one test binary: the end-to-end runs against the
//! local AWS emulator and the real scanners, and the offline checks of the Jenkinsfile
//! and pipeline/. Filter by module, e.g. `cargo test --test e2e jenkinsfile`.

// The crate is a binary with no library to import, so its exit codes are compiled in
// from the same source file the binary uses.
#[path = "../../src/exit.rs"]
mod exit;

mod deploy;
mod doctor;
mod gates;
mod investigate;
mod jenkinsfile;
mod judge;
mod notify;
mod paths;
mod remediate;
mod report;
mod report_diff;
mod report_latency;
mod support;
