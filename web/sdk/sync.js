// The pure sync logic of the Kasagi JS SDK: no network, no timers.
//
// - canonicalJSON(value) / stateHash(state): RFC 8785 and the first 16 hex digits of its
//   SHA-256 (docs/protocol.md, "Canonical encoding and state hash");
// - applyOps(state, ops): the "set"/"del" path ops, all or nothing (throws OpError);
// - RoomReplica: a room rebuilt from a join reply plus events, applied strictly in seq
//   order. It mirrors kasagi.core.replica.RoomReplica verdict for verdict; both are checked
//   against the shared cases in tests/vectors/.

import { sha256 } from './sha256.js';

export const HASH_HEX_DIGITS = 16;
export const OP_SET = 'set';
export const OP_DEL = 'del';

/** The outcome of offering one event to a replica. */
export const Verdict = Object.freeze({
  APPLIED: 'applied', // the event (and maybe buffered successors) was applied
  DROPPED: 'dropped', // an old or duplicate event, ignored
  BUFFERED: 'buffered', // ahead of order, or before the first join reply: kept for later
  RESYNC: 'resync', // a gap, a new epoch, a bad hash or a malformed event: join again
});

/** An op that does not apply to the document (a missing path, a wrong container). */
export class OpError extends Error {
  constructor(message) {
    super(message);
    this.name = 'OpError';
  }
}

/** A join reply of the wrong shape, or one that does not fit the replica. */
export class ReplyError extends Error {
  constructor(message) {
    super(message);
    this.name = 'ReplyError';
  }
}

const hasOwn = (obj, key) => Object.prototype.hasOwnProperty.call(obj, key);

export function isMap(value) {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}

const isIndex = (key) => typeof key === 'number' && Number.isInteger(key) && key >= 0;

// Own data properties only: a key such as "__proto__" or "constructor" is plain data here.
function put(obj, key, value) {
  Object.defineProperty(obj, key, { value, writable: true, enumerable: true, configurable: true });
}

/** A deep copy of a JSON value (maps become plain objects with own properties only). */
export function copyValue(value) {
  if (Array.isArray(value)) return value.map(copyValue);
  if (isMap(value)) {
    const out = {};
    for (const key of Object.keys(value)) put(out, key, copyValue(value[key]));
    return out;
  }
  return value;
}

function describe(value) {
  if (value === null) return 'null';
  if (Array.isArray(value)) return `list of ${value.length}`;
  if (isMap(value)) return 'map';
  return `${typeof value} ${JSON.stringify(value)}`;
}

/**
 * The RFC 8785 (JSON Canonicalization Scheme) encoding of a JSON value, as a string:
 * keys sorted by UTF-16 code units (JavaScript's default string order), no whitespace,
 * numbers and strings as JSON.stringify prints them.
 */
export function canonicalJSON(value) {
  if (value === null || typeof value === 'boolean' || typeof value === 'string') return JSON.stringify(value);
  if (typeof value === 'number') {
    if (!Number.isFinite(value)) throw new TypeError(`not a JSON number: ${value}`);
    return JSON.stringify(value);
  }
  if (Array.isArray(value)) return `[${value.map(canonicalJSON).join(',')}]`;
  if (isMap(value)) {
    const keys = Object.keys(value).sort();
    return `{${keys.map((k) => `${JSON.stringify(k)}:${canonicalJSON(value[k])}`).join(',')}}`;
  }
  throw new TypeError(`not a JSON value: ${typeof value}`);
}

/** The state hash: the first 16 lowercase hex digits of SHA-256 over the UTF-8 canonical encoding. */
export function stateHash(state) {
  return sha256(canonicalJSON(state)).slice(0, HASH_HEX_DIGITS);
}

// -- ops ------------------------------------------------------------------------------------

function step(container, key, path, undo) {
  if (typeof key === 'string') {
    if (!isMap(container)) throw new OpError(`${JSON.stringify(path)}: ${JSON.stringify(key)} needs a map, found ${describe(container)}`);
    if (!hasOwn(container, key)) {
      put(container, key, {});
      undo.push(() => delete container[key]);
    }
    return container[key];
  }
  if (!isIndex(key)) throw new OpError(`${JSON.stringify(path)}: ${describe(key)} is not a key or an index`);
  if (!Array.isArray(container)) throw new OpError(`${JSON.stringify(path)}: index ${key} needs a list, found ${describe(container)}`);
  if (key >= container.length) throw new OpError(`${JSON.stringify(path)}: index ${key} out of range`);
  return container[key];
}

function applyOp(state, op, undo) {
  if (!Array.isArray(op) || op.length < 2) throw new OpError(`malformed op ${describe(op)}`);
  const [kind, path] = op;
  if (!Array.isArray(path) || path.length === 0) throw new OpError(`malformed path ${describe(path)}`);
  let container = state;
  for (const key of path.slice(0, -1)) container = step(container, key, path, undo);
  const last = path[path.length - 1];
  if (kind === OP_SET) {
    if (op.length !== 3) throw new OpError('set needs a value');
    const value = copyValue(op[2]);
    if (typeof last === 'string') {
      if (!isMap(container)) throw new OpError(`${JSON.stringify(path)}: ${JSON.stringify(last)} needs a map, found ${describe(container)}`);
      if (hasOwn(container, last)) {
        const old = container[last];
        undo.push(() => put(container, last, old));
      } else {
        undo.push(() => delete container[last]);
      }
      put(container, last, value);
      return;
    }
    if (isIndex(last) && Array.isArray(container)) {
      if (last < container.length) {
        const old = container[last];
        undo.push(() => { container[last] = old; });
        container[last] = value;
        return;
      }
      if (last === container.length) {
        container.push(value);
        undo.push(() => container.pop());
        return;
      }
      throw new OpError(`${JSON.stringify(path)}: index ${last} out of range 0..${container.length}`);
    }
    throw new OpError(`${JSON.stringify(path)}: cannot set ${describe(last)} in ${describe(container)}`);
  }
  if (kind === OP_DEL) {
    if (typeof last === 'string' && isMap(container)) {
      if (!hasOwn(container, last)) throw new OpError(`${JSON.stringify(path)}: no such key`);
      const old = container[last];
      delete container[last];
      undo.push(() => put(container, last, old));
      return;
    }
    if (isIndex(last) && Array.isArray(container)) {
      if (last >= container.length) throw new OpError(`${JSON.stringify(path)}: index ${last} out of range`);
      const [old] = container.splice(last, 1);
      undo.push(() => container.splice(last, 0, old));
      return;
    }
    throw new OpError(`${JSON.stringify(path)}: cannot delete ${describe(last)} from ${describe(container)}`);
  }
  throw new OpError(`unknown op ${describe(kind)}`);
}

/** Apply ops to `state` in place, in order, all or nothing (throws OpError, state unchanged). */
export function applyOps(state, ops) {
  if (!Array.isArray(ops)) throw new OpError(`ops must be a list, got ${describe(ops)}`);
  const undo = [];
  try {
    for (const op of ops) applyOp(state, op, undo);
  } catch (err) {
    while (undo.length) undo.pop()();
    if (err instanceof OpError) throw err;
    throw new OpError(String(err && err.message ? err.message : err));
  }
}

// -- the replica ------------------------------------------------------------------------------

function isEvent(event) {
  return (
    isMap(event) &&
    Number.isInteger(event.epoch) &&
    Number.isInteger(event.seq) &&
    Array.isArray(event.ops) &&
    (!hasOwn(event, 'hash') || typeof event.hash === 'string')
  );
}

/** The client-side state of one room: feed it join replies (load) and events (offer). */
export class RoomReplica {
  constructor(room, { maxBuffer = 10000 } = {}) {
    this.room = room;
    this.epoch = null;
    this.seq = 0;
    this.state = {};
    this.member = null;
    this.hashChecked = 0;
    this.needsSnapshot = false;
    this._buffer = new Map(); // seq -> event
    this.lastApplied = []; // the events the last offer() applied: the event and buffered successors
    this._maxBuffer = maxBuffer;
  }

  get synced() {
    return this.epoch !== null;
  }

  /** Where to resume from: {epoch, seq}, or null to ask for a snapshot. */
  get position() {
    if (this.epoch === null || this.needsSnapshot) return null;
    return { epoch: this.epoch, seq: this.seq };
  }

  /** How many events wait in the buffer. */
  get buffered() {
    return this._buffer.size;
  }

  /**
   * Apply a join reply (snapshot or catch-up); return the events applied from it and from
   * the buffer. Throws ReplyError for a reply of the wrong shape.
   */
  load(reply) {
    if (!isMap(reply)) throw new ReplyError('join reply is not a map');
    const { epoch, seq } = reply;
    if (!Number.isInteger(epoch) || !Number.isInteger(seq)) throw new ReplyError('join reply without a position');
    if (hasOwn(reply, 'member')) this.member = reply.member;
    const applied = [];
    if (hasOwn(reply, 'state')) {
      if (!isMap(reply.state)) throw new ReplyError('join reply with a malformed state');
      this.state = copyValue(reply.state);
      this.epoch = epoch;
      this.seq = seq;
      this.needsSnapshot = false;
    } else if (hasOwn(reply, 'events')) {
      const { events } = reply;
      if (epoch !== this.epoch || !Array.isArray(events)) throw new ReplyError('catch-up reply for another epoch');
      for (const event of events) {
        if (!isEvent(event) || event.epoch !== this.epoch) throw new ReplyError('catch-up reply with a malformed event');
        if (event.seq <= this.seq) continue; // live events got here first
        if (event.seq !== this.seq + 1) throw new ReplyError('catch-up reply with a gap');
        if (!this._apply(event)) return applied;
        applied.push(event);
      }
      if (this.seq < seq) throw new ReplyError('catch-up reply did not reach its own seq');
    } else {
      throw new ReplyError('join reply with neither state nor events');
    }
    applied.push(...this._drain());
    return applied;
  }

  /** Take one event from the topic; returns a Verdict (see lastApplied for what it applied). */
  offer(event) {
    this.lastApplied = [];
    if (!isEvent(event)) {
      this.needsSnapshot = true;
      return Verdict.RESYNC;
    }
    if (this.epoch === null) return this._keep(event);
    if (event.epoch < this.epoch) return Verdict.DROPPED; // epochs only grow: a stale owner's event
    if (event.epoch !== this.epoch) {
      // A new epoch: everything buffered from the old one is useless.
      this._buffer.clear();
      this._keep(event);
      return Verdict.RESYNC;
    }
    if (event.seq <= this.seq) return Verdict.DROPPED;
    if (event.seq > this.seq + 1) {
      this._keep(event);
      return Verdict.RESYNC;
    }
    if (!this._apply(event)) return Verdict.RESYNC;
    this.lastApplied = [event, ...this._drain()];
    return Verdict.APPLIED;
  }

  _keep(event) {
    if (this._buffer.size < this._maxBuffer) this._buffer.set(event.seq, event);
    return Verdict.BUFFERED;
  }

  _apply(event) {
    try {
      applyOps(this.state, event.ops);
    } catch (err) {
      if (!(err instanceof OpError)) throw err;
      this.needsSnapshot = true;
      return false;
    }
    this.seq = event.seq;
    if (typeof event.hash === 'string') {
      this.hashChecked += 1;
      if (stateHash(this.state) !== event.hash) {
        this.needsSnapshot = true;
        return false;
      }
    }
    return true;
  }

  _drain() {
    const applied = [];
    for (const seq of [...this._buffer.keys()]) if (seq <= this.seq) this._buffer.delete(seq);
    for (;;) {
      const next = this._buffer.get(this.seq + 1);
      if (next === undefined) break;
      this._buffer.delete(this.seq + 1);
      if (next.epoch !== this.epoch || !this._apply(next)) break;
      applied.push(next);
    }
    // Keep buffered events only if they belong to a newer epoch than the one just loaded.
    for (const [seq, event] of [...this._buffer]) {
      if (event.epoch !== this.epoch && this.epoch !== null && event.epoch < this.epoch) this._buffer.delete(seq);
    }
    return applied;
  }
}
