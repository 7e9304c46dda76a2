//! The gateway's own protocol on the runner socket: length-prefixed frames with request
//! ids, many requests in flight on one connection, answered in any order.
//!
//! Why not HTTP/1.1 for this hop: a Node proxy that speaks HTTP/1.1 to the runner pays
//! syscalls, parsing and stream machinery per request. Frames let the gateway put many
//! requests in one write and read many answers in one read, and let a slow function
//! answer late without holding up the requests behind it. A connection that starts
//! with [`PREFACE`] speaks frames; any other is HTTP/1.1 (nginx, curl, tests).
//! The layout is in `docs/runner-protocol.md`.

use std::io::{self, Read, Write};
use std::sync::Mutex;

use crate::dispatch::{FUNCTION_HEADER, PARAMS_HEADER};
use crate::http::{self, HttpRequest, MAX_BODY};

/// The first bytes of a frame connection. A NUL can never start an HTTP request.
pub const PREFACE: &[u8] = b"\0rustless-frames/1\n";

/// A request frame read from the wire, its id kept for the answer.
pub struct FrameRequest {
    pub id: u32,
    pub request: HttpRequest,
}

/// Size of a frame connection's read buffer: a gateway write of many requests is read
/// with few `read`s. A bigger frame grows it for as long as it is being read.
const READ_BUFFER: usize = 64 * 1024;

/// Cuts request frames out of a connection's bytes: one `read` brings whatever the
/// gateway wrote (often many frames), and the frames are parsed where they lie.
pub struct FrameReader<R> {
    inner: R,
    buf: Vec<u8>,
    /// Unparsed bytes are `buf[start..end]`.
    start: usize,
    end: usize,
}

impl<R: Read> FrameReader<R> {
    /// `buffered`: bytes already read from `inner` (after the preface).
    pub fn new(inner: R, buffered: &[u8]) -> FrameReader<R> {
        let mut buf = vec![0u8; READ_BUFFER.max(buffered.len())];
        buf[..buffered.len()].copy_from_slice(buffered);
        FrameReader {
            inner,
            buf,
            start: 0,
            end: buffered.len(),
        }
    }

    pub fn get_ref(&self) -> &R {
        &self.inner
    }

    /// The next request frame, reading as needed; `Ok(None)` at a clean end of the
    /// connection (between frames).
    pub fn next(&mut self) -> io::Result<Option<FrameRequest>> {
        loop {
            if let Some(frame) = self.next_buffered()? {
                return Ok(Some(frame));
            }
            if !self.fill()? {
                return if self.start == self.end {
                    Ok(None)
                } else {
                    Err(io::Error::new(io::ErrorKind::UnexpectedEof, "connection ended inside a frame"))
                };
            }
        }
    }

    /// The next request frame if all of it has been read already; never blocks.
    pub fn next_buffered(&mut self) -> io::Result<Option<FrameRequest>> {
        let available = self.end - self.start;
        if available < 4 {
            return Ok(None);
        }
        let at = self.start;
        let len = u32::from_le_bytes([self.buf[at], self.buf[at + 1], self.buf[at + 2], self.buf[at + 3]]) as u64;
        if len < 8 || len > MAX_BODY + 1024 * 1024 {
            return Err(invalid("frame length out of range"));
        }
        let len = len as usize;
        if available < 4 + len {
            return Ok(None);
        }
        self.start += 4 + len;
        let frame = parse_request(&self.buf[at + 4..at + 4 + len]);
        if self.start == self.end {
            self.start = 0;
            self.end = 0;
            // One huge frame must not pin a huge buffer for good.
            if self.buf.len() > READ_BUFFER {
                self.buf = vec![0u8; READ_BUFFER];
            }
        }
        frame.map(Some)
    }

    /// Reads once, making room for the frame in progress first; `false` at the end of
    /// the stream.
    fn fill(&mut self) -> io::Result<bool> {
        let available = self.end - self.start;
        let mut need = self.buf.len();
        if available >= 4 {
            let at = self.start;
            let len = u32::from_le_bytes([self.buf[at], self.buf[at + 1], self.buf[at + 2], self.buf[at + 3]]) as usize;
            need = need.max(4 + len);
        }
        if self.start > 0 && (self.end == self.buf.len() || self.start + need > self.buf.len()) {
            self.buf.copy_within(self.start..self.end, 0);
            self.start = 0;
            self.end = available;
        }
        if need > self.buf.len() {
            self.buf.resize(need, 0);
        }
        loop {
            match self.inner.read(&mut self.buf[self.end..]) {
                Ok(0) => return Ok(false),
                Ok(n) => {
                    self.end += n;
                    return Ok(true);
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            }
        }
    }
}

fn parse_request(frame: &[u8]) -> io::Result<FrameRequest> {
    let id = u32::from_le_bytes([frame[0], frame[1], frame[2], frame[3]]);
    let head_len = u32::from_le_bytes([frame[4], frame[5], frame[6], frame[7]]) as usize;
    let head = frame
        .get(8..8 + head_len)
        .ok_or_else(|| invalid("head longer than the frame"))?;
    let body = frame[8 + head_len..].to_vec();
    let mut lines = head.split(|&b| b == b'\n');
    let first = lines.next().unwrap_or(b"");
    let space = first
        .iter()
        .position(|&b| b == b' ')
        .ok_or_else(|| invalid("no method"))?;
    let method = String::from_utf8_lossy(&first[..space]).into_owned();
    let target = String::from_utf8_lossy(&first[space + 1..]).into_owned();
    let function = String::from_utf8_lossy(lines.next().ok_or_else(|| invalid("no function"))?).into_owned();
    let params = String::from_utf8_lossy(lines.next().ok_or_else(|| invalid("no params"))?).into_owned();
    // The gateway's names first: `header()` returns the first match, so a client's
    // x-rustless-* header (the gateway drops those anyway) could never win.
    let mut headers = vec![
        (FUNCTION_HEADER.to_string(), function),
        (PARAMS_HEADER.to_string(), params),
    ];
    for line in lines {
        if line.is_empty() {
            continue;
        }
        let text = String::from_utf8_lossy(line);
        let colon = text.find(':').ok_or_else(|| invalid("header line without a colon"))?;
        headers.push((
            text[..colon].to_ascii_lowercase(),
            text[colon + 1..].trim().to_string(),
        ));
    }
    Ok(FrameRequest {
        id,
        request: HttpRequest {
            method,
            target,
            http10: false,
            headers,
            body,
        },
    })
}

fn invalid(message: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, format!("bad request frame: {}", message))
}

/// Appends one response frame: id, status, `name: value\n` lines, body. A `HEAD` gets
/// the `content-length` its `GET` would have had and no body; 204 and 304 get neither.
/// Every header must have passed `http::invalid_header`.
pub fn encode_response(
    out: &mut Vec<u8>,
    id: u32,
    status: u16,
    headers: &[(String, String)],
    body: &[u8],
    head_only: bool,
) {
    let start = out.len();
    out.extend_from_slice(&[0; 4]);
    out.extend_from_slice(&id.to_le_bytes());
    out.extend_from_slice(&status.to_le_bytes());
    let head_at = out.len();
    out.extend_from_slice(&[0; 4]);
    // The gateway owns framing towards its client.
    http::push_header_lines(out, headers, b"\n");
    let bodiless = http::is_bodiless(status);
    if head_only && !bodiless {
        out.extend_from_slice(format!("content-length: {}\n", body.len()).as_bytes());
    }
    let head_len = (out.len() - head_at - 4) as u32;
    out[head_at..head_at + 4].copy_from_slice(&head_len.to_le_bytes());
    if !bodiless && !head_only {
        out.extend_from_slice(body);
    }
    let len = (out.len() - start - 4) as u32;
    out[start..start + 4].copy_from_slice(&len.to_le_bytes());
}

/// Answers waiting to be written on one connection. Whichever thread finds nobody
/// writing writes everything queued, so answers that finish together leave in one write.
pub struct Outbox {
    state: Mutex<OutboxState>,
}

#[derive(Default)]
struct OutboxState {
    frames: Vec<u8>,
    /// Answers in `frames`.
    count: usize,
    writing: bool,
    /// A write failed: the gateway is gone, later answers are dropped.
    broken: bool,
    /// The buffer of the last write, kept for the next batch of answers.
    spare: Vec<u8>,
}

/// A spare write buffer above this size is dropped rather than kept.
const SPARE_MAX: usize = 256 * 1024;

impl Outbox {
    pub fn new() -> Outbox {
        Outbox {
            state: Mutex::new(OutboxState::default()),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, OutboxState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Queues an answer without writing it (see `flush`).
    pub fn push(&self, encode: impl FnOnce(&mut Vec<u8>)) {
        let mut state = self.lock();
        encode(&mut state.frames);
        state.count += 1;
    }

    /// Writes every queued answer unless another thread is writing (which then writes
    /// them). Calls `done` with the number of answers this thread wrote (or dropped on a
    /// broken connection).
    pub fn flush<W: Write>(&self, writer: &Mutex<W>, done: impl Fn(usize)) {
        let mut state = self.lock();
        if state.writing || state.count == 0 {
            return;
        }
        state.writing = true;
        loop {
            let spare = std::mem::take(&mut state.spare);
            let mut frames = std::mem::replace(&mut state.frames, spare);
            let count = std::mem::replace(&mut state.count, 0);
            let broken = state.broken;
            drop(state);
            let ok = broken || {
                let mut w = writer.lock().unwrap_or_else(|e| e.into_inner());
                w.write_all(&frames).and_then(|_| w.flush()).is_ok()
            };
            done(count);
            frames.clear();
            state = self.lock();
            state.broken |= !ok;
            if frames.capacity() <= SPARE_MAX {
                state.spare = frames;
            }
            if state.count == 0 {
                state.writing = false;
                return;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request_frame(id: u32, head: &str, body: &[u8]) -> Vec<u8> {
        let mut frame = Vec::new();
        frame.extend_from_slice(&((8 + head.len() + body.len()) as u32).to_le_bytes());
        frame.extend_from_slice(&id.to_le_bytes());
        frame.extend_from_slice(&(head.len() as u32).to_le_bytes());
        frame.extend_from_slice(head.as_bytes());
        frame.extend_from_slice(body);
        frame
    }

    /// Delivers its chunks one `read` at a time.
    struct Chunks(Vec<Vec<u8>>);

    impl Read for Chunks {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            if self.0.is_empty() {
                return Ok(0);
            }
            let chunk = &mut self.0[0];
            let n = chunk.len().min(buf.len());
            buf[..n].copy_from_slice(&chunk[..n]);
            chunk.drain(..n);
            if chunk.is_empty() {
                self.0.remove(0);
            }
            Ok(n)
        }
    }

    #[test]
    fn reads_request_frames_in_a_row() {
        let mut wire = request_frame(7, "POST /echo?x=1\nEcho\n{}\nContent-Type: application/json\nx-a:  1 \n", b"{\"a\":1}");
        wire.extend(request_frame(8, "GET /hello/b\nHello\n{\"name\":\"b\"}\n", b""));
        // Split mid-frame, as a socket may deliver it.
        let mut reader = FrameReader::new(Chunks(vec![wire[..30].to_vec(), wire[30..].to_vec()]), b"");
        let first = reader.next().unwrap().unwrap();
        assert_eq!(first.id, 7);
        assert_eq!(first.request.method, "POST");
        assert_eq!(first.request.target, "/echo?x=1");
        assert_eq!(first.request.header(FUNCTION_HEADER), Some("Echo"));
        assert_eq!(first.request.header("content-type"), Some("application/json"));
        assert_eq!(first.request.header("x-a"), Some("1"));
        assert_eq!(first.request.body, b"{\"a\":1}");
        let second = reader.next().unwrap().unwrap();
        assert_eq!((second.id, second.request.header(PARAMS_HEADER)), (8, Some("{\"name\":\"b\"}")));
        assert!(reader.next().unwrap().is_none());
    }

    #[test]
    fn refuses_broken_frames() {
        let short = &request_frame(1, "GET /\nA\n{}\n", b"")[..10];
        assert!(FrameReader::new(short, b"").next().is_err());
        let no_method = &request_frame(1, "GET\nA\n{}\n", b"")[..];
        assert!(FrameReader::new(no_method, b"").next().is_err());
    }

    #[test]
    fn encodes_responses_with_the_gateway_owning_framing() {
        let headers = vec![
            ("content-type".to_string(), "application/json".to_string()),
            ("content-length".to_string(), "999".to_string()),
            ("x-ok".to_string(), "é\tb".to_string()),
        ];
        let mut out = Vec::new();
        encode_response(&mut out, 3, 201, &headers, b"{}", false);
        let head = "content-type: application/json\nx-ok: é\tb\n";
        assert_eq!(u32::from_le_bytes(out[0..4].try_into().unwrap()) as usize, out.len() - 4);
        assert_eq!(u32::from_le_bytes(out[4..8].try_into().unwrap()), 3);
        assert_eq!(u16::from_le_bytes(out[8..10].try_into().unwrap()), 201);
        assert_eq!(u32::from_le_bytes(out[10..14].try_into().unwrap()) as usize, head.len());
        assert_eq!(&out[14..], format!("{}{{}}", head).as_bytes());

        let mut out = Vec::new();
        encode_response(&mut out, 4, 200, &[], b"{\"a\":1}", true);
        assert_eq!(&out[14..], b"content-length: 7\n");
        let mut out = Vec::new();
        encode_response(&mut out, 5, 204, &[], b"{}", false);
        assert_eq!(out.len(), 14);
    }
}
