import t from 'tap';
import { acceptsContentType, bodyNotAllowed, checkBody, isMediaRange } from '../../../src/http/body-rules.js';

t.test('media ranges', async (t) => {
  for (const good of ['application/json', 'text/*', '*/*', 'application/vnd.github+json', "a!#$%&'+.^_`|~-/b"]) t.ok(isMediaRange(good), good);
  for (const bad of ['json', '*/json', 'text/**', 'text/ plain', '', 'a/b/c', 'a/b;q=1', 'Text/Plain', '/', 'a/']) t.notOk(isMediaRange(bad), bad);
});

t.test('a body passes the ranges its content type matches; none passes */* only', async (t) => {
  const json = ['application/json'];
  t.ok(acceptsContentType(json, 'application/json'));
  t.ok(acceptsContentType(json, 'Application/JSON; charset=utf-8'));
  t.ok(acceptsContentType(json, 'application/activity+json'));
  t.notOk(acceptsContentType(json, 'application/x-www-form-urlencoded'));
  t.notOk(acceptsContentType(json, undefined));
  const form = ['application/json', 'application/x-www-form-urlencoded'];
  t.ok(acceptsContentType(form, 'application/x-www-form-urlencoded; charset=utf-8'));
  t.notOk(acceptsContentType(form, 'text/plain'));
  t.ok(acceptsContentType(['text/*'], 'text/plain'));
  t.notOk(acceptsContentType(['text/*'], 'textual/plain'));
  t.notOk(acceptsContentType(['text/*'], undefined));
  t.ok(acceptsContentType(['*/*'], undefined));
  t.ok(acceptsContentType(['*/*'], 'image/png'));
});

t.test('checkBody: 415 naming what the route takes, 400 for JSON that does not parse', async (t) => {
  const body = Buffer.from('a=1');
  t.match(checkBody(undefined, 'application/x-www-form-urlencoded', body), { code: 'RUSTLESS_UNSUPPORTED_MEDIA_TYPE', message: 'request body must be JSON (content-type: application/json), got "application/x-www-form-urlencoded"' });
  t.match(checkBody(['application/json', 'text/*'], 'image/png', body), { code: 'RUSTLESS_UNSUPPORTED_MEDIA_TYPE', message: 'request body must be one of the types this route accepts (application/json, text/*), got "image/png"' });
  t.match(checkBody(['*/*'], 'application/json', Buffer.from('{"a":')), { code: 'RUSTLESS_INVALID_JSON' });
  t.equal(checkBody(['*/*'], undefined, Buffer.from('{"a":')), undefined, 'not JSON by its type: not parsed');
  t.equal(checkBody(['application/x-www-form-urlencoded'], 'application/x-www-form-urlencoded', body), undefined);
  t.equal(checkBody(undefined, 'application/json', Buffer.from('[1]')), undefined);
});

t.test('GET and HEAD carry no body', async (t) => {
  t.match(bodyNotAllowed('GET'), { code: 'RUSTLESS_BODY_NOT_ALLOWED', status: 400 });
  t.match(bodyNotAllowed('HEAD'), { code: 'RUSTLESS_BODY_NOT_ALLOWED' });
  t.equal(bodyNotAllowed('POST'), undefined);
  t.equal(bodyNotAllowed('DELETE'), undefined);
});
