//! The testbed example app linked into a runner, exactly as rust-less generates the
//! `main.rs` of an app's runner crate. The integration tests drive this binary.
//!
//! ```sh
//! cargo run -p rustless-runner --example testbed-runner -- --listen 127.0.0.1:8081
//! curl -H 'x-rustless-function: Version' http://127.0.0.1:8081/version
//! ```

// Generated code calls `::default()` on every function struct, unit or not.
#![allow(unknown_lints, clippy::default_constructed_unit_structs)]

fn main() {
    rustless_runner::Runner::new()
        .function("Version", testbed::Version::default())
        .function("Panic", testbed::Panic::default())
        .function("Slow", testbed::Slow::default())
        .function("Abort", testbed::Abort::default())
        .function("Headers", testbed::Headers::default())
        .function("Inspect", testbed::Inspect::default())
        .function("Status", testbed::Status::default())
        .function("SetHeader", testbed::SetHeader::default())
        .run();
}
