//! One line per event on stderr. journald (and the local backend) timestamp and store
//! each line, so there are no timestamps or colours here; `RUSTLESS_APP` names the app
//! so lines stay attributable when several runners share a log.

use std::io::Write;
use std::sync::{Mutex, Once};
use std::thread;
use std::time::Duration;

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

/// Access lines waiting for the next write (see `access`).
static ACCESS: Mutex<String> = Mutex::new(String::new());
static ACCESS_WRITER: Once = Once::new();
/// How long an access line may wait: lines written together cost one `write` here and
/// one read for whoever collects them (the local backend is the gateway itself).
const ACCESS_DELAY: Duration = Duration::from_millis(50);

/// Writes one line, after any access lines still waiting, so the order stays true. The
/// whole line goes out in one `write` so that lines from concurrent requests do not
/// interleave.
pub fn line(message: &str) {
    let mut out = std::mem::take(&mut *ACCESS.lock().unwrap_or_else(|e| e.into_inner()));
    out.push_str(&text(message));
    let _ = std::io::stderr().write_all(out.as_bytes());
}

/// Queues one access line (one per request); a thread writes what is queued every
/// `ACCESS_DELAY`, and any other line or `flush` writes it at once.
pub fn access(message: &str) {
    let line = text(message);
    ACCESS.lock().unwrap_or_else(|e| e.into_inner()).push_str(&line);
    ACCESS_WRITER.call_once(|| {
        let spawned = thread::Builder::new().name("access-log".to_string()).spawn(|| loop {
            thread::sleep(ACCESS_DELAY);
            flush();
        });
        if spawned.is_err() {
            line_now("cannot start the access log thread; access lines are written with the next other line");
        }
    });
}

/// Writes the access lines still waiting.
pub fn flush() {
    let out = std::mem::take(&mut *ACCESS.lock().unwrap_or_else(|e| e.into_inner()));
    if !out.is_empty() {
        let _ = std::io::stderr().write_all(out.as_bytes());
    }
}

fn line_now(message: &str) {
    let _ = std::io::stderr().write_all(text(message).as_bytes());
}

fn text(message: &str) -> String {
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
