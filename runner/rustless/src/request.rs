use std::collections::BTreeMap;

use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::Value;

use crate::urlencoded;
use crate::Error;

/// One HTTP request, as routed to a [`Function`](crate::Function).
///
/// Built by the runner from the wire, or by [`Request::builder`] in unit tests.
#[derive(Debug, Clone, PartialEq)]
pub struct Request {
    method: String,
    path: String,
    params: BTreeMap<String, String>,
    query: BTreeMap<String, String>,
    headers: BTreeMap<String, String>,
    body: Option<Value>,
    raw_body: Vec<u8>,
    form: BTreeMap<String, String>,
}

/// The media type of a form body.
const FORM_TYPE: &str = "application/x-www-form-urlencoded";

impl Default for Request {
    /// `GET /` with no params, query, headers or body.
    fn default() -> Self {
        Request {
            method: "GET".to_string(),
            path: "/".to_string(),
            params: BTreeMap::new(),
            query: BTreeMap::new(),
            headers: BTreeMap::new(),
            body: None,
            raw_body: Vec::new(),
            form: BTreeMap::new(),
        }
    }
}

impl Request {
    /// Starts a request for tests: `GET /` until told otherwise.
    ///
    /// ```
    /// use rustless::Request;
    /// use serde_json::json;
    ///
    /// let req = Request::builder()
    ///     .method("POST")
    ///     .path("/todos/7")
    ///     .param("id", "7")
    ///     .query("verbose", "yes")
    ///     .header("X-Trace", "abc")
    ///     .json(json!({ "title": "milk" }))
    ///     .build();
    /// assert_eq!(req.method(), "POST");
    /// assert_eq!(req.param("id"), Some("7"));
    /// assert_eq!(req.header("x-trace"), Some("abc"));
    /// ```
    pub fn builder() -> RequestBuilder {
        RequestBuilder {
            req: Request::default(),
        }
    }

    /// The HTTP method, e.g. `"GET"`.
    pub fn method(&self) -> &str {
        &self.method
    }

    /// The path as the client sent it, without the query string, e.g. `"/hello/bob"`.
    pub fn path(&self) -> &str {
        &self.path
    }

    /// A route parameter: `:name` segments of the route's path, and `rest` for a
    /// trailing `/*rest`. Already percent-decoded.
    pub fn param(&self, name: &str) -> Option<&str> {
        self.params.get(name).map(String::as_str)
    }

    /// All route parameters.
    pub fn params(&self) -> &BTreeMap<String, String> {
        &self.params
    }

    /// A query-string parameter, percent-decoded (`+` is a space). When a name is
    /// repeated, the first value wins.
    pub fn query(&self, name: &str) -> Option<&str> {
        self.query.get(name).map(String::as_str)
    }

    /// All query-string parameters.
    pub fn queries(&self) -> &BTreeMap<String, String> {
        &self.query
    }

    /// A header, by case-insensitive name. Repeated headers are joined with `", "`.
    pub fn header(&self, name: &str) -> Option<&str> {
        if name.bytes().any(|b| b.is_ascii_uppercase()) {
            self.headers
                .get(&name.to_ascii_lowercase())
                .map(String::as_str)
        } else {
            self.headers.get(name).map(String::as_str)
        }
    }

    /// All headers, with lower-case names.
    pub fn headers(&self) -> &BTreeMap<String, String> {
        &self.headers
    }

    /// The body parsed as JSON, or `None` when the request had no body or its
    /// content type is not JSON (`application/json`, `application/*+json`).
    pub fn body(&self) -> Option<&Value> {
        self.body.as_ref()
    }

    /// The body exactly as the client sent it, byte for byte: what a sender signs.
    ///
    /// Webhook senders (GitHub's `X-Hub-Signature-256`, Stripe, Slack) sign these bytes
    /// with HMAC-SHA256; re-serializing [`Request::body`] would not give them back. Empty
    /// when the request had no body. A route receives bodies other than JSON when its
    /// `accept` in `rustless.toml` allows them.
    ///
    /// ```
    /// use rustless::Request;
    ///
    /// let req = Request::builder()
    ///     .method("POST")
    ///     .header("content-type", "application/json")
    ///     .raw_body(r#"{ "zen": "Keep it logically awesome." }"#)
    ///     .build();
    /// // The spaces the sender put in are still there.
    /// assert_eq!(req.raw_body(), br#"{ "zen": "Keep it logically awesome." }"#);
    /// ```
    pub fn raw_body(&self) -> &[u8] {
        &self.raw_body
    }

    /// The fields of an `application/x-www-form-urlencoded` body, percent-decoded (`+` is
    /// a space); the first value of a repeated name wins. Empty when the body is not a form.
    ///
    /// ```
    /// use rustless::Request;
    ///
    /// // A Slack slash command, or GitHub's webhook with content type "form".
    /// let req = Request::builder()
    ///     .method("POST")
    ///     .header("content-type", "application/x-www-form-urlencoded")
    ///     .raw_body("command=%2Fdeploy&text=pi+zero")
    ///     .build();
    /// assert_eq!(req.form().len(), 2);
    /// assert_eq!(req.form_value("command"), Some("/deploy"));
    /// assert_eq!(req.form_value("text"), Some("pi zero"));
    /// assert_eq!(req.form_value("user"), None);
    /// ```
    pub fn form(&self) -> &BTreeMap<String, String> {
        &self.form
    }

    /// One field of an `application/x-www-form-urlencoded` body (see [`Request::form`]).
    pub fn form_value(&self, name: &str) -> Option<&str> {
        self.form.get(name).map(String::as_str)
    }

    /// The body as a typed value.
    ///
    /// Fails with an [`Error`] when there is no body (it converts to a `400`
    /// [`Response`](crate::Response)) or when the body does not have the shape of `T`
    /// (a `422`).
    ///
    /// ```
    /// use rustless::Request;
    /// use serde::Deserialize;
    /// use serde_json::json;
    ///
    /// #[derive(Debug, Deserialize)]
    /// struct NewTodo {
    ///     title: String,
    /// }
    ///
    /// let req = Request::builder().json(json!({ "title": "milk" })).build();
    /// let todo: NewTodo = req.json().unwrap();
    /// assert_eq!(todo.title, "milk");
    ///
    /// let req = Request::builder().json(json!({ "title": 3 })).build();
    /// assert_eq!(req.json::<NewTodo>().unwrap_err().status(), 422);
    /// ```
    pub fn json<T: DeserializeOwned>(&self) -> Result<T, Error> {
        match &self.body {
            None => Err(Error::missing_body()),
            Some(value) => T::deserialize(value).map_err(|e| Error::invalid_body(&e)),
        }
    }
}

/// Builds a [`Request`], for unit tests and for the runner. See [`Request::builder`].
#[derive(Debug, Clone)]
pub struct RequestBuilder {
    req: Request,
}

impl RequestBuilder {
    /// Sets the method (default `GET`).
    pub fn method(mut self, method: impl Into<String>) -> Self {
        self.req.method = method.into();
        self
    }

    /// Sets the path (default `/`). A query string after `?` is not parsed: use
    /// [`RequestBuilder::query`].
    pub fn path(mut self, path: impl Into<String>) -> Self {
        self.req.path = path.into();
        self
    }

    /// Adds a route parameter.
    pub fn param(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.req.params.insert(name.into(), value.into());
        self
    }

    /// Adds a query parameter (already decoded). The first value of a name wins.
    pub fn query(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.req.query.entry(name.into()).or_insert_with(|| value.into());
        self
    }

    /// Adds a header; the name is lower-cased, and a repeated name is joined with `", "`.
    pub fn header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        let mut name = name.into();
        name.make_ascii_lowercase();
        let value = value.into();
        match self.req.headers.get_mut(&name) {
            Some(existing) => {
                existing.push_str(", ");
                existing.push_str(&value);
            }
            None => {
                self.req.headers.insert(name, value);
            }
        }
        self
    }

    /// Sets the JSON body from any serializable value; [`Request::raw_body`] becomes
    /// its serialization.
    ///
    /// # Panics
    ///
    /// When `value` cannot be represented as JSON (e.g. a map with non-string keys):
    /// this is a test helper, and such a body could not come from the wire either.
    pub fn json(mut self, value: impl Serialize) -> Self {
        let value = serde_json::to_value(value).expect("request body must serialize to JSON");
        self.req.raw_body = serde_json::to_vec(&value).expect("a JSON value serializes");
        self.body(Some(value))
    }

    /// Sets or clears the parsed JSON body, leaving [`Request::raw_body`] as it is.
    pub fn body(mut self, body: Option<Value>) -> Self {
        self.req.body = body;
        self
    }

    /// Sets the body's bytes as sent. A form body (`content-type:
    /// application/x-www-form-urlencoded`) is decoded into [`Request::form`] by
    /// [`RequestBuilder::build`]; a JSON one is not parsed here (see
    /// [`RequestBuilder::json`]).
    pub fn raw_body(mut self, bytes: impl Into<Vec<u8>>) -> Self {
        self.req.raw_body = bytes.into();
        self
    }

    /// Finishes the request.
    pub fn build(mut self) -> Request {
        if self.req.header("content-type").map_or(false, is_form_type) {
            // Form bodies are ASCII by definition; stray bytes are replaced rather than refused.
            self.req.form = urlencoded::parse(&String::from_utf8_lossy(&self.req.raw_body));
        }
        self.req
    }
}

/// `application/x-www-form-urlencoded`, with or without parameters, in any case.
fn is_form_type(value: &str) -> bool {
    value.split(';').next().unwrap_or("").trim().eq_ignore_ascii_case(FORM_TYPE)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;
    use serde_json::json;

    #[derive(Debug, Deserialize, PartialEq)]
    struct Todo {
        title: String,
        done: Option<bool>,
    }

    #[test]
    fn defaults_to_get_root_without_anything() {
        let req = Request::builder().build();
        assert_eq!(req.method(), "GET");
        assert_eq!(req.path(), "/");
        assert!(req.params().is_empty());
        assert!(req.queries().is_empty());
        assert!(req.headers().is_empty());
        assert_eq!(req.body(), None);
        assert_eq!(req, Request::default());
    }

    #[test]
    fn builder_sets_every_part() {
        let req = Request::builder()
            .method("PUT")
            .path("/todos/1")
            .param("id", "1")
            .query("q", "a b")
            .header("Content-Type", "application/json")
            .json(json!({"title": "x"}))
            .build();
        assert_eq!(req.method(), "PUT");
        assert_eq!(req.path(), "/todos/1");
        assert_eq!(req.param("id"), Some("1"));
        assert_eq!(req.param("nope"), None);
        assert_eq!(req.query("q"), Some("a b"));
        assert_eq!(req.query("nope"), None);
        assert_eq!(req.queries().len(), 1);
        assert_eq!(req.params().len(), 1);
        assert_eq!(req.body(), Some(&json!({"title": "x"})));
    }

    #[test]
    fn headers_are_case_insensitive_and_joined() {
        let req = Request::builder()
            .header("X-Tag", "a")
            .header("x-tag", "b")
            .build();
        assert_eq!(req.header("x-tag"), Some("a, b"));
        assert_eq!(req.header("X-TAG"), Some("a, b"));
        assert_eq!(req.headers().keys().collect::<Vec<_>>(), vec!["x-tag"]);
        assert_eq!(req.header("other"), None);
    }

    #[test]
    fn first_query_value_wins() {
        let req = Request::builder().query("a", "1").query("a", "2").build();
        assert_eq!(req.query("a"), Some("1"));
    }

    #[test]
    fn json_deserializes_the_body() {
        let req = Request::builder().json(json!({"title": "milk"})).build();
        assert_eq!(
            req.json::<Todo>().unwrap(),
            Todo {
                title: "milk".into(),
                done: None
            }
        );
        let value: Value = req.json().unwrap();
        assert_eq!(value, json!({"title": "milk"}));
    }

    #[test]
    fn json_without_body_is_a_missing_body_error() {
        let err = Request::builder().build().json::<Todo>().unwrap_err();
        assert_eq!(err.status(), 400);
        assert_eq!(err.code(), "MISSING_BODY");
    }

    #[test]
    fn json_of_the_wrong_shape_is_an_invalid_body_error() {
        let req = Request::builder().json(json!({"title": 1})).build();
        let err = req.json::<Todo>().unwrap_err();
        assert_eq!(err.status(), 422);
        assert_eq!(err.code(), "INVALID_BODY");
        assert!(err.message().contains("invalid type"), "{}", err.message());
        let req = Request::builder().json(json!([1, 2])).build();
        assert_eq!(req.json::<Todo>().unwrap_err().status(), 422);
        let req = Request::builder().json(json!({})).build();
        let err = req.json::<Todo>().unwrap_err();
        assert!(err.message().contains("title"), "{}", err.message());
    }

    #[test]
    fn raw_body_keeps_the_bytes_and_json_serializes_into_it() {
        let req = Request::builder().raw_body(&b"\x00\xff not utf-8"[..]).build();
        assert_eq!(req.raw_body(), b"\x00\xff not utf-8");
        assert_eq!(req.body(), None);
        assert!(req.form().is_empty());
        let req = Request::builder().json(json!({"a": 1})).build();
        assert_eq!(req.raw_body(), br#"{"a":1}"#);
    }

    #[test]
    fn a_form_body_is_decoded_only_with_the_form_content_type() {
        let form = "payload=%7B%22zen%22%3A%22a+b%22%7D&x=1&x=2&bad=%ff";
        let req = Request::builder()
            .header("Content-Type", "Application/X-WWW-Form-Urlencoded; charset=utf-8")
            .raw_body(form)
            .build();
        assert_eq!(req.form_value("payload"), Some(r#"{"zen":"a b"}"#));
        assert_eq!(req.form_value("x"), Some("1"));
        assert_eq!(req.form_value("bad"), Some("\u{fffd}"));
        assert_eq!(req.raw_body(), form.as_bytes());
        let req = Request::builder().header("content-type", "text/plain").raw_body(form).build();
        assert!(req.form().is_empty());
        assert_eq!(req.form_value("x"), None);
    }

    #[test]
    fn body_can_be_cleared() {
        let req = Request::builder().json(1).body(None).build();
        assert_eq!(req.body(), None);
    }
}
