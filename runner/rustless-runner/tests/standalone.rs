//! Process-level tests of a runner with no gateway in front: the `testbed-runner`
//! example binary started with `PORT` (the Knative convention) or `--listen HOST:PORT`,
//! answering the testbed app's routes itself over real TCP connections.
//!
//! `cargo test` builds the examples before running these (see socket.rs).

mod common;
use common::runner_bin;

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// A runner child, killed when the test ends.
struct Runner {
    child: Child,
    addr: String,
}

impl Runner {
    fn with_port() -> Runner {
        let port = free_port();
        let child = Command::new(runner_bin())
            .env("PORT", port.to_string())
            .env("RUSTLESS_APP", "testbed")
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        Runner::wait_ready(child, format!("127.0.0.1:{}", port))
    }

    fn with_listen(addr: String) -> Runner {
        let child = Command::new(runner_bin())
            .arg("--listen")
            .arg(&addr)
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        Runner::wait_ready(child, addr)
    }

    fn wait_ready(child: Child, addr: String) -> Runner {
        let started = Instant::now();
        while TcpStream::connect(&addr).is_err() {
            assert!(started.elapsed() < Duration::from_secs(10), "runner never listened on {}", addr);
            thread::sleep(Duration::from_millis(10));
        }
        Runner { child, addr }
    }

    /// Stops the runner and returns its stderr.
    fn stop(mut self) -> String {
        // SAFETY: plain kill(2) on our own child.
        unsafe { libc::kill(self.child.id() as i32, libc::SIGTERM) };
        let mut text = String::new();
        self.child.stderr.take().unwrap().read_to_string(&mut text).unwrap();
        self.child.wait().unwrap();
        text
    }

    /// One request on a fresh connection; returns status, headers and body.
    fn call(&self, method: &str, target: &str, headers: &[(&str, &str)], body: &[u8]) -> (u16, String, Value) {
        let mut s = TcpStream::connect(&self.addr).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(15))).unwrap();
        let mut head = format!("{} {} HTTP/1.1\r\nhost: x\r\nconnection: close\r\ncontent-length: {}\r\n", method, target, body.len());
        for (n, v) in headers {
            head.push_str(&format!("{}: {}\r\n", n, v));
        }
        head.push_str("\r\n");
        s.write_all(head.as_bytes()).unwrap();
        // The runner may answer (413) before reading all of a large body.
        let _ = s.write_all(body);
        let mut raw = Vec::new();
        s.read_to_end(&mut raw).unwrap();
        let text = String::from_utf8_lossy(&raw).into_owned();
        let (head, body) = text.split_once("\r\n\r\n").unwrap();
        let status = head[9..12].parse().unwrap();
        let json = if body.is_empty() { Value::Null } else { serde_json::from_str(body).unwrap() };
        (status, head.to_ascii_lowercase(), json)
    }
}

impl Drop for Runner {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn code(body: &Value) -> &str {
    body["error"]["code"].as_str().unwrap_or("")
}

#[test]
fn with_port_set_it_answers_the_apps_routes_itself() {
    let r = Runner::with_port();
    let (status, _, body) = r.call("GET", "/version", &[], b"");
    assert_eq!((status, body), (200, json!({ "version": 1 })));

    // Route params come from the runner's own match; a client's x-rustless-* headers
    // are dropped, never trusted.
    let (status, _, body) = r.call(
        "POST",
        "/inspect/a%20b/c?x=1",
        &[
            ("content-type", "application/json"),
            ("x-rustless-function", "Abort"),
            ("x-rustless-params", r#"{"rest":"forged"}"#),
        ],
        br#"{"k":[1]}"#,
    );
    assert_eq!(status, 200);
    assert_eq!(body["params"], json!({ "rest": "a b/c" }));
    assert_eq!(body["query"], json!({ "x": "1" }));
    assert_eq!(body["body"], json!({ "k": [1] }));
    assert_eq!(body["headers"], json!({ "content-type": "application/json" }));

    let (status, head, body) = r.call("DELETE", "/version", &[], b"");
    assert_eq!((status, code(&body)), (405, "RUSTLESS_METHOD_NOT_ALLOWED"));
    assert!(head.contains("\r\nallow: get, head\r\n"), "{}", head);
    let (status, _, body) = r.call("GET", "/nothing/here", &[], b"");
    assert_eq!((status, code(&body)), (404, "RUSTLESS_NOT_FOUND"));

    let (status, _, body) = r.call("POST", "/headers", &[("content-type", "text/plain")], b"hi");
    assert_eq!((status, code(&body)), (415, "RUSTLESS_UNSUPPORTED_MEDIA_TYPE"));
    let (status, _, body) = r.call("POST", "/headers", &[("content-type", "application/json")], b"{\"a\":");
    assert_eq!((status, code(&body)), (400, "RUSTLESS_INVALID_JSON"));
    // A route's `accept`: a form body reaches a route that takes it, bytes and fields.
    let form = ("content-type", "application/x-www-form-urlencoded");
    let (status, _, body) = r.call("POST", "/inspect/x", &[form], b"a=1");
    assert_eq!((status, code(&body)), (415, "RUSTLESS_UNSUPPORTED_MEDIA_TYPE"));
    let (status, _, body) = r.call("POST", "/inspect-form/x", &[form], b"a=1+2&b=%7B%7D");
    assert_eq!(status, 200);
    assert_eq!((&body["raw"], &body["form"]), (&json!("a=1+2&b=%7B%7D"), &json!({ "a": "1 2", "b": "{}" })));
    let (status, _, body) = r.call("POST", "/inspect-form/x", &[("content-type", "text/plain")], b"hi");
    assert_eq!((status, code(&body)), (415, "RUSTLESS_UNSUPPORTED_MEDIA_TYPE"));
    assert!(body["error"]["message"].as_str().unwrap().contains("application/x-www-form-urlencoded"), "{}", body);
    let (status, _, body) = r.call("POST", "/inspect-any/x", &[], b"\x00\xffbytes");
    assert_eq!((status, &body["raw_hex"]), (200, &json!("00ff6279746573")));
    let (status, _, body) = r.call("GET", "/inspect-any/x", &[], b"x");
    assert_eq!((status, code(&body)), (400, "RUSTLESS_BODY_NOT_ALLOWED"));
    let big = vec![b'1'; 2 * 1024 * 1024];
    let (status, _, body) = r.call("POST", "/headers", &[("content-type", "application/json")], &big);
    assert_eq!((status, code(&body)), (413, "RUSTLESS_PAYLOAD_TOO_LARGE"));

    let (status, _, body) = r.call("GET", "/panic", &[], b"");
    assert_eq!((status, code(&body)), (500, "RUSTLESS_FUNCTION_PANIC"));

    // /slow has timeout_ms = 3000 in the testbed's rustless.toml.
    let started = Instant::now();
    let (status, _, body) = r.call("GET", "/slow?ms=6000", &[], b"");
    assert_eq!((status, code(&body)), (504, "RUSTLESS_TIMEOUT"));
    assert!(started.elapsed() < Duration::from_millis(5000), "{:?}", started.elapsed());
    assert_eq!(r.call("GET", "/slow?ms=10", &[], b"").0, 200);

    let stderr = r.stop();
    assert!(stderr.contains("rustless-runner[testbed]: listening on tcp:0.0.0.0:"), "{}", stderr);
    assert!(stderr.contains("(PORT)") && stderr.contains("routing requests itself"), "{}", stderr);
    assert!(stderr.contains("GET /version -> Version 200"), "{}", stderr);
}

#[test]
fn listen_on_tcp_routes_too() {
    let r = Runner::with_listen(format!("127.0.0.1:{}", free_port()));
    let (status, _, body) = r.call("GET", "/version/", &[], b"");
    assert_eq!((status, body), (200, json!({ "version": 1 })));
}

#[test]
fn a_bad_port_is_a_start_up_error() {
    let out = Command::new(runner_bin()).env("PORT", "http").output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("PORT must be a port number from 0 to 65535, got \"http\""), "{}", stderr);
}
