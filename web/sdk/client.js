// The connection of the Kasagi JS SDK: one WAMP session at a time (Autobahn JS), reconnected
// with capped exponential backoff plus jitter (at most 5 s); every call raced against a
// deadline and failed when the connection drops (Autobahn JS would leave it pending). The
// rooms joined over it are in room.js.

import { Emitter } from './emitter.js';
import { KasagiError } from './errors.js';
import { Room } from './room.js';
import { vendor } from './vendor.js';
import { LobbyWatch } from './lobby.js';
import { ErrorURI, LOBBY_LIST, LOBBY_MATCH, LOBBY_OPEN, REALM, ROOM_ID } from './wire.js';

export const DEFAULTS = Object.freeze({
  realm: REALM,
  serializer: 'msgpack', // the router's cheapest to decode and encode (docs/protocol.md, Connection)
  callTimeout: 5000, // ms: every call is answered or failed within this
  actDeadline: 20000, // ms: act() keeps retrying (same cseq) for this long in all
  connectTimeout: 10000, // ms: wait this long for a connection before failing a call
  initialRetryDelay: 200, // ms: first reconnect delay, doubling ...
  maxRetryDelay: 5000, // ms: ... up to this (then jitter: 50-100 % of it)
  maxSyncRounds: 8, // join calls one repair may take before it backs off
  maxUnanswered: 4, // acts a room keeps sent and unanswered at once; later ones wait their turn
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
export function autobahnConnector({ url, realm = REALM, authid, ticket, serializer = DEFAULTS.serializer, autobahn }) {
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

/** A member's connection to a Kasagi node (one session at a time, reconnected as needed). */
export class Client extends Emitter {
  constructor(options = {}) {
    const opts = { ...DEFAULTS, ...options };
    super(opts.log ?? console);
    if (!(Number.isSafeInteger(opts.maxUnanswered) && opts.maxUnanswered >= 1)) {
      throw new KasagiError(ErrorURI.INVALID_ARGUMENT, 'maxUnanswered must be an integer >= 1', { field: 'maxUnanswered', expected: 'an integer >= 1', got: String(opts.maxUnanswered) });
    }
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
    this._starting = false; // start() until the first session: an unreachable URL is final
  }

  /**
   * Dial and wait for the first session (connectTimeout). Rejects at once, not at the
   * deadline, when the first attempt is refused: nothing listens at the URL
   * (kasagi.client.connection_lost) or the router refuses the login (its URI and reason).
   */
  start() {
    this._starting = true;
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
    this._starting = false;
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
    if (this.connects === 0 && this._starting && reason === 'unreachable') {
      // Nothing answers at the URL on the first attempt: say so now, not at the deadline.
      const why = details && details.message ? ` (${details.message})` : '';
      this._refusal = new KasagiError(ErrorURI.CONNECTION_LOST, `nothing listens at ${this.url}${why}`, { retryable: false });
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

  /** One page of the listed rooms of `type` whose metadata equals `filter`: {rooms, next}. */
  list(type, filter = {}, cursor = null) {
    return this.call(LOBBY_LIST, [type, filter, cursor]);
  }

  /** A seat in a listed room of `type` fitting `criteria` (a new room if none): what open answers. */
  match(type, criteria = {}) {
    return this.call(LOBBY_MATCH, [type, criteria]);
  }

  /** Match, then join: resolves with the Room. */
  async play(type, criteria = {}) {
    const seat = await this.match(type, criteria);
    return this.join(seat.room, { type });
  }

  /**
   * Follow the listing changes of `type` live: onChange({room, type, meta, members, max_members}
   * or {room, type, gone: true}); onResync() after a reconnection (re-read with list()).
   * Resolves with a watch whose stop() ends it.
   */
  async watch(type, onChange, onResync = null) {
    const watch = new LobbyWatch(this, type, onChange, onResync);
    await watch._start();
    return watch;
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

