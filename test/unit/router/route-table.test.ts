import t from 'tap';
import { commonPath, RouteTable, type RouteTarget } from '../../../src/router/route-table.js';
import { parsePattern } from '../../../src/router/pattern.js';

function route(methods: string[], path: string, app = 'app', fn = 'F', fallback = false): RouteTarget {
  return { app, function: fn, path, methods, timeoutMs: 1000, maxBodyBytes: 1024, fallback };
}

t.test('literal, :param and trailing *rest segments match and capture', async (t) => {
  const table = RouteTable.from([
    route(['GET'], '/hello/:name', 'a', 'Hello'),
    route(['GET'], '/files/*path', 'a', 'Files'),
    route(['GET'], '/', 'a', 'Root'),
    route(['*'], '/any', 'a', 'Any'),
  ]);
  t.match(table.match('GET', '/hello/bob'), { kind: 'found', target: { function: 'Hello' }, params: { name: 'bob' } });
  t.match(table.match('GET', '/hello/b%C3%B6b?x=1'), { kind: 'found', params: { name: 'böb' } });
  t.match(table.match('GET', '/files/a/b/c.txt'), { kind: 'found', target: { function: 'Files' }, params: { path: 'a/b/c.txt' } });
  t.match(table.match('GET', '/'), { kind: 'found', target: { function: 'Root' } });
  t.match(table.match('PATCH', '/any'), { kind: 'found', target: { function: 'Any' } });
  t.match(table.match('GET', '/hello/bob/'), { kind: 'found', params: { name: 'bob' } }, 'a trailing slash is forgiven');
});

t.test('literals beat params beat wildcards', async (t) => {
  const table = RouteTable.from([route(['GET'], '/users/:id', 'a', 'ById'), route(['GET'], '/users/me', 'a', 'Me'), route(['GET'], '/users/*rest', 'a', 'Rest')]);
  t.match(table.match('GET', '/users/me'), { target: { function: 'Me' } });
  t.match(table.match('GET', '/users/42'), { target: { function: 'ById' }, params: { id: '42' } });
  t.match(table.match('GET', '/users/42/posts'), { target: { function: 'Rest' }, params: { rest: '42/posts' } });
});

t.test('a less specific route answers when the more specific one lacks the method', async (t) => {
  const table = RouteTable.from([route(['GET'], '/users/me', 'a', 'Me'), route(['DELETE'], '/users/:id', 'a', 'Delete')]);
  t.match(table.match('DELETE', '/users/me'), { kind: 'found', target: { function: 'Delete' }, params: { id: 'me' } });
});

t.test('no route is not-found; a matched path with the wrong method lists what is allowed', async (t) => {
  const table = RouteTable.from([route(['GET'], '/todos'), route(['POST'], '/todos', 'app', 'Create'), route(['GET'], '/todos/:id')]);
  t.same(table.match('GET', '/nothing'), { kind: 'not-found' });
  t.same(table.match('GET', '/todos/1/2'), { kind: 'not-found' });
  t.same(table.match('PUT', '/todos'), { kind: 'method-not-allowed', allowed: ['GET', 'HEAD', 'POST'] });
  t.same(table.match('GET', '/bad%zzpath'), { kind: 'not-found' }, 'an undecodable path matches nothing');
});

t.test('conflicting routes are refused with an error naming both', async (t) => {
  const table = RouteTable.from([route(['GET'], '/hello/:name', 'greeter', 'Hello')]);
  t.throws(() => table.add(route(['GET', 'POST'], '/hello/:who', 'other', 'Hi')), {
    code: 'RUSTLESS_ROUTE_CONFLICT',
    message:
      'route GET,POST /hello/:who (app other, function Hi) conflicts with GET /hello/:name (app greeter, function Hello): ' +
      "both match /hello/x, and one app may not take another app's requests (a catch-all route says `fallback = true`)",
  });
  t.throws(() => table.add(route(['*'], '/hello/:x')), { code: 'RUSTLESS_ROUTE_CONFLICT' }, '"*" overlaps every method');
  t.doesNotThrow(() => table.add(route(['DELETE'], '/hello/:name', 'greeter', 'Bye')), 'other methods on the same path of the same app are fine');
  t.throws(() => table.add(route(['GET'], '/hello/:name', 'greeter', 'Again')), { message: /both answer \/hello\/: for the same method/ }, 'the same app twice');
  t.doesNotThrow(() => table.add(route(['GET'], '/hello/:name/more')), 'a path no route of another app matches is fine');
  t.equal(table.size, 3);
});

t.test('one app cannot capture paths another app answers, whatever the methods', async (t) => {
  const table = RouteTable.from([route(['GET'], '/hello/:name', 'greeter', 'Hello'), route(['POST'], '/todos', 'todo', 'Create')]);
  const refused: Array<[RouteTarget, RegExp]> = [
    [route(['GET'], '/hello/admin', 'thief', 'Admin'), /route GET \/hello\/admin \(app thief, function Admin\) conflicts with GET \/hello\/:name \(app greeter, function Hello\): both match \/hello\/admin/],
    [route(['DELETE'], '/hello/:x', 'thief'), /\(app greeter, function Hello\): both match \/hello\/x/],
    [route(['*'], '/*rest', 'thief'), /both match \/hello\/x/],
    [route(['GET'], '/:a/:b', 'thief'), /both match \/hello\/x/],
    [route(['GET'], '/todos', 'thief'), /POST \/todos \(app todo, function Create\): both match \/todos/],
    [route(['GET'], '/*rest', 'thief', 'F'), /conflicts with GET \/hello\/:name/],
  ];
  for (const [target, message] of refused) {
    t.throws(() => table.add(target), { code: 'RUSTLESS_ROUTE_CONFLICT', message, details: { app: 'thief' } }, `${target.methods} ${target.path}`);
  }
  t.doesNotThrow(() => table.add(route(['GET'], '/hello', 'other')), '/hello is not /hello/:name');
  t.doesNotThrow(() => table.add(route(['GET'], '/todos/:id', 'other')), '/todos/:id is not /todos');
  t.doesNotThrow(() => table.add(route(['GET'], '/greeter/*rest', 'greeter')), 'an app overlaps only itself');
});

t.test('routes already serving are never refused: overlaps from older rules are reported and keep serving', async (t) => {
  const legacy = [route(['GET'], '/hello/:name', 'greeter', 'Hello'), route(['GET'], '/hello/admin', 'admin', 'Admin')];
  t.throws(() => RouteTable.from(legacy), { code: 'RUSTLESS_ROUTE_CONFLICT' });
  const reported: string[] = [];
  const table = RouteTable.from(legacy, { onConflict: (error) => reported.push(error.message) });
  t.equal(table.size, 2);
  t.match(reported, [/route GET \/hello\/admin \(app admin, function Admin\) conflicts with GET \/hello\/:name/]);
  t.match(table.match('GET', '/hello/admin'), { target: { app: 'admin' } });
  t.match(table.match('GET', '/hello/bob'), { target: { app: 'greeter' } });
});

t.test('a fallback route answers only what no other route matches, and never takes a 405', async (t) => {
  const table = RouteTable.from([route(['GET'], '/hello/:name', 'greeter', 'Hello'), route(['*'], '/*rest', 'site', 'Site', true), route(['GET'], '/', 'site', 'Home')]);
  t.match(table.match('GET', '/hello/bob'), { kind: 'found', target: { app: 'greeter' } });
  t.same(table.match('DELETE', '/hello/bob'), { kind: 'method-not-allowed', allowed: ['GET', 'HEAD'] }, "greeter's 405 stays greeter's");
  t.match(table.match('GET', '/hello/bob/more'), { kind: 'found', target: { app: 'site', function: 'Site' }, params: { rest: 'hello/bob/more' } });
  t.match(table.match('POST', '/anything'), { kind: 'found', target: { app: 'site', function: 'Site' } });
  t.match(table.match('GET', '/'), { kind: 'found', target: { function: 'Home' } });
  t.throws(() => table.add(route(['GET'], '/*all', 'other', 'Other', true)), { code: 'RUSTLESS_ROUTE_CONFLICT', message: /\(fallback\).*both match \/x/ }, 'two fallbacks may not overlap');
  t.doesNotThrow(() => table.add(route(['GET'], '/new/:x', 'late')), 'an ordinary route may go under a fallback of another app');
  t.match(table.match('GET', '/new/1'), { kind: 'found', target: { app: 'late' } });
});

t.test('a GET route answers HEAD unless a route answers HEAD itself', async (t) => {
  const table = RouteTable.from([route(['GET'], '/a', 'app', 'GetA'), route(['GET'], '/b', 'app', 'GetB'), route(['HEAD'], '/b', 'app', 'HeadB'), route(['POST'], '/c')]);
  t.match(table.match('HEAD', '/a'), { kind: 'found', target: { function: 'GetA' } });
  t.match(table.match('HEAD', '/b'), { kind: 'found', target: { function: 'HeadB' } });
  t.same(table.match('HEAD', '/c'), { kind: 'method-not-allowed', allowed: ['POST'] });
  t.same(table.match('PUT', '/a'), { kind: 'method-not-allowed', allowed: ['GET', 'HEAD'] });
});

t.test('commonPath finds a path two patterns both match', async (t) => {
  const common = (a: string, b: string) => commonPath(parsePattern(a), parsePattern(b));
  t.equal(common('/a/:x', '/:y/b'), '/a/b');
  t.equal(common('/a/*rest', '/a'), undefined, 'a wildcard needs one segment at least');
  t.equal(common('/a/*rest', '/a/:x/c'), '/a/x/c');
  t.equal(common('/*rest', '/*all'), '/x');
  t.equal(common('/', '/'), '/');
  t.equal(common('/', '/*rest'), undefined);
  t.equal(common('/a/b', '/a/c'), undefined);
  t.equal(common('/a/:x', '/a/:x/:y'), undefined);
});

t.test('invalid patterns say what is wrong', async (t) => {
  t.throws(() => parsePattern('hello'), { message: /must start with "\/"/ });
  t.throws(() => parsePattern('/a//b'), { message: /empty segment 2/ });
  t.throws(() => parsePattern('/a/'), { message: /empty segment 2/ });
  t.throws(() => parsePattern('/:1x'), { message: /invalid parameter name/ });
  t.throws(() => parsePattern('/:a/:a'), { message: /uses the parameter name "a" twice/ });
  t.throws(() => parsePattern('/*rest/more'), { message: /wildcard "\*rest" that is not the last segment/ });
  t.throws(() => parsePattern('/a b'), { message: /characters a URL path cannot hold/ });
  t.same(parsePattern('/'), []);
});
