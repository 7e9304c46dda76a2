//! The testbed example app linked into a runner, exactly as rust-less generates the
//! `main.rs` of an app's runner crate (functions, then the routes of its rustless.toml).
//! The integration tests drive this binary.
//!
//! ```sh
//! cargo run -p rustless-runner --example testbed-runner -- --listen 127.0.0.1:8081
//! curl http://127.0.0.1:8081/version   # TCP: the runner routes by itself
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
        .route(&["GET"], "/version", "Version", 30000)
        .route(&["GET"], "/panic", "Panic", 30000)
        .route(&["GET", "POST"], "/slow", "Slow", 3000)
        .route(&["GET"], "/abort", "Abort", 30000)
        .route(&["*"], "/headers", "Headers", 30000)
        .route(&["*"], "/inspect/*rest", "Inspect", 30000)
        .route(&["*"], "/inspect-form/*rest", "Inspect", 30000)
        .accept(&["application/json", "application/x-www-form-urlencoded"])
        .route(&["*"], "/inspect-any/*rest", "Inspect", 30000)
        .accept(&["*/*"])
        .route(&["GET"], "/status/:code", "Status", 30000)
        .route(&["GET"], "/set-header", "SetHeader", 30000)
        .max_body_bytes(1048576)
        .run();
}
