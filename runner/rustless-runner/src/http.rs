//! Just enough HTTP/1.1 for the runner's one client, the gateway: request head, a body
//! by `content-length` or chunked, keep-alive, and whole responses with a length.
//!
//! Why not tiny_http: dropping its server deletes a unix socket's path (here the path
//! belongs to systemd and must outlive the runner), and it offers no way to stop
//! accepting while requests in flight finish, which graceful stop needs.

use std::io::{self, BufRead, Read, Write};

/// Longest request head (request line and headers) accepted.
const MAX_HEAD: u64 = 64 * 1024;
/// Most headers accepted.
const MAX_HEADERS: usize = 128;
/// Largest body accepted. The gateway enforces the real, configurable limit; this one
/// only keeps a confused client from exhausting the runner's memory.
pub const MAX_BODY: u64 = 32 * 1024 * 1024;

/// A request as read from the wire.
#[derive(Debug)]
pub struct HttpRequest {
    pub method: String,
    /// The request target: path and query, as sent.
    pub target: String,
    /// `true` for HTTP/1.0, where connections close unless asked otherwise.
    pub http10: bool,
    /// Names lower-cased, in order, repeated names kept.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl HttpRequest {
    /// The first value of a header (name given in lower case).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// Whether the client asked for the connection to close after this response.
    pub fn wants_close(&self) -> bool {
        let connection = self.header("connection").unwrap_or("").to_ascii_lowercase();
        let has = |token: &str| connection.split(',').any(|t| t.trim() == token);
        if self.http10 {
            !has("keep-alive")
        } else {
            has("close")
        }
    }
}

/// Why no request could be read.
#[derive(Debug)]
pub enum ReadError {
    /// The connection closed or failed; nothing can be answered.
    Io(io::Error),
    /// The request is malformed or too large: answer this status, then close.
    Bad(u16, &'static str, String),
}

impl From<io::Error> for ReadError {
    fn from(e: io::Error) -> Self {
        ReadError::Io(e)
    }
}

fn bad(status: u16, code: &'static str, message: impl Into<String>) -> ReadError {
    ReadError::Bad(status, code, message.into())
}

/// Reads one request. `interim` receives `100 Continue` when the client waits for it.
pub fn read_request<R: BufRead, W: Write>(
    reader: &mut R,
    interim: &mut W,
) -> Result<HttpRequest, ReadError> {
    let mut limited = reader.take(MAX_HEAD);
    let mut line = Vec::new();

    // RFC 9112 §2.2: ignore empty lines before the request line.
    loop {
        line.clear();
        read_line(&mut limited, &mut line)?;
        if !line.is_empty() {
            break;
        }
    }
    let request_line = String::from_utf8(line.clone())
        .map_err(|_| bad(400, "RUSTLESS_BAD_REQUEST", "request line is not UTF-8"))?;
    let mut parts = request_line.split(' ');
    let (method, target, version) = match (parts.next(), parts.next(), parts.next(), parts.next())
    {
        (Some(m), Some(t), Some(v), None) if !m.is_empty() && !t.is_empty() => (m, t, v),
        _ => return Err(bad(400, "RUSTLESS_BAD_REQUEST", "malformed request line")),
    };
    let http10 = match version {
        "HTTP/1.1" => false,
        "HTTP/1.0" => true,
        _ => {
            return Err(bad(
                505,
                "RUSTLESS_BAD_REQUEST",
                "only HTTP/1.0 and HTTP/1.1 are spoken here",
            ))
        }
    };

    let mut headers = Vec::new();
    loop {
        line.clear();
        read_line(&mut limited, &mut line)?;
        if line.is_empty() {
            break;
        }
        if headers.len() == MAX_HEADERS {
            return Err(bad(431, "RUSTLESS_HEADERS_TOO_LARGE", "too many headers"));
        }
        let text = String::from_utf8_lossy(&line);
        let colon = match text.find(':') {
            Some(i) if i > 0 => i,
            _ => return Err(bad(400, "RUSTLESS_BAD_REQUEST", "malformed header line")),
        };
        let name = text[..colon].to_ascii_lowercase();
        if name.bytes().any(|b| b == b' ' || b == b'\t') {
            return Err(bad(400, "RUSTLESS_BAD_REQUEST", "whitespace in a header name"));
        }
        headers.push((name, text[colon + 1..].trim().to_string()));
    }

    let mut req = HttpRequest {
        method: method.to_string(),
        target: target.to_string(),
        http10,
        headers,
        body: Vec::new(),
    };
    let reader = limited.into_inner();

    let chunked = match req.header("transfer-encoding") {
        None => false,
        Some(te) if te.to_ascii_lowercase().trim_end().ends_with("chunked") => true,
        Some(_) => {
            return Err(bad(
                501,
                "RUSTLESS_BAD_REQUEST",
                "unsupported transfer-encoding",
            ))
        }
    };
    let length = if chunked {
        None
    } else {
        content_length(&req)?
    };
    if length.map_or(false, |n| n > MAX_BODY) {
        return Err(bad(413, "RUSTLESS_BODY_TOO_LARGE", "request body too large"));
    }
    let expects_body = chunked || length.map_or(false, |n| n > 0);
    if expects_body
        && req
            .header("expect")
            .map_or(false, |e| e.eq_ignore_ascii_case("100-continue"))
    {
        interim.write_all(b"HTTP/1.1 100 Continue\r\n\r\n")?;
        interim.flush()?;
    }
    req.body = match length {
        Some(n) => {
            let mut body = vec![0; n as usize];
            reader.read_exact(&mut body)?;
            body
        }
        None if chunked => read_chunked(reader)?,
        None => Vec::new(),
    };
    Ok(req)
}

fn content_length(req: &HttpRequest) -> Result<Option<u64>, ReadError> {
    let mut found: Option<u64> = None;
    for (name, value) in &req.headers {
        if name != "content-length" {
            continue;
        }
        for part in value.split(',') {
            let n: u64 = part
                .trim()
                .parse()
                .map_err(|_| bad(400, "RUSTLESS_BAD_REQUEST", "invalid content-length"))?;
            if found.map_or(false, |f| f != n) {
                return Err(bad(400, "RUSTLESS_BAD_REQUEST", "conflicting content-length"));
            }
            found = Some(n);
        }
    }
    Ok(found)
}

fn read_chunked<R: BufRead>(reader: &mut R) -> Result<Vec<u8>, ReadError> {
    let mut body = Vec::new();
    let mut line = Vec::new();
    loop {
        line.clear();
        read_line(&mut reader.take(1024), &mut line)?;
        let text = String::from_utf8_lossy(&line);
        let size_text = text.split(';').next().unwrap_or("").trim();
        let size = u64::from_str_radix(size_text, 16)
            .map_err(|_| bad(400, "RUSTLESS_BAD_REQUEST", "invalid chunk size"))?;
        if size == 0 {
            break;
        }
        if body.len() as u64 + size > MAX_BODY {
            return Err(bad(413, "RUSTLESS_BODY_TOO_LARGE", "request body too large"));
        }
        let start = body.len();
        body.resize(start + size as usize, 0);
        reader.read_exact(&mut body[start..])?;
        line.clear();
        read_line(&mut reader.take(2), &mut line)?;
        if !line.is_empty() {
            return Err(bad(400, "RUSTLESS_BAD_REQUEST", "missing CRLF after a chunk"));
        }
    }
    // Trailer fields: read and dropped.
    let mut trailer = reader.take(MAX_HEAD);
    loop {
        line.clear();
        read_line(&mut trailer, &mut line)?;
        if line.is_empty() {
            return Ok(body);
        }
    }
}

/// Reads a line into `line` without its `\r\n` (or bare `\n`). A line cut short by
/// the connection is an I/O error, one cut short by the `take` limit is too large.
fn read_line<R: BufRead>(reader: &mut io::Take<R>, line: &mut Vec<u8>) -> Result<(), ReadError> {
    reader.read_until(b'\n', line)?;
    if line.last() != Some(&b'\n') {
        if reader.limit() == 0 {
            return Err(bad(431, "RUSTLESS_HEADERS_TOO_LARGE", "request head too large"));
        }
        return Err(ReadError::Io(io::ErrorKind::UnexpectedEof.into()));
    }
    line.pop();
    if line.last() == Some(&b'\r') {
        line.pop();
    }
    Ok(())
}

/// Why a header cannot be sent as HTTP (RFC 9110 §5.1, §5.5), or `None` when it can: a
/// name must be a token; a value may hold visible ASCII, spaces, tabs and bytes from 0x80
/// (obs-text, which UTF-8 text is made of), nothing else: no NUL, CR, LF or other control.
pub fn invalid_header(name: &str, value: &str) -> Option<String> {
    if name.is_empty() {
        return Some("its name is empty".to_string());
    }
    if !name.bytes().all(is_tchar) {
        return Some("its name is not an HTTP token".to_string());
    }
    value
        .bytes()
        .find(|&b| !(b == b'\t' || b == b' ' || (0x21..=0x7e).contains(&b) || b >= 0x80))
        .map(|b| format!("its value holds a byte HTTP forbids (0x{:02x})", b))
}

/// `tchar` of RFC 9110 §5.6.2.
fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

/// Writes a whole response in one go. `head_only` is for `HEAD` requests: the length
/// of the body is announced but the body is not sent. Every header must have passed
/// [`invalid_header`].
pub fn write_response<W: Write>(
    w: &mut W,
    status: u16,
    headers: &[(String, String)],
    body: &[u8],
    head_only: bool,
    close: bool,
) -> io::Result<()> {
    let mut out = Vec::with_capacity(128 + body.len());
    out.extend_from_slice(format!("HTTP/1.1 {} {}\r\n", status, reason(status)).as_bytes());
    push_header_lines(&mut out, headers, b"\r\n");
    let bodiless = is_bodiless(status);
    if !bodiless {
        out.extend_from_slice(format!("content-length: {}\r\n", body.len()).as_bytes());
    }
    if close {
        out.extend_from_slice(b"connection: close\r\n");
    }
    out.extend_from_slice(b"\r\n");
    if !bodiless && !head_only {
        out.extend_from_slice(body);
    }
    w.write_all(&out)?;
    w.flush()
}

/// Appends a function's headers as `name: value` lines ending in `line_end`, without the
/// ones that frame the message: whoever writes the message owns those, and a function
/// cannot break them.
pub fn push_header_lines(out: &mut Vec<u8>, headers: &[(String, String)], line_end: &[u8]) {
    for (name, value) in headers {
        if name == "content-length" || name == "transfer-encoding" || name == "connection" {
            continue;
        }
        out.extend_from_slice(name.as_bytes());
        out.extend_from_slice(b": ");
        out.extend_from_slice(value.as_bytes());
        out.extend_from_slice(line_end);
    }
}

/// 1xx, 204 and 304 responses have no body and no length (RFC 9110 §8.6).
pub fn is_bodiless(status: u16) -> bool {
    status < 200 || status == 204 || status == 304
}

fn reason(status: u16) -> &'static str {
    match status {
        100 => "Continue",
        200 => "OK",
        201 => "Created",
        202 => "Accepted",
        204 => "No Content",
        301 => "Moved Permanently",
        302 => "Found",
        303 => "See Other",
        304 => "Not Modified",
        307 => "Temporary Redirect",
        308 => "Permanent Redirect",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        409 => "Conflict",
        410 => "Gone",
        413 => "Content Too Large",
        415 => "Unsupported Media Type",
        422 => "Unprocessable Content",
        429 => "Too Many Requests",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        501 => "Not Implemented",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        505 => "HTTP Version Not Supported",
        _ => "Status",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::BufReader;

    fn parse(raw: &str) -> Result<HttpRequest, ReadError> {
        let mut reader = BufReader::new(raw.as_bytes());
        read_request(&mut reader, &mut Vec::new())
    }

    fn status_of(raw: &str) -> u16 {
        match parse(raw) {
            Err(ReadError::Bad(status, _, _)) => status,
            other => panic!("expected a bad request, got {:?}", other),
        }
    }

    #[test]
    fn reads_a_request_with_a_length() {
        let req = parse(
            "\r\nPOST /echo?x=1 HTTP/1.1\r\nHost: a\r\nX-Two: 1\r\nx-two: 2\r\nContent-Length: 7\r\n\r\n{\"a\":1}rest",
        )
        .unwrap();
        assert_eq!(req.method, "POST");
        assert_eq!(req.target, "/echo?x=1");
        assert!(!req.http10);
        assert_eq!(req.header("host"), Some("a"));
        assert_eq!(req.header("x-two"), Some("1"));
        assert_eq!(req.headers.len(), 4);
        assert_eq!(req.body, b"{\"a\":1}");
        assert!(!req.wants_close());
    }

    #[test]
    fn reads_a_chunked_body_and_sends_100_continue() {
        let raw = "PUT / HTTP/1.1\nTransfer-Encoding: chunked\nExpect: 100-continue\n\n3;x=y\r\n[1,\r\n2\r\n2]\r\n0\r\nTrailer: t\r\n\r\n";
        let mut reader = BufReader::new(raw.as_bytes());
        let mut interim = Vec::new();
        let req = read_request(&mut reader, &mut interim).unwrap();
        assert_eq!(req.body, b"[1,2]");
        assert_eq!(interim, b"HTTP/1.1 100 Continue\r\n\r\n");
    }

    #[test]
    fn knows_when_to_close() {
        assert!(parse("GET / HTTP/1.0\r\n\r\n").unwrap().wants_close());
        assert!(!parse("GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n")
            .unwrap()
            .wants_close());
        assert!(parse("GET / HTTP/1.1\r\nConnection: TE, close\r\n\r\n")
            .unwrap()
            .wants_close());
    }

    #[test]
    fn rejects_malformed_requests() {
        assert_eq!(status_of("GET /\r\n\r\n"), 400);
        assert_eq!(status_of("GET / HTTP/2.0\r\n\r\n"), 505);
        assert_eq!(status_of("GET / HTTP/1.1\r\nno colon\r\n\r\n"), 400);
        assert_eq!(status_of("GET / HTTP/1.1\r\nbad name: x\r\n\r\n"), 400);
        assert_eq!(status_of("GET / HTTP/1.1\r\nContent-Length: x\r\n\r\n"), 400);
        assert_eq!(
            status_of("GET / HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab"),
            400
        );
        assert_eq!(status_of("GET / HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\n"), 501);
        assert_eq!(
            status_of("POST / HTTP/1.1\r\nContent-Length: 999999999999\r\n\r\n"),
            413
        );
        let long = format!("GET /{} HTTP/1.1\r\n\r\n", "a".repeat(70_000));
        assert_eq!(status_of(&long), 431);
    }

    #[test]
    fn a_closed_or_truncated_connection_is_an_io_error() {
        assert!(matches!(parse(""), Err(ReadError::Io(_))));
        assert!(matches!(parse("GET / HTTP/1.1\r\nHo"), Err(ReadError::Io(_))));
        assert!(matches!(
            parse("POST / HTTP/1.1\r\nContent-Length: 5\r\n\r\nab"),
            Err(ReadError::Io(_))
        ));
    }

    #[test]
    fn headers_that_are_not_http_are_named() {
        assert_eq!(invalid_header("x-ok", "caf\u{e9}\tfine ~"), None);
        assert_eq!(invalid_header("x!#$%&'*+-.^_`|~9", "v"), None);
        assert_eq!(invalid_header("", "v").unwrap(), "its name is empty");
        for name in ["x y", "x:y", "x\r\ny", "x\u{e9}", "(x)", "x/y"] {
            let why = invalid_header(name, "v").unwrap();
            assert_eq!(why, "its name is not an HTTP token", "{:?}", name);
        }
        let values = [("a\0b", 0u8), ("a\u{1}b", 1), ("a\rb", 13), ("a\nb", 10), ("a\u{7f}b", 0x7f)];
        for (value, byte) in values {
            let why = invalid_header("x", value).unwrap();
            assert_eq!(why, format!("its value holds a byte HTTP forbids (0x{:02x})", byte));
        }
    }

    #[test]
    fn writes_whole_responses() {
        let mut out = Vec::new();
        let headers = vec![
            ("content-type".to_string(), "application/json".to_string()),
            ("content-length".to_string(), "999".to_string()),
        ];
        write_response(&mut out, 201, &headers, b"{}", false, true).unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "HTTP/1.1 201 Created\r\ncontent-type: application/json\r\ncontent-length: 2\r\nconnection: close\r\n\r\n{}"
        );
        let mut out = Vec::new();
        write_response(&mut out, 204, &[], b"", false, false).unwrap();
        assert_eq!(String::from_utf8(out).unwrap(), "HTTP/1.1 204 No Content\r\n\r\n");
        let mut out = Vec::new();
        write_response(&mut out, 200, &[], b"{}", true, false).unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n"
        );
    }
}
