// Types of client.js: the connection (one WAMP session at a time, reconnected as needed).

import { Emitter, type Log } from './emitter.js';
import { Room } from './room.js';
import type { JSONMap } from './sync.js';

export type Serializer = 'json' | 'msgpack' | 'cbor';

/** Timers the client uses (tests pass a fake clock). */
export interface Timers {
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

/** The session a connector hands the client. */
export interface ConnectorSession {
  id?: number;
  call(uri: string, args?: unknown[], kwargs?: Record<string, unknown>): Promise<unknown>;
  subscribe(topic: string, handler: (args: unknown[], kwargs?: unknown, details?: unknown) => void): Promise<unknown>;
  unsubscribe(subscription: unknown): Promise<unknown>;
}

export interface ConnectorListener {
  onOpen(session: ConnectorSession): void;
  /** `reason`: 'closed', 'lost' or 'unreachable'; `details.reason` a WAMP URI when the router refused. */
  onClose(reason: string, details: { reason?: string; message?: string; [key: string]: unknown }): void;
}

/** Opens one WAMP connection at a time for a Client (autobahnConnector, or a test fake). */
export interface Connector {
  open(listener: ConnectorListener): { close(): void; drop(): void } | Promise<{ close(): void; drop(): void }>;
}

export interface ClientOptions {
  /** The router's WebSocket URL, e.g. `ws://localhost:8080/ws`. */
  url: string;
  /** The member id (^[A-Za-z0-9_.@-]{1,64}$). */
  authid: string;
  /** A token from `kasagi token USER` (secure mode); dev mode accepts anything. */
  ticket?: string;
  realm?: string;
  serializer?: Serializer;
  /** ms: every call is answered or failed within this (default 5000). */
  callTimeout?: number;
  /** ms: act() keeps retrying (same cseq) for this long in all (default 20000). */
  actDeadline?: number;
  /** ms: wait this long for a connection before failing a call (default 10000). */
  connectTimeout?: number;
  /** ms: the first reconnect delay, doubling (default 200) ... */
  initialRetryDelay?: number;
  /** ms: ... up to this, then jitter (default 5000). */
  maxRetryDelay?: number;
  /** join calls one repair may take before it backs off (default 8). */
  maxSyncRounds?: number;
  /**
   * Acts a room keeps sent and unanswered at once (default 4); later ones wait on the client,
   * in order, within their deadline. It bounds what a client queues at a busy server.
   */
  maxUnanswered?: number;
  log?: Log;
  timers?: Timers;
  now?: () => number;
  random?: () => number;
  connector?: Connector;
  /** The Autobahn JS module to use (default: the page's copy, or the npm package in Node). */
  autobahn?: unknown;
}

export declare const DEFAULTS: Readonly<{
  realm: string;
  serializer: Serializer;
  callTimeout: number;
  actDeadline: number;
  connectTimeout: number;
  initialRetryDelay: number;
  maxRetryDelay: number;
  maxSyncRounds: number;
  maxUnanswered: number;
}>;

export type ConnectionStatus = 'connecting' | 'open' | 'reconnecting' | 'closed';

export type ClientEvents = {
  /** The connection's status changed. */
  status: [status: ConnectionStatus];
  /** A reconnect is scheduled in `delay` ms. */
  reconnecting: [delay: number];
};

/** The reply of kasagi.lobby.open. */
export interface OpenReply {
  room: string;
  type: string;
  epoch: number;
  seq: number;
  [key: string]: unknown;
}

export interface JoinOptions {
  /** The room type (default 'arena'). */
  type?: string;
  /** The room's options when it is created (e.g. `{members: [...]}` for a private room). */
  options?: JSONMap;
}

/**
 * Connect and authenticate; resolves once the first session is open. Rejects at once with a
 * KasagiError when nothing listens at `url` (kasagi.client.connection_lost) or the login is
 * refused (kasagi.error.not_authorized and the reason).
 */
export declare function connect(options: ClientOptions): Promise<Client>;

/** The connector that speaks Autobahn JS. */
export declare function autobahnConnector(options: {
  url: string;
  realm?: string;
  authid: string;
  ticket?: string;
  serializer?: Serializer;
  autobahn?: unknown;
}): Connector;

/** A member's connection to a Kasagi node (one session at a time, reconnected as needed). */
export declare class Client extends Emitter<ClientEvents> {
  constructor(options: ClientOptions);
  readonly options: Required<Pick<ClientOptions, keyof typeof DEFAULTS>> & ClientOptions;
  readonly url: string;
  readonly authid: string;
  readonly session: ConnectorSession | null;
  readonly rooms: Map<string, Room>;
  readonly closing: boolean;
  /** How many sessions have opened so far. */
  readonly connects: number;
  readonly status: ConnectionStatus;
  /** Dial and wait for the first session (what connect() does). */
  start(): Promise<ConnectorSession>;
  /** The open session, or wait for one (rejects with connection_lost after `timeout` ms). */
  whenConnected(timeout?: number): Promise<ConnectorSession>;
  /** Call `uri`; answered or failed (KasagiError) within the call deadline. */
  call<T = unknown>(uri: string, args?: unknown[], kwargs?: Record<string, unknown>, options?: { timeout?: number }): Promise<T>;
  /** Make sure a live owner serves `room` (kasagi.lobby.open). */
  open(room: string, type?: string, options?: JSONMap): Promise<OpenReply>;
  /** Open (if needed) and join a room; resolves once the local copy is in sync. */
  join<State extends JSONMap = JSONMap>(roomId: string, options?: JoinOptions): Promise<Room<State>>;
  /** Abort the connection as a network failure would; the client reconnects. */
  dropConnection(): void;
  /** Leave for good: no reconnection; pending calls fail with kasagi.client.closed. */
  close(): void;
}
