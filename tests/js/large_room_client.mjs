// Drives the JS SDK (Node, npm `autobahn`) in a room of about 1 MiB; used by
// tests/abuse/test_large_rooms.py. Usage: node large_room_client.mjs URL SERIALIZER ROOM
// Joins (a snapshot of the whole state), acts, catches up with join(since) two events back,
// and prints one JSON line: the sizes and positions it saw, and its state's hash.
import * as kasagi from '../../web/sdk/kasagi.js';

const [url, serializer, roomId] = process.argv.slice(2);
const quiet = { info() {}, warn() {}, error: console.error };
const out = {};
const client = await kasagi.connect({ url, authid: 'js_large', serializer, log: quiet });
try {
  const room = await client.join(roomId, { type: 'doc' });
  out.joinedBytes = kasagi.canonicalJSON(room.state).length;
  out.joinedSeq = room.seq;
  const ack = await room.act('set', { path: ['js'], value: Array(3).fill('x'.repeat(13000)) });
  out.ackSeq = ack.seq;
  const deadline = Date.now() + 15000;
  while (room.seq < ack.seq && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
  const reply = await client.call(kasagi.roomProcedure(roomId, 'join'), [{ epoch: room.epoch, seq: room.seq - 2 }]);
  out.catchUp = { events: reply.events ? reply.events.length : null, seq: reply.seq };
  out.seq = room.seq;
  out.hash = kasagi.stateHash(room.state);
  out.stats = room.stats;
} finally {
  client.close();
}
process.stdout.write(`${JSON.stringify(out)}\n`);
