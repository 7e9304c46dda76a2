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
use crate::http::{HttpRequest, MAX_BODY};

/// The first bytes of a frame connection. A NUL can never start an HTTP request.
pub const PREFACE: &[u8] = b"\0rustless-frames/1\n";

/// A request frame read from the wire, its id kept for the answer.
pub struct FrameRequest {
    pub id: u32,
    pub request: HttpRequest,
}

/// Reads the next request frame; `Ok(None)` at a clean end of the connection.
pub fn read_request<R: Read>(reader: &mut R) -> io::Result<Option<FrameRequest>> {
    let mut len = [0u8; 4];
    match reader.read_exact(&mut len) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(None),
        Err(e) => return Err(e),
    }
    let len = u32::from_le_bytes(len) as u64;
    if len < 8 || len > MAX_BODY + 1024 * 1024 {
        return Err(invalid("frame length out of range"));
    }
    let mut frame = vec![0u8; len as usize];
    reader.read_exact(&mut frame)?;
    parse_request(&frame).map(Some)
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
    for (name, value) in headers {
        // The gateway owns framing towards its client.
        if name == "content-length" || name == "transfer-encoding" || name == "connection" {
            continue;
        }
        out.extend_from_slice(name.as_bytes());
        out.extend_from_slice(b": ");
        out.extend_from_slice(value.as_bytes());
        out.push(b'\n');
    }
    let bodiless = status < 200 || status == 204 || status == 304;
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

/// Answers waiting to be written on one connection. Whichever worker finds nobody
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
}

impl Outbox {
    pub fn new() -> Outbox {
        Outbox {
            state: Mutex::new(OutboxState::default()),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, OutboxState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Queues an answer and writes unless another thread is writing. Calls `done` with
    /// the number of answers this thread wrote (or dropped on a broken connection).
    pub fn send<W: Write>(
        &self,
        writer: &Mutex<W>,
        encode: impl FnOnce(&mut Vec<u8>),
        done: impl Fn(usize),
    ) {
        let mut state = self.lock();
        encode(&mut state.frames);
        state.count += 1;
        if state.writing {
            return;
        }
        state.writing = true;
        loop {
            let frames = std::mem::take(&mut state.frames);
            let count = std::mem::replace(&mut state.count, 0);
            let broken = state.broken;
            drop(state);
            let ok = broken || {
                let mut w = writer.lock().unwrap_or_else(|e| e.into_inner());
                w.write_all(&frames).and_then(|_| w.flush()).is_ok()
            };
            done(count);
            state = self.lock();
            state.broken |= !ok;
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

    #[test]
    fn reads_request_frames_in_a_row() {
        let mut wire = request_frame(7, "POST /echo?x=1\nEcho\n{}\nContent-Type: application/json\nx-a:  1 \n", b"{\"a\":1}");
        wire.extend(request_frame(8, "GET /hello/b\nHello\n{\"name\":\"b\"}\n", b""));
        let mut reader = &wire[..];
        let first = read_request(&mut reader).unwrap().unwrap();
        assert_eq!(first.id, 7);
        assert_eq!(first.request.method, "POST");
        assert_eq!(first.request.target, "/echo?x=1");
        assert_eq!(first.request.header(FUNCTION_HEADER), Some("Echo"));
        assert_eq!(first.request.header("content-type"), Some("application/json"));
        assert_eq!(first.request.header("x-a"), Some("1"));
        assert_eq!(first.request.body, b"{\"a\":1}");
        let second = read_request(&mut reader).unwrap().unwrap();
        assert_eq!((second.id, second.request.header(PARAMS_HEADER)), (8, Some("{\"name\":\"b\"}")));
        assert!(read_request(&mut reader).unwrap().is_none());
    }

    #[test]
    fn refuses_broken_frames() {
        let mut short = &request_frame(1, "GET /\nA\n{}\n", b"")[..10];
        assert!(read_request(&mut short).is_err());
        let mut no_method = &request_frame(1, "GET\nA\n{}\n", b"")[..];
        assert!(read_request(&mut no_method).is_err());
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
