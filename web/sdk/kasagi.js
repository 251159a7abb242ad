// Kasagi JS SDK: rooms kept in sync over WAMP (Autobahn JS), in browsers and in Node.
//
//   import * as kasagi from '/sdk/kasagi.js';
//   const client = await kasagi.connect({ url: 'ws://localhost:8080/ws', authid: 'alice' });
//   const room = await client.join('arena1', { type: 'arena' });
//   room.on('change', () => draw(room.state));
//   await room.act('move', { dx: 3, dy: -2, t: Date.now() });
//
// What it does for you (docs/protocol.md is the contract):
// - applies events strictly in seq order; buffers ahead-of-order ones; repairs gaps and new
//   epochs with join(since) and a bad state hash with join(null) (the pure logic is in
//   sync.js, checked against tests/vectors/ like the Python client);
// - races every call against a deadline, and fails calls in flight when the connection drops
//   (Autobahn JS would leave them pending);
// - reconnects with capped exponential backoff plus jitter (at most 5 s) and re-joins every
//   room from its last position;
// - numbers actions with a cseq seeded from the clock in microseconds and, as the error
//   policy says (policy.js: retry, re-open, re-join or give up), retries an action with the
//   same cseq (the room applies it once).
// Refusals reject the act() promise with a KasagiError whose .error is the kasagi.error.* URI
// and whose .details names field/expected/got/retryable. Nothing here throws into your code
// from an event or a timer.
//
// This module only gathers the SDK: the connection is in client.js, a joined room in room.js,
// the error policy in policy.js, the pure sync logic in sync.js.

export { RoomReplica, Verdict, canonicalJSON, stateHash, applyOps } from './sync.js';
export { REALM, LOBBY_OPEN, LOBBY_LIST, LOBBY_MATCH, lobbyTopic, roomTopic, roomProcedure, ErrorURI } from './wire.js';
export { LobbyWatch } from './lobby.js';
export { ERROR_POLICY, Recovery, isFinal, recovery } from './policy.js';
export { KasagiError } from './errors.js';
export { Client, DEFAULTS, autobahnConnector, connect } from './client.js';
export { Room } from './room.js';
