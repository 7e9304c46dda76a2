//! Process-level tests: the `testbed-runner` example binary (the testbed app linked the
//! way rust-less generates runners) on real sockets, as systemd and the gateway use it.
//!
//! `cargo test` builds the examples before running these; run the whole suite rather
//! than `--test socket` alone on a clean tree.

mod common;
use common::runner_bin;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::os::unix::io::AsRawFd;
use std::os::unix::net::{UnixDatagram, UnixListener, UnixStream};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

// ---------------------------------------------------------------------------------
// Helpers

fn temp_dir(name: &str) -> PathBuf {
    static N: AtomicUsize = AtomicUsize::new(0);
    let dir = std::env::temp_dir().join(format!(
        "rustless-runner-test-{}-{}-{}",
        std::process::id(),
        name,
        N.fetch_add(1, Ordering::Relaxed)
    ));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// A runner child process; killed if a test fails before it exits.
struct Runner {
    child: Child,
    /// Its stderr, read by a thread so the pipe never fills up.
    stderr: Option<thread::JoinHandle<String>>,
}

impl Runner {
    fn listen(spec: &str) -> Runner {
        let child = Command::new(runner_bin())
            .arg("--listen")
            .arg(spec)
            .env("RUSTLESS_APP", "testbed")
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        Runner::new(child)
    }

    fn new(mut child: Child) -> Runner {
        let mut pipe = child.stderr.take().unwrap();
        let stderr = thread::spawn(move || {
            let mut text = String::new();
            let _ = pipe.read_to_string(&mut text);
            text
        });
        Runner {
            child,
            stderr: Some(stderr),
        }
    }

    /// Passes `socket` as fd 3 with `LISTEN_FDS=1` and `LISTEN_PID` set to the
    /// runner's own pid, as systemd does. `sh` learns its pid (`$$`) and `exec`s the
    /// runner, which keeps that pid.
    fn socket_activated(socket: &dyn AsRawFd, extra_env: &[(&str, &str)]) -> Runner {
        let fd = socket.as_raw_fd();
        let mut cmd = Command::new("sh");
        cmd.arg("-c")
            .arg("export LISTEN_PID=$$; exec \"$0\"")
            .arg(runner_bin())
            .env("LISTEN_FDS", "1")
            .stderr(Stdio::piped());
        for (k, v) in extra_env {
            cmd.env(k, v);
        }
        // SAFETY: dup2 and fcntl are async-signal-safe; this runs in the forked child
        // before exec. fd 3 must end up without FD_CLOEXEC to survive the two execs:
        // dup2 clears it, but does nothing at all when the socket already is fd 3.
        unsafe {
            cmd.pre_exec(move || {
                let ok = if fd == 3 {
                    libc::fcntl(3, libc::F_SETFD, 0) == 0
                } else {
                    libc::dup2(fd, 3) == 3
                };
                if ok {
                    Ok(())
                } else {
                    Err(std::io::Error::last_os_error())
                }
            });
        }
        Runner::new(cmd.spawn().unwrap())
    }

    fn pid(&self) -> i32 {
        self.child.id() as i32
    }

    fn signal(&self, sig: i32) {
        // SAFETY: plain kill(2) on our own child.
        assert_eq!(unsafe { libc::kill(self.pid(), sig) }, 0);
    }

    /// Waits for the exit (at most `limit`) and returns the status and stderr.
    fn wait(mut self, limit: Duration) -> (ExitStatus, String) {
        let started = Instant::now();
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                let stderr = self.stderr.take().unwrap().join().unwrap();
                return (status, stderr);
            }
            assert!(
                started.elapsed() < limit,
                "runner still running after {:?}",
                limit
            );
            thread::sleep(Duration::from_millis(5));
        }
    }
}

impl Drop for Runner {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A response as read off the wire.
#[derive(Debug)]
struct Reply {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Reply {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap()
    }
}

trait Io: Read + Write + Send {}
impl<T: Read + Write + Send> Io for T {}

/// A keep-alive client connection.
struct Client {
    reader: BufReader<Box<dyn Io>>,
}

impl Client {
    // Read timeouts turn a hung runner into a failed test, not a hung suite.
    fn unix(path: &Path) -> Client {
        let s = wait_connect(|| UnixStream::connect(path));
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        Client::new(Box::new(s))
    }

    fn tcp(addr: &str) -> Client {
        let s = wait_connect(|| TcpStream::connect(addr));
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        Client::new(Box::new(s))
    }

    fn new(stream: Box<dyn Io>) -> Client {
        Client {
            reader: BufReader::new(stream),
        }
    }

    fn call(&mut self, method: &str, target: &str, function: &str, body: &str) -> Reply {
        self.send(&format!(
            "{} {} HTTP/1.1\r\nhost: runner\r\nx-rustless-function: {}\r\ncontent-length: {}\r\n\r\n{}",
            method,
            target,
            function,
            body.len(),
            body
        ))
    }

    fn send(&mut self, raw: &str) -> Reply {
        let stream = self.reader.get_mut();
        stream.write_all(raw.as_bytes()).unwrap();
        stream.flush().unwrap();
        self.read_reply(!raw.starts_with("HEAD "))
    }

    fn read_reply(&mut self, with_body: bool) -> Reply {
        let mut line = String::new();
        self.reader.read_line(&mut line).unwrap();
        assert!(line.starts_with("HTTP/1.1 "), "bad status line {:?}", line);
        let status = line[9..12].parse().unwrap();
        let mut headers = Vec::new();
        loop {
            line.clear();
            self.reader.read_line(&mut line).unwrap();
            let l = line.trim_end();
            if l.is_empty() {
                break;
            }
            let (n, v) = l.split_once(':').unwrap();
            headers.push((n.to_ascii_lowercase(), v.trim().to_string()));
        }
        let len = headers
            .iter()
            .find(|(n, _)| n == "content-length")
            .map_or(0, |(_, v)| v.parse().unwrap());
        let mut body = vec![0; if with_body { len } else { 0 }];
        self.reader.read_exact(&mut body).unwrap();
        Reply {
            status,
            headers,
            body,
        }
    }

    /// Whether the server closed the connection.
    fn is_closed(&mut self) -> bool {
        matches!(self.reader.fill_buf(), Ok(b) if b.is_empty())
    }
}

/// Connects, retrying while the runner starts.
fn wait_connect<S>(connect: impl Fn() -> std::io::Result<S>) -> S {
    let started = Instant::now();
    loop {
        match connect() {
            Ok(s) => return s,
            Err(e) if started.elapsed() > Duration::from_secs(5) => panic!("cannot connect: {}", e),
            Err(_) => thread::sleep(Duration::from_millis(10)),
        }
    }
}

// ---------------------------------------------------------------------------------
// Tests

#[test]
fn binds_a_path_replacing_a_stale_socket_and_answers_the_protocol() {
    let dir = temp_dir("path");
    let path = dir.join("app.sock");
    drop(UnixListener::bind(&path).unwrap()); // a stale socket file
    let runner = Runner::listen(path.to_str().unwrap());
    let mut c = Client::unix(&path);

    let r = c.call("GET", "/version", "Version", "");
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-type"), Some("application/json"));
    assert_eq!(r.json(), json!({ "version": testbed::VERSION }));

    // Same keep-alive connection throughout.
    let r = c.send(
        "POST /inspect/a%20b?x=1+2&y=%C3%A9 HTTP/1.1\r\nx-rustless-function: Inspect\r\n\
         x-rustless-params: {\"rest\":\"a b\"}\r\nX-Custom: yes\r\ncontent-type: application/json\r\n\
         transfer-encoding: chunked\r\n\r\n4\r\n{\"a\"\r\n3\r\n:1}\r\n0\r\n\r\n",
    );
    assert_eq!(r.status, 200);
    let body = r.json();
    assert_eq!(body["method"], json!("POST"));
    assert_eq!(body["path"], json!("/inspect/a%20b"));
    assert_eq!(body["params"], json!({ "rest": "a b" }));
    assert_eq!(body["query"], json!({ "x": "1 2", "y": "é" }));
    assert_eq!(body["headers"]["x-custom"], json!("yes"));
    assert_eq!(body["headers"].get("x-rustless-function"), None);
    assert_eq!(body["body"], json!({ "a": 1 }));

    let r = c.call("GET", "/headers", "Headers", "");
    assert_eq!(r.header("x-testbed"), Some("headers"));

    let r = c.call("GET", "/nope", "Nope", "");
    assert_eq!(r.status, 404);
    assert_eq!(r.json()["error"]["code"], json!("RUSTLESS_FUNCTION_NOT_FOUND"));
    let r = c.send("GET / HTTP/1.1\r\n\r\n");
    assert_eq!(r.status, 404);

    let r = c.send(
        "POST /inspect/x HTTP/1.1\r\nx-rustless-function: Inspect\r\ncontent-type: application/json\r\n\
         content-length: 9\r\n\r\n{not json",
    );
    assert_eq!(r.status, 400);
    assert_eq!(r.json()["error"]["code"], json!("RUSTLESS_INVALID_JSON"));
    // Without a JSON content type the body is not parsed: the function has its bytes.
    let r = c.call("POST", "/inspect/x", "Inspect", "{not json");
    assert_eq!(r.status, 200);
    assert_eq!(r.json()["body"], json!(null));
    assert_eq!(r.json()["raw"], json!("{not json"));

    let r = c.call("GET", "/slow?ms=nope", "Slow", "");
    assert_eq!(r.status, 400);

    let r = c.call("HEAD", "/version", "Version", "");
    assert_eq!(r.header("content-length"), Some("13"));

    let r = c.send("GET /version HTTP/1.1\r\nx-rustless-function: Version\r\nconnection: close\r\n\r\n");
    assert_eq!(r.status, 200);
    assert_eq!(r.header("connection"), Some("close"));
    assert!(c.is_closed());

    runner.signal(libc::SIGTERM);
    let (status, stderr) = runner.wait(Duration::from_secs(2));
    assert_eq!(status.code(), Some(0), "{}", stderr);
    assert!(stderr.contains("rustless-runner[testbed]: listening on unix:"), "{}", stderr);
    assert!(stderr.contains("GET /version -> Version 200"), "{}", stderr);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_header_that_is_not_http_is_dropped_with_a_log_line() {
    let dir = temp_dir("bad-header");
    let path = dir.join("app.sock");
    let runner = Runner::listen(path.to_str().unwrap());
    let mut c = Client::unix(&path);
    // Each of these used to reach the gateway, which refused the whole response (502).
    for (query, name) in [
        ("name=x-nul&value=a%00b", "x-nul"),
        ("name=x-ctl&value=a%01b", "x-ctl"),
        ("name=x-del&value=a%7Fb", "x-del"),
        ("name=x-lf&value=a%0D%0Aset-cookie:%20x", "x-lf"),
        ("name=x%20space&value=v", "x space"),
    ] {
        let r = c.call("GET", &format!("/set-header?{}", query), "SetHeader", "");
        assert_eq!(r.status, 200, "{}", query);
        assert_eq!(r.header(name), None, "{}", query);
        assert_eq!(r.header("set-cookie"), None, "{}", query);
        assert_eq!(r.json(), json!({ "set": name }));
    }
    let r = c.call("GET", "/set-header?name=X-Fine&value=caf%C3%A9%09ok", "SetHeader", "");
    assert_eq!(r.header("x-fine"), Some("café\tok"), "UTF-8 (obs-text) and tabs are fine");

    runner.signal(libc::SIGTERM);
    let (_, stderr) = runner.wait(Duration::from_secs(2));
    assert!(
        stderr.contains("dropped the header \"x-ctl\" set by SetHeader: its value holds a byte HTTP forbids (0x01)"),
        "{}",
        stderr
    );
    assert!(
        stderr.contains("dropped the header \"x space\" set by SetHeader: its name is not an HTTP token"),
        "{}",
        stderr
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn takes_a_unix_socket_from_listen_fds_and_notifies_systemd() {
    let dir = temp_dir("listenfds");
    let path = dir.join("app.sock");
    let listener = UnixListener::bind(&path).unwrap();
    let notify_path = dir.join("notify");
    let notify = UnixDatagram::bind(&notify_path).unwrap();
    notify.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let runner = Runner::socket_activated(
        &listener,
        &[("NOTIFY_SOCKET", notify_path.to_str().unwrap())],
    );

    let mut buf = [0u8; 256];
    let n = notify.recv(&mut buf).unwrap();
    assert_eq!(&buf[..n], b"READY=1\n");

    let mut c = Client::unix(&path);
    assert_eq!(c.call("GET", "/version", "Version", "").status, 200);

    runner.signal(libc::SIGTERM);
    let n = notify.recv(&mut buf).unwrap();
    assert_eq!(&buf[..n], b"STOPPING=1\n");
    let (status, stderr) = runner.wait(Duration::from_secs(2));
    assert_eq!(status.code(), Some(0), "{}", stderr);
    assert!(stderr.contains("(socket activation)"), "{}", stderr);

    // Like systemd, we still hold the socket: a connection made now waits in the
    // backlog for the next runner, which answers it.
    let pending = thread::spawn({
        let path = path.clone();
        move || Client::unix(&path).call("GET", "/version", "Version", "")
    });
    thread::sleep(Duration::from_millis(100));
    let runner = Runner::socket_activated(&listener, &[]);
    assert_eq!(pending.join().unwrap().status, 200);
    drop(runner);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn takes_a_tcp_socket_from_listen_fds() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let runner = Runner::socket_activated(&listener, &[]);
    let r = Client::tcp(&addr).call("GET", "/version", "Version", "");
    assert_eq!(r.status, 200);
    runner.signal(libc::SIGINT);
    let (status, stderr) = runner.wait(Duration::from_secs(2));
    assert_eq!(status.code(), Some(0), "{}", stderr);
    assert!(stderr.contains("stopping on SIGINT"), "{}", stderr);
}

#[test]
fn without_a_socket_it_exits_1() {
    // LISTEN_PID names another process: the socket is not for us.
    let out = Command::new(runner_bin())
        .env("LISTEN_FDS", "1")
        .env("LISTEN_PID", "1")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("no socket"), "{}", stderr);
    let out = Command::new(runner_bin()).arg("--bogus").output().unwrap();
    assert_eq!(out.status.code(), Some(1));
}

#[test]
fn serves_many_concurrent_requests_beside_idle_keep_alive_connections() {
    let dir = temp_dir("concurrent");
    let path = dir.join("app.sock");
    let runner = Runner::listen(path.to_str().unwrap());

    // A gateway pool: keep-alive connections that stay open and idle.
    let mut idle: Vec<Client> = (0..20).map(|_| Client::unix(&path)).collect();
    for c in &mut idle {
        assert_eq!(c.call("GET", "/version", "Version", "").status, 200);
    }

    // 60 requests that each take 500 ms: served one after the other they would take
    // 30 s; served concurrently, about 0.5 s.
    let started = Instant::now();
    let handles: Vec<_> = (0..60)
        .map(|_| {
            let path = path.clone();
            thread::spawn(move || Client::unix(&path).call("GET", "/slow?ms=500", "Slow", "").status)
        })
        .collect();
    for h in handles {
        assert_eq!(h.join().unwrap(), 200);
    }
    let took = started.elapsed();
    assert!(took < Duration::from_secs(4), "took {:?}", took);

    // The idle connections still work.
    for c in &mut idle {
        assert_eq!(c.call("GET", "/version", "Version", "").status, 200);
    }
    drop(runner);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_panic_answers_500_and_the_next_request_200() {
    let dir = temp_dir("panic");
    let path = dir.join("app.sock");
    let runner = Runner::listen(path.to_str().unwrap());
    let mut c = Client::unix(&path);
    for _ in 0..3 {
        let r = c.call("GET", "/panic", "Panic", "");
        assert_eq!(r.status, 500);
        assert_eq!(
            r.json(),
            json!({ "error": { "code": "RUSTLESS_FUNCTION_PANIC", "message": "testbed panics on purpose" } })
        );
        assert_eq!(c.call("GET", "/version", "Version", "").status, 200);
    }
    runner.signal(libc::SIGTERM);
    let (status, stderr) = runner.wait(Duration::from_secs(2));
    assert_eq!(status.code(), Some(0));
    // One line per panic, not Rust's default multi-line report.
    let panic_lines = stderr.lines().filter(|l| l.contains(": panic in conn-")).count();
    assert_eq!(panic_lines, 3, "{}", stderr);
    assert_eq!(stderr.matches("GET /panic -> Panic 500").count(), 3, "{}", stderr);
    assert!(!stderr.contains("RUST_BACKTRACE"), "{}", stderr);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn sigterm_finishes_the_request_in_flight_then_exits_0() {
    let dir = temp_dir("drain");
    let path = dir.join("app.sock");
    let runner = Runner::listen(path.to_str().unwrap());
    let mut idle = Client::unix(&path);
    assert_eq!(idle.call("GET", "/version", "Version", "").status, 200);

    let slow = thread::spawn({
        let path = path.clone();
        move || Client::unix(&path).call("GET", "/slow?ms=800", "Slow", "")
    });
    thread::sleep(Duration::from_millis(300));
    let stop_sent = Instant::now();
    runner.signal(libc::SIGTERM);

    // It stops accepting at once...
    thread::sleep(Duration::from_millis(100));
    assert!(UnixStream::connect(&path).is_err(), "still accepting after SIGTERM");
    // ...closes idle keep-alive connections...
    assert!(idle.is_closed());
    // ...answers the request in flight, then exits 0.
    let r = slow.join().unwrap();
    assert_eq!(r.status, 200);
    assert_eq!(r.json(), json!({ "slept_ms": 800 }));
    assert_eq!(r.header("connection"), Some("close"));
    let (status, stderr) = runner.wait(Duration::from_secs(3));
    assert_eq!(status.code(), Some(0), "{}", stderr);
    assert!(stop_sent.elapsed() < Duration::from_secs(2));
    assert!(stderr.contains("stopping on SIGTERM: 1 request(s) in flight"), "{}", stderr);
    assert!(stderr.contains("stopped"), "{}", stderr);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn stops_promptly_when_idle() {
    let dir = temp_dir("idle");
    let path = dir.join("app.sock");
    let runner = Runner::listen(path.to_str().unwrap());
    let mut c = Client::unix(&path); // an idle keep-alive connection must not hold it up
    assert_eq!(c.call("GET", "/version", "Version", "").status, 200);
    let started = Instant::now();
    runner.signal(libc::SIGTERM);
    let (status, _) = runner.wait(Duration::from_secs(2));
    assert_eq!(status.code(), Some(0));
    let took = started.elapsed();
    assert!(took < Duration::from_millis(300), "took {:?}", took);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn an_aborting_function_kills_the_runner() {
    let dir = temp_dir("abort");
    let path = dir.join("app.sock");
    let runner = Runner::listen(path.to_str().unwrap());
    let mut c = Client::unix(&path);
    let stream = c.reader.get_mut();
    stream
        .write_all(b"GET /abort HTTP/1.1\r\nx-rustless-function: Abort\r\n\r\n")
        .unwrap();
    assert!(c.is_closed());
    let (status, _) = runner.wait(Duration::from_secs(2));
    assert!(!status.success());
    let _ = std::fs::remove_dir_all(&dir);
}

// ---------------------------------------------------------------------------------
// Frame connections (the gateway's protocol, docs/runner-protocol.md)

const PREFACE: &[u8] = b"\0rustless-frames/1\n";

fn request_frame(id: u32, method: &str, target: &str, function: &str, params: &str, headers: &str, body: &str) -> Vec<u8> {
    let head = format!("{} {}\n{}\n{}\n{}", method, target, function, params, headers);
    let mut frame = Vec::new();
    frame.extend_from_slice(&((8 + head.len() + body.len()) as u32).to_le_bytes());
    frame.extend_from_slice(&id.to_le_bytes());
    frame.extend_from_slice(&(head.len() as u32).to_le_bytes());
    frame.extend_from_slice(head.as_bytes());
    frame.extend_from_slice(body.as_bytes());
    frame
}

/// (id, status, head, body) of the next response frame.
fn read_response_frame(stream: &mut UnixStream) -> (u32, u16, String, Vec<u8>) {
    let mut len = [0u8; 4];
    stream.read_exact(&mut len).unwrap();
    let mut frame = vec![0u8; u32::from_le_bytes(len) as usize];
    stream.read_exact(&mut frame).unwrap();
    let id = u32::from_le_bytes([frame[0], frame[1], frame[2], frame[3]]);
    let status = u16::from_le_bytes([frame[4], frame[5]]);
    let head_len = u32::from_le_bytes([frame[6], frame[7], frame[8], frame[9]]) as usize;
    let head = String::from_utf8(frame[10..10 + head_len].to_vec()).unwrap();
    (id, status, head, frame[10 + head_len..].to_vec())
}

#[test]
fn a_frame_connection_carries_many_requests_answered_as_they_finish() {
    let dir = temp_dir("frames");
    let path = dir.join("app.sock");
    let runner = Runner::listen(path.to_str().unwrap());
    let mut stream = wait_connect(|| UnixStream::connect(&path));
    stream.set_read_timeout(Some(Duration::from_secs(10))).unwrap();

    // Everything in one write: a slow request first, then quick ones behind it.
    let mut wire = PREFACE.to_vec();
    wire.extend(request_frame(1, "GET", "/slow?ms=700", "Slow", "{}", "", ""));
    wire.extend(request_frame(2, "POST", "/inspect/a%20b?x=1", "Inspect", r#"{"rest":"a b"}"#, "content-type: application/json\nX-Custom: yes\n", r#"{"a":1}"#));
    wire.extend(request_frame(3, "HEAD", "/version", "Version", "{}", "", ""));
    wire.extend(request_frame(4, "GET", "/nope", "Nope", "{}", "", ""));
    let sent = Instant::now();
    stream.write_all(&wire).unwrap();
    let mut ack = vec![0u8; PREFACE.len()];
    stream.read_exact(&mut ack).unwrap();
    assert_eq!(ack, PREFACE, "the runner answers the preface with the preface");

    let mut answers = std::collections::HashMap::new();
    let mut order = Vec::new();
    for _ in 0..4 {
        let (id, status, head, body) = read_response_frame(&mut stream);
        order.push(id);
        answers.insert(id, (status, head, body, sent.elapsed()));
    }
    assert_eq!(order.last(), Some(&1), "the slow answer came last: {:?}", order);
    assert!(answers[&2].3 < Duration::from_millis(500), "a quick request waited for the slow one");

    let (status, head, body, _) = &answers[&2];
    assert_eq!(*status, 200);
    assert_eq!(head, "content-type: application/json\n");
    let body: Value = serde_json::from_slice(body).unwrap();
    assert_eq!(body["method"], json!("POST"));
    assert_eq!(body["path"], json!("/inspect/a%20b"));
    assert_eq!(body["params"], json!({ "rest": "a b" }));
    assert_eq!(body["headers"]["x-custom"], json!("yes"));
    assert_eq!(body["headers"].get("x-rustless-function"), None);
    assert_eq!(body["body"], json!({ "a": 1 }));

    // HEAD: the length GET would have had, no body.
    let (status, head, body, _) = &answers[&3];
    assert_eq!(*status, 200);
    assert!(head.contains("content-length: 13\n"), "{}", head);
    assert!(body.is_empty());

    let (status, _, body, _) = &answers[&4];
    assert_eq!(*status, 404);
    let body: Value = serde_json::from_slice(body).unwrap();
    assert_eq!(body["error"]["code"], json!("RUSTLESS_FUNCTION_NOT_FOUND"));
    let (status, _, body, _) = &answers[&1];
    assert_eq!(*status, 200);
    assert_eq!(serde_json::from_slice::<Value>(body).unwrap(), json!({ "slept_ms": 700 }));

    // HTTP/1.1 still answers on the same socket, beside the frame connection.
    assert_eq!(Client::unix(&path).call("GET", "/version", "Version", "").status, 200);

    // A stop with a request in flight on the frame connection: it is answered, then the
    // connection closes and the runner exits 0.
    stream
        .write_all(&request_frame(5, "GET", "/slow?ms=500", "Slow", "{}", "", ""))
        .unwrap();
    thread::sleep(Duration::from_millis(200));
    runner.signal(libc::SIGTERM);
    let (id, status, _, _) = read_response_frame(&mut stream);
    assert_eq!((id, status), (5, 200));
    let mut rest = Vec::new();
    assert_eq!(stream.read_to_end(&mut rest).unwrap(), 0, "the connection closes after the last answer");
    let (status, stderr) = runner.wait(Duration::from_secs(3));
    assert_eq!(status.code(), Some(0), "{}", stderr);
    assert!(stderr.contains("stopping on SIGTERM: 1 request(s) in flight"), "{}", stderr);
    assert!(stderr.contains("POST /inspect/a%20b?x=1 -> Inspect 200"), "access log lines for frames: {}", stderr);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_slow_function_run_by_the_reader_holds_up_no_later_request() {
    // The reader runs what it reads itself; a request that arrives while it runs a slow
    // one is read by another thread (the watchdog moves reading) and answered first. A
    // panic on the reader answers 500 and reading goes on; a frame bigger than the read
    // buffer is read whole.
    let dir = temp_dir("frames-inline");
    let path = dir.join("app.sock");
    let runner = Runner::listen(path.to_str().unwrap());
    let mut stream = wait_connect(|| UnixStream::connect(&path));
    stream.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut wire = PREFACE.to_vec();
    wire.extend(request_frame(1, "GET", "/slow?ms=800", "Slow", "{}", "", ""));
    stream.write_all(&wire).unwrap();
    let mut ack = vec![0u8; PREFACE.len()];
    stream.read_exact(&mut ack).unwrap();
    thread::sleep(Duration::from_millis(100));

    let sent = Instant::now();
    stream.write_all(&request_frame(2, "GET", "/panic", "Panic", "{}", "", "")).unwrap();
    let (id, status, _, _) = read_response_frame(&mut stream);
    assert_eq!((id, status), (2, 500));
    let big = format!("{{\"data\":\"{}\"}}", "x".repeat(300 * 1024));
    stream
        .write_all(&request_frame(3, "POST", "/inspect/big", "Inspect", "{}", "content-type: application/json\n", &big))
        .unwrap();
    let (id, status, _, body) = read_response_frame(&mut stream);
    assert_eq!((id, status), (3, 200));
    let body: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(body["body"]["data"].as_str().map(str::len), Some(300 * 1024));
    assert!(sent.elapsed() < Duration::from_millis(500), "later requests waited for the slow one: {:?}", sent.elapsed());
    let (id, status, _, _) = read_response_frame(&mut stream);
    assert_eq!((id, status), (1, 200));

    // Quick requests in a row still work on the same connection once the slow one is done.
    for id in 4..10 {
        stream.write_all(&request_frame(id, "GET", "/version", "Version", "{}", "", "")).unwrap();
        assert_eq!(read_response_frame(&mut stream).0, id);
    }
    runner.signal(libc::SIGTERM);
    let (status, stderr) = runner.wait(Duration::from_secs(3));
    assert_eq!(status.code(), Some(0), "{}", stderr);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_broken_frame_ends_that_connection_only() {
    let dir = temp_dir("bad-frame");
    let path = dir.join("app.sock");
    let runner = Runner::listen(path.to_str().unwrap());
    let mut stream = wait_connect(|| UnixStream::connect(&path));
    stream.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut wire = PREFACE.to_vec();
    // A head longer than its frame.
    wire.extend_from_slice(&12u32.to_le_bytes());
    wire.extend_from_slice(&1u32.to_le_bytes());
    wire.extend_from_slice(&999u32.to_le_bytes());
    wire.extend_from_slice(b"GET ");
    stream.write_all(&wire).unwrap();
    let mut rest = Vec::new();
    stream.read_to_end(&mut rest).unwrap();
    assert_eq!(rest, PREFACE, "nothing but the preface came back");
    assert_eq!(Client::unix(&path).call("GET", "/version", "Version", "").status, 200);
    runner.signal(libc::SIGTERM);
    let (status, stderr) = runner.wait(Duration::from_secs(3));
    assert_eq!(status.code(), Some(0), "{}", stderr);
    assert!(stderr.contains("bad request frame: head longer than the frame"), "{}", stderr);
    let _ = std::fs::remove_dir_all(&dir);
}
