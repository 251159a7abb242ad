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
// - numbers actions with a cseq seeded from the clock in microseconds and retries an action
//   with the same cseq on retryable errors and timeouts (the room applies it once).
// Refusals reject the act() promise with a KasagiError whose .error is the kasagi.error.* URI
// and whose .details names field/expected/got/retryable. Nothing here throws into your code
// from an event or a timer.

import { RoomReplica, ReplyError, Verdict, canonicalJSON, isMap } from './sync.js';
import { vendor } from './vendor.js';

export { RoomReplica, Verdict, canonicalJSON, stateHash, applyOps } from './sync.js';

export const REALM = 'kasagi';
export const LOBBY_OPEN = 'kasagi.lobby.open';
export const roomTopic = (room) => `kasagi.room.${room}`;
export const roomProcedure = (room, verb) => `kasagi.room.${room}.${verb}`;
const ROOM_ID = /^[a-z0-9_]{1,64}$/;

/** Error URIs of the server (docs/protocol.md, Errors) and of this client. */
export const ErrorURI = Object.freeze({
  INVALID_ARGUMENT: 'kasagi.error.invalid_argument',
  REJECTED: 'kasagi.error.rejected',
  NOT_MEMBER: 'kasagi.error.not_member',
  NO_SUCH_ROOM: 'kasagi.error.no_such_room',
  RATE_LIMITED: 'kasagi.error.rate_limited',
  UNAVAILABLE: 'kasagi.error.unavailable',
  NOT_AUTHORIZED: 'kasagi.error.not_authorized',
  FULL: 'kasagi.error.full', // a capacity limit: the room or the room service is full
  // Raised by this client, never sent by a server:
  TIMEOUT: 'kasagi.client.timeout', // no answer within the deadline: it may or may not have happened
  CONNECTION_LOST: 'kasagi.client.connection_lost', // the connection dropped before the answer
  CLOSED: 'kasagi.client.closed', // client.close() was called
});

/** Errors after which the same call (same cseq) may succeed. */
const RETRYABLE = new Set([
  ErrorURI.UNAVAILABLE,
  ErrorURI.RATE_LIMITED,
  ErrorURI.NOT_MEMBER, // after re-joining (a reconnect raced the action)
  ErrorURI.NO_SUCH_ROOM, // after kasagi.lobby.open (the owner restarted or moved)
  ErrorURI.TIMEOUT,
  ErrorURI.CONNECTION_LOST,
  'wamp.error.no_such_procedure',
  'wamp.error.authorization_failed', // the router could not decide (room service silent): retry
  'wamp.error.canceled',
  'wamp.error.timeout',
  'wamp.close.transport_lost',
]);
const REOPEN = new Set([ErrorURI.NO_SUCH_ROOM, 'wamp.error.no_such_procedure']);

/** A refused or failed call: .error is the URI, .details the keyword details. */
export class KasagiError extends Error {
  constructor(uri, message, details = {}, args = []) {
    super(message ? `${uri}: ${message}` : uri);
    this.name = 'KasagiError';
    this.error = uri;
    this.details = details;
    this.args = args;
    // kasagi.error.unavailable with retryable false is final (a room whose stored data is damaged).
    const final = uri === ErrorURI.UNAVAILABLE && isMap(details) && details.retryable === false;
    this.retryable = RETRYABLE.has(uri) && !final;
  }

  /** From an Autobahn error (or anything a transport rejected with). */
  static from(err) {
    if (err instanceof KasagiError) return err;
    if (err && typeof err.error === 'string') {
      const args = Array.isArray(err.args) ? err.args : [];
      const details = isMap(err.kwargs) ? err.kwargs : {};
      return new KasagiError(err.error, typeof args[0] === 'string' ? args[0] : '', details, args);
    }
    return new KasagiError(ErrorURI.CONNECTION_LOST, String(err && err.message ? err.message : err));
  }
}

export const DEFAULTS = Object.freeze({
  realm: REALM,
  serializer: 'json',
  callTimeout: 5000, // ms: every call is answered or failed within this
  actDeadline: 20000, // ms: act() keeps retrying (same cseq) for this long in all
  connectTimeout: 10000, // ms: wait this long for a connection before failing a call
  initialRetryDelay: 200, // ms: first reconnect delay, doubling ...
  maxRetryDelay: 5000, // ms: ... up to this (then jitter: 50-100 % of it)
  maxSyncRounds: 8, // join calls one repair may take before it backs off
});

const defaultTimers = { setTimeout: (fn, ms) => setTimeout(fn, ms), clearTimeout: (t) => clearTimeout(t) };

/** Connect and authenticate; resolves with a Client once its first session is open. */
export async function connect(options) {
  const client = new Client(options);
  await client.start();
  return client;
}

// -- the Autobahn transport ------------------------------------------------------------------

const loadAutobahn = () => vendor('autobahn', 'autobahn.min.js', 'autobahn');

function makeSerializer(autobahn, name) {
  const kinds = { json: 'JSONSerializer', msgpack: 'MsgpackSerializer', cbor: 'CBORSerializer' };
  const Kind = kinds[name] && autobahn.serializer[kinds[name]];
  if (!Kind) throw new KasagiError(ErrorURI.INVALID_ARGUMENT, `serializer ${name} is not available`, { field: 'serializer', expected: 'json, msgpack or cbor', got: String(name) });
  return new Kind();
}

/**
 * A connector opens one WAMP connection at a time for a Client:
 * open({onOpen(session), onClose(reason, details)}) -> {close(), drop()}, where session has
 * call(uri, args, kwargs) -> Promise, subscribe(topic, handler(args)) -> Promise<sub>,
 * unsubscribe(sub) -> Promise. This one speaks Autobahn JS; tests pass a fake.
 */
export function autobahnConnector({ url, realm = REALM, authid, ticket, serializer = 'json', autobahn }) {
  let lib = autobahn;
  return {
    async open(listener) {
      lib = lib ?? (await loadAutobahn());
      const connection = new lib.Connection({
        url,
        realm,
        authmethods: ['ticket'],
        authid,
        onchallenge: () => ticket ?? 'dev',
        serializers: [makeSerializer(lib, serializer)],
        max_retries: 0, // the Client reconnects by itself
        retry_if_unreachable: false,
      });
      connection.onopen = (session) => {
        listener.onOpen({
          id: session.id,
          call: (uri, args, kwargs) => Promise.resolve(session.call(uri, args, kwargs)),
          subscribe: (topic, handler) => Promise.resolve(session.subscribe(topic, handler)),
          unsubscribe: (sub) => Promise.resolve(session.unsubscribe(sub)),
        });
      };
      connection.onclose = (reason, details) => {
        listener.onClose(reason, details || {});
        return true; // no retries inside Autobahn
      };
      connection.open();
      return {
        close() {
          try {
            connection.close();
          } catch {
            // already closed
          }
        },
        drop() {
          try {
            connection._transport?.close(4000, 'dropped by the client');
          } catch {
            // already closed
          }
        },
      };
    },
  };
}

// -- the client --------------------------------------------------------------------------------

class Emitter {
  constructor(log) {
    this._listeners = new Map();
    this._log = log;
  }

  on(name, fn) {
    if (!this._listeners.has(name)) this._listeners.set(name, new Set());
    this._listeners.get(name).add(fn);
    return () => this.off(name, fn);
  }

  off(name, fn) {
    this._listeners.get(name)?.delete(fn);
  }

  emit(name, ...args) {
    for (const fn of [...(this._listeners.get(name) ?? [])]) {
      try {
        fn(...args);
      } catch (err) {
        this._log.error(`kasagi: a ${name} listener failed`, err);
      }
    }
  }
}

/** A member's connection to a Kasagi node (one session at a time, reconnected as needed). */
export class Client extends Emitter {
  constructor(options = {}) {
    const opts = { ...DEFAULTS, ...options };
    super(opts.log ?? console);
    this.options = opts;
    this.url = opts.url;
    this.authid = opts.authid;
    this.timers = opts.timers ?? defaultTimers;
    this.now = opts.now ?? (() => Date.now());
    this.random = opts.random ?? Math.random;
    this.connector = opts.connector ?? autobahnConnector(opts);
    this.session = null;
    this.rooms = new Map();
    this.closing = false;
    this.connects = 0;
    this.status = 'connecting';
    this._handle = null;
    this._attempt = 0;
    this._waiters = new Set();
    this._pending = new Set();
    this._retryDelay = opts.initialRetryDelay;
    this._retryTimer = null;
    this._refusal = null;
  }

  /** Dial and wait for the first session (connectTimeout); rejects on a refused login. */
  start() {
    this._dial();
    return this.whenConnected(this.options.connectTimeout).catch((err) => {
      const refusal = this._refusal;
      this.close();
      throw refusal ?? err;
    });
  }

  _dial() {
    if (this.closing) return;
    this._retryTimer = null;
    const attempt = ++this._attempt;
    this._setStatus('connecting');
    let opened;
    try {
      opened = Promise.resolve(
        this.connector.open({
          onOpen: (session) => this._onOpen(attempt, session),
          onClose: (reason, details) => this._onClose(attempt, reason, details),
        }),
      );
    } catch (err) {
      opened = Promise.reject(err);
    }
    opened.then(
      (handle) => {
        if (attempt === this._attempt) this._handle = handle;
        else handle?.close();
      },
      (err) => {
        this._log.warn('kasagi: could not start a connection', err);
        this._onClose(attempt, 'unreachable', { message: String(err) });
      },
    );
  }

  _setStatus(status) {
    if (this.status === status) return;
    this.status = status;
    this.emit('status', status);
  }

  _onOpen(attempt, session) {
    if (attempt !== this._attempt || this.closing) return;
    this.session = session;
    this.connects += 1;
    this._retryDelay = this.options.initialRetryDelay;
    this._refusal = null;
    this._setStatus('open');
    for (const waiter of [...this._waiters]) waiter.resolve(session);
    if (this.connects > 1) for (const room of this.rooms.values()) room._resume();
  }

  _onClose(attempt, reason, details = {}) {
    if (attempt !== this._attempt) return;
    const session = this.session;
    this.session = null;
    this._handle = null;
    // Autobahn JS leaves calls in flight pending forever: fail them now.
    for (const entry of [...this._pending]) if (entry.session === session || session === null) entry.fail(new KasagiError(ErrorURI.CONNECTION_LOST, `connection ${reason}`));
    if (this.closing) return;
    this._setStatus('reconnecting');
    const uri = details && details.reason;
    if (this.connects === 0 && typeof uri === 'string' && !uri.startsWith('wamp.close.')) {
      // A refused login (bad authid or ticket): retrying cannot help.
      this._refusal = new KasagiError(uri, details.message ?? '', {});
      for (const waiter of [...this._waiters]) waiter.reject(this._refusal);
      return;
    }
    this._scheduleReconnect();
  }

  _scheduleReconnect() {
    if (this._retryTimer !== null || this.closing) return;
    const delay = this._retryDelay * (0.5 + 0.5 * this.random());
    this._retryDelay = Math.min(this._retryDelay * 2, this.options.maxRetryDelay);
    this._retryTimer = this.timers.setTimeout(() => this._dial(), delay);
    this.emit('reconnecting', delay);
  }

  /** The open session, or wait for one (rejects with connection_lost after `timeout` ms). */
  whenConnected(timeout = this.options.connectTimeout) {
    if (this.session) return Promise.resolve(this.session);
    if (this.closing) return Promise.reject(new KasagiError(ErrorURI.CLOSED, 'client closed'));
    if (this._refusal) return Promise.reject(this._refusal);
    return new Promise((resolve, reject) => {
      const waiter = {
        resolve: (s) => done(() => resolve(s)),
        reject: (e) => done(() => reject(e)),
      };
      const timer = this.timers.setTimeout(() => waiter.reject(new KasagiError(ErrorURI.CONNECTION_LOST, `not connected within ${timeout} ms`)), timeout);
      const done = (fn) => {
        this.timers.clearTimeout(timer);
        this._waiters.delete(waiter);
        fn();
      };
      this._waiters.add(waiter);
    });
  }

  /** Race `promise` (a call on `session`) against `timeout` ms and against the connection dropping. */
  _race(session, promise, timeout, what) {
    return new Promise((resolve, reject) => {
      let settled = false;
      const entry = {
        session,
        fail: (err) => finish(() => reject(err)),
      };
      const timer = this.timers.setTimeout(() => entry.fail(new KasagiError(ErrorURI.TIMEOUT, `${what}: no answer within ${timeout} ms`)), timeout);
      const finish = (fn) => {
        if (settled) return;
        settled = true;
        this.timers.clearTimeout(timer);
        this._pending.delete(entry);
        fn();
      };
      this._pending.add(entry);
      Promise.resolve(promise).then(
        (value) => finish(() => resolve(value)),
        (err) => finish(() => reject(KasagiError.from(err))),
      );
    });
  }

  /** Call `uri`; answered or failed (KasagiError) within the call deadline. */
  async call(uri, args = [], kwargs = {}, { timeout = this.options.callTimeout } = {}) {
    const session = this.session ?? (await this.whenConnected());
    let promise;
    try {
      promise = session.call(uri, args, kwargs);
    } catch (err) {
      promise = Promise.reject(err);
    }
    return this._race(session, promise, timeout, uri);
  }

  /** Make sure a live owner serves `room` (kasagi.lobby.open). */
  open(room, type = 'arena', options = {}) {
    return this.call(LOBBY_OPEN, [room, type, options]);
  }

  /** Open (if needed) and join a room; resolves with its Room once the local copy is in sync. */
  async join(roomId, { type = 'arena', options = {} } = {}) {
    if (typeof roomId !== 'string' || !ROOM_ID.test(roomId)) {
      throw new KasagiError(ErrorURI.INVALID_ARGUMENT, 'malformed room id', { field: 'room', expected: 'a room id matching ^[a-z0-9_]{1,64}$', got: String(roomId), retryable: false });
    }
    await this.open(roomId, type, options);
    let room = this.rooms.get(roomId);
    if (!room) {
      room = new Room(this, roomId, type, options);
      this.rooms.set(roomId, room);
    }
    try {
      await room._start();
    } catch (err) {
      if (this.rooms.get(roomId) === room && !room.synced) {
        room._stop();
        this.rooms.delete(roomId);
      }
      throw err;
    }
    return room;
  }

  /** Abort the connection as a network failure would (tests, demos); the client reconnects. */
  dropConnection() {
    this._handle?.drop();
  }

  /** Leave for good: no reconnection; pending calls fail with kasagi.client.closed. */
  close() {
    if (this.closing) return;
    this.closing = true;
    if (this._retryTimer !== null) this.timers.clearTimeout(this._retryTimer);
    this._retryTimer = null;
    for (const room of this.rooms.values()) room._stop();
    const closed = new KasagiError(ErrorURI.CLOSED, 'client closed');
    for (const waiter of [...this._waiters]) waiter.reject(closed);
    for (const entry of [...this._pending]) entry.fail(closed);
    this.session = null;
    this._handle?.close();
    this._handle = null;
    this._setStatus('closed');
  }
}

// -- a joined room -----------------------------------------------------------------------------

/** A joined room: its local state (room.state, .seq, .epoch), its changes, the member's actions. */
export class Room extends Emitter {
  constructor(client, id, type, options) {
    super(client._log);
    this.client = client;
    this.id = id;
    this.type = type;
    this.options = options;
    this.replica = new RoomReplica(id);
    // Time-seeded in microseconds (docs/protocol.md, Exactly once): tabs and reloads of a
    // member never reuse a cseq; the random sub-millisecond part keeps two tabs opened in
    // the same millisecond apart.
    this._cseq = Math.floor(client.now() * 1000 + client.random() * 1000);
    this._subscription = null;
    this._subscribedSession = null;
    this._joinedSession = null;
    this._sync_running = null;
    this._syncAgain = false;
    this._stopped = false;
    this._repairTimer = null;
    this._repairDelay = client.options.initialRetryDelay;
    this.stats = { events: 0, dropped: 0, buffered: 0, resyncs: 0, snapshots: 0, catchups: 0, badEvents: 0 };
  }

  get state() {
    return this.replica.state;
  }

  get seq() {
    return this.replica.seq;
  }

  get epoch() {
    return this.replica.epoch;
  }

  get member() {
    return this.replica.member;
  }

  get synced() {
    return this.replica.synced;
  }

  // -- syncing ---------------------------------------------------------------------------------
  async _start() {
    const session = await this.client.whenConnected();
    await this._subscribe(session);
    await this._sync();
  }

  async _subscribe(session) {
    if (this._subscribedSession === session) return;
    const handler = (args) => this._onEvent(Array.isArray(args) ? args[0] : undefined);
    this._subscription = await this.client._race(session, session.subscribe(roomTopic(this.id), handler), this.client.options.callTimeout, 'subscribe');
    this._subscribedSession = session;
  }

  /** After a reconnect: subscribe again and catch up from the last position. */
  _resume() {
    if (this._stopped) return;
    this._joinedSession = null;
    this._subscribedSession = null;
    this._repair();
  }

  /** Run a sync now; on failure, try again with backoff while the room is open. */
  _repair() {
    if (this._stopped || this._repairTimer !== null) return;
    const attempt = async () => {
      const session = await this.client.whenConnected();
      await this._subscribe(session);
      await this._sync();
    };
    attempt().then(
      () => {
        this._repairDelay = this.client.options.initialRetryDelay;
      },
      (err) => {
        if (this._stopped || this.client.closing) return;
        const delay = this._repairDelay * (0.5 + 0.5 * this.client.random());
        this._repairDelay = Math.min(this._repairDelay * 2, this.client.options.maxRetryDelay);
        this.client._log.warn(`kasagi: room ${this.id}: catching up failed (${err.message}); again in ${Math.round(delay)} ms`);
        this._repairTimer = this.client.timers.setTimeout(() => {
          this._repairTimer = null;
          this._repair();
        }, delay);
      },
    );
  }

  _onEvent(event) {
    if (this._stopped) return;
    try {
      const verdict = this.replica.offer(event);
      if (verdict === Verdict.APPLIED) {
        for (const applied of this.replica.lastApplied) {
          this.stats.events += 1;
          this._notify(applied);
        }
      } else if (verdict === Verdict.DROPPED) {
        this.stats.dropped += 1;
      } else if (verdict === Verdict.BUFFERED) {
        this.stats.buffered += 1;
      } else if (verdict === Verdict.RESYNC && this.replica.synced) {
        this.stats.resyncs += 1;
        if (this.replica.needsSnapshot) this.stats.badEvents += 1;
        this._repair();
      }
    } catch (err) {
      this.client._log.error(`kasagi: room ${this.id}: event handling failed`, err);
    }
  }

  _notify(event) {
    this.emit('change', event, this);
  }

  /** join(since): catch up from the replica's position (or take a snapshot). */
  _sync() {
    if (this._sync_running) {
      this._syncAgain = true;
      return this._sync_running;
    }
    this._sync_running = this._syncRounds().finally(() => {
      this._sync_running = null;
    });
    return this._sync_running;
  }

  async _syncRounds() {
    for (let round = 0; round < this.client.options.maxSyncRounds; round += 1) {
      if (this._stopped) throw new KasagiError(ErrorURI.CLOSED, 'room left');
      this._syncAgain = false;
      const session = await this.client.whenConnected();
      const since = this.replica.position;
      let reply;
      try {
        reply = await this.client.call(roomProcedure(this.id, 'join'), [since]);
      } catch (err) {
        if (REOPEN.has(err.error)) {
          await this.client.open(this.id, this.type, this.options);
          continue;
        }
        throw err;
      }
      if (this._stopped) throw new KasagiError(ErrorURI.CLOSED, 'room left');
      this._joinedSession = session;
      let applied;
      try {
        applied = this.replica.load(reply);
      } catch (err) {
        if (!(err instanceof ReplyError)) throw err;
        this.client._log.warn(`kasagi: room ${this.id}: ${err.message}; asking for a snapshot`);
        this.replica.needsSnapshot = true;
        continue;
      }
      this.stats[isMap(reply) && 'state' in reply ? 'snapshots' : 'catchups'] += 1;
      if ('state' in reply) this._notify(null);
      for (const event of applied) this._notify(event);
      // Another round only if something is still missing: a bad event or hash since the
      // reply, events beyond it still waiting in the buffer, or a reply that stopped short.
      const gapLeft = this._syncAgain && this.replica.buffered > 0;
      if (!gapLeft && !this.replica.needsSnapshot && this.replica.seq >= reply.seq) return;
    }
    throw new KasagiError(ErrorURI.UNAVAILABLE, `room ${this.id}: could not catch up in ${this.client.options.maxSyncRounds} joins`);
  }

  async _ensureJoined() {
    if (this._joinedSession !== null && this._joinedSession === this.client.session) return;
    const session = await this.client.whenConnected();
    await this._subscribe(session);
    await this._sync();
  }

  // -- actions ----------------------------------------------------------------------------------
  nextCseq() {
    this._cseq += 1;
    return this._cseq;
  }

  /**
   * Send an action; resolves with {seq, cseq} once it is durable, or rejects with a
   * KasagiError (.error = the kasagi.error.* URI). Retries with the same cseq through
   * timeouts, disconnects and failovers until the act deadline.
   */
  act(action, args = {}, { cseq } = {}) {
    if (typeof action !== 'string' || !action) {
      return Promise.reject(new KasagiError(ErrorURI.INVALID_ARGUMENT, 'action must be a non-empty string', { field: 'action', expected: 'a string', got: typeof action, retryable: false }));
    }
    try {
      if (!isMap(args)) throw new TypeError(`args must be a map, not ${Array.isArray(args) ? 'a list' : typeof args}`);
      canonicalJSON(args); // throws on what no serializer could send (undefined, NaN, cycles, BigInt)
    } catch (err) {
      return Promise.reject(new KasagiError(ErrorURI.INVALID_ARGUMENT, `args are not JSON: ${err.message}`, { field: 'args', expected: 'a map of JSON values', got: String(err.message), retryable: false }));
    }
    const seq = cseq ?? this.nextCseq();
    const deadline = this.client.now() + this.client.options.actDeadline;
    const opts = this.client.options;
    return new Promise((resolve, reject) => {
      let attempt = 0;
      const send = async () => {
        attempt += 1;
        try {
          if (this._stopped) throw new KasagiError(ErrorURI.CLOSED, 'room left');
          await this._ensureJoined();
          resolve(await this.client.call(roomProcedure(this.id, 'act'), [action, args, seq]));
        } catch (err) {
          retry(KasagiError.from(err));
        }
      };
      const retry = (err) => {
        const left = deadline - this.client.now();
        if (this._stopped || this.client.closing || !err.retryable || left <= 0) {
          reject(err);
          return;
        }
        if (err.error === ErrorURI.NOT_MEMBER) this._joinedSession = null;
        const delay = Math.min(opts.maxRetryDelay, 100 * 2 ** Math.min(attempt, 6)) * (0.5 + 0.5 * this.client.random());
        this.client.timers.setTimeout(() => {
          if (REOPEN.has(err.error)) {
            this._joinedSession = null;
            this.client.open(this.id, this.type, this.options).then(send, retry);
          } else {
            send();
          }
        }, Math.min(delay, left));
      };
      send();
    });
  }

  /** Leave the room (the member goes offline for the grace period). */
  async leave() {
    this._stop();
    if (this.client.rooms.get(this.id) === this) this.client.rooms.delete(this.id);
    const session = this.client.session;
    const sub = this._subscription;
    try {
      return await this.client.call(roomProcedure(this.id, 'leave'));
    } finally {
      if (session && sub && this._subscribedSession === session) {
        await this.client._race(session, session.unsubscribe(sub), this.client.options.callTimeout, 'unsubscribe').catch(() => {});
      }
    }
  }

  _stop() {
    this._stopped = true;
    if (this._repairTimer !== null) this.client.timers.clearTimeout(this._repairTimer);
    this._repairTimer = null;
  }
}
