//! A to-do API in one function, kept in the app's data directory (`[storage] data = true`
//! in its rustless.toml), so the list survives idle stops, restarts and redeploys:
//!
//! | route | answer |
//! | --- | --- |
//! | `GET /todos` | 200, the list |
//! | `POST /todos` `{"title": ".."}` | 201, the new to-do; 422 on a wrong shape or an empty title |
//! | `GET /todos/:id` | 200 or 404 |
//! | `PUT /todos/:id` `{"title": "..", "done": true}` | 200, the replaced to-do, or 404 |
//! | `DELETE /todos/:id` | 204 or 404 |
//!
//! Every change is written with `rustless::write_durable` (a temporary file, synced, renamed over
//! `todos.json`, the directory synced) before it is answered: a crash or a power cut leaves the
//! old list or the new one, never half of one, and a change that got its answer is on the disk.
//! A change that cannot be saved (a full disk) answers 507 and is not made.

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};

use rustless::{Function, Request, Response};
use serde::{Deserialize, Serialize};

/// One to-do.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
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

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct Store {
    next_id: u64,
    todos: Vec<Todo>,
}

/// All `/todos` routes. The runner builds it once with `Default` and calls it from
/// many threads, so the list sits behind a `Mutex`.
pub struct Todos {
    store: Mutex<Store>,
    /// `todos.json` in the data directory; `None` keeps the list in memory (unit tests).
    file: Option<PathBuf>,
}

impl Default for Todos {
    fn default() -> Self {
        let file = rustless::data_dir().ok().map(|dir| dir.join("todos.json"));
        let store = file.as_deref().map(load).unwrap_or_default();
        Todos { store: Mutex::new(store), file }
    }
}

/// Reads the saved list; a file that cannot be read as one is moved aside, never overwritten.
fn load(file: &Path) -> Store {
    let text = match fs::read(file) {
        Ok(text) => text,
        Err(_) => return Store::default(),
    };
    match serde_json::from_slice(&text) {
        Ok(store) => store,
        Err(e) => {
            let aside = file.with_extension("json.unreadable");
            eprintln!("todo: {} is not a to-do list ({}); moved to {}", file.display(), e, aside.display());
            let _ = fs::rename(file, aside);
            Store::default()
        }
    }
}

/// Writes the list so that a `201` is a promise: the old list or the new one survives a power
/// cut, never half of one, and the new one for sure once this returned (`rustless::write_durable`).
fn save(file: &Path, store: &Store) -> std::io::Result<()> {
    rustless::write_durable(file, serde_json::to_vec(store)?)
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
        // (a change is made on a copy and swapped in once saved), so keep serving.
        self.store.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Applies `change` to a copy of the list, saves the copy, and only then makes it the list:
    /// a change that cannot be saved is not made, and answers 500.
    fn update<T>(&self, change: impl FnOnce(&mut Store) -> T) -> Result<T, Response> {
        let mut store = self.store();
        let mut next = store.clone();
        let result = change(&mut next);
        if let Some(file) = &self.file {
            save(file, &next).map_err(save_failed)?;
        }
        *store = next;
        Ok(result)
    }

    fn create(&self, req: &Request) -> Response {
        let input = match read_input(req) {
            Ok(input) => input,
            Err(res) => return res,
        };
        let created = self.update(|store| {
            store.next_id += 1;
            let todo = Todo {
                id: store.next_id,
                title: input.title,
                done: input.done,
            };
            store.todos.push(todo.clone());
            todo
        });
        match created {
            Ok(todo) => Response::created(&todo).with_header("location", format!("/todos/{}", todo.id)),
            Err(res) => res,
        }
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
        let replaced = self.update(|store| {
            let todo = store.todos.iter_mut().find(|t| t.id == id)?;
            todo.title = input.title;
            todo.done = input.done;
            Some(todo.clone())
        });
        match replaced {
            Ok(Some(todo)) => Response::ok(&todo),
            Ok(None) => not_found(id),
            Err(res) => res,
        }
    }

    fn delete(&self, id: u64) -> Response {
        let deleted = self.update(|store| {
            let i = store.todos.iter().position(|t| t.id == id)?;
            Some(store.todos.remove(i))
        });
        match deleted {
            Ok(Some(_)) => Response::no_content(),
            Ok(None) => not_found(id),
            Err(res) => res,
        }
    }
}

/// 507 for a full disk, 500 otherwise; the message names the file (`write_durable`'s error does).
fn save_failed(e: std::io::Error) -> Response {
    // ENOSPC or EDQUOT, as write_durable's message carries it (io::ErrorKind::StorageFull is
    // newer than the Rust these examples build with).
    let text = e.to_string();
    let full = text.contains("(os error 28)") || text.contains("(os error 122)");
    let (status, code) = if full { (507, "NO_SPACE") } else { (500, "SAVE_FAILED") };
    Response::error(status, code, format!("the to-do list could not be saved, nothing was changed: {}", e))
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
    fn the_list_survives_a_new_instance_through_its_file() {
        let dir = std::env::temp_dir().join(format!("todo-test-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        let file = dir.join("todos.json");
        let first = Todos { store: Mutex::new(Store::default()), file: Some(file.clone()) };
        call(&first, "POST", None, Some(json!({ "title": "milk" })));
        call(&first, "POST", None, Some(json!({ "title": "eggs" })));
        assert_eq!(call(&first, "DELETE", Some("1"), None).status_code(), 204);

        let second = Todos { store: Mutex::new(load(&file)), file: Some(file.clone()) };
        assert_eq!(call(&second, "GET", None, None).body(), Some(&json!([{ "id": 2, "title": "eggs", "done": false }])));
        let res = call(&second, "POST", None, Some(json!({ "title": "bread" })));
        assert_eq!(res.body().unwrap()["id"], json!(3), "ids are never reused, across instances too");

        fs::write(&file, "not json").unwrap();
        assert!(load(&file).todos.is_empty());
        assert!(dir.join("todos.json.unreadable").exists(), "an unreadable list is moved aside, not overwritten");
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_change_that_cannot_be_saved_is_not_made() {
        let dir = std::env::temp_dir().join(format!("todo-fail-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        let file = dir.join("todos.json");
        let todos = Todos { store: Mutex::new(Store::default()), file: Some(file.clone()) };
        assert_eq!(call(&todos, "POST", None, Some(json!({ "title": "milk" }))).status_code(), 201);
        // The directory moved aside and a plain file in its place: the save fails, as on a full
        // disk (and as root, where permissions would not stop it).
        let aside = dir.with_extension("aside");
        fs::rename(&dir, &aside).unwrap();
        fs::write(&dir, b"").unwrap();
        let res = call(&todos, "POST", None, Some(json!({ "title": "eggs" })));
        fs::remove_file(&dir).unwrap();
        fs::rename(&aside, &dir).unwrap();
        assert_eq!((res.status_code(), code(&res)), (500, "SAVE_FAILED"));
        assert!(res.body().unwrap()["error"]["message"].as_str().unwrap().contains("todos.json"), "names the file");
        assert_eq!(call(&todos, "GET", None, None).body().unwrap().as_array().unwrap().len(), 1, "not made in memory");
        assert_eq!(load(&file).todos.len(), 1, "nor on disk");
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn other_methods_are_405() {
        let todos = Todos::default();
        assert_eq!(call(&todos, "PATCH", None, None).status_code(), 405);
        assert_eq!(call(&todos, "PATCH", Some("1"), None).status_code(), 405);
    }
}
