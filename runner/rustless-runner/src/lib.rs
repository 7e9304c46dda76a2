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
//!         .run(); // never returns
//! }
//! ```
//!
//! The binary then takes its socket from systemd (`LISTEN_FDS`, fd 3, unix or TCP) or
//! from `--listen PATH` / `--listen HOST:PORT`, and calls the function named by each
//! request's `x-rustless-function` header. The wire protocol is in
//! `docs/runner-protocol.md`.
#![warn(missing_docs)]

mod dispatch;
mod frames;
mod http;
mod listen;
mod log;
mod notify;
mod pool;
mod query;
mod server;
mod signals;

use rustless::Function;

use crate::dispatch::Dispatcher;
use crate::listen::Listener;
use crate::signals::StopSignals;

/// The functions of one app, and the server that hosts them.
#[derive(Default)]
pub struct Runner {
    dispatcher: Dispatcher,
    duplicates: Vec<String>,
}

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

    /// Serves until SIGTERM or SIGINT, then finishes the requests in flight (at most
    /// 10 s) and exits the process with status 0. Exits with status 1 when it cannot
    /// start (no socket, bad arguments, duplicate function names).
    ///
    /// Arguments: `--listen PATH` (a unix socket; a stale socket file is replaced) or
    /// `--listen HOST:PORT` (TCP). Without them the socket must come from systemd socket
    /// activation (`LISTEN_FDS=1`, `LISTEN_PID`, fd 3). Environment: `RUSTLESS_APP`
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
        let listen = parse_args(std::env::args().skip(1))?;
        let (listener, how) = match listen {
            Some(spec) => {
                let l = Listener::bind(&spec).map_err(|e| format!("cannot listen on {}: {}", spec, e))?;
                (l, "--listen")
            }
            None => match Listener::from_systemd() {
                Ok(Some(l)) => (l, "socket activation"),
                Ok(None) => {
                    return Err("no socket: start under systemd socket activation \
                                (LISTEN_FDS) or with --listen PATH|HOST:PORT"
                        .to_string())
                }
                Err(e) => return Err(format!("cannot use the socket from LISTEN_FDS: {}", e)),
            },
        };
        // Before READY=1: a SIGTERM from here on is a graceful stop, never a kill.
        let signals = StopSignals::install().map_err(|e| format!("cannot handle signals: {}", e))?;
        log::line(&format!(
            "listening on {} ({}), functions: {}",
            listener,
            how,
            self.dispatcher.names().join(", ")
        ));
        let options = server::Options {
            access_log: std::env::var("RUSTLESS_ACCESS_LOG").map_or(true, |v| v != "0"),
        };
        Ok(server::serve(listener, signals, self.dispatcher, options))
    }
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
