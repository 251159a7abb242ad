// Drives the JS SDK (Node, npm `autobahn`) against a real node; used by
// tests/integration/test_js_sdk_live.py. Usage: node live_client.mjs URL SERIALIZER ROOM
// Prints one JSON line: what the SDK saw (seq, state, hashes checked, errors, acks).
import * as kasagi from '../../web/sdk/kasagi.js';

const [url, serializer, roomId] = process.argv.slice(2);
const quiet = { info() {}, warn() {}, error: console.error };
const out = { acks: [] };
const a = await kasagi.connect({ url, authid: 'js_alice', serializer, log: quiet });
const b = await kasagi.connect({ url, authid: 'js_bob', serializer, log: quiet });
try {
  const ra = await a.join(roomId);
  out.selfAfterJoin = { player: 'js_alice' in (ra.state.players ?? {}), online: ra.state.members?.js_alice?.online === true };
  const rb = await b.join(roomId);
  out.selfAfterJoin.other = 'js_bob' in (rb.state.players ?? {}) && 'js_alice' in (rb.state.players ?? {});
  const order = [];
  rb.on('change', (event) => order.push(event ? event.seq : 'snapshot'));
  for (let i = 0; i < 10; i += 1) out.acks.push(await ra.act('move', { dx: 3, dy: -2.5, t: 1000.25 + i }));
  const refused = await ra.act('move', { dx: 11, dy: 0 }).catch((e) => e);
  out.refused = { error: refused.error, details: refused.details };
  // A network failure mid-call: the act is retried (same cseq) after the reconnect.
  const pending = ra.act('move', { dx: -1, dy: 1, t: 5 });
  a.dropConnection();
  out.acks.push(await pending);
  out.reconnects = a.connects - 1;
  const last = out.acks.at(-1).seq;
  const deadline = Date.now() + 15000;
  while ((ra.seq < last || rb.seq < last || ra.seq !== rb.seq) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
  out.same = kasagi.canonicalJSON(ra.state) === kasagi.canonicalJSON(rb.state);
  out.seq = rb.seq;
  out.epoch = rb.epoch;
  out.hash = kasagi.stateHash(rb.state);
  out.state = rb.state;
  out.hashChecked = rb.replica.hashChecked;
  out.inOrder = order.filter((s) => s !== 'snapshot').every((s, i, all) => i === 0 || s === all[i - 1] + 1);
  out.stats = rb.stats;
} finally {
  a.close();
  b.close();
}
process.stdout.write(`${JSON.stringify(out)}\n`);
