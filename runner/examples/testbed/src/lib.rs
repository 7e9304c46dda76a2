//! Functions for testing rust-less itself (the runner, the gateway, deploys). Not a
//! model app: see the `hello`, `echo` and `todo` examples for that.

use std::time::Duration;

use rustless::{Function, Request, Response};
use serde_json::json;

/// The build's version: tests deploy v1, edit this line, and deploy v2.
pub const VERSION: u64 = 1;

/// `GET /version` → `{"version": VERSION}`.
#[derive(Default)]
pub struct Version;

impl Function for Version {
    fn call(&self, _req: &Request) -> Response {
        Response::ok(json!({ "version": VERSION }))
    }
}

/// `GET /panic` panics, to test that a panic answers 500 and the next request is fine.
#[derive(Default)]
pub struct Panic;

impl Function for Panic {
    fn call(&self, _req: &Request) -> Response {
        panic!("testbed panics on purpose")
    }
}

/// `GET|POST /slow?ms=N` sleeps N ms (default 1000, at most 60 s) then answers 200, to test
/// timeouts and draining on stop.
#[derive(Default)]
pub struct Slow;

impl Function for Slow {
    fn call(&self, req: &Request) -> Response {
        let ms = match req.query("ms").map(str::parse::<u64>) {
            None => 1000,
            Some(Ok(ms)) => ms.min(60_000),
            Some(Err(_)) => return Response::error(400, "BAD_MS", "ms must be a number"),
        };
        std::thread::sleep(Duration::from_millis(ms));
        Response::ok(json!({ "slept_ms": ms }))
    }
}

/// `GET /abort` kills the whole runner (`std::process::abort`), to test that the
/// gateway survives a crashing app and starts it again.
#[derive(Default)]
pub struct Abort;

impl Function for Abort {
    fn call(&self, _req: &Request) -> Response {
        std::process::abort()
    }
}

/// `GET /hog` allocates and touches memory until the container's memory limit kills it.
#[derive(Default)]
pub struct Hog;

impl Function for Hog {
    fn call(&self, _req: &Request) -> Response {
        let mut held: Vec<Vec<u8>> = Vec::new();
        let mut total: u64 = 0;
        loop {
            // Non-zero bytes: the pages are really written, not lazily mapped zeroes.
            let chunk = vec![1u8; 1 << 20];
            total += u64::from(chunk[chunk.len() - 1]);
            held.push(chunk);
            // Never true; it uses what was allocated, so the compiler keeps every allocation
            // (std::hint::black_box would say so more plainly, but needs Rust 1.66 and Debian
            // bookworm's cargo, which builds as the unprivileged user, has 1.63).
            if total == u64::MAX {
                return Response::ok(json!({ "held_mib": held.len() }));
            }
        }
    }
}

/// `* /headers` answers the request's headers, and sets one of its own.
#[derive(Default)]
pub struct Headers;

impl Function for Headers {
    fn call(&self, req: &Request) -> Response {
        Response::ok(json!({ "headers": req.headers() })).with_header("x-testbed", "headers")
    }
}

/// `GET /status/:code` answers that status with no body, to test bodiless statuses.
#[derive(Default)]
pub struct Status;

impl Function for Status {
    fn call(&self, req: &Request) -> Response {
        match req.param("code").map(str::parse::<u16>) {
            Some(Ok(code)) if (200..600).contains(&code) => Response::status(code),
            _ => Response::error(400, "BAD_CODE", "code must be a status from 200 to 599"),
        }
    }
}

/// `GET /set-header?name=N&value=V` answers 200 with the header `N: V` exactly as given,
/// to test what the runner does with a header that is not valid HTTP.
#[derive(Default)]
pub struct SetHeader;

impl Function for SetHeader {
    fn call(&self, req: &Request) -> Response {
        let name = req.query("name").unwrap_or("x-testbed");
        let value = req.query("value").unwrap_or("");
        Response::ok(json!({ "set": name })).with_header(name, value)
    }
}

/// `* /inspect/*rest` (JSON bodies), `* /inspect-form/*rest` (JSON or form bodies) and
/// `* /inspect-any/*rest` (any body) answer everything the function saw, the body's bytes
/// included.
#[derive(Default)]
pub struct Inspect;

impl Function for Inspect {
    fn call(&self, req: &Request) -> Response {
        Response::ok(json!({
            "method": req.method(),
            "path": req.path(),
            "params": req.params(),
            "query": req.queries(),
            "headers": req.headers(),
            "body": req.body(),
            "raw": String::from_utf8_lossy(req.raw_body()),
            "raw_hex": req.raw_body().iter().map(|b| format!("{:02x}", b)).collect::<String>(),
            "form": req.form(),
        }))
    }
}

/// `GET /config/:kind/:name` answers what the host handed the runner: an `[env]` setting
/// (`env`), a secret's value (`secret`; a testbed only: a real app never echoes one), or
/// whether the data directory is there (`data`).
#[derive(Default)]
pub struct Config;

impl Function for Config {
    fn call(&self, req: &Request) -> Response {
        let name = req.param("name").unwrap_or_default();
        match req.param("kind") {
            Some("env") => Response::ok(json!({ "name": name, "value": rustless::env(name) })),
            Some("secret") => match rustless::secret(name) {
                Ok(value) => Response::ok(json!({ "name": name, "value": value })),
                Err(e) => e.into(),
            },
            Some("data") => match rustless::data_dir() {
                Ok(dir) => Response::ok(json!({ "dir": dir, "exists": dir.is_dir() })),
                Err(e) => e.into(),
            },
            _ => Response::not_found("kind is env, secret or data"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn version_is_the_const() {
        let res = Version.call(&Request::builder().build());
        assert_eq!(res.body(), Some(&json!({ "version": VERSION })));
    }

    #[test]
    fn panic_panics() {
        let result = std::panic::catch_unwind(|| Panic.call(&Request::builder().build()));
        assert!(result.is_err());
    }

    #[test]
    fn slow_sleeps_then_answers() {
        let req = Request::builder().query("ms", "20").build();
        let started = std::time::Instant::now();
        let res = Slow.call(&req);
        assert!(started.elapsed() >= Duration::from_millis(20));
        assert_eq!(res.body(), Some(&json!({ "slept_ms": 20 })));
        let req = Request::builder().query("ms", "x").build();
        assert_eq!(Slow.call(&req).status_code(), 400);
    }

    #[test]
    fn status_and_set_header_answer_what_was_asked() {
        let req = Request::builder().param("code", "304").build();
        assert_eq!(Status.call(&req).status_code(), 304);
        let req = Request::builder().param("code", "99").build();
        assert_eq!(Status.call(&req).status_code(), 400);
        let req = Request::builder()
            .query("name", "X-A")
            .query("value", "b")
            .build();
        assert_eq!(SetHeader.call(&req).header("x-a"), Some("b"));
    }

    #[test]
    fn headers_and_inspect_echo_the_request() {
        let req = Request::builder().header("X-A", "1").build();
        let res = Headers.call(&req);
        assert_eq!(res.body(), Some(&json!({ "headers": { "x-a": "1" } })));
        assert_eq!(res.header("x-testbed"), Some("headers"));
        let req = Request::builder()
            .method("POST")
            .path("/inspect/a")
            .param("rest", "a")
            .json(json!([1]))
            .build();
        let body = Inspect.call(&req).body().unwrap().clone();
        assert_eq!(body["params"], json!({ "rest": "a" }));
        assert_eq!(body["body"], json!([1]));
    }

    #[test]
    fn config_says_what_is_missing() {
        let req = Request::builder().param("kind", "secret").param("name", "NOT_SET_ANYWHERE").build();
        let res = Config.call(&req);
        assert_eq!(res.status_code(), 500);
        assert_eq!(res.body().unwrap()["error"]["code"], json!("SECRET_NOT_SET"));
        let req = Request::builder().param("kind", "nope").build();
        assert_eq!(Config.call(&req).status_code(), 404);
    }
}
