// Drives the JS SDK's lobby calls (Node, npm `autobahn`) against a real node serving the
// tictactoe example with one room per list page; used by
// tests/integration/test_js_sdk_lobby_live.py. Usage: node live_lobby.mjs URL SERIALIZER
// Prints one JSON line: what list, watch and match answered.
import * as kasagi from '../../web/sdk/kasagi.js';

const [url, serializer] = process.argv.slice(2);
const quiet = { info() {}, warn() {}, error: console.error };
const TYPE = 'tictactoe';
const out = {};
const connect = (authid) => kasagi.connect({ url, authid, serializer, log: quiet });
const refusal = (promise) => promise.then(() => null, (e) => ({ error: e.error, details: e.details }));

/** Resolves once `test()` holds, checked on every listing change; rejects at the deadline. */
function seen(changes, test, what, ms = 15000) {
  return new Promise((resolve, reject) => {
    const check = () => {
      const found = changes.find(test);
      if (found) {
        changes.waiters.delete(check);
        clearTimeout(timer);
        resolve(found);
      }
    };
    const timer = setTimeout(() => {
      changes.waiters.delete(check);
      reject(new Error(`no listing change: ${what}`));
    }, ms);
    changes.waiters.add(check);
    check();
  });
}

const [watcher, alice, bob, carol, dave] = await Promise.all(['js_watcher', 'js_alice', 'js_bob', 'js_carol', 'js_dave'].map(connect));
try {
  out.unknown = await refusal(watcher.list('?'));

  const changes = [];
  changes.waiters = new Set();
  const watch = await watcher.watch(TYPE, (change) => {
    changes.push(change);
    for (const waiter of [...changes.waiters]) waiter();
  });
  await alice.join('jsl_one', { type: TYPE });
  out.listed = await seen(changes, (c) => c.room === 'jsl_one' && c.members === 1, 'jsl_one listed');
  await bob.join('jsl_one', { type: TYPE });
  out.filled = await seen(changes, (c) => c.room === 'jsl_one' && c.members === 2, 'jsl_one filled');

  // jsl_one is full: two members matching at once are seated in one new room.
  const seats = await Promise.all([carol.match(TYPE), dave.match(TYPE)]);
  out.matched = seats;
  const rooms = await Promise.all(seats.map((seat, i) => [carol, dave][i].join(seat.room, { type: TYPE })));
  out.matchedFull = await seen(changes, (c) => c.room === seats[0].room && c.members === 2 && c.meta.phase === 'playing', 'matched room full');
  out.seats = rooms[1].state.seats;

  // One room per page (lobby_page 1): the cursor leads to the second, and only as it was made.
  out.first = await watcher.list(TYPE);
  out.second = await watcher.list(TYPE, {}, out.first.next);
  out.waiting = await watcher.list(TYPE, { phase: 'waiting' });
  const [payload, mac] = out.first.next.split('.');
  const position = JSON.parse(Buffer.from(payload, 'base64url').toString('utf8'));
  const skipped = Buffer.from(JSON.stringify({ ...position, a: 'zzz' })).toString('base64url');
  out.tampered = await refusal(watcher.list(TYPE, {}, `${skipped}.${mac}`));
  out.foreign = await refusal(watcher.list(TYPE, { phase: 'playing' }, out.first.next));
  out.badFilter = await refusal(watcher.list(TYPE, { secret: 1 }));
  out.privateCriteria = await refusal(dave.match(TYPE, { members: ['js_dave'] }));
  out.changes = changes.length;
  await watch.stop();
} finally {
  for (const client of [watcher, alice, bob, carol, dave]) client.close();
}
process.stdout.write(`${JSON.stringify(out)}\n`);
