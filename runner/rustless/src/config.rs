//! What the host hands a function app besides requests: settings from `rustless.toml`'s
//! `[env]`, secrets set with `rustless secret set`, and a data directory that outlives the
//! runner (`[storage] data = true`).
//!
//! The host passes each as the runner starts: settings as environment variables, secrets as
//! one file each in a directory only the runner may read (`RUSTLESS_SECRETS_DIR`; never in the
//! environment, which child processes and crash dumps inherit), the data directory's path as
//! `RUSTLESS_DATA_DIR`.

use std::path::PathBuf;

use crate::Error;

/// The variable that names the directory holding one file per secret.
const SECRETS_DIR_VAR: &str = "RUSTLESS_SECRETS_DIR";
/// The variable that holds the app's data directory.
const DATA_DIR_VAR: &str = "RUSTLESS_DATA_DIR";

/// A setting from the app's `[env]` table in `rustless.toml`, or `None` when it is not set.
///
/// ```
/// // rustless.toml:  [env]  GREETING = "hello"
/// let greeting = rustless::env("GREETING").unwrap_or_else(|| "hi".to_string());
/// # let _ = greeting;
/// ```
pub fn env(name: &str) -> Option<String> {
    std::env::var(name).ok()
}

/// A secret set with `rustless secret set APP NAME`.
///
/// A secret that is not set is an [`Error`] that answers 500 `SECRET_NOT_SET` and says the
/// command that sets it; the value itself never appears in an error.
///
/// ```
/// use rustless::{Request, Response};
///
/// fn call(_req: &Request) -> Response {
///     let password = match rustless::secret("DB_PASSWORD") {
///         Ok(password) => password,
///         Err(e) => return e.into(),
///     };
///     Response::ok(serde_json::json!({ "length": password.len() }))
/// }
/// # assert_eq!(call(&Request::builder().build()).status_code(), 500);
/// ```
pub fn secret(name: &str) -> Result<String, Error> {
    if !is_variable_name(name) {
        return Err(Error::config("INVALID_SECRET_NAME", format!("{:?} is not a secret name (letters A-Z, digits and _, not starting with a digit)", name)));
    }
    let not_set = || Error::config("SECRET_NOT_SET", format!("secret {} is not set: run `rustless secret set {} {}`", name, app_name(), name));
    let dir = std::env::var_os(SECRETS_DIR_VAR).ok_or_else(not_set)?;
    let bytes = match std::fs::read(PathBuf::from(dir).join(name)) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Err(not_set()),
        Err(e) => return Err(Error::config("SECRET_UNREADABLE", format!("secret {} cannot be read: {}", name, e))),
    };
    String::from_utf8(bytes).map_err(|_| Error::config("SECRET_NOT_UTF8", format!("secret {} is not UTF-8 text", name)))
}

/// The app's data directory: writable, and kept across idle stops, restarts, redeploys and
/// rollbacks. An app asks for one with `[storage] data = true` in `rustless.toml`; without it
/// this is an [`Error`] that answers 500 `NO_DATA_DIR` and says so.
///
/// A write survives a power cut only once it is synced: write files with
/// [`write_durable`](crate::write_durable) (a temporary file, `fsync`, rename, `fsync` of the
/// directory) and answer success only after it returned `Ok`. A database you bring (SQLite, say)
/// must be set to sync its commits (`PRAGMA synchronous = FULL`).
pub fn data_dir() -> Result<PathBuf, Error> {
    match std::env::var_os(DATA_DIR_VAR) {
        Some(dir) if !dir.is_empty() => Ok(PathBuf::from(dir)),
        _ => Err(Error::config("NO_DATA_DIR", format!("app {} has no data directory: add `[storage]` with `data = true` to its rustless.toml", app_name()))),
    }
}

fn app_name() -> String {
    std::env::var("RUSTLESS_APP").unwrap_or_else(|_| "APP".to_string())
}

/// The names `[env]` and secrets may have: what a shell accepts as a variable name.
fn is_variable_name(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some('A'..='Z' | '_')) && chars.all(|c| matches!(c, 'A'..='Z' | '0'..='9' | '_')) && name.len() <= 64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_shell_variable_names() {
        assert!(is_variable_name("DB_PASSWORD"));
        assert!(is_variable_name("_X1"));
        for bad in ["", "1X", "db", "A-B", "../etc/passwd", "A/B"] {
            assert!(!is_variable_name(bad), "{:?}", bad);
        }
    }

    #[test]
    fn a_path_is_never_a_secret_name() {
        let err = secret("../../etc/shadow").unwrap_err();
        assert_eq!(err.code(), "INVALID_SECRET_NAME");
        assert_eq!(err.status(), 500);
    }
}
