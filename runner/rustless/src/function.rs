use crate::{Request, Response};

/// An HTTP function: one struct answering the routes that name it in `rustless.toml`.
///
/// The runner builds one value of each struct with [`Default::default`] when it starts,
/// so **every function struct must implement `Default`** (usually `#[derive(Default)]`),
/// and then calls [`Function::call`] from many threads at once: keep state behind a
/// `Mutex` (or atomics). A value lives as long as the runner process; it is not kept
/// across restarts, and an idle app is stopped, so do not rely on it for durable data.
///
/// A panic inside `call` answers `500` with a JSON error for that request only; the
/// next request is served normally.
///
/// # Example
///
/// ```
/// use std::sync::atomic::{AtomicU64, Ordering};
/// use rustless::{Function, Request, Response};
/// use serde_json::json;
///
/// /// `GET /count`: counts the calls since the runner started.
/// #[derive(Default)]
/// pub struct Count {
///     calls: AtomicU64,
/// }
///
/// impl Function for Count {
///     fn call(&self, _req: &Request) -> Response {
///         let n = self.calls.fetch_add(1, Ordering::Relaxed) + 1;
///         Response::ok(json!({ "calls": n }))
///     }
/// }
///
/// let count = Count::default();
/// count.call(&Request::builder().build());
/// let res = count.call(&Request::builder().build());
/// assert_eq!(res.body(), Some(&json!({ "calls": 2 })));
/// ```
pub trait Function: Send + Sync + 'static {
    /// Answers one request.
    fn call(&self, req: &Request) -> Response;
}
