import t from 'tap';
import { RouteTable, type RouteTarget } from '../../../src/router/route-table.js';
import { parsePattern } from '../../../src/router/pattern.js';

function route(methods: string[], path: string, app = 'app', fn = 'F'): RouteTarget {
  return { app, function: fn, path, methods, timeoutMs: 1000, maxBodyBytes: 1024 };
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
  t.same(table.match('PUT', '/todos'), { kind: 'method-not-allowed', allowed: ['GET', 'POST'] });
  t.same(table.match('GET', '/bad%zzpath'), { kind: 'not-found' }, 'an undecodable path matches nothing');
});

t.test('conflicting routes are refused with an error naming both', async (t) => {
  const table = RouteTable.from([route(['GET'], '/hello/:name', 'greeter', 'Hello')]);
  t.throws(() => table.add(route(['GET', 'POST'], '/hello/:who', 'other', 'Hi')), {
    code: 'RUSTLESS_ROUTE_CONFLICT',
    message: 'route GET,POST /hello/:who (app other, function Hi) conflicts with GET /hello/:name (app greeter, function Hello)',
  });
  t.throws(() => table.add(route(['*'], '/hello/:x')), { code: 'RUSTLESS_ROUTE_CONFLICT' }, '"*" overlaps every method');
  t.doesNotThrow(() => table.add(route(['DELETE'], '/hello/:name', 'greeter', 'Bye')), 'other methods on the same path are fine');
  t.doesNotThrow(() => table.add(route(['GET'], '/hello/:name/more')), 'a different shape is fine');
  t.equal(table.size, 3);
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
