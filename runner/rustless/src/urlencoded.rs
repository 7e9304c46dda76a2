//! `application/x-www-form-urlencoded` decoding, `+` is a space: query strings (the
//! gateway forwards the client's query unchanged, so what the function sees does not depend
//! on how the gateway re-encodes it, and the runner decodes it here) and form bodies
//! ([`Request::form`](crate::Request::form)). Public for the runner only.

use std::collections::BTreeMap;

/// Decodes `a=1&b=x+y&c` into `{a: "1", b: "x y", c: ""}`. The first value of a
/// repeated name wins; invalid escapes are kept literally, and invalid UTF-8 is
/// replaced, because a runner must not refuse a request the gateway accepted.
pub fn parse(text: &str) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for pair in text.split('&') {
        if pair.is_empty() {
            continue;
        }
        let (name, value) = match pair.find('=') {
            Some(i) => (&pair[..i], &pair[i + 1..]),
            None => (pair, ""),
        };
        out.entry(decode(name)).or_insert_with(|| decode(value));
    }
    out
}

/// Percent-decodes one component, with `+` as a space.
pub fn decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        if b == b'+' {
            out.push(b' ');
        } else if b == b'%' && i + 2 < bytes.len() {
            match (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                (Some(hi), Some(lo)) => {
                    out.push(hi * 16 + lo);
                    i += 3;
                    continue;
                }
                _ => out.push(b),
            }
        } else {
            out.push(b);
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn hex(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_percent_escapes_and_plus() {
        assert_eq!(decode("a%20b+c%2Bd"), "a b c+d");
        assert_eq!(decode("%C3%A9t%c3%a9"), "été");
        assert_eq!(decode("plain"), "plain");
        assert_eq!(decode(""), "");
    }

    #[test]
    fn keeps_invalid_escapes_literally() {
        assert_eq!(decode("100%"), "100%");
        assert_eq!(decode("%zz"), "%zz");
        assert_eq!(decode("%4"), "%4");
        assert_eq!(decode("%ff"), "\u{fffd}");
    }

    #[test]
    fn parses_pairs() {
        let q = parse("a=1&b=x+y&c&&d=&a=2&e%3D=f%3D");
        assert_eq!(q.get("a").map(String::as_str), Some("1"));
        assert_eq!(q.get("b").map(String::as_str), Some("x y"));
        assert_eq!(q.get("c").map(String::as_str), Some(""));
        assert_eq!(q.get("d").map(String::as_str), Some(""));
        assert_eq!(q.get("e=").map(String::as_str), Some("f="));
        assert_eq!(q.len(), 5);
        assert!(parse("").is_empty());
    }
}
