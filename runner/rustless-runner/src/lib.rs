//! The runner of a rust-less function app: one process serving the app's
//! [`Function`]s over HTTP/1.1 on one socket, for the gateway.
//!
//! rust-less generates the `main.rs` of a small crate that links the user's app into
//! this runner:
//!
//! ```no_run
//! # mod user_app {
//! #     use rustless::{Function, Request, Response};
//! #     #[derive(Default)] pub struct Hello;
//! #     impl Function for Hello { fn call(&self, _: &Request) -> Response { Response::no_content() } }
//! #     pub mod handlers {
//! #         use rustless::{Function, Request, Response};
//! #         #[derive(Default)] pub struct Echo;
//! #         impl Function for Echo { fn call(&self, _: &Request) -> Response { Response::no_content() } }
//! #     }
//! # }
//! fn main() {
//!     rustless_runner::Runner::new()
//!         .function("Hello", user_app::Hello::default())
//!         .function("handlers::Echo", user_app::handlers::Echo::default())
//!         .route(&["GET"], "/hello/:name", "Hello", 30_000)
//!         .route(&["POST", "PUT"], "/echo", "handlers::Echo", 30_000)
//!         .accept(&["application/json", "application/x-www-form-urlencoded"])
//!         .max_body_bytes(1024 * 1024)
//!         .run(); // never returns
//! }
//! ```
//!
//! The generated `main` also hands over the app's routes (`.route(...)`, each followed by
//! `.accept(...)` when it takes more than JSON) and body limit (`.max_body_bytes(...)`),
//! so the same binary can stand alone.
//!
//! The binary then takes its socket from systemd (`LISTEN_FDS`, fd 3, unix or TCP), from
//! `--listen PATH` / `--listen HOST:PORT`, or from `PORT` (bound on `0.0.0.0`, the
//! Knative convention). On a unix socket the gateway routes, and each request names its
//! function in `x-rustless-function`; on a TCP socket the runner routes by the app's own
//! table with the gateway's HTTP contract. The wire protocol is in
//! `docs/runner-protocol.md`.
#![warn(missing_docs)]

mod accept;
mod dispatch;
mod frames;
mod front;
mod http;
mod listen;
mod log;
mod notify;
mod pool;
mod routes;
mod server;
mod signals;
mod watchdog;

use rustless::Function;

use crate::accept::Accept;
use crate::dispatch::Dispatcher;
use crate::front::Front;
use crate::listen::Listener;
use crate::routes::{Route, RouteTable};
use crate::signals::StopSignals;

/// The functions of one app, and the server that hosts them.
#[derive(Default)]
pub struct Runner {
    dispatcher: Dispatcher,
    duplicates: Vec<String>,
    routes: RouteTable,
    route_errors: Vec<String>,
    max_body_bytes: Option<usize>,
}

/// The body limit when the app sets none (rustless.toml's default `max_body_bytes`).
const DEFAULT_MAX_BODY_BYTES: usize = 1024 * 1024;

impl Runner {
    /// A runner without functions yet.
    pub fn new() -> Runner {
        Runner::default()
    }

    /// Registers `function` under `name`, the name routes use in `rustless.toml`
    /// (`"Hello"`, `"handlers::Echo"`). Registering a name twice is a start-up error.
    pub fn function<F: Function>(mut self, name: &str, function: F) -> Runner {
        if !self.dispatcher.insert(name.to_string(), Box::new(function)) {
            self.duplicates.push(name.to_string());
        }
        self
    }

    /// Adds a route of `rustless.toml`: its methods (`["GET"]`, `["*"]` for any), its
    /// path pattern (`/hello/:name`, `/files/*rest`), the function that answers, and its
    /// timeout. Used only when the runner answers clients itself (a TCP socket); a bad
    /// pattern or an unregistered function is a start-up error.
    pub fn route(self, methods: &[&str], path: &str, function: &str, timeout_ms: u64) -> Runner {
        self.add_route(methods, path, function, timeout_ms, false)
    }

    /// Adds a `fallback = true` route: like [`Runner::route`], but it answers only paths
    /// that no ordinary route matches.
    pub fn fallback_route(self, methods: &[&str], path: &str, function: &str, timeout_ms: u64) -> Runner {
        self.add_route(methods, path, function, timeout_ms, true)
    }

    fn add_route(mut self, methods: &[&str], path: &str, function: &str, timeout_ms: u64, fallback: bool) -> Runner {
        let route = Route {
            methods: methods.iter().map(|m| m.to_ascii_uppercase()).collect(),
            path: path.to_string(),
            function: function.to_string(),
            timeout: std::time::Duration::from_millis(timeout_ms),
            fallback,
            accept: Accept::default(),
        };
        if let Err(e) = self.routes.add(route) {
            self.route_errors.push(e);
        }
        self
    }

    /// Sets the request bodies the route added last accepts (`accept` in `rustless.toml`):
    /// media types such as `"application/x-www-form-urlencoded"`, `"text/*"` or `"*/*"`.
    /// Without it a route takes JSON only. A bad media type, or no route before it, is a
    /// start-up error.
    pub fn accept(mut self, media_types: &[&str]) -> Runner {
        let result = Accept::parse(media_types).and_then(|accept| match self.routes.last_mut() {
            Some(route) => {
                route.accept = accept;
                Ok(())
            }
            None => Err("accept(...) comes after the route it applies to".to_string()),
        });
        if let Err(e) = result {
            self.route_errors.push(e);
        }
        self
    }

    /// The largest request body, in bytes, a standalone runner accepts (413 above it).
    pub fn max_body_bytes(mut self, bytes: usize) -> Runner {
        self.max_body_bytes = Some(bytes);
        self
    }

    /// Serves until SIGTERM or SIGINT, then finishes the requests in flight (at most
    /// 10 s) and exits the process with status 0. Exits with status 1 when it cannot
    /// start (no socket, bad arguments, duplicate function names).
    ///
    /// Arguments: `--listen PATH` (a unix socket; a stale socket file is replaced) or
    /// `--listen HOST:PORT` (TCP). Without them the socket comes from systemd socket
    /// activation (`LISTEN_FDS=1`, `LISTEN_PID`, fd 3), else from `PORT` (TCP on
    /// `0.0.0.0`). Environment: `RUSTLESS_APP`
    /// names the app in log lines, `RUSTLESS_ACCESS_LOG=0` turns off the line per
    /// request, `NOTIFY_SOCKET` receives `READY=1` and `STOPPING=1`.
    pub fn run(self) -> ! {
        log::init();
        install_panic_hook();
        let code = match self.start() {
            Ok(code) => code,
            Err(message) => {
                log::line(&message);
                1
            }
        };
        log::flush();
        std::process::exit(code)
    }

    fn start(self) -> Result<i32, String> {
        if !self.duplicates.is_empty() {
            return Err(format!(
                "function registered twice: {}",
                self.duplicates.join(", ")
            ));
        }
        if !self.route_errors.is_empty() {
            return Err(self.route_errors.join("; "));
        }
        let known = self.dispatcher.names();
        if let Some(missing) = self.routes.functions().find(|f| !known.contains(f)) {
            return Err(format!("a route names the function {:?}, which is not registered", missing));
        }
        let listen = parse_args(std::env::args().skip(1))?;
        let (listener, how) = match listen {
            Some(spec) => {
                let l = Listener::bind(&spec).map_err(|e| format!("cannot listen on {}: {}", spec, e))?;
                (l, "--listen")
            }
            None => match Listener::from_systemd() {
                Ok(Some(l)) => (l, "socket activation"),
                Ok(None) => match std::env::var("PORT") {
                    Ok(port) => (bind_port(&port)?, "PORT"),
                    Err(_) => {
                        return Err("no socket: start under systemd socket activation \
                                    (LISTEN_FDS), with --listen PATH|HOST:PORT, or with PORT set"
                            .to_string())
                    }
                },
                Err(e) => return Err(format!("cannot use the socket from LISTEN_FDS: {}", e)),
            },
        };
        // Before READY=1: a SIGTERM from here on is a graceful stop, never a kill.
        let signals = StopSignals::install().map_err(|e| format!("cannot handle signals: {}", e))?;
        let public = matches!(listener, Listener::Tcp(_));
        let names = self.dispatcher.names().join(", ");
        let front = Front::new(
            self.dispatcher,
            self.routes,
            self.max_body_bytes.unwrap_or(DEFAULT_MAX_BODY_BYTES),
            public,
        );
        log::line(&format!(
            "listening on {} ({}), functions: {}{}",
            listener,
            how,
            names,
            if front.routes_here() { "; routing requests itself" } else { "" }
        ));
        let options = server::Options {
            access_log: std::env::var("RUSTLESS_ACCESS_LOG").map_or(true, |v| v != "0"),
        };
        Ok(server::serve(listener, signals, front, options))
    }
}

/// `PORT`, as Knative and most platforms set it: TCP on every interface.
fn bind_port(port: &str) -> Result<Listener, String> {
    let number: u16 = port
        .parse()
        .map_err(|_| format!("PORT must be a port number from 0 to 65535, got {:?}", port))?;
    let spec = format!("0.0.0.0:{}", number);
    Listener::bind(&spec).map_err(|e| format!("cannot listen on {} (from PORT): {}", spec, e))
}

/// `--listen X` or `--listen=X`; `None` when absent.
fn parse_args<I: Iterator<Item = String>>(mut args: I) -> Result<Option<String>, String> {
    let mut listen = None;
    while let Some(arg) = args.next() {
        if arg == "--listen" {
            match args.next() {
                Some(v) => listen = Some(v),
                None => return Err("--listen needs PATH or HOST:PORT".to_string()),
            }
        } else if let Some(v) = arg.strip_prefix("--listen=") {
            listen = Some(v.to_string());
        } else if arg == "--help" || arg == "-h" {
            eprintln!(
                "usage: {} [--listen PATH|HOST:PORT]\n\
                 Serves this rust-less app; without --listen the socket comes from systemd (LISTEN_FDS).",
                std::env::args().next().unwrap_or_else(|| "runner".to_string())
            );
            std::process::exit(0);
        } else {
            return Err(format!("unknown argument {:?} (try --help)", arg));
        }
    }
    Ok(listen)
}

/// One log line per panic instead of the default multi-line report; the request that
/// panicked gets its 500 from the dispatcher.
fn install_panic_hook() {
    std::panic::set_hook(Box::new(|info| {
        let message = dispatch::panic_message(info.payload());
        let thread = std::thread::current();
        let place = match info.location() {
            Some(l) => format!(" at {}:{}:{}", l.file(), l.line(), l.column()),
            None => String::new(),
        };
        log::line(&format!(
            "panic in {}{}: {}",
            thread.name().unwrap_or("a thread"),
            place,
            message
        ));
    }));
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(list: &[&str]) -> Result<Option<String>, String> {
        parse_args(list.iter().map(|s| s.to_string()))
    }

    #[test]
    fn parses_listen() {
        assert_eq!(args(&[]), Ok(None));
        assert_eq!(args(&["--listen", "/a.sock"]), Ok(Some("/a.sock".into())));
        assert_eq!(args(&["--listen=127.0.0.1:1"]), Ok(Some("127.0.0.1:1".into())));
        assert!(args(&["--listen"]).is_err());
        assert!(args(&["--nope"]).is_err());
    }
}
