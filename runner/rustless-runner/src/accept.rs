//! Which request bodies a route takes: `accept` in `rustless.toml`, checked the same way
//! as the gateway checks it (`src/http/body-rules.ts`). JSON only unless the route says
//! otherwise; a body whose type is JSON must also parse.

use rustless::Response;

use crate::dispatch::is_json_content_type;
use crate::http::HttpRequest;

/// The media ranges a route accepts, lower-case: `type/subtype`, `type/*` or `*/*`.
#[derive(Debug, Clone, PartialEq)]
pub struct Accept(Vec<String>);

impl Default for Accept {
    /// JSON only: `application/json` and `application/*+json`.
    fn default() -> Accept {
        Accept(vec!["application/json".to_string()])
    }
}

impl Accept {
    /// Checks each range; an error names the one that is not a media range.
    pub fn parse(ranges: &[&str]) -> Result<Accept, String> {
        if ranges.is_empty() {
            return Err("accept lists no media type".to_string());
        }
        let mut list = Vec::new();
        for range in ranges {
            let lower = range.trim().to_ascii_lowercase();
            if !is_media_range(&lower) {
                return Err(format!(
                    "accept: {:?} is not a media type such as \"application/json\", \"text/*\" or \"*/*\"",
                    range
                ));
            }
            if !list.contains(&lower) {
                list.push(lower);
            }
        }
        Ok(Accept(list))
    }

    /// Whether a body with this `content-type` (none: `None`) may reach the function. A
    /// body without a content type is accepted by `*/*` only.
    pub fn allows(&self, content_type: Option<&str>) -> bool {
        let kind = content_type
            .map(|v| v.split(';').next().unwrap_or("").trim().to_ascii_lowercase())
            .unwrap_or_default();
        self.0.iter().any(|range| match range.as_str() {
            "*/*" => true,
            _ if kind.is_empty() => false,
            "application/json" => is_json_content_type(&kind),
            _ => match range.strip_suffix('*') {
                Some(prefix) => kind.starts_with(prefix),
                None => *range == kind,
            },
        })
    }

    /// The gateway's body rules for `req`: no body on `GET` or `HEAD`, at most `limit`
    /// bytes, a content type this route accepts, and valid JSON when its type is JSON.
    pub fn check(&self, req: &HttpRequest, limit: usize) -> Result<(), Response> {
        if req.body.is_empty() {
            return Ok(());
        }
        let method = req.method.to_ascii_uppercase();
        if method == "GET" || method == "HEAD" {
            return Err(Response::error(
                400,
                "RUSTLESS_BODY_NOT_ALLOWED",
                format!("a {} request carries no body (got {} bytes)", method, req.body.len()),
            ));
        }
        if req.body.len() > limit {
            return Err(Response::error(
                413,
                "RUSTLESS_PAYLOAD_TOO_LARGE",
                format!("request body is larger than the limit of {} bytes (got {})", limit, req.body.len()),
            ));
        }
        let content_type = req.header("content-type");
        if !self.allows(content_type) {
            let got = format!("{:?}", content_type.unwrap_or("no content-type"));
            let message = if *self == Accept::default() {
                format!("request body must be JSON (content-type: application/json), got {}", got)
            } else {
                format!("request body must be one of the types this route accepts ({}), got {}", self.0.join(", "), got)
            };
            return Err(Response::error(415, "RUSTLESS_UNSUPPORTED_MEDIA_TYPE", message));
        }
        if content_type.map_or(false, is_json_content_type) {
            if let Err(e) = serde_json::from_slice::<serde_json::Value>(&req.body) {
                return Err(Response::error(400, "RUSTLESS_INVALID_JSON", format!("request body is not valid JSON: {}", e)));
            }
        }
        Ok(())
    }
}

/// `type/subtype`, `type/*` or `*/*`, lower-case, each part an HTTP token (RFC 9110 §8.3.1).
fn is_media_range(value: &str) -> bool {
    let token = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b));
    match value.split_once('/') {
        Some(("*", "*")) => true,
        Some(("*", _)) => false,
        Some((kind, "*")) => token(kind) && !kind.contains('*'),
        Some((kind, sub)) => token(kind) && token(sub) && !kind.contains('*') && !sub.contains('*'),
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn accept(list: &[&str]) -> Accept {
        Accept::parse(list).unwrap()
    }

    #[test]
    fn json_only_by_default() {
        let json = Accept::default();
        assert!(json.allows(Some("application/json")));
        assert!(json.allows(Some("Application/JSON; charset=utf-8")));
        assert!(json.allows(Some("application/activity+json")));
        assert!(!json.allows(Some("application/x-www-form-urlencoded")));
        assert!(!json.allows(Some("text/json")));
        assert!(!json.allows(None));
    }

    #[test]
    fn ranges_match_their_types() {
        let form = accept(&["application/json", "application/x-www-form-urlencoded"]);
        assert!(form.allows(Some("application/x-www-form-urlencoded; charset=utf-8")));
        assert!(form.allows(Some("application/json")));
        assert!(!form.allows(Some("text/plain")));
        let text = accept(&["text/*"]);
        assert!(text.allows(Some("text/plain")));
        assert!(!text.allows(Some("textual/plain")));
        assert!(!text.allows(None));
        let any = accept(&["*/*"]);
        assert!(any.allows(None));
        assert!(any.allows(Some("image/png")));
        assert!(any.allows(Some("")));
    }

    #[test]
    fn refuses_what_is_not_a_media_range() {
        for bad in ["json", "*/json", "text/**", "text/ plain", "", "a/b/c", "a/b;q=1", "tëxt/plain"] {
            let err = Accept::parse(&[bad]).unwrap_err();
            assert!(err.contains(&format!("{:?}", bad)), "{}", err);
        }
        assert!(Accept::parse(&[]).is_err());
        assert_eq!(accept(&["Text/Plain", "text/plain"]), Accept(vec!["text/plain".into()]));
    }
}
