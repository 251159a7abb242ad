// The browser bundle of Autobahn (web/vendor/autobahn.min.js, from `make js`) run as a page runs
// it: it has the SDK's default serializer, and that serializer round-trips a room event.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { webcrypto } from 'node:crypto';
import vm from 'node:vm';
import { DEFAULTS } from '../../web/sdk/kasagi.js';

const bundle = new URL('../../web/vendor/autobahn.min.js', import.meta.url);

function pageAutobahn() {
  const page = { console: { ...console, warn() {} }, setTimeout, clearTimeout, setInterval, clearInterval };
  Object.assign(page, { navigator: { userAgent: 'test' }, crypto: webcrypto, TextEncoder, TextDecoder });
  page.window = page;
  page.self = page;
  vm.createContext(page);
  vm.runInContext(readFileSync(bundle, 'utf8'), page);
  return page.autobahn;
}

test('vendor: the bundled Autobahn encodes and decodes a room event with the SDK default serializer', { skip: !existsSync(bundle) && 'run `make js` first' }, async () => {
  const kinds = { json: 'JSONSerializer', msgpack: 'MsgpackSerializer', cbor: 'CBORSerializer' };
  const Serializer = pageAutobahn().serializer[kinds[DEFAULTS.serializer]];
  assert.ok(Serializer, `the bundle has no ${DEFAULTS.serializer} serializer`);
  const serializer = new Serializer();
  assert.equal(serializer.SERIALIZER_ID, DEFAULTS.serializer);
  const event = [36, 1, 2, {}, [{ epoch: 1, seq: 7, ops: [['set', ['players', 'a'], { x: 1, y: 2.5, t: 1733090000123.456 }]], acks: { a: [1733090000123456] } }]];
  const encoded = await serializer.serialize(event);
  // A browser WebSocket hands binary frames over as an ArrayBuffer.
  const frame = typeof encoded === 'string' ? encoded : new Uint8Array(encoded).slice().buffer;
  assert.deepEqual(JSON.parse(JSON.stringify(serializer.unserialize(frame))), event);
});
