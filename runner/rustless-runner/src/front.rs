//! Who answers a request. Behind the gateway (a unix socket) the gateway already routed
//! it and names the function in `x-rustless-function`. Alone on a TCP socket (Knative,
//! Kubernetes, `PORT`) the runner is the HTTP edge itself: it routes with the app's own
//! table and enforces the gateway's contract (404/405 with `allow`, 413, 415 for a body
//! type the route does not accept, 400 for invalid JSON or a body on GET, per-route
//! timeouts as 504), and trusts no `x-rustless-*` header a client
//! sends.

use std::sync::mpsc;
use std::sync::Arc;
use std::thread;

use rustless::Response;

use crate::dispatch::{Dispatcher, FUNCTION_HEADER, PARAMS_HEADER};
use crate::http::HttpRequest;
use crate::routes::{Match, RouteTable};

/// Request headers the gateway does not forward to a function; the runner alone drops the
/// same ones so a function sees the same headers either way.
const HOP_BY_HOP: &[&str] = &[
    "connection",
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
    "host",
    "content-length",
    "expect",
];

/// The app's functions, and its routes when the runner answers clients itself.
pub struct Front {
    dispatcher: Arc<Dispatcher>,
    routes: RouteTable,
    max_body_bytes: usize,
    /// A TCP socket: no gateway in front.
    public: bool,
}

impl Front {
    /// `public` when the socket is TCP. A runner without routes (a hand-written `main`)
    /// keeps dispatching by header either way.
    pub fn new(dispatcher: Dispatcher, routes: RouteTable, max_body_bytes: usize, public: bool) -> Front {
        Front {
            dispatcher: Arc::new(dispatcher),
            routes,
            max_body_bytes,
            public,
        }
    }

    /// Whether requests are routed here rather than by the gateway.
    pub fn routes_here(&self) -> bool {
        self.public && self.routes.len() > 0
    }

    /// Answers one request; also returns the function that answered, for the access log.
    pub fn handle(&self, req: &HttpRequest) -> (Response, Option<String>) {
        if !self.routes_here() {
            let function = req.header(FUNCTION_HEADER).map(String::from);
            return (self.dispatcher.handle(req), function);
        }
        let path = req.target.split('?').next().unwrap_or("");
        let (route, params) = match self.routes.find(&req.method, path) {
            Match::Found(route, params) => (route, params),
            Match::NotFound => {
                let message = format!("no route for {} {}", req.method.to_ascii_uppercase(), path);
                return (Response::error(404, "RUSTLESS_NOT_FOUND", message), None);
            }
            Match::MethodNotAllowed(allowed) => {
                let allow = allowed.join(", ");
                let message = format!(
                    "{} is not allowed on {} (allowed: {})",
                    req.method.to_ascii_uppercase(),
                    path,
                    allow
                );
                let res = Response::error(405, "RUSTLESS_METHOD_NOT_ALLOWED", message).with_header("allow", allow);
                return (res, None);
            }
        };
        if let Err(res) = route.accept.check(req, self.max_body_bytes) {
            return (res, Some(route.function.clone()));
        }

        let mut headers: Vec<(String, String)> = req
            .headers
            .iter()
            .filter(|(name, _)| !HOP_BY_HOP.contains(&name.as_str()) && !name.starts_with("x-rustless-"))
            .cloned()
            .collect();
        headers.push((FUNCTION_HEADER.to_string(), route.function.clone()));
        // A map of strings always serializes.
        headers.push((PARAMS_HEADER.to_string(), serde_json::to_string(&params).unwrap_or_default()));
        let routed = HttpRequest {
            method: req.method.clone(),
            target: req.target.clone(),
            http10: req.http10,
            headers,
            body: req.body.clone(),
        };

        // On its own thread so the client gets its 504 on time; a function past its
        // timeout runs on to its end (a thread cannot be stopped), as it does behind the
        // gateway, but nobody waits for it.
        let (done, answer) = mpsc::channel();
        let dispatcher = Arc::clone(&self.dispatcher);
        let spawned = thread::Builder::new()
            .name(format!("fn-{}", route.function))
            .spawn(move || {
                let _ = done.send(dispatcher.handle(&routed));
            });
        let res = match spawned {
            Err(e) => Response::error(503, "RUSTLESS_UNAVAILABLE", format!("cannot start a thread for the function: {}", e)),
            Ok(_) => match answer.recv_timeout(route.timeout) {
                Ok(res) => res,
                Err(_) => Response::error(
                    504,
                    "RUSTLESS_TIMEOUT",
                    format!("{} did not answer within {} ms", route.function, route.timeout.as_millis()),
                ),
            },
        };
        (res, Some(route.function.clone()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::accept::Accept;
    use crate::routes::Route;
    use rustless::{Function, Request};
    use serde_json::json;
    use std::time::Duration;

    struct Echo;
    impl Function for Echo {
        fn call(&self, req: &Request) -> Response {
            Response::ok(json!({ "params": req.params(), "headers": req.headers(), "body": req.body() }))
        }
    }

    struct Sleep;
    impl Function for Sleep {
        fn call(&self, _: &Request) -> Response {
            thread::sleep(Duration::from_millis(300));
            Response::no_content()
        }
    }

    fn front(public: bool) -> Front {
        let mut d = Dispatcher::default();
        d.insert("Echo".into(), Box::new(Echo));
        d.insert("Sleep".into(), Box::new(Sleep));
        let mut routes = RouteTable::default();
        for (methods, path, function, ms) in [("GET,POST", "/echo/:id", "Echo", 1000), ("GET", "/sleep", "Sleep", 50)] {
            routes
                .add(Route {
                    methods: methods.split(',').map(String::from).collect(),
                    path: path.into(),
                    function: function.into(),
                    timeout: Duration::from_millis(ms),
                    fallback: false,
                    accept: if function == "Sleep" { Accept::parse(&["*/*"]).unwrap() } else { Accept::default() },
                })
                .unwrap();
        }
        Front::new(d, routes, 16, public)
    }

    fn request(method: &str, target: &str, headers: &[(&str, &str)], body: &str) -> HttpRequest {
        HttpRequest {
            method: method.into(),
            target: target.into(),
            http10: false,
            headers: headers.iter().map(|(n, v)| (n.to_string(), v.to_string())).collect(),
            body: body.as_bytes().to_vec(),
        }
    }

    fn code(res: &Response) -> &str {
        res.body().unwrap()["error"]["code"].as_str().unwrap()
    }

    #[test]
    fn routes_and_hides_client_rustless_headers() {
        let f = front(true);
        let (res, function) = f.handle(&request(
            "POST",
            "/echo/7?x=1",
            &[
                ("content-type", "application/json"),
                ("host", "a"),
                ("x-rustless-params", r#"{"id":"forged"}"#),
                ("x-a", "1"),
            ],
            "[1]",
        ));
        assert_eq!((res.status_code(), function.as_deref()), (200, Some("Echo")));
        assert_eq!(
            res.body().unwrap(),
            &json!({ "params": {"id": "7"}, "headers": {"content-type": "application/json", "x-a": "1"}, "body": [1] })
        );
    }

    #[test]
    fn the_gateway_contract_errors() {
        let f = front(true);
        let res = f.handle(&request("GET", "/nope", &[], "")).0;
        assert_eq!((res.status_code(), code(&res)), (404, "RUSTLESS_NOT_FOUND"));
        let res = f.handle(&request("DELETE", "/echo/1", &[], "")).0;
        assert_eq!((res.status_code(), code(&res)), (405, "RUSTLESS_METHOD_NOT_ALLOWED"));
        assert_eq!(res.header("allow"), Some("GET, HEAD, POST"));
        let res = f.handle(&request("POST", "/echo/1", &[("content-type", "text/plain")], "1")).0;
        assert_eq!((res.status_code(), code(&res)), (415, "RUSTLESS_UNSUPPORTED_MEDIA_TYPE"));
        let res = f.handle(&request("POST", "/echo/1", &[("content-type", "application/json")], "{\"a\":")).0;
        assert_eq!((res.status_code(), code(&res)), (400, "RUSTLESS_INVALID_JSON"));
        let res = f.handle(&request("POST", "/echo/1", &[("content-type", "application/json")], "[1,2,3,4,5,6,7,8]")).0;
        assert_eq!((res.status_code(), code(&res)), (413, "RUSTLESS_PAYLOAD_TOO_LARGE"));
        let res = f.handle(&request("POST", "/echo/1", &[("content-type", "application/vnd.x+json; charset=utf-8")], "1")).0;
        assert_eq!(res.status_code(), 200);
        let res = f.handle(&request("GET", "/echo/1", &[("content-type", "application/json")], "1")).0;
        assert_eq!((res.status_code(), code(&res)), (400, "RUSTLESS_BODY_NOT_ALLOWED"));
    }

    #[test]
    fn a_route_that_accepts_any_type_still_refuses_a_body_on_get_and_bad_json() {
        let f = front(true);
        let res = f.handle(&request("GET", "/sleep", &[], "x")).0;
        assert_eq!((res.status_code(), code(&res)), (400, "RUSTLESS_BODY_NOT_ALLOWED"));
        let res = f.handle(&request("GET", "/sleep", &[("content-type", "application/json")], "{")).0;
        assert_eq!((res.status_code(), code(&res)), (400, "RUSTLESS_BODY_NOT_ALLOWED"));
    }

    #[test]
    fn a_route_past_its_timeout_is_504() {
        let f = front(true);
        let started = std::time::Instant::now();
        let res = f.handle(&request("GET", "/sleep", &[], "")).0;
        assert_eq!((res.status_code(), code(&res)), (504, "RUSTLESS_TIMEOUT"));
        assert!(started.elapsed() < Duration::from_millis(250));
    }

    #[test]
    fn behind_the_gateway_the_header_names_the_function() {
        let f = front(false);
        let res = f.handle(&request("GET", "/anything", &[("x-rustless-function", "Echo")], "")).0;
        assert_eq!(res.status_code(), 200);
        let res = f.handle(&request("GET", "/echo/1", &[], "")).0;
        assert_eq!((res.status_code(), code(&res)), (404, "RUSTLESS_FUNCTION_NOT_FOUND"));
    }
}
