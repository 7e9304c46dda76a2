//! One line per event on stderr. journald (and the local backend) timestamp and store
//! each line, so there are no timestamps or colours here; `RUSTLESS_APP` names the app
//! so lines stay attributable when several runners share a log.

use std::io::Write;
use std::sync::Mutex;

// A `Mutex<String>` rather than `OnceLock`: it is const-constructible on old compilers
// (Debian bookworm's rustc 1.63), and a log line is never hot enough to notice the lock.
static PREFIX: Mutex<String> = Mutex::new(String::new());

/// Sets the prefix of every line from `RUSTLESS_APP`.
pub fn init() {
    let prefix = match std::env::var("RUSTLESS_APP") {
        Ok(app) if !app.is_empty() => format!("rustless-runner[{}]: ", app),
        _ => "rustless-runner: ".to_string(),
    };
    *PREFIX.lock().unwrap_or_else(|e| e.into_inner()) = prefix;
}

/// Writes one line. The whole line goes out in one `write` so that lines from
/// concurrent requests do not interleave.
pub fn line(message: &str) {
    let _ = std::io::stderr().write_all(text(message).as_bytes());
}

/// One log line with its prefix and newline, for writing later (several in one go).
pub fn text(message: &str) -> String {
    let mut text = PREFIX.lock().unwrap_or_else(|e| e.into_inner()).clone();
    if text.is_empty() {
        text.push_str("rustless-runner: ");
    }
    // Keep it one line whatever the message holds (panic messages may span several).
    for c in message.chars() {
        text.push(if c == '\n' || c == '\r' { ' ' } else { c });
    }
    text.push('\n');
    text
}
