// A joined room of the Kasagi JS SDK: its local copy kept in sync (events applied strictly in
// seq order; gaps and new epochs repaired with join(since), a bad state hash with join(null);
// the pure logic is in sync.js) and the member's actions, retried with the same cseq as the
// error policy says (policy.js).

import { Emitter } from './emitter.js';
import { KasagiError } from './errors.js';
import { Recovery } from './policy.js';
import { ReplyError, RoomReplica, Verdict, canonicalJSON, isMap } from './sync.js';
import { ErrorURI, roomProcedure, roomTopic } from './wire.js';

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
    // This room's client instance id, sent with every act: results are kept per (member,
    // instance), so tabs and devices of one member never push each other's results out.
    // Time in microseconds plus a random part: an instance started later is above the
    // instances the room dropped before it.
    this.instance = newInstance(client);
    this._subscription = null;
    this._subscribedSession = null;
    this._joinedSession = null;
    this._sync_running = null;
    this._syncAgain = false;
    this._stopped = false;
    /** null while the room is served to this client; 'removed' or 'closed' once an admin ended it. */
    this.ended = null;
    this._repairTimer = null;
    this._repairDelay = client.options.initialRetryDelay;
    // Client clock (ms) until which the room service asked for no action (retry_after of a
    // kasagi.error.rate_limited): acts wait for it, or fail at once if it ends past their deadline.
    this.holdUntil = 0;
    // Acts sent and not yet answered (at most the client's maxUnanswered), and the acts
    // waiting, in order, for one of them to be answered.
    this._unanswered = 0;
    this._waiting = [];
    this.stats = { events: 0, dropped: 0, buffered: 0, resyncs: 0, snapshots: 0, catchups: 0, badEvents: 0, held: 0 };
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
        const delay = Math.max(this._repairDelay * (0.5 + 0.5 * this.client.random()), retryAfterMs(err));
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
    const notices = event && Array.isArray(event.notices) ? event.notices.filter(isMap) : [];
    // A closed room removes everyone first: the close is what this member is told.
    const closed = notices.find((n) => n.kind === 'closed');
    const removed = notices.find((n) => n.kind === 'removed' && n.member === this.member);
    if (closed) this._end('closed', closed);
    else if (removed) this._end('removed', removed);
  }

  /** An admin removed this member or closed the room (docs/protocol.md, Notices): stop
   * following it -- no re-join, no re-open -- and say so with an 'ended' event. */
  _end(kind, notice) {
    if (this.ended) return;
    this.ended = kind;
    this._stop();
    if (this.client.rooms.get(this.id) === this) this.client.rooms.delete(this.id);
    const session = this._subscribedSession;
    if (session && this._subscription) session.unsubscribe(this._subscription).catch(() => {});
    this.emit('ended', { kind, reason: notice.reason || '' }, this);
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
        if (KasagiError.from(err).recovery === Recovery.REOPEN) {
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
   * timeouts, disconnects and failovers until its deadline (`deadline` ms, default the
   * client's actDeadline). A kasagi.error.rate_limited with retry_after holds the room: this
   * act and the room's next ones wait that long before they are sent, and any of them whose
   * deadline ends first fails at once with kasagi.error.rate_limited (details.retry_after:
   * seconds still to wait). A game whose moves are stale after 250 ms passes deadline: 250.
   * At most the client's maxUnanswered acts are sent and unanswered at once: the next ones
   * wait, in order, and one whose deadline ends while it waits fails unsent with
   * kasagi.error.rate_limited (details.held: true, details.field: 'window'). This bounds what
   * a client queues at a busy server: its answers, refusals included, come back in time.
   */
  act(action, args = {}, { cseq, deadline: within } = {}) {
    if (this.ended) {
      return Promise.reject(new KasagiError(ErrorURI.CLOSED, `room ${this.id} ended: ${this.ended}`, { field: 'room', expected: 'a room being served', got: this.ended, retryable: false }));
    }
    if (typeof action !== 'string' || !action) {
      return Promise.reject(new KasagiError(ErrorURI.INVALID_ARGUMENT, 'action must be a non-empty string', { field: 'action', expected: 'a string', got: typeof action, retryable: false }));
    }
    try {
      if (!isMap(args)) throw new TypeError(`args must be a map, not ${Array.isArray(args) ? 'a list' : typeof args}`);
      canonicalJSON(args); // throws on what no serializer could send (undefined, NaN, cycles, BigInt)
    } catch (err) {
      return Promise.reject(new KasagiError(ErrorURI.INVALID_ARGUMENT, `args are not JSON: ${err.message}`, { field: 'args', expected: 'a map of JSON values', got: String(err.message), retryable: false }));
    }
    if (within !== undefined && !(Number.isFinite(within) && within > 0)) {
      return Promise.reject(new KasagiError(ErrorURI.INVALID_ARGUMENT, 'deadline must be a number of ms > 0', { field: 'deadline', expected: 'ms > 0', got: String(within), retryable: false }));
    }
    const seq = cseq ?? this.nextCseq();
    const instance = this.instance;
    const opts = this.client.options;
    const deadline = this.client.now() + (within ?? opts.actDeadline);
    return this._turn(deadline).then((sending) => {
      if (!sending) {
        this.stats.held += 1;
        throw windowError(this.id, opts.maxUnanswered);
      }
      const answered = this._send(action, args, seq, instance, deadline);
      const next = () => this._answered();
      answered.then(next, next);
      return answered;
    });
  }

  /** Resolves true once an act may be sent (fewer than maxUnanswered are), false if its
   * deadline comes first; acts take their turn in the order they were made. */
  _turn(deadline) {
    if (this._unanswered < this.client.options.maxUnanswered && this._waiting.length === 0) {
      this._unanswered += 1;
      return Promise.resolve(true);
    }
    return new Promise((resolve) => {
      const waiter = { resolve, timer: null };
      waiter.timer = this.client.timers.setTimeout(() => {
        this._waiting.splice(this._waiting.indexOf(waiter), 1);
        resolve(false);
      }, Math.max(0, deadline - this.client.now()));
      this._waiting.push(waiter);
    });
  }

  /** An act was answered (or gave up): its turn passes to the next waiting act. */
  _answered() {
    const next = this._waiting.shift();
    if (next === undefined) {
      this._unanswered -= 1;
      return;
    }
    this.client.timers.clearTimeout(next.timer);
    next.resolve(true);
  }

  _send(action, args, seq, instance, deadline) {
    const opts = this.client.options;
    return new Promise((resolve, reject) => {
      let attempt = 0;
      let held = null; // the refusal that holds the room, if this act waits for it
      const send = async () => {
        attempt += 1;
        try {
          if (this._stopped) throw new KasagiError(ErrorURI.CLOSED, 'room left');
          await this._ensureJoined();
          resolve(await this.client.call(roomProcedure(this.id, 'act'), [action, args, seq, instance]));
        } catch (err) {
          retry(KasagiError.from(err));
        }
      };
      // Send now, or once the room's hold ends; fail at once if it ends past the deadline.
      const sendWhenFree = () => {
        const now = this.client.now();
        const wait = this.holdUntil - now;
        if (wait <= 0) return void send();
        if (this.holdUntil >= deadline) {
          this.stats.held += 1;
          return void reject(held ?? heldError(this.id, wait));
        }
        this.client.timers.setTimeout(sendWhenFree, wait);
      };
      const retry = (err) => {
        const now = this.client.now();
        const left = deadline - now;
        const after = retryAfterMs(err);
        if (after > 0) this.holdUntil = Math.max(this.holdUntil, now + after);
        if (this._stopped || this.client.closing || !err.retryable || left <= 0 || now + after >= deadline) {
          this._outcomeUnknown(err);
          reject(err);
          return;
        }
        if (after > 0) held = err;
        if (err.recovery === Recovery.REJOIN) this._joinedSession = null; // the owner forgot this session
        const backoff = Math.min(opts.maxRetryDelay, 100 * 2 ** Math.min(attempt, 6)) * (0.5 + 0.5 * this.client.random());
        this.client.timers.setTimeout(() => {
          if (err.recovery === Recovery.REOPEN) {
            this._joinedSession = null;
            this.client.open(this.id, this.type, this.options).then(sendWhenFree, retry);
          } else {
            sendWhenFree();
          }
        }, Math.min(Math.max(backoff, after), left));
      };
      sendWhenFree();
    });
  }

  /** After kasagi.error.outcome_unknown (final: look at room.state to see whether the action
   * happened): if the room dropped this client instance, act as a new one above its floor. */
  _outcomeUnknown(err) {
    const details = err.details || {};
    if (err.error !== ErrorURI.OUTCOME_UNKNOWN || details.field !== 'instance') return;
    if (Number.isSafeInteger(details.floor) && this.instance <= details.floor) {
      this.instance = Math.max(newInstance(this.client), details.floor + 1);
    }
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
    // Acts waiting for their turn go now, to fail at once with kasagi.client.closed.
    for (const waiter of this._waiting.splice(0)) {
      this.client.timers.clearTimeout(waiter.timer);
      this._unanswered += 1;
      waiter.resolve(true);
    }
    if (this._repairTimer !== null) this.client.timers.clearTimeout(this._repairTimer);
    this._repairTimer = null;
  }
}

/** A new client instance id: the time in microseconds plus a random sub-millisecond part. */
function newInstance(client) {
  return Math.floor(client.now() * 1000 + client.random() * 1000);
}

/** The wait (ms) a refusal asks for: its retry_after (seconds) as ms, or 0. */
function retryAfterMs(err) {
  const after = err && err.details ? err.details.retry_after : undefined;
  return Number.isFinite(after) && after > 0 ? after * 1000 : 0;
}

/** An act refused without being sent: its deadline ended while `limit` acts were unanswered. */
function windowError(roomId, limit) {
  return new KasagiError(ErrorURI.RATE_LIMITED, `room ${roomId}: ${limit} actions of this room are unanswered; this one was not sent before its deadline`, {
    field: 'window',
    expected: `fewer than ${limit} unanswered actions`,
    got: `${limit} unanswered`,
    retryable: true,
    held: true,
  });
}

/** An act refused without being sent: the room is held past the act's deadline. */
function heldError(roomId, waitMs) {
  const seconds = Math.round(waitMs) / 1000;
  return new KasagiError(ErrorURI.RATE_LIMITED, `room ${roomId}: the room service asked for no action for ${seconds} s more`, {
    field: 'service',
    expected: 'spare capacity',
    got: 'held by the client',
    retry_after: seconds,
    retryable: true,
    held: true,
  });
}
