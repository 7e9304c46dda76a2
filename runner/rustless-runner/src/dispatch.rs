//! From a request on the wire to a function's response: find the function named by the
//! gateway, build the `rustless::Request`, call it with panics caught.

use std::collections::{BTreeMap, HashMap};
use std::panic::{self, AssertUnwindSafe};

use rustless::{Function, Request, Response};
use serde_json::Value;

use crate::http::HttpRequest;

/// Names the function to call, as in `rustless.toml` (`Hello`, `handlers::Echo`).
pub const FUNCTION_HEADER: &str = "x-rustless-function";
/// The route params the gateway matched, a JSON object of strings.
pub const PARAMS_HEADER: &str = "x-rustless-params";

/// The app's functions by name.
#[derive(Default)]
pub struct Dispatcher {
    functions: HashMap<String, Box<dyn Function>>,
}

impl Dispatcher {
    /// Adds a function; `false` when the name was taken (the new one replaces it).
    pub fn insert(&mut self, name: String, function: Box<dyn Function>) -> bool {
        self.functions.insert(name, function).is_none()
    }

    /// Names, sorted, for log lines.
    pub fn names(&self) -> Vec<&str> {
        let mut names: Vec<&str> = self.functions.keys().map(String::as_str).collect();
        names.sort_unstable();
        names
    }

    /// Answers one request. Never panics: a function's panic becomes a 500.
    pub fn handle(&self, req: &HttpRequest) -> Response {
        let name = match req.header(FUNCTION_HEADER) {
            Some(name) => name,
            None => {
                return Response::error(
                    404,
                    "RUSTLESS_FUNCTION_NOT_FOUND",
                    format!("no {} header: the gateway names the function", FUNCTION_HEADER),
                )
            }
        };
        let function = match self.functions.get(name) {
            Some(f) => f,
            None => {
                return Response::error(
                    404,
                    "RUSTLESS_FUNCTION_NOT_FOUND",
                    format!(
                        "no function {:?} in this app (it has: {})",
                        name,
                        self.names().join(", ")
                    ),
                )
            }
        };
        let request = match build_request(req) {
            Ok(r) => r,
            Err(res) => return res,
        };
        match panic::catch_unwind(AssertUnwindSafe(|| function.call(&request))) {
            Ok(res) => res,
            // The panic hook already logged where it happened; the client gets the
            // message, which is the function author's own text.
            Err(payload) => Response::error(
                500,
                "RUSTLESS_FUNCTION_PANIC",
                panic_message(payload.as_ref()),
            ),
        }
    }
}

fn build_request(req: &HttpRequest) -> Result<Request, Response> {
    let (path, query) = split_target(&req.target);
    let mut builder = Request::builder().method(req.method.as_str()).path(path);

    if let Some(raw) = req.header(PARAMS_HEADER) {
        let params: BTreeMap<String, String> = serde_json::from_str(raw).map_err(|e| {
            Response::error(
                400,
                "RUSTLESS_INVALID_PARAMS",
                format!("{} must be a JSON object of strings: {}", PARAMS_HEADER, e),
            )
        })?;
        for (name, value) in params {
            builder = builder.param(name, value);
        }
    }
    for (name, value) in rustless::urlencoded::parse(query) {
        builder = builder.query(name, value);
    }
    for (name, value) in &req.headers {
        if name != FUNCTION_HEADER && name != PARAMS_HEADER {
            builder = builder.header(name.as_str(), value.as_str());
        }
    }

    // A JSON body is parsed for `req.body()`: the gateway already checked it, and the
    // runner still refuses one it cannot parse rather than hand the function a half-truth.
    // Any other body (a route's `accept` let it through) is there as raw bytes only.
    let json = req.header("content-type").map_or(false, is_json_content_type);
    let body = if !json || req.body.iter().all(u8::is_ascii_whitespace) {
        None
    } else {
        let value: Value = serde_json::from_slice(&req.body).map_err(|e| {
            Response::error(
                400,
                "RUSTLESS_INVALID_JSON",
                format!("the request body is not JSON: {}", e),
            )
        })?;
        Some(value)
    };
    Ok(builder.raw_body(req.body.clone()).body(body).build())
}

/// `application/json` and `application/<anything>+json`, with or without parameters.
pub fn is_json_content_type(value: &str) -> bool {
    let kind = value.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
    kind == "application/json" || (kind.starts_with("application/") && kind.ends_with("+json"))
}

/// `/a/b?x=1` → (`/a/b`, `x=1`). An absolute-form target (`http://host/a?x`) keeps
/// only its path and query.
fn split_target(target: &str) -> (&str, &str) {
    let mut rest = target;
    for scheme in ["http://", "https://"] {
        if let Some(after) = rest.strip_prefix(scheme) {
            rest = match after.find('/') {
                Some(i) => &after[i..],
                None => "/",
            };
        }
    }
    let rest = rest.split('#').next().unwrap_or("");
    match rest.find('?') {
        Some(i) => (&rest[..i], &rest[i + 1..]),
        None => (rest, ""),
    }
}

/// The text of a panic: `panic!("...")` carries a `&str` or a `String`.
pub fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_string()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "the function panicked".to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    struct Echo;
    impl Function for Echo {
        fn call(&self, req: &Request) -> Response {
            Response::ok(json!({
                "method": req.method(),
                "path": req.path(),
                "params": req.params(),
                "query": req.queries(),
                "headers": req.headers(),
                "body": req.body(),
                "raw": String::from_utf8_lossy(req.raw_body()),
                "form": req.form(),
            }))
        }
    }

    struct Boom;
    impl Function for Boom {
        fn call(&self, req: &Request) -> Response {
            panic!("boom at {}", req.path());
        }
    }

    fn dispatcher() -> Dispatcher {
        let mut d = Dispatcher::default();
        assert!(d.insert("Echo".into(), Box::new(Echo)));
        assert!(d.insert("mod::Boom".into(), Box::new(Boom)));
        assert!(!d.insert("Echo".into(), Box::new(Echo)));
        d
    }

    fn request(target: &str, headers: &[(&str, &str)], body: &str) -> HttpRequest {
        HttpRequest {
            method: "POST".into(),
            target: target.into(),
            http10: false,
            headers: headers
                .iter()
                .map(|(n, v)| (n.to_string(), v.to_string()))
                .collect(),
            body: body.as_bytes().to_vec(),
        }
    }

    fn code(res: &Response) -> &str {
        res.body().unwrap()["error"]["code"].as_str().unwrap()
    }

    #[test]
    fn builds_the_request_for_the_named_function() {
        let res = dispatcher().handle(&request(
            "/echo/a%20b?x=1+2&y=%C3%A9&x=3",
            &[
                ("x-rustless-function", "Echo"),
                ("x-rustless-params", r#"{"rest":"a b"}"#),
                ("x-other", "1"),
                ("x-other", "2"),
                ("content-type", "application/json"),
            ],
            r#" {"a": [1]} "#,
        ));
        assert_eq!(res.status_code(), 200);
        assert_eq!(
            res.body().unwrap(),
            &json!({
                "method": "POST",
                "path": "/echo/a%20b",
                "params": {"rest": "a b"},
                "query": {"x": "1 2", "y": "é"},
                "headers": {"x-other": "1, 2", "content-type": "application/json"},
                "body": {"a": [1]},
                "raw": r#" {"a": [1]} "#,
                "form": {},
            })
        );
    }

    #[test]
    fn an_empty_body_is_none() {
        let res = dispatcher().handle(&request("/", &[("x-rustless-function", "Echo")], " \n"));
        assert_eq!(res.body().unwrap()["body"], Value::Null);
    }

    #[test]
    fn a_body_of_another_type_is_raw_bytes_only_and_a_form_is_decoded() {
        let d = dispatcher();
        let form = ("content-type", "application/x-www-form-urlencoded");
        let res = d.handle(&request("/", &[("x-rustless-function", "Echo"), form], "payload=%7B%7D&a=b+c"));
        assert_eq!(res.status_code(), 200);
        let body = res.body().unwrap();
        assert_eq!(body["body"], Value::Null);
        assert_eq!(body["raw"], json!("payload=%7B%7D&a=b+c"));
        assert_eq!(body["form"], json!({"payload": "{}", "a": "b c"}));
        // Not JSON by its content type (or with none): not parsed, whatever it holds.
        for headers in [&[("x-rustless-function", "Echo"), ("content-type", "text/plain")][..], &[("x-rustless-function", "Echo")][..]] {
            let res = d.handle(&request("/", headers, "{nope"));
            assert_eq!(res.status_code(), 200);
            assert_eq!(res.body().unwrap()["raw"], json!("{nope"));
            assert_eq!(res.body().unwrap()["body"], Value::Null);
        }
    }

    #[test]
    fn unknown_or_missing_function_is_404() {
        let d = dispatcher();
        let res = d.handle(&request("/", &[], ""));
        assert_eq!((res.status_code(), code(&res)), (404, "RUSTLESS_FUNCTION_NOT_FOUND"));
        let res = d.handle(&request("/", &[("x-rustless-function", "Nope")], ""));
        assert_eq!((res.status_code(), code(&res)), (404, "RUSTLESS_FUNCTION_NOT_FOUND"));
        let message = res.body().unwrap()["error"]["message"].as_str().unwrap();
        assert!(message.contains("Echo, mod::Boom"), "{}", message);
    }

    #[test]
    fn bad_json_body_or_params_is_400() {
        let d = dispatcher();
        let json = ("content-type", "application/vnd.a+json; charset=utf-8");
        let res = d.handle(&request("/", &[("x-rustless-function", "Echo"), json], "{nope"));
        assert_eq!((res.status_code(), code(&res)), (400, "RUSTLESS_INVALID_JSON"));
        let res = d.handle(&request(
            "/",
            &[("x-rustless-function", "Echo"), ("x-rustless-params", "[1]")],
            "",
        ));
        assert_eq!((res.status_code(), code(&res)), (400, "RUSTLESS_INVALID_PARAMS"));
    }

    #[test]
    fn a_panic_is_a_500_with_its_message() {
        let d = dispatcher();
        let res = d.handle(&request("/p", &[("x-rustless-function", "mod::Boom")], ""));
        assert_eq!((res.status_code(), code(&res)), (500, "RUSTLESS_FUNCTION_PANIC"));
        assert_eq!(res.body().unwrap()["error"]["message"], json!("boom at /p"));
        let res = d.handle(&request("/", &[("x-rustless-function", "Echo")], ""));
        assert_eq!(res.status_code(), 200);
    }

    #[test]
    fn splits_targets() {
        assert_eq!(split_target("/a/b?x=1"), ("/a/b", "x=1"));
        assert_eq!(split_target("/a"), ("/a", ""));
        assert_eq!(split_target("/a?"), ("/a", ""));
        assert_eq!(split_target("/a?x#frag"), ("/a", "x"));
        assert_eq!(split_target("http://h:1/p?q"), ("/p", "q"));
        assert_eq!(split_target("http://h"), ("/", ""));
    }
}
