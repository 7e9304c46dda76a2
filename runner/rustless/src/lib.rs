//! Write HTTP functions for rust-less: implement [`Function`] on a
//! struct, read the [`Request`], return a [`Response`].
//!
//! A function app is a library crate holding one or more such structs plus a
//! `rustless.toml` that maps routes to them. rust-less routes each request, builds a
//! [`Request`] (method, path, route params, decoded query, headers, JSON body, and the
//! body's raw bytes and form fields) and sends
//! back your [`Response`] (status, optional JSON body, headers). Nothing of the HTTP
//! server is visible here, so functions unit-test with plain `cargo test`.
//!
//! # Example
//!
//! ```
//! use rustless::{Function, Request, Response};
//! use serde::Deserialize;
//! use serde_json::json;
//!
//! /// `GET /hello/:name`
//! #[derive(Default)] // required: the runner builds each function with `Default`
//! pub struct Hello;
//!
//! impl Function for Hello {
//!     fn call(&self, req: &Request) -> Response {
//!         let name = req.param("name").unwrap_or("world");
//!         Response::ok(json!({ "message": format!("hello {}", name) }))
//!     }
//! }
//!
//! #[derive(Deserialize)]
//! struct NewGreeting {
//!     name: String,
//! }
//!
//! /// `POST /greetings` with a body `{"name": "..."}`
//! #[derive(Default)]
//! pub struct Greet;
//!
//! impl Function for Greet {
//!     fn call(&self, req: &Request) -> Response {
//!         // A missing body answers 400, a body of the wrong shape 422.
//!         let new: NewGreeting = match req.json() {
//!             Ok(new) => new,
//!             Err(e) => return e.into(),
//!         };
//!         if new.name.is_empty() {
//!             return Response::error(422, "EMPTY_NAME", "name must not be empty");
//!         }
//!         Response::created(json!({ "greeting": format!("hello {}", new.name) }))
//!     }
//! }
//!
//! // Unit tests build requests with `Request::builder()`:
//! let res = Hello.call(&Request::builder().path("/hello/bob").param("name", "bob").build());
//! assert_eq!(res.status_code(), 200);
//! assert_eq!(res.body(), Some(&json!({ "message": "hello bob" })));
//!
//! let req = Request::builder().method("POST").path("/greetings").json(json!({ "name": 3 })).build();
//! assert_eq!(Greet.call(&req).status_code(), 422);
//! let req = Request::builder().method("POST").path("/greetings").build();
//! assert_eq!(Greet.call(&req).status_code(), 400);
//! ```
//!
//! And its `rustless.toml`:
//!
//! ```toml
//! name = "greeter"
//!
//! [[routes]]
//! method = "GET"
//! path = "/hello/:name"
//! function = "Hello"
//!
//! [[routes]]
//! method = "POST"
//! path = "/greetings"
//! function = "Greet"
//! ```
#![warn(missing_docs)]

mod config;
mod durable;
mod error;
mod function;
mod request;
mod response;
#[doc(hidden)]
pub mod urlencoded;

pub use config::{data_dir, env, secret};
pub use durable::write_durable;
pub use error::Error;
pub use function::Function;
pub use request::{Request, RequestBuilder};
pub use response::Response;
