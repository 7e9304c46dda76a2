/**
 * `rustless new DIR`: scaffolds a function app that passes `cargo test` and deploys as is.
 * On a machine without crates.io it also writes `.cargo/config.toml` pointing cargo at the
 * Debian crate registry, so the same commands work offline.
 */
import { readdir, writeFile } from 'node:fs/promises';
import { basename, join, resolve } from 'node:path';
import { cargoConfigToml } from '../../cargo/crate-source.js';
import { PACKAGE_ROOT } from '../../version.js';
import type { CommandContext } from '../command.js';
import { UsageError } from '../output.js';
import { makeDirectory } from '../../storage/make-directory.js';

export async function newApp({ positionals }: CommandContext): Promise<number> {
  const target = positionals[0];
  if (!target) throw new UsageError('usage: rustless new DIR');
  const dir = resolve(target);
  const name = basename(dir).toLowerCase().replace(/[^a-z0-9-]+/g, '-').replace(/^[^a-z]+/, '') || 'app';
  const existing = await readdir(dir).catch(() => []);
  if (existing.length > 0) throw new UsageError(`${dir} exists and is not empty; pick a new directory`);

  const files: Record<string, string> = {
    'Cargo.toml': cargoToml(name),
    'rustless.toml': rustlessToml(name),
    'src/lib.rs': libRs(name),
    '.gitignore': 'target/\nCargo.lock\n',
  };
  const offline = await cargoConfigToml();
  if (offline) files['.cargo/config.toml'] = offline;
  for (const [file, text] of Object.entries(files)) {
    await makeDirectory(join(dir, file, '..'));
    await writeFile(join(dir, file), text);
  }
  process.stdout.write(
    `created ${name} in ${dir}\n` +
      (offline ? 'crates.io is not reachable: .cargo/config.toml points cargo at the Debian crate registry\n' : '') +
      `next:\n  cd ${target} && cargo test\n  rustless deploy ${target}\n  rustless invoke GET /${name}/hello/pi\n`,
  );
  return 0;
}

function cargoToml(name: string): string {
  return `[package]
name = "${name}"
version = "0.1.0"
edition = "2021"

[dependencies]
# rust-less replaces this path with its own copy of the crate when it builds your app.
rustless = { path = "${join(PACKAGE_ROOT, 'runner', 'rustless')}" }
serde = { version = "1", features = ["derive"] }
serde_json = "1"

# A workspace of its own, so the crate builds wherever it lives.
[workspace]
`;
}

function rustlessToml(name: string): string {
  return `name = "${name}"

[[routes]]
method = "GET"
path = "/${name}/hello/:who"
function = "Hello"

[[routes]]
method = "POST"
path = "/${name}/greetings"
function = "Greet"
`;
}

function libRs(name: string): string {
  return `//! ${name}: a rust-less function app. Each struct answers the routes rustless.toml gives it.

use rustless::{Function, Request, Response};
use serde::Deserialize;
use serde_json::json;

/// \`GET /${name}/hello/:who\`: greets \`who\`.
#[derive(Default)]
pub struct Hello;

impl Function for Hello {
    fn call(&self, req: &Request) -> Response {
        let who = req.param("who").unwrap_or("world");
        Response::ok(json!({ "message": format!("hello {}", who) }))
    }
}

/// The body \`POST /${name}/greetings\` expects.
#[derive(Deserialize)]
pub struct Greeting {
    pub name: String,
}

/// \`POST /${name}/greetings\` with \`{"name": "..."}\`: answers 201, or 422 for a wrong body.
#[derive(Default)]
pub struct Greet;

impl Function for Greet {
    fn call(&self, req: &Request) -> Response {
        let greeting: Greeting = match req.json() {
            Ok(greeting) => greeting,
            Err(error) => return error.into(),
        };
        Response::created(json!({ "message": format!("hello {}", greeting.name) }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hello_greets_the_param() {
        let res = Hello.call(&Request::builder().param("who", "pi").build());
        assert_eq!(res.status_code(), 200);
        assert_eq!(res.body(), Some(&json!({ "message": "hello pi" })));
    }

    #[test]
    fn greet_refuses_a_wrong_body() {
        let res = Greet.call(&Request::builder().method("POST").json(json!({ "nom": 1 })).build());
        assert_eq!(res.status_code(), 422);
    }
}
`;
}
