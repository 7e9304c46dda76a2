import t from 'tap';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadManifest, parseManifest, DEFAULT_ROUTE_TIMEOUT_MS } from '../../../src/manifest/manifest.js';

const ROUTE = '[[routes]]\nmethod = "GET"\npath = "/hello/:name"\nfunction = "Hello"\n';

t.test('a valid manifest with defaults', async (t) => {
  const manifest = parseManifest(`name = "greeter"\n${ROUTE}[[routes]]\nmethod = ["post", "PUT"]\npath = "/echo"\nfunction = "handlers::Echo"\ntimeout_ms = 500\n`);
  t.equal(manifest.name, 'greeter');
  t.same(manifest.routes[0], { methods: ['GET'], path: '/hello/:name', function: 'Hello', timeoutMs: DEFAULT_ROUTE_TIMEOUT_MS, fallback: false });
  t.same(manifest.routes[1], { methods: ['POST', 'PUT'], path: '/echo', function: 'handlers::Echo', timeoutMs: 500, fallback: false });
  t.same(manifest.container, { network: false, memory: '128M', pids: 64 });
  t.equal(manifest.idleTimeoutS, undefined);
});

t.test('a catch-all route says fallback = true', async (t) => {
  const manifest = parseManifest('name = "site"\n[[routes]]\nmethod = "*"\npath = "/*rest"\nfunction = "Site"\nfallback = true\n');
  t.equal(manifest.routes[0]!.fallback, true);
  t.throws(() => parseManifest('name = "site"\n[[routes]]\npath = "/*rest"\nfunction = "Site"\nfallback = "yes"\n'), {
    code: 'RUSTLESS_INVALID_MANIFEST',
    message: /`routes\[0\]\.fallback` must be true or false, got "yes"/,
  });
});

t.test('a route may accept bodies other than JSON; a bad media type is named', async (t) => {
  const route = (accept: string) => parseManifest(`name = "hook"\n[[routes]]\nmethod = "POST"\npath = "/hook"\nfunction = "Hook"\naccept = ${accept}\n`).routes[0]!;
  t.same(route('["application/json", "Application/X-WWW-Form-Urlencoded", "application/json"]').accept, ['application/json', 'application/x-www-form-urlencoded']);
  t.same(route('"*/*"').accept, ['*/*']);
  t.same(route('"text/*"').accept, ['text/*']);
  t.notOk('accept' in parseManifest(`name = "x"\n${ROUTE}`).routes[0]!, 'no accept: JSON only, as before');
  const bads: Array<[string, string]> = [['"json"', '"json"'], ['["application/json", "*/json"]', '"*/json"'], ['"text/plain; charset=utf-8"', '"text/plain; charset=utf-8"'], ['[1]', '1'], ['"a/b/c"', '"a/b/c"']];
  for (const [bad, shown] of bads) {
    const error = t.throws(() => route(bad), { code: 'RUSTLESS_INVALID_MANIFEST' }, bad) as Error;
    t.ok(error.message.endsWith(`\`routes[0].accept\` must be media types such as "application/json", "application/x-www-form-urlencoded", "text/*" or "*/*", got ${shown}`), error.message);
  }
  t.throws(() => route('[]'), { message: /`routes\[0\]\.accept` must name at least one media type/ });
});

t.test('the app name defaults to the crate name', async (t) => {
  t.equal(parseManifest(ROUTE, { crateName: 'my_app' }).name, 'my-app');
});

t.test('container settings', async (t) => {
  const manifest = parseManifest(`name = "net"\nidle_timeout_s = 5\n${ROUTE}[container]\nnetwork = true\nmemory = "64M"\npids = 32\n`);
  t.same(manifest.container, { network: true, memory: '64M', pids: 32 });
  t.equal(manifest.idleTimeoutS, 5);
});

const ERRORS: Array<[string, string, RegExp]> = [
  ['not TOML', 'name = ', /rustless\.toml: not valid TOML/],
  ['unknown top-level key', `nmae = "x"\n${ROUTE}`, /unknown key `nmae`/],
  ['bad name', `name = "Bad_Name"\n${ROUTE}`, /`name` must be lowercase .* got "Bad_Name"/],
  ['no name and no crate', ROUTE, /`name` must be .* got nothing/],
  ['no routes', 'name = "x"\n', /`routes` must be a non-empty array .* got nothing/],
  ['routes not tables', 'name = "x"\nroutes = [1]\n', /`routes\[0\]` must be a table, got 1/],
  ['unknown route key', `name = "x"\n${ROUTE}handler = "y"\n`, /unknown key `routes\[0\]\.handler`/],
  ['bad method', 'name = "x"\n[[routes]]\nmethod = "FETCH"\npath = "/x"\nfunction = "F"\n', /`routes\[0\]\.method` must be one of GET, .* got "FETCH"/],
  ['empty method list', 'name = "x"\n[[routes]]\nmethod = []\npath = "/x"\nfunction = "F"\n', /`routes\[0\]\.method` must not be empty/],
  ['star with others', 'name = "x"\n[[routes]]\nmethod = ["*", "GET"]\npath = "/x"\nfunction = "F"\n', /"\*" cannot be combined/],
  ['path not a string', 'name = "x"\n[[routes]]\npath = 3\nfunction = "F"\n', /`routes\[0\]\.path` must be a string, got 3/],
  ['bad path', 'name = "x"\n[[routes]]\npath = "/a//b"\nfunction = "F"\n', /`routes\[0\]\.path` has an empty segment/],
  ['bad function', 'name = "x"\n[[routes]]\npath = "/a"\nfunction = "not a struct"\n', /`routes\[0\]\.function` must name a Rust struct .* got "not a struct"/],
  ['bad timeout', `name = "x"\n${ROUTE}timeout_ms = -5\n`, /`routes\[0\]\.timeout_ms` must be an integer from 1 to 900000, got -5/],
  ['bad idle timeout', `name = "x"\nidle_timeout_s = 1.5\n${ROUTE}`, /`idle_timeout_s` must be an integer from 1 to 86400, got 1\.5/],
  ['bad body limit', `name = "x"\nmax_body_bytes = "big"\n${ROUTE}`, /`max_body_bytes` must be an integer .* got "big"/],
  ['container not a table', `name = "x"\ncontainer = 1\n${ROUTE}`, /`container` must be a table, got 1/],
  ['bad network', `name = "x"\n${ROUTE}[container]\nnetwork = "yes"\n`, /`container\.network` must be true or false, got "yes"/],
  ['bad memory', `name = "x"\n${ROUTE}[container]\nmemory = "lots"\n`, /`container\.memory` must be a size .* got "lots"/],
  ['bad pids', `name = "x"\n${ROUTE}[container]\npids = 1\n`, /`container\.pids` must be an integer from 4 to 4096, got 1/],
  ['unknown container key', `name = "x"\n${ROUTE}[container]\ncpus = 1\n`, /unknown key `container\.cpus`/],
];

for (const [what, text, message] of ERRORS) {
  t.test(`refused: ${what}`, async (t) => {
    t.throws(() => parseManifest(text), { code: 'RUSTLESS_INVALID_MANIFEST', message });
  });
}

t.test('errors name the file they came from', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'rustless-manifest-'));
  await t.rejects(loadManifest(dir), { code: 'RUSTLESS_INVALID_MANIFEST', message: new RegExp(`${dir}/rustless\\.toml: cannot read it`) });
});
