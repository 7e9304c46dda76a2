use serde::Serialize;
use serde_json::{json, Value};

/// What a [`Function`](crate::Function) answers: a status, an optional JSON body and
/// headers. A JSON body is sent with `content-type: application/json`.
///
/// ```
/// use rustless::Response;
/// use serde_json::json;
///
/// let res = Response::created(json!({ "id": 1 })).with_header("Location", "/todos/1");
/// assert_eq!(res.status_code(), 201);
/// assert_eq!(res.header("location"), Some("/todos/1"));
///
/// let res = Response::not_found("no to-do 7");
/// assert_eq!(res.body(), Some(&json!({ "error": { "code": "NOT_FOUND", "message": "no to-do 7" } })));
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct Response {
    status: u16,
    body: Option<Value>,
    headers: Vec<(String, String)>,
}

impl Response {
    /// `200` with a JSON body.
    pub fn ok(body: impl Serialize) -> Response {
        Response::json(200, body)
    }

    /// `201` with a JSON body.
    pub fn created(body: impl Serialize) -> Response {
        Response::json(201, body)
    }

    /// Any status with a JSON body. A body that cannot be represented as JSON (e.g. a
    /// map with non-string keys) answers `500` with a JSON error instead.
    pub fn json(status: u16, body: impl Serialize) -> Response {
        match serde_json::to_value(body) {
            Ok(body) => Response {
                status,
                body: Some(body),
                headers: Vec::new(),
            },
            Err(e) => Response::error(
                500,
                "RUSTLESS_INVALID_RESPONSE",
                format!("the response body could not be serialized to JSON: {}", e),
            ),
        }
    }

    /// A status without a body, e.g. `Response::status(202)`.
    pub fn status(code: u16) -> Response {
        Response {
            status: code,
            body: None,
            headers: Vec::new(),
        }
    }

    /// `204` without a body.
    pub fn no_content() -> Response {
        Response::status(204)
    }

    /// An error in the shape every rust-less error has:
    /// `{"error":{"code":<code>,"message":<message>}}`.
    pub fn error(status: u16, code: &str, message: impl Into<String>) -> Response {
        Response {
            status,
            body: Some(json!({ "error": { "code": code, "message": message.into() } })),
            headers: Vec::new(),
        }
    }

    /// `404` with the error code `NOT_FOUND`.
    pub fn not_found(message: impl Into<String>) -> Response {
        Response::error(404, "NOT_FOUND", message)
    }

    /// Adds a header (the name is lower-cased; a repeated name is sent repeatedly).
    /// `content-length`, `transfer-encoding` and `connection` are set by the runner
    /// and ignored here. The name must be an HTTP token (letters, digits and
    /// ``!#$%&'*+-.^_`|~``) and the value must hold no control characters (no NUL, CR,
    /// LF, DEL...): the runner drops a header that breaks either rule, with a log line,
    /// rather than send a response no client could read.
    pub fn with_header(mut self, name: impl Into<String>, value: impl Into<String>) -> Response {
        let mut name = name.into();
        name.make_ascii_lowercase();
        self.headers.push((name, value.into()));
        self
    }

    /// The HTTP status.
    pub fn status_code(&self) -> u16 {
        self.status
    }

    /// The JSON body, if any.
    pub fn body(&self) -> Option<&Value> {
        self.body.as_ref()
    }

    /// The headers added with [`Response::with_header`], in order, names lower-cased.
    pub fn headers(&self) -> &[(String, String)] {
        &self.headers
    }

    /// The first value of a header, by case-insensitive name.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Serialize;
    use std::collections::HashMap;

    #[derive(Serialize)]
    struct Todo {
        id: u64,
        title: &'static str,
    }

    #[test]
    fn constructors_set_status_and_body() {
        assert_eq!(Response::ok(json!(1)).status_code(), 200);
        assert_eq!(Response::ok(json!(1)).body(), Some(&json!(1)));
        assert_eq!(Response::created(json!({})).status_code(), 201);
        assert_eq!(Response::json(418, "tea").body(), Some(&json!("tea")));
        assert_eq!(Response::json(418, "tea").status_code(), 418);
        assert_eq!(Response::status(202).status_code(), 202);
        assert_eq!(Response::status(202).body(), None);
        assert_eq!(Response::no_content().status_code(), 204);
        assert_eq!(Response::no_content().body(), None);
    }

    #[test]
    fn accepts_any_serializable_value() {
        let todo = Todo { id: 1, title: "milk" };
        let res = Response::ok(&todo);
        assert_eq!(res.body(), Some(&json!({"id": 1, "title": "milk"})));
        let res = Response::ok(vec![todo]);
        assert_eq!(res.body().unwrap()[0]["title"], json!("milk"));
    }

    #[test]
    fn unserializable_body_is_a_500() {
        let mut map = HashMap::new();
        map.insert((1, 2), 3);
        let res = Response::ok(map);
        assert_eq!(res.status_code(), 500);
        assert_eq!(
            res.body().unwrap()["error"]["code"],
            json!("RUSTLESS_INVALID_RESPONSE")
        );
    }

    #[test]
    fn errors_have_the_json_error_shape() {
        let res = Response::error(409, "TAKEN", format!("{} is taken", "bob"));
        assert_eq!(res.status_code(), 409);
        assert_eq!(
            res.body(),
            Some(&json!({"error": {"code": "TAKEN", "message": "bob is taken"}}))
        );
        let res = Response::not_found("nope");
        assert_eq!(res.status_code(), 404);
        assert_eq!(res.body().unwrap()["error"]["code"], json!("NOT_FOUND"));
    }

    #[test]
    fn headers_are_lower_cased_and_kept_in_order() {
        let res = Response::no_content()
            .with_header("Set-Cookie", "a=1")
            .with_header("set-cookie", "b=2")
            .with_header("X-Id".to_string(), String::from("7"));
        assert_eq!(
            res.headers(),
            &[
                ("set-cookie".to_string(), "a=1".to_string()),
                ("set-cookie".to_string(), "b=2".to_string()),
                ("x-id".to_string(), "7".to_string()),
            ][..]
        );
        assert_eq!(res.header("SET-COOKIE"), Some("a=1"));
        assert_eq!(res.header("missing"), None);
    }
}
