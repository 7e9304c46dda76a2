//! What the integration tests share.

use std::path::{Path, PathBuf};

/// The testbed runner binary: `target/debug/deps/<test>-xxxx` -> `target/debug/examples/testbed-runner`.
pub fn runner_bin() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let path = exe
        .parent()
        .and_then(Path::parent)
        .unwrap()
        .join("examples")
        .join("testbed-runner");
    assert!(
        path.exists(),
        "{} is missing: run `cargo test` (which builds the examples) rather than one `--test` alone",
        path.display()
    );
    path
}
