// Types of room.js: a joined room kept in sync.

import type { Client } from './client.js';
import { Emitter } from './emitter.js';
import type { JSONMap, RoomEvent, RoomReplica } from './sync.js';

/** The result of an action once it is durable. */
export interface ActResult {
  seq: number;
  cseq: number;
}

export type RoomEvents = {
  /** After every applied event (`event`), and after a snapshot (`event` is null). */
  change: [event: RoomEvent | null, room: Room];
  /** An admin removed this member (`removed`) or closed the room (`closed`): the room is no
   * longer followed, and `act` rejects with kasagi.client.closed. */
  ended: [info: { kind: 'removed' | 'closed'; reason: string }, room: Room];
};

/** Counts of what the room's stream did. */
export interface RoomStats {
  events: number;
  dropped: number;
  buffered: number;
  resyncs: number;
  snapshots: number;
  catchups: number;
  badEvents: number;
  /** Acts failed without being sent: the room was held (retry_after) past their deadline. */
  held: number;
}

/**
 * A joined room: its state follows the server's, event by event in seq order. The state's
 * shape is the room type's (`arena`: `{members, players}`; `doc`: `{members, doc}`); pass it
 * as `State` to type it.
 */
export declare class Room<State extends JSONMap = JSONMap> extends Emitter<RoomEvents> {
  readonly client: Client;
  readonly id: string;
  readonly type: string;
  readonly options: JSONMap;
  readonly replica: RoomReplica;
  readonly stats: RoomStats;
  /** The local copy of the room's state (do not change it). */
  readonly state: State;
  readonly seq: number;
  readonly epoch: number | null;
  /** This client's member id in the room, once joined. */
  readonly member: string | null;
  /** Whether the room has been joined at least once. */
  readonly synced: boolean;
  /** null while the room is followed; `removed` or `closed` once an admin ended it. */
  readonly ended: 'removed' | 'closed' | null;
  /** This room's client instance id, sent with every act (docs/protocol.md, Exactly once). */
  readonly instance: number;
  /** The next cseq this room would use. */
  nextCseq(): number;
  /**
   * Send an action; resolves once it is durable, or rejects with a KasagiError (.error is the
   * kasagi.error.* URI, .details names field/expected/got). Retried with the same cseq
   * through timeouts, disconnects and failovers until the act deadline.
   */
  /**
   * Send an action; resolves once it is durable. Retries with the same cseq until `deadline`
   * (ms, default the client's actDeadline); a rate_limited refusal's retry_after holds the
   * room, and an act whose deadline ends within the hold fails at once with rate_limited.
   * At most the client's maxUnanswered acts of a room are sent and unanswered at once; the
   * next ones wait, in order, and one whose deadline ends while it waits fails unsent with
   * rate_limited (details.held: true, details.field: 'window').
   */
  act(action: string, args?: JSONMap, options?: { cseq?: number; deadline?: number }): Promise<ActResult>;
  /** Client clock (ms) until which the room service asked for no action (0: none). */
  holdUntil: number;
  /** Leave the room (the member goes offline for the grace period). */
  leave(): Promise<unknown>;
}
