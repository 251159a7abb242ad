// Types of sync.js: the pure sync logic (ops, canonical JSON, state hash, the replica).

/** A JSON value as a room's state holds it. */
export type JSONValue = null | boolean | number | string | JSONValue[] | { [key: string]: JSONValue };
export type JSONMap = { [key: string]: JSONValue };

/** A path into the state: map keys and list indexes. */
export type Path = Array<string | number>;
/** One delta op: set a value at a path, or delete it. */
export type Op = ['set', Path, JSONValue] | ['del', Path];

/** One sequenced delta of a room, as published on its topic. */
export interface RoomEvent {
  epoch: number;
  seq: number;
  ops: Op[];
  /** The state hash after this event, on some events. */
  hash?: string;
  /** The actions this event acknowledges, by member and cseq. */
  acks?: unknown;
  /** What happened besides the ops: an admin removed a member or closed the room. */
  notices?: Array<{ kind: 'removed'; member: string } | { kind: 'closed'; reason: string }>;
  [key: string]: unknown;
}

/** Where a client is in a room's stream. */
export interface StreamPosition {
  epoch: number;
  seq: number;
}

/** A join reply: a snapshot (`state`) or a catch-up (`events`). */
export interface JoinReply {
  room?: string;
  epoch: number;
  seq: number;
  member?: string;
  state?: JSONMap;
  events?: RoomEvent[];
  [key: string]: unknown;
}

export declare const HASH_HEX_DIGITS: 16;
export declare const OP_SET: 'set';
export declare const OP_DEL: 'del';

/** The outcome of offering one event to a replica. */
export declare const Verdict: Readonly<{
  APPLIED: 'applied';
  DROPPED: 'dropped';
  BUFFERED: 'buffered';
  RESYNC: 'resync';
}>;
export type Verdict = (typeof Verdict)[keyof typeof Verdict];

/** An op that does not apply to the document (a missing path, a wrong container). */
export declare class OpError extends Error {}
/** A join reply of the wrong shape. */
export declare class ReplyError extends Error {}

export declare function isMap(value: unknown): value is Record<string, unknown>;
/** A deep copy of a JSON value (maps become plain objects with own properties only). */
export declare function copyValue<T extends JSONValue>(value: T): T;
/** The canonical JSON text of a value (sorted keys, the protocol's number format). */
export declare function canonicalJSON(value: unknown): string;
/** The state hash of docs/protocol.md: hex digits of the SHA-256 of the canonical JSON. */
export declare function stateHash(state: JSONValue): string;
/** Apply ops to `state` in place, in order, all or nothing (throws OpError, state unchanged). */
export declare function applyOps(state: JSONMap, ops: Op[]): void;

/** The client-side state of one room: feed it join replies (load) and events (offer). */
export declare class RoomReplica {
  constructor(room: string, options?: { maxBuffer?: number });
  room: string;
  epoch: number | null;
  seq: number;
  state: JSONMap;
  member: string | null;
  hashChecked: number;
  needsSnapshot: boolean;
  /** The events the last offer() applied: the event and buffered successors. */
  lastApplied: RoomEvent[];
  readonly synced: boolean;
  /** Where to resume from, or null to ask for a snapshot. */
  readonly position: StreamPosition | null;
  /** How many events wait in the buffer. */
  readonly buffered: number;
  /** Apply a join reply; returns the events applied from it and from the buffer. */
  load(reply: JoinReply): RoomEvent[];
  /** Take one event from the topic. */
  offer(event: unknown): Verdict;
}
