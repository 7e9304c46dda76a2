//! SIGTERM and SIGINT as a readable file descriptor, so the accept loop can wait for a
//! connection *or* a stop request with one `poll`, and stop at once when idle.

use std::io::{self, Read};
use std::os::unix::io::{AsRawFd, RawFd};
use std::os::unix::net::UnixStream;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use signal_hook::consts::{SIGINT, SIGTERM};

/// The read end of a self-pipe the signal handlers write to.
pub struct StopSignals {
    wake: UnixStream,
    term: Arc<AtomicBool>,
    int: Arc<AtomicBool>,
}

impl StopSignals {
    /// Installs the handlers. From here on SIGTERM/SIGINT no longer kill the process:
    /// the server decides when to exit.
    pub fn install() -> io::Result<StopSignals> {
        let (wake, write) = UnixStream::pair()?;
        wake.set_nonblocking(true)?;
        let term = Arc::new(AtomicBool::new(false));
        let int = Arc::new(AtomicBool::new(false));
        // The flags say which signal it was (for the log line); the pipe wakes `poll`.
        signal_hook::flag::register(SIGTERM, Arc::clone(&term))?;
        signal_hook::flag::register(SIGINT, Arc::clone(&int))?;
        signal_hook::low_level::pipe::register(SIGTERM, write.try_clone()?)?;
        signal_hook::low_level::pipe::register(SIGINT, write)?;
        Ok(StopSignals { wake, term, int })
    }

    /// Consumes pending wake-ups; `true` if a signal arrived since the last call.
    pub fn take(&self) -> bool {
        let mut buf = [0u8; 64];
        let mut got = false;
        loop {
            match (&self.wake).read(&mut buf) {
                Ok(0) => return got,
                Ok(_) => got = true,
                Err(ref e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(_) => return got,
            }
        }
    }

    /// Which signal stopped us, for the log.
    pub fn name(&self) -> &'static str {
        match (
            self.term.load(Ordering::Relaxed),
            self.int.load(Ordering::Relaxed),
        ) {
            (true, _) => "SIGTERM",
            (false, true) => "SIGINT",
            _ => "a signal",
        }
    }
}

impl AsRawFd for StopSignals {
    fn as_raw_fd(&self) -> RawFd {
        self.wake.as_raw_fd()
    }
}
