import t from 'tap';
import { ClientAddresses, parseTrustedProxies } from '../../../src/gateway/client-address.js';

t.test('without a trusted proxy the peer is the client, whatever X-Forwarded-For says', async (t) => {
  const none = new ClientAddresses();
  t.equal(none.of('203.0.113.9', '6.6.6.6'), '203.0.113.9');
  t.equal(none.of('::ffff:203.0.113.9', undefined), '203.0.113.9');
  t.equal(none.of(undefined, '6.6.6.6'), undefined, 'a unix peer has no address');
});

t.test('a trusted proxy names the client: the last X-Forwarded-For entry, the one it saw', async (t) => {
  const caddy = new ClientAddresses(parseTrustedProxies('127.0.0.1, ::1,unix'));
  t.equal(caddy.of('127.0.0.1', '6.6.6.6, 198.51.100.4'), '198.51.100.4', 'what a client wrote before it is not believed');
  t.equal(caddy.of('::ffff:127.0.0.1', '198.51.100.4'), '198.51.100.4');
  t.equal(caddy.of('::1', '2001:db8::7'), '2001:db8::7');
  t.equal(caddy.of(undefined, '198.51.100.4'), '198.51.100.4', 'a proxy on the unix socket');
  t.equal(caddy.of('127.0.0.1', undefined), '127.0.0.1', 'no header: the peer');
  t.equal(caddy.of('127.0.0.1', 'not-an-ip'), '127.0.0.1', 'garbage: the peer');
  t.equal(caddy.of('127.0.0.1', '198.51.100.4,'), '127.0.0.1', 'an empty last entry: the peer');
  t.equal(caddy.of('192.0.2.1', '198.51.100.4'), '192.0.2.1', 'another peer is not trusted');
});

t.test('--trust-proxy names a value that is not an address', async (t) => {
  t.throws(() => parseTrustedProxies('127.0.0.1,caddy'), { message: /--trust-proxy takes IP addresses and "unix".*got "caddy"/ });
  t.same(parseTrustedProxies('::ffff:10.0.0.1'), ['10.0.0.1']);
});
