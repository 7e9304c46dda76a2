//! The accept loop, one thread per connection, and the graceful stop.
//!
//! A thread per connection is the simple way to never let one connection starve
//! another: the gateway keeps a pool of keep-alive connections, and a slow function on
//! one of them must not hold up requests on the others. Runners serve one app on a
//! small machine, so the number of connections stays modest (bounded below).

use std::collections::{HashMap, VecDeque};
use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::Shutdown;
use std::os::unix::io::AsRawFd;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread;
use std::time::{Duration, Instant};

use crate::frames::{self, FrameReader, FrameRequest, Outbox};
use crate::front::Front;
use crate::http::{self, ReadError};
use crate::listen::{Listener, Stream};
use crate::log;
use crate::notify;
use crate::pool::Pool;
use crate::signals::StopSignals;
use crate::watchdog::{Watched, Watchdog};

/// Connections served at once; more wait in the listen backlog.
const MAX_CONNECTIONS: usize = 1024;
/// How long requests in flight may take to finish once a stop begins.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(10);
/// An idle keep-alive connection (or one stalled mid-request) is closed after this.
/// The gateway's pool closes idle connections well before.
const IDLE_TIMEOUT: Duration = Duration::from_secs(120);

/// Settings read from the environment at start.
pub struct Options {
    /// One log line per request (`RUSTLESS_ACCESS_LOG=0` turns it off).
    pub access_log: bool,
}

struct Shared {
    front: Front,
    options: Options,
    /// Runs the requests of frame connections that their reader does not run itself.
    pool: Arc<Pool>,
    /// Moves a frame connection's reading elsewhere while its reader runs a slow function.
    watchdog: Arc<Watchdog>,
    state: Mutex<State>,
    /// Signalled whenever `busy` or the set of connections changes.
    changed: Condvar,
}

#[derive(Default)]
struct State {
    stopping: bool,
    /// Requests being read, run or answered.
    busy: usize,
    next_id: u64,
    /// Every open connection: a handle to shut it down, and whether it sits idle
    /// between requests (a frame connection always counts as idle: a stop ends its
    /// reading at once and lets the requests it already read finish).
    connections: HashMap<u64, Connection>,
}

struct Connection {
    closer: Stream,
    idle: bool,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        // No code panics while holding this lock, but stay up if it ever does.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// Serves until a stop signal, then drains. Returns the process's exit code.
pub fn serve(listener: Listener, signals: StopSignals, front: Front, options: Options) -> i32 {
    let shared = Arc::new(Shared {
        front,
        options,
        pool: Arc::new(Pool::default()),
        watchdog: Arc::new(Watchdog::default()),
        state: Mutex::new(State::default()),
        changed: Condvar::new(),
    });
    if let Err(e) = listener.set_nonblocking(true) {
        log::line(&format!("cannot use the socket: {}", e));
        return 1;
    }
    notify::ready();

    if let Err(e) = accept_loop(&listener, &signals, &shared) {
        log::line(&format!("cannot accept connections: {}", e));
        return 1;
    }

    // Stop accepting first: with socket activation the listening socket stays open in
    // systemd, and connections that arrive now wait there for the next start.
    drop(listener);
    notify::stopping();
    let in_flight = begin_stop(&shared);
    log::line(&format!(
        "stopping on {}: {} request(s) in flight",
        signals.name(),
        in_flight
    ));
    drain(&shared, &signals)
}

fn accept_loop(listener: &Listener, signals: &StopSignals, shared: &Arc<Shared>) -> io::Result<()> {
    loop {
        let full = shared.lock().connections.len() >= MAX_CONNECTIONS;
        // At capacity, wait only for a stop or for a connection to close (re-checked
        // every 50 ms); otherwise wait for a connection or a stop.
        let mut fds = [
            libc::pollfd {
                fd: signals.as_raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            },
            libc::pollfd {
                fd: listener.as_raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            },
        ];
        let (count, timeout) = if full { (1, 50) } else { (2, -1) };
        // SAFETY: `fds` is a valid array of at least `count` pollfd for the call.
        let n = unsafe { libc::poll(fds.as_mut_ptr(), count as libc::nfds_t, timeout) };
        if n < 0 {
            let e = io::Error::last_os_error();
            if e.kind() == io::ErrorKind::Interrupted {
                continue;
            }
            return Err(e);
        }
        if fds[0].revents != 0 && signals.take() {
            return Ok(());
        }
        if count == 2 && fds[1].revents != 0 {
            accept_ready(listener, shared)?;
        }
    }
}

/// Accepts every connection waiting now.
fn accept_ready(listener: &Listener, shared: &Arc<Shared>) -> io::Result<()> {
    loop {
        match listener.accept() {
            Ok(stream) => start_connection(stream, shared),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(()),
            Err(e) => match e.raw_os_error() {
                // The client gave up before we accepted: not our problem.
                Some(libc::ECONNABORTED) | Some(libc::EINTR) | Some(libc::EPROTO) => continue,
                // Out of fds or memory: back off instead of spinning, keep the rest
                // waiting in the backlog.
                Some(libc::EMFILE) | Some(libc::ENFILE) | Some(libc::ENOBUFS)
                | Some(libc::ENOMEM) => {
                    log::line(&format!("accept: {}; retrying in 100 ms", e));
                    thread::sleep(Duration::from_millis(100));
                    return Ok(());
                }
                _ => return Err(e),
            },
        }
    }
}

fn start_connection(stream: Stream, shared: &Arc<Shared>) {
    // Accepted sockets do not inherit O_NONBLOCK on Linux, but say what we rely on.
    let prepared = stream
        .set_nonblocking(false)
        .and_then(|_| stream.set_read_timeout(Some(IDLE_TIMEOUT)))
        .and_then(|_| stream.try_clone());
    let closer = match prepared {
        Ok(c) => c,
        Err(e) => {
            log::line(&format!("dropping a connection: {}", e));
            return;
        }
    };
    // Registered here, before the thread runs, so a stop that begins right now still
    // sees (and closes) this connection.
    let id = {
        let mut state = shared.lock();
        state.next_id += 1;
        let id = state.next_id;
        state.connections.insert(id, Connection { closer, idle: true });
        id
    };
    let thread_shared = Arc::clone(shared);
    let spawned = thread::Builder::new()
        .name(format!("conn-{}", id))
        .spawn(move || {
            if serve_connection(&thread_shared, stream, id) {
                return;
            }
            let mut state = thread_shared.lock();
            state.connections.remove(&id);
            thread_shared.changed.notify_all();
        });
    if let Err(e) = spawned {
        log::line(&format!("dropping a connection: cannot start a thread: {}", e));
        shared.lock().connections.remove(&id);
    }
}

/// Serves requests on one connection until it closes, fails, or the runner stops.
/// Returns `true` when the connection became a frame connection, which lives on (on the
/// pool's threads) and unregisters itself.
fn serve_connection(shared: &Arc<Shared>, stream: Stream, id: u64) -> bool {
    let mut writer = match stream.try_clone() {
        Ok(w) => w,
        Err(_) => return false,
    };
    let mut reader = BufReader::with_capacity(16 * 1024, stream);
    let mut first = true;
    loop {
        // Idle: wait for the first byte of the next request. A stop shuts the read
        // side down, which ends this wait.
        let frame_preface = match reader.fill_buf() {
            Ok(buf) if !buf.is_empty() => first && buf[0] == frames::PREFACE[0],
            _ => return false,
        };
        if frame_preface {
            serve_frames(shared, reader, writer, id);
            return true;
        }
        first = false;
        let stopping = {
            let mut state = shared.lock();
            state.busy += 1;
            if let Some(c) = state.connections.get_mut(&id) {
                c.idle = false;
            }
            state.stopping
        };
        let close = serve_request(shared, &mut reader, &mut writer, stopping);
        let mut state = shared.lock();
        state.busy -= 1;
        if let Some(c) = state.connections.get_mut(&id) {
            c.idle = true;
        }
        shared.changed.notify_all();
        if close || state.stopping {
            return false;
        }
    }
}

/// Reads, dispatches and answers one request; `true` when the connection must close.
fn serve_request(
    shared: &Shared,
    reader: &mut BufReader<Stream>,
    writer: &mut Stream,
    stopping: bool,
) -> bool {
    let started = Instant::now();
    let req = match http::read_request(reader, writer) {
        Ok(req) => req,
        Err(ReadError::Io(e)) => {
            // A client that hangs up mid-request is routine; a stall is worth a line.
            if e.kind() == io::ErrorKind::WouldBlock || e.kind() == io::ErrorKind::TimedOut {
                log::line("closing a connection stalled in the middle of a request");
            }
            return true;
        }
        Err(ReadError::Bad(status, code, message)) => {
            let res = rustless::Response::error(status, code, message);
            let _ = write(writer, &res, "-", false, true);
            log::line(&format!("bad request: {} {}", status, code));
            return true;
        }
    };
    let (response, function) = shared.front.handle(&req);
    // Re-read: a stop may have begun while the function ran.
    let close = stopping || req.wants_close() || shared.lock().stopping;
    let function = function.as_deref().unwrap_or("-");
    let written = write(writer, &response, function, req.method == "HEAD", close);
    if shared.options.access_log {
        let note = if written.is_err() { " (client gone)" } else { "" };
        access_line(&req, function, response.status_code(), started, note);
    }
    close || written.is_err()
}

/// A frame connection: the socket, the requests read and not yet started, and the
/// answers waiting to be written. Whoever drops the last reference (the last answer
/// written after the gateway closed) unregisters it.
///
/// One thread at a time holds the reading role: it reads every frame that has arrived,
/// runs them one after the other itself, writes their answers in one write, and reads
/// again. No thread switch per request, and no wake-up of another thread. When the
/// watchdog sees the reader away from reading for a whole tick (a slow function, or a
/// long batch), it gives the role to a pool thread and the waiting requests to others;
/// the old reader finishes its request and returns to the pool.
struct FrameConnection {
    shared: Arc<Shared>,
    id: u64,
    reader: Mutex<FrameReader<Stream>>,
    writer: Mutex<Stream>,
    outbox: Outbox,
    inline: Mutex<Inline>,
}

#[derive(Default)]
struct Inline {
    /// Requests read and not started yet, run by the reader in this order.
    queue: VecDeque<FrameRequest>,
    /// Which thread holds the reading role: bumped when the watchdog moves it.
    role: u64,
    /// The reader is running requests rather than reading.
    away: bool,
    /// Bumped each time the reader leaves reading, and what the watchdog saw last tick.
    trips: u64,
    seen: u64,
}

impl FrameConnection {
    fn inline(&self) -> MutexGuard<'_, Inline> {
        self.inline.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Writes the queued answers unless another thread is writing them already.
    fn flush(&self) {
        let shared = &self.shared;
        self.outbox.flush(&self.writer, |count| answered(shared, count));
    }
}

/// Counts answers written (or dropped on a connection the gateway closed).
fn answered(shared: &Shared, count: usize) {
    let mut state = shared.lock();
    state.busy -= count;
    // Only a drain waits for this.
    if state.stopping {
        shared.changed.notify_all();
    }
}

impl Drop for FrameConnection {
    fn drop(&mut self) {
        let mut state = self.shared.lock();
        state.connections.remove(&self.id);
        self.shared.changed.notify_all();
    }
}

impl Watched for FrameConnection {
    fn tick(self: Arc<Self>) -> bool {
        let mut inline = self.inline();
        if !inline.away {
            return false;
        }
        if inline.trips != inline.seen {
            inline.seen = inline.trips;
            return true;
        }
        // Away from reading for a whole tick: reading and the waiting requests go to
        // other threads, and the answers already made leave now.
        inline.role += 1;
        inline.away = false;
        let role = inline.role;
        let waiting = std::mem::take(&mut inline.queue);
        drop(inline);
        let pool = &self.shared.pool;
        for frame in waiting {
            let connection = Arc::clone(&self);
            pool.run(Box::new(move || {
                answer_frame(&connection, frame);
                connection.flush();
            }));
        }
        let connection = Arc::clone(&self);
        pool.run(Box::new(move || {
            connection.flush();
            read_frames(connection, role);
        }));
        false
    }
}

/// Starts serving a frame connection (see `frames`) on this thread, which becomes its
/// first reader. Returns when it stops reading; the connection unregisters itself when
/// it ends.
fn serve_frames(shared: &Arc<Shared>, mut reader: BufReader<Stream>, writer: Stream, id: u64) {
    let mut preface = [0u8; frames::PREFACE.len()];
    if reader.read_exact(&mut preface).is_err() || preface != frames::PREFACE {
        log::line("closing a connection that started with NUL but no frame preface");
        shared.lock().connections.remove(&id);
        return;
    }
    // The preface back says "frames understood": a runner from before frames would answer
    // HTTP instead, and the gateway can say so rather than misread it.
    let mut writer = writer;
    if writer.write_all(frames::PREFACE).is_err() {
        shared.lock().connections.remove(&id);
        return;
    }
    // The gateway owns this connection and closes it; no idle timeout here.
    let _ = reader.get_ref().set_read_timeout(None);
    let buffered = reader.buffer().to_vec();
    let frame_reader = FrameReader::new(reader.into_inner(), &buffered);
    let connection = Arc::new(FrameConnection {
        shared: Arc::clone(shared),
        id,
        reader: Mutex::new(frame_reader),
        writer: Mutex::new(writer),
        outbox: Outbox::new(),
        inline: Mutex::new(Inline::default()),
    });
    let watched: Arc<dyn Watched> = Arc::clone(&connection) as Arc<dyn Watched>;
    shared.watchdog.watch(Arc::downgrade(&watched));
    drop(watched);
    read_frames(connection, 0);
}

/// The reading role (see `FrameConnection`): reads every frame that has arrived, runs
/// them, writes their answers, and reads again, until the connection ends or the
/// watchdog gives the role (`role`) to another thread.
fn read_frames(connection: Arc<FrameConnection>, role: u64) {
    let shared = &connection.shared;
    loop {
        let mut batch = Vec::new();
        let mut end = false;
        {
            let mut reader = connection.reader.lock().unwrap_or_else(|e| e.into_inner());
            loop {
                // The first frame may wait for the socket; the rest are what has arrived.
                let next = if batch.is_empty() {
                    reader.next()
                } else {
                    reader.next_buffered()
                };
                match next {
                    Ok(Some(frame)) => batch.push(frame),
                    Ok(None) => break,
                    Err(e) => {
                        if e.kind() == io::ErrorKind::InvalidData {
                            log::line(&e.to_string());
                        }
                        // Whatever comes after a broken frame cannot be trusted: stop reading.
                        let _ = reader.get_ref().shutdown(Shutdown::Read);
                        end = true;
                        break;
                    }
                }
            }
            if batch.is_empty() {
                end = true;
            }
        }
        if !batch.is_empty() {
            shared.lock().busy += batch.len();
            let mut inline = connection.inline();
            inline.queue.extend(batch);
            inline.away = true;
            inline.trips += 1;
            drop(inline);
            shared.watchdog.kick();
            loop {
                let mut inline = connection.inline();
                if inline.role != role {
                    // The watchdog moved reading elsewhere while this thread ran a request.
                    drop(inline);
                    connection.flush();
                    return;
                }
                let frame = match inline.queue.pop_front() {
                    Some(frame) => frame,
                    None => {
                        inline.away = false;
                        break;
                    }
                };
                drop(inline);
                answer_frame(&connection, frame);
            }
            connection.flush();
        }
        if end {
            return;
        }
    }
}

/// Runs one request and queues its answer in the connection's outbox.
fn answer_frame(connection: &FrameConnection, frame: FrameRequest) {
    let shared = &connection.shared;
    let started = Instant::now();
    let req = &frame.request;
    let (response, function) = shared.front.handle(req);
    let function = function.as_deref().unwrap_or("-");
    let (headers, body) = response_parts(&response, function);
    let status = response.status_code();
    if shared.options.access_log {
        access_line(req, function, status, started, "");
    }
    connection
        .outbox
        .push(|out| frames::encode_response(out, frame.id, status, &headers, &body, req.method == "HEAD"));
}

/// Writes a function's response on an HTTP connection.
fn write(writer: &mut Stream, res: &rustless::Response, function: &str, head_only: bool, close: bool) -> io::Result<()> {
    let (headers, body) = response_parts(res, function);
    http::write_response(writer, res.status_code(), &headers, &body, head_only, close)
}

/// The headers and serialized body of a function's response. A header that is not valid
/// HTTP is dropped with a log line naming it and the function: sent, it would break the
/// response for the gateway.
fn response_parts(res: &rustless::Response, function: &str) -> (Vec<(String, String)>, Vec<u8>) {
    let mut headers = Vec::with_capacity(res.headers().len() + 1);
    for (name, value) in res.headers() {
        match http::invalid_header(name, value) {
            None => headers.push((name.clone(), value.clone())),
            Some(why) => log::line(&format!("dropped the header {:?} set by {}: {}", name, function, why)),
        }
    }
    let body = match res.body() {
        Some(value) => {
            if res.header("content-type").is_none() {
                headers.push(("content-type".to_string(), "application/json".to_string()));
            }
            // A `Value` always serializes (its map keys are strings).
            serde_json::to_vec(value).unwrap_or_default()
        }
        None => Vec::new(),
    };
    (headers, body)
}

/// Marks the stop and closes idle connections; returns the requests in flight.
fn begin_stop(shared: &Shared) -> usize {
    let mut state = shared.lock();
    state.stopping = true;
    for c in state.connections.values() {
        if c.idle {
            // Read side only: a request that slipped in can still be answered.
            let _ = c.closer.shutdown(Shutdown::Read);
        }
    }
    state.busy
}

/// Waits for requests in flight, at most `DRAIN_TIMEOUT`; a second signal cuts it short.
fn drain(shared: &Shared, signals: &StopSignals) -> i32 {
    let deadline = Instant::now() + DRAIN_TIMEOUT;
    let mut state = shared.lock();
    loop {
        if state.busy == 0 {
            log::line("stopped");
            return 0;
        }
        let now = Instant::now();
        if now >= deadline {
            log::line(&format!(
                "stopped after {} s with {} request(s) unfinished",
                DRAIN_TIMEOUT.as_secs(),
                state.busy
            ));
            return 0;
        }
        if signals.take() {
            log::line(&format!(
                "second stop signal: stopped with {} request(s) unfinished",
                state.busy
            ));
            return 1;
        }
        let wait = (deadline - now).min(Duration::from_millis(50));
        state = match shared.changed.wait_timeout(state, wait) {
            Ok((s, _)) => s,
            Err(e) => e.into_inner().0,
        };
    }
}

/// The access log's line for one request: `GET /hello/pi -> Hello 200 0.3ms from 192.0.2.7`
/// (the client the gateway, or the ingress in front, named in `x-forwarded-for`), and a note.
fn access_line(req: &http::HttpRequest, function: &str, status: u16, started: Instant, note: &str) {
    let client = match req.header("x-forwarded-for") {
        Some(address) => format!(" from {}", address),
        None => String::new(),
    };
    log::access(&format!(
        "{} {} -> {} {} {:.1}ms{}{}",
        req.method,
        req.target,
        function,
        status,
        started.elapsed().as_secs_f64() * 1000.0,
        client,
        note
    ));
}
