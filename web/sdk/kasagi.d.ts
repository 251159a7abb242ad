// Types of the Kasagi JS SDK (kasagi.js): rooms kept in sync over WAMP, in browsers and Node.

export { RoomReplica, Verdict, canonicalJSON, stateHash, applyOps } from './sync.js';
export type { JSONValue, JSONMap, Op, Path, RoomEvent, StreamPosition, JoinReply } from './sync.js';
export { REALM, LOBBY_OPEN, roomTopic, roomProcedure, ErrorURI } from './wire.js';
export type { KnownErrorURI } from './wire.js';
export { ERROR_POLICY, Recovery, isFinal, recovery } from './policy.js';
export { KasagiError } from './errors.js';
export type { ErrorDetails } from './errors.js';
export { Client, DEFAULTS, autobahnConnector, connect } from './client.js';
export type {
  ClientEvents,
  ClientOptions,
  ConnectionStatus,
  Connector,
  ConnectorListener,
  ConnectorSession,
  JoinOptions,
  OpenReply,
  Serializer,
  Timers,
} from './client.js';
export { Room } from './room.js';
export type { ActResult, RoomEvents, RoomStats } from './room.js';
export type { Log } from './emitter.js';
