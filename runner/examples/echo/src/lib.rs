//! `POST|PUT /echo` answers its JSON body with 201; any method on `/echo/*rest` answers
//! the shape of the request. `handlers::Inspect` shows a function in a module: routes
//! name it by its path from the crate root.

use rustless::{Function, Request, Response};
use serde_json::Value;

/// Answers the request's JSON body back (`null` when there is none).
#[derive(Default)]
pub struct Echo;

impl Function for Echo {
    fn call(&self, req: &Request) -> Response {
        Response::created(req.body().unwrap_or(&Value::Null))
    }
}

/// Functions in a module.
pub mod handlers {
    use rustless::{Function, Request, Response};
    use serde_json::json;

    /// `{"method":..,"rest":..,"query":{..}}` for any request under `/echo/`.
    #[derive(Default)]
    pub struct Inspect;

    impl Function for Inspect {
        fn call(&self, req: &Request) -> Response {
            Response::ok(json!({
                "method": req.method(),
                "rest": req.param("rest").unwrap_or(""),
                "query": req.queries(),
            }))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn echoes_the_body_with_201() {
        let req = Request::builder()
            .method("POST")
            .path("/echo")
            .json(json!({ "a": [1, 2] }))
            .build();
        let res = Echo.call(&req);
        assert_eq!(res.status_code(), 201);
        assert_eq!(res.body(), Some(&json!({ "a": [1, 2] })));
    }

    #[test]
    fn echoes_null_without_a_body() {
        let res = Echo.call(&Request::builder().method("PUT").build());
        assert_eq!(res.body(), Some(&Value::Null));
    }

    #[test]
    fn inspects_method_rest_and_query() {
        let req = Request::builder()
            .method("DELETE")
            .path("/echo/a/b")
            .param("rest", "a/b")
            .query("x", "1")
            .build();
        let res = handlers::Inspect.call(&req);
        assert_eq!(res.status_code(), 200);
        assert_eq!(
            res.body(),
            Some(&json!({ "method": "DELETE", "rest": "a/b", "query": { "x": "1" } }))
        );
    }
}
