// A TypeScript user of the SDK: `tsc --noEmit -p tests/ts` checks the SDK's declarations
// (web/sdk/*.d.ts) against it. Compiled only, never run. Lines marked @ts-expect-error must
// stay errors: they prove the declarations are not `any`.

import * as kasagi from '../../web/sdk/kasagi.js';
import { Client, ErrorURI, KasagiError, Recovery, RoomReplica, Verdict, connect, stateHash } from '../../web/sdk/kasagi.js';
import type { ActResult, ErrorDetails, JSONMap, RoomEvent } from '../../web/sdk/kasagi.js';

interface ArenaState extends JSONMap {
  players: { [member: string]: { x: number; y: number; t: number } };
}

export async function play(): Promise<void> {
  const client: Client = await connect({ url: 'ws://localhost:8080/ws', authid: 'alice', ticket: 'dev', serializer: 'cbor' });
  client.on('status', (status) => {
    const s: 'connecting' | 'open' | 'reconnecting' | 'closed' = status;
    console.log(s);
  });
  client.on('reconnecting', (delay: number) => console.log(`retry in ${delay} ms`));

  const room = await client.join<ArenaState>('lobby', { type: 'arena' });
  room.on('change', (event: RoomEvent | null, changed) => {
    console.log(changed.seq, event?.ops.length, room.state.players['alice']?.x);
  });
  try {
    const ack: ActResult = await room.act('move', { dx: 3, dy: -2, t: Date.now() });
    console.log(ack.seq, ack.cseq);
  } catch (err) {
    if (!(err instanceof KasagiError)) throw err;
    const details: ErrorDetails = err.details;
    if (err.error === ErrorURI.REJECTED) console.warn(details.field, details.expected, details.got);
    if (err.recovery === Recovery.LATER || err.retryable) console.warn('try again later');
  }
  // A real-time input with a short deadline: refused at once while the server asks for a pause.
  await room.act('move', { dx: 1, dy: 0 }, { deadline: 250 }).catch((err: KasagiError) => err.details.retry_after);
  const heldUntil: number = room.holdUntil;
  console.log(heldUntil, room.stats.held);
  await room.leave();
  client.close();

  // @ts-expect-error: act's arguments are a map, not a number
  await room.act('move', 5);
  // @ts-expect-error: a deadline is a number of ms
  await room.act('move', {}, { deadline: '250' });
  // @ts-expect-error: rooms emit 'change' only
  room.on('moved', () => {});
  // @ts-expect-error: the url is required
  await connect({ authid: 'alice' });
  // @ts-expect-error: no such serializer
  await connect({ url: 'ws://x/ws', authid: 'a', serializer: 'xml' });
}

export function replay(events: RoomEvent[]): string {
  const replica = new RoomReplica('r1');
  replica.load({ epoch: 1, seq: 0, state: { players: {} } });
  for (const event of events) {
    const verdict: Verdict = replica.offer(event);
    if (verdict === Verdict.RESYNC) break;
  }
  const position = replica.position;
  const label = position ? `${position.epoch}:${position.seq}` : 'snapshot';
  kasagi.applyOps(replica.state, [['set', ['label'], label]]);
  // @ts-expect-error: an op is a tuple of a known kind
  kasagi.applyOps(replica.state, [['move', ['x']]]);
  return stateHash(replica.state) + kasagi.canonicalJSON(replica.state) + kasagi.roomTopic('r1');
}
