//! An in-memory to-do API in one function:
//!
//! | route | answer |
//! | --- | --- |
//! | `GET /todos` | 200, the list |
//! | `POST /todos` `{"title": ".."}` | 201, the new to-do; 422 on a wrong shape or an empty title |
//! | `GET /todos/:id` | 200 or 404 |
//! | `PUT /todos/:id` `{"title": "..", "done": true}` | 200, the replaced to-do, or 404 |
//! | `DELETE /todos/:id` | 204 or 404 |

use std::sync::{Mutex, MutexGuard};

use rustless::{Function, Request, Response};
use serde::{Deserialize, Serialize};

/// One to-do.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Todo {
    /// Assigned on creation, never reused.
    pub id: u64,
    /// What to do; never empty.
    pub title: String,
    /// Whether it is done.
    pub done: bool,
}

/// The body of `POST /todos` and `PUT /todos/:id`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct TodoInput {
    title: String,
    #[serde(default)]
    done: bool,
}

#[derive(Default)]
struct Store {
    next_id: u64,
    todos: Vec<Todo>,
}

/// All `/todos` routes. The runner builds it once with `Default` and calls it from
/// many threads, so the list sits behind a `Mutex`.
#[derive(Default)]
pub struct Todos {
    store: Mutex<Store>,
}

impl Function for Todos {
    fn call(&self, req: &Request) -> Response {
        match (req.method(), req.param("id")) {
            ("GET", None) => Response::ok(&self.store().todos),
            ("POST", None) => self.create(req),
            (method, Some(id)) => {
                let id = match id.parse::<u64>() {
                    Ok(id) => id,
                    Err(_) => return not_found(id),
                };
                match method {
                    "GET" => self.get(id),
                    "PUT" => self.replace(id, req),
                    "DELETE" => self.delete(id),
                    _ => Response::error(405, "METHOD_NOT_ALLOWED", "use GET, PUT or DELETE"),
                }
            }
            _ => Response::error(405, "METHOD_NOT_ALLOWED", "use GET or POST"),
        }
    }
}

impl Todos {
    fn store(&self) -> MutexGuard<'_, Store> {
        // A panic while holding the lock poisons it; the data is still consistent
        // (every change is a single push/assign/remove), so keep serving.
        self.store.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn create(&self, req: &Request) -> Response {
        let input = match read_input(req) {
            Ok(input) => input,
            Err(res) => return res,
        };
        let mut store = self.store();
        store.next_id += 1;
        let todo = Todo {
            id: store.next_id,
            title: input.title,
            done: input.done,
        };
        store.todos.push(todo.clone());
        Response::created(&todo).with_header("location", format!("/todos/{}", todo.id))
    }

    fn get(&self, id: u64) -> Response {
        match self.store().todos.iter().find(|t| t.id == id) {
            Some(todo) => Response::ok(todo),
            None => not_found(id),
        }
    }

    fn replace(&self, id: u64, req: &Request) -> Response {
        let input = match read_input(req) {
            Ok(input) => input,
            Err(res) => return res,
        };
        let mut store = self.store();
        match store.todos.iter_mut().find(|t| t.id == id) {
            Some(todo) => {
                todo.title = input.title;
                todo.done = input.done;
                Response::ok(&*todo)
            }
            None => not_found(id),
        }
    }

    fn delete(&self, id: u64) -> Response {
        let mut store = self.store();
        match store.todos.iter().position(|t| t.id == id) {
            Some(i) => {
                store.todos.remove(i);
                Response::no_content()
            }
            None => not_found(id),
        }
    }
}

fn read_input(req: &Request) -> Result<TodoInput, Response> {
    let input: TodoInput = req.json()?;
    if input.title.trim().is_empty() {
        return Err(Response::error(422, "EMPTY_TITLE", "title must not be empty"));
    }
    Ok(input)
}

fn not_found(id: impl std::fmt::Display) -> Response {
    Response::not_found(format!("no to-do {}", id))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{json, Value};

    fn call(todos: &Todos, method: &str, id: Option<&str>, body: Option<Value>) -> Response {
        let mut req = Request::builder().method(method).path("/todos");
        if let Some(id) = id {
            req = req.path(format!("/todos/{}", id)).param("id", id);
        }
        todos.call(&req.body(body).build())
    }

    fn code(res: &Response) -> &str {
        res.body().unwrap()["error"]["code"].as_str().unwrap()
    }

    #[test]
    fn creates_lists_gets_replaces_and_deletes() {
        let todos = Todos::default();
        assert_eq!(call(&todos, "GET", None, None).body(), Some(&json!([])));

        let res = call(&todos, "POST", None, Some(json!({ "title": "milk" })));
        assert_eq!(res.status_code(), 201);
        assert_eq!(res.body(), Some(&json!({ "id": 1, "title": "milk", "done": false })));
        assert_eq!(res.header("location"), Some("/todos/1"));
        call(&todos, "POST", None, Some(json!({ "title": "eggs", "done": true })));

        let res = call(&todos, "GET", None, None);
        assert_eq!(res.body().unwrap().as_array().unwrap().len(), 2);
        let res = call(&todos, "GET", Some("2"), None);
        assert_eq!(res.body(), Some(&json!({ "id": 2, "title": "eggs", "done": true })));

        let res = call(&todos, "PUT", Some("1"), Some(json!({ "title": "oat milk", "done": true })));
        assert_eq!(res.status_code(), 200);
        assert_eq!(res.body().unwrap()["title"], json!("oat milk"));

        assert_eq!(call(&todos, "DELETE", Some("1"), None).status_code(), 204);
        assert_eq!(call(&todos, "GET", Some("1"), None).status_code(), 404);
        assert_eq!(call(&todos, "DELETE", Some("1"), None).status_code(), 404);
        let res = call(&todos, "POST", None, Some(json!({ "title": "bread" })));
        assert_eq!(res.body().unwrap()["id"], json!(3), "ids are never reused");
    }

    #[test]
    fn unknown_ids_are_404() {
        let todos = Todos::default();
        let res = call(&todos, "GET", Some("9"), None);
        assert_eq!((res.status_code(), code(&res)), (404, "NOT_FOUND"));
        assert_eq!(call(&todos, "GET", Some("abc"), None).status_code(), 404);
        let res = call(&todos, "PUT", Some("9"), Some(json!({ "title": "x" })));
        assert_eq!(res.status_code(), 404);
    }

    #[test]
    fn bad_bodies_are_refused() {
        let todos = Todos::default();
        let res = call(&todos, "POST", None, None);
        assert_eq!((res.status_code(), code(&res)), (400, "MISSING_BODY"));
        let res = call(&todos, "POST", None, Some(json!({ "title": 5 })));
        assert_eq!((res.status_code(), code(&res)), (422, "INVALID_BODY"));
        let res = call(&todos, "POST", None, Some(json!({ "title": "x", "extra": 1 })));
        assert_eq!((res.status_code(), code(&res)), (422, "INVALID_BODY"));
        let res = call(&todos, "POST", None, Some(json!({ "title": "  " })));
        assert_eq!((res.status_code(), code(&res)), (422, "EMPTY_TITLE"));
        assert_eq!(call(&todos, "GET", None, None).body(), Some(&json!([])));
    }

    #[test]
    fn other_methods_are_405() {
        let todos = Todos::default();
        assert_eq!(call(&todos, "PATCH", None, None).status_code(), 405);
        assert_eq!(call(&todos, "PATCH", Some("1"), None).status_code(), 405);
    }
}
