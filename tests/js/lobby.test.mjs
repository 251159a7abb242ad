// The SDK's lobby calls (list, match, play) and the live listing watch, over a fake transport.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Client, ErrorURI, KasagiError, lobbyTopic } from '../../web/sdk/kasagi.js';
import { FakeClock, FakeConnector, flush, wampError } from './fakes.mjs';

const quiet = { info() {}, warn() {}, error() {} };

function setup(server) {
  const clock = new FakeClock();
  const connector = new FakeConnector({ server });
  const client = new Client({ url: 'ws://fake/ws', authid: 'alice', connector, timers: clock, now: clock.now, random: () => 1, log: quiet });
  return { clock, connector, client };
}

test('list and match call the lobby procedures with positional arguments and return their answers', async () => {
  const { connector, client } = setup((call) => {
    if (call.uri === 'kasagi.lobby.list') return { rooms: [{ room: 'q1', type: 'quad', meta: { mode: 'ranked' }, members: 1, max_members: 4 }], next: null };
    if (call.uri === 'kasagi.lobby.match') return { room: 'q1', type: 'quad', epoch: 5, seq: 0 };
    return undefined;
  });
  await client.start();
  const page = await client.list('quad', { mode: 'ranked' });
  const seat = await client.match('quad', { mode: 'ranked' });
  assert.equal(page.rooms[0].room, 'q1');
  assert.deepEqual(seat, { room: 'q1', type: 'quad', epoch: 5, seq: 0 });
  const calls = connector.allCalls.map((c) => [c.uri, c.args]);
  assert.deepEqual(calls, [
    ['kasagi.lobby.list', ['quad', { mode: 'ranked' }, null]],
    ['kasagi.lobby.match', ['quad', { mode: 'ranked' }]],
  ]);
  client.close();
});

test('a refused lobby call rejects with the server error and its details', async () => {
  const { client } = setup((call) => {
    throw wampError(ErrorURI.INVALID_ARGUMENT, 'the cursor was changed', { field: 'cursor', expected: 'unchanged', got: 'other' });
  });
  await client.start();
  await assert.rejects(client.list('quad', {}, 'tampered'), (err) => err instanceof KasagiError && err.error === ErrorURI.INVALID_ARGUMENT && err.details.field === 'cursor');
  client.close();
});

test('watch delivers each listing change of its type and subscribes again after a reconnection', async () => {
  const { clock, connector, client } = setup(() => undefined);
  await client.start();
  const seen = [];
  let resyncs = 0;
  const watch = await client.watch('quad', (change) => seen.push(change), () => (resyncs += 1));
  const change = { room: 'q1', type: 'quad', meta: {}, members: 2, max_members: 4 };
  connector.session.publish(lobbyTopic('quad'), change);
  assert.deepEqual(seen, [change]);
  connector.current.listener.onClose('lost', {});
  await flush();
  clock.advance(10_000);
  await flush(20);
  connector.session.publish(lobbyTopic('quad'), { room: 'q1', type: 'quad', gone: true });
  assert.equal(seen.length, 2);
  assert.equal(resyncs, 1);
  await watch.stop();
  connector.session.publish(lobbyTopic('quad'), change);
  assert.equal(seen.length, 2, 'no change is delivered after stop()');
  client.close();
});
