// connect() over the real Autobahn JS transport (npm autobahn) to a local port where nothing
// listens: it rejects at once, not at the connect deadline.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:net';
import { ErrorURI, KasagiError, connect } from '../../web/sdk/kasagi.js';

/** A local TCP port nobody listens on (bound once, then released). */
function freePort() {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

test('connect() to a port where nothing listens rejects within 2 s with connection_lost', async () => {
  const url = `ws://127.0.0.1:${await freePort()}/ws`;
  const quiet = { info() {}, warn() {}, error() {} };
  const started = Date.now();
  const err = await connect({ url, authid: 'alice', connectTimeout: 30_000, log: quiet }).then(
    () => assert.fail('connected to nothing'),
    (e) => e,
  );
  assert.ok(err instanceof KasagiError, String(err));
  assert.equal(err.error, ErrorURI.CONNECTION_LOST);
  assert.match(err.message, /nothing listens at ws:\/\/127\.0\.0\.1:\d+\/ws/);
  assert.ok(Date.now() - started < 2000, `took ${Date.now() - started} ms`);
});
