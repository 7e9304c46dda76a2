//! `GET /hello/:name` and `GET /hello?name=...` answer `{"message":"hello <name>"}`.

use rustless::{Function, Request, Response};
use serde_json::json;

/// Greets the `:name` route param, else the `?name=` query, else the world.
#[derive(Default)]
pub struct Hello;

impl Function for Hello {
    fn call(&self, req: &Request) -> Response {
        let name = req
            .param("name")
            .or_else(|| req.query("name"))
            .unwrap_or("world");
        Response::ok(json!({ "message": format!("hello {}", name) }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn greets_the_route_param() {
        let req = Request::builder().path("/hello/bob").param("name", "bob").build();
        let res = Hello.call(&req);
        assert_eq!(res.status_code(), 200);
        assert_eq!(res.body(), Some(&json!({ "message": "hello bob" })));
    }

    #[test]
    fn greets_the_query_or_the_world() {
        let req = Request::builder().path("/hello").query("name", "ann lee").build();
        assert_eq!(Hello.call(&req).body(), Some(&json!({ "message": "hello ann lee" })));
        let req = Request::builder().path("/hello").build();
        assert_eq!(Hello.call(&req).body(), Some(&json!({ "message": "hello world" })));
    }
}
