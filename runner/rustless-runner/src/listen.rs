//! The listening socket: handed over by systemd (or the local backend, which speaks the
//! same `LISTEN_FDS` protocol), or bound here for manual use.

use std::fmt;
use std::io::{self, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::os::unix::io::{AsRawFd, RawFd};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::Path;
use std::time::Duration;

/// A stream listener of either family: systemd may pass a unix or a TCP socket.
pub enum Listener {
    Unix(UnixListener),
    Tcp(TcpListener),
}

impl Listener {
    /// Takes fd 3 when `LISTEN_FDS`/`LISTEN_PID` name this process. `Ok(None)` when
    /// they do not: the caller then needs `--listen`.
    pub fn from_systemd() -> io::Result<Option<Listener>> {
        // listenfd checks LISTEN_PID against our pid and clears both variables so a
        // child process would not take the socket too.
        let mut fds = listenfd::ListenFd::from_env();
        if fds.len() == 0 {
            return Ok(None);
        }
        if fds.len() > 1 {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("LISTEN_FDS={}: a runner takes exactly one socket", fds.len()),
            ));
        }
        if let Ok(Some(l)) = fds.take_unix_listener(0) {
            return Ok(Some(Listener::Unix(l)));
        }
        match fds.take_tcp_listener(0) {
            Ok(Some(l)) => Ok(Some(Listener::Tcp(l))),
            Ok(None) => Ok(None),
            Err(e) => Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("fd 3 is not a listening unix or TCP stream socket ({})", e),
            )),
        }
    }

    /// Binds `--listen`: a path (anything with a `/`, or not of the form `host:port`)
    /// is a unix socket, otherwise `HOST:PORT` is TCP.
    pub fn bind(spec: &str) -> io::Result<Listener> {
        if is_tcp_address(spec) {
            return TcpListener::bind(spec).map(Listener::Tcp);
        }
        let path = Path::new(spec);
        match UnixListener::bind(path) {
            Ok(l) => Ok(Listener::Unix(l)),
            Err(e) if e.kind() == io::ErrorKind::AddrInUse => {
                // A socket file left by a runner that died. If something still answers
                // on it, it is not stale: refuse rather than steal it.
                if UnixStream::connect(path).is_ok() {
                    return Err(io::Error::new(
                        io::ErrorKind::AddrInUse,
                        format!("{} is in use by another process", spec),
                    ));
                }
                std::fs::remove_file(path)?;
                UnixListener::bind(path).map(Listener::Unix)
            }
            Err(e) => Err(e),
        }
    }

    pub fn accept(&self) -> io::Result<Stream> {
        match self {
            Listener::Unix(l) => l.accept().map(|(s, _)| Stream::Unix(s)),
            Listener::Tcp(l) => l.accept().map(|(s, _)| {
                // Responses are written whole; do not let Nagle hold the last segment.
                let _ = s.set_nodelay(true);
                Stream::Tcp(s)
            }),
        }
    }

    pub fn set_nonblocking(&self, on: bool) -> io::Result<()> {
        match self {
            Listener::Unix(l) => l.set_nonblocking(on),
            Listener::Tcp(l) => l.set_nonblocking(on),
        }
    }
}

impl AsRawFd for Listener {
    fn as_raw_fd(&self) -> RawFd {
        match self {
            Listener::Unix(l) => l.as_raw_fd(),
            Listener::Tcp(l) => l.as_raw_fd(),
        }
    }
}

impl fmt::Display for Listener {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Listener::Unix(l) => match l.local_addr().ok().and_then(|a| {
                a.as_pathname().map(|p| p.display().to_string())
            }) {
                Some(path) => write!(f, "unix:{}", path),
                None => f.write_str("unix:(unnamed)"),
            },
            Listener::Tcp(l) => match l.local_addr() {
                Ok(a) => write!(f, "tcp:{}", a),
                Err(_) => f.write_str("tcp:(unknown)"),
            },
        }
    }
}

/// `127.0.0.1:8081`, `[::1]:8081`, `localhost:8081` are TCP; `/run/x.sock`, `x.sock`
/// are paths.
fn is_tcp_address(spec: &str) -> bool {
    if spec.contains('/') {
        return false;
    }
    match spec.rfind(':') {
        Some(i) => !spec[..i].is_empty() && spec[i + 1..].parse::<u16>().is_ok(),
        None => false,
    }
}

/// An accepted connection of either family.
pub enum Stream {
    Unix(UnixStream),
    Tcp(TcpStream),
}

impl Stream {
    pub fn try_clone(&self) -> io::Result<Stream> {
        match self {
            Stream::Unix(s) => s.try_clone().map(Stream::Unix),
            Stream::Tcp(s) => s.try_clone().map(Stream::Tcp),
        }
    }

    pub fn shutdown(&self, how: Shutdown) -> io::Result<()> {
        match self {
            Stream::Unix(s) => s.shutdown(how),
            Stream::Tcp(s) => s.shutdown(how),
        }
    }

    pub fn set_read_timeout(&self, timeout: Option<Duration>) -> io::Result<()> {
        match self {
            Stream::Unix(s) => s.set_read_timeout(timeout),
            Stream::Tcp(s) => s.set_read_timeout(timeout),
        }
    }

    pub fn set_nonblocking(&self, on: bool) -> io::Result<()> {
        match self {
            Stream::Unix(s) => s.set_nonblocking(on),
            Stream::Tcp(s) => s.set_nonblocking(on),
        }
    }
}

impl Read for Stream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Stream::Unix(s) => s.read(buf),
            Stream::Tcp(s) => s.read(buf),
        }
    }
}

impl Write for Stream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Stream::Unix(s) => s.write(buf),
            Stream::Tcp(s) => s.write(buf),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self {
            Stream::Unix(s) => s.flush(),
            Stream::Tcp(s) => s.flush(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tells_tcp_addresses_from_paths() {
        assert!(is_tcp_address("127.0.0.1:8081"));
        assert!(is_tcp_address("[::1]:8081"));
        assert!(is_tcp_address("localhost:0"));
        assert!(!is_tcp_address("/run/rustless/fn/a.sock"));
        assert!(!is_tcp_address("a.sock"));
        assert!(!is_tcp_address(":8081"));
        assert!(!is_tcp_address("host:http"));
        assert!(!is_tcp_address("./x:80"));
    }

    #[test]
    fn binds_a_path_replacing_a_stale_socket_but_not_a_live_one() {
        let dir = std::env::temp_dir().join(format!("rustless-listen-{}", std::process::id()));
        let _ = std::fs::create_dir_all(&dir);
        let path = dir.join("stale.sock");
        let path_str = path.to_str().unwrap();
        drop(UnixListener::bind(&path).unwrap()); // leaves the file behind
        assert!(path.exists());
        let live = Listener::bind(path_str).unwrap();
        assert_eq!(live.to_string(), format!("unix:{}", path_str));
        let err = Listener::bind(path_str).err().unwrap();
        assert_eq!(err.kind(), io::ErrorKind::AddrInUse);
        drop(live);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn binds_tcp() {
        let l = Listener::bind("127.0.0.1:0").unwrap();
        assert!(l.to_string().starts_with("tcp:127.0.0.1:"));
    }
}
