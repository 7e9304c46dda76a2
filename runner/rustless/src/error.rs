use std::fmt;

use crate::Response;

/// Why a request's body could not be read as the type a function expects.
///
/// Converts into a [`Response`] with a JSON error, so a function can hand it straight
/// back:
///
/// ```
/// use rustless::{Request, Response};
/// use serde::Deserialize;
///
/// #[derive(Deserialize)]
/// struct NewTodo {
///     title: String,
/// }
///
/// fn create(req: &Request) -> Response {
///     let todo: NewTodo = match req.json() {
///         Ok(todo) => todo,
///         Err(e) => return e.into(),
///     };
///     Response::created(serde_json::json!({ "title": todo.title }))
/// }
///
/// let res = create(&Request::builder().method("POST").build());
/// assert_eq!(res.status_code(), 400);
/// assert_eq!(res.body().unwrap()["error"]["code"], "MISSING_BODY");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Error {
    kind: Kind,
    message: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    MissingBody,
    InvalidBody,
    /// The host's configuration is not what the function needs (a secret not set, no data
    /// directory): the code says which.
    Config(&'static str),
}

impl Error {
    pub(crate) fn missing_body() -> Self {
        Error {
            kind: Kind::MissingBody,
            message: "the request has no body; a JSON body is required".to_string(),
        }
    }

    pub(crate) fn invalid_body(cause: &serde_json::Error) -> Self {
        Error {
            kind: Kind::InvalidBody,
            message: format!("the request body has the wrong shape: {}", cause),
        }
    }

    pub(crate) fn config(code: &'static str, message: String) -> Self {
        Error { kind: Kind::Config(code), message }
    }

    /// The HTTP status this error answers with: `400` for a missing body, `422` for a
    /// body of the wrong shape, `500` for what the host's configuration lacks (a
    /// [secret](crate::secret) not set, no [data directory](crate::data_dir)).
    pub fn status(&self) -> u16 {
        match self.kind {
            Kind::MissingBody => 400,
            Kind::InvalidBody => 422,
            Kind::Config(_) => 500,
        }
    }

    /// The machine-readable code of the JSON error: `MISSING_BODY`, `INVALID_BODY`, or
    /// for configuration `SECRET_NOT_SET`, `NO_DATA_DIR` and the like.
    pub fn code(&self) -> &'static str {
        match self.kind {
            Kind::MissingBody => "MISSING_BODY",
            Kind::InvalidBody => "INVALID_BODY",
            Kind::Config(code) => code,
        }
    }

    /// A message for people, e.g. ``the request body has the wrong shape: missing field `title` ``.
    pub fn message(&self) -> &str {
        &self.message
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Error {}

impl From<Error> for Response {
    /// `{"error":{"code":..,"message":..}}` with the error's [status](Error::status).
    fn from(e: Error) -> Response {
        Response::error(e.status(), e.code(), e.message)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn missing_body_becomes_400() {
        let res: Response = Error::missing_body().into();
        assert_eq!(res.status_code(), 400);
        assert_eq!(res.body().unwrap()["error"]["code"], json!("MISSING_BODY"));
        assert!(res.body().unwrap()["error"]["message"].is_string());
    }

    #[test]
    fn invalid_body_becomes_422_with_the_cause() {
        let cause = serde_json::from_str::<u8>("\"x\"").unwrap_err();
        let err = Error::invalid_body(&cause);
        assert_eq!(err.to_string(), err.message());
        let res: Response = err.into();
        assert_eq!(res.status_code(), 422);
        let body = res.body().unwrap();
        assert_eq!(body["error"]["code"], json!("INVALID_BODY"));
        assert!(body["error"]["message"].as_str().unwrap().contains("invalid type"));
    }
}
