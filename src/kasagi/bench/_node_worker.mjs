// A browser-like load generator process of `kasagi bench --generator node`: the bots of one
// generator share as Autobahn JS clients (the npm `autobahn` package the SDK uses), on
// Node's event loop. The same workload and checks as the Python bots (`_bot.py`), in short.
//
// stdin, one JSON line each: the spec first ({host, port, serializer, input_path,
// validating, bots: [[room, authid, seed]], join_timeout, join_concurrency}), then
// {"kind": "step", ...} or {"kind": "stop"}. stdout, one JSON line each: [kind, payload] with
// kind "joined", "progress", "result" (latency as {microseconds: count}) or "error".
// Every wait is bounded: joining by join_timeout, a step by its own schedule, and the
// process exits when stdin closes.
// A move refused with kasagi.error.rate_limited (admission control, valid or not) is a clear
// refusal: counted as throttled, forgotten by the checks, and the bot sends nothing for its
// retry_after seconds (1 s without a usable one); each move due meanwhile is counted as held.
// A bot keeps at most spec.window moves unanswered (0: no bound), as the SDKs do: a move due
// while that many wait for their answer is not sent (counted as held), as a game sends its
// latest input only once the server has caught up.
import { createInterface } from 'node:readline';

const REJECTED = 'kasagi.error.rejected';
const RATE_LIMITED = 'kasagi.error.rate_limited';
const DEFAULT_RETRY_AFTER_S = 1;
const WORLD = 1000;
const INVALID_EVERY = 100;
const OPEN_PATIENCE_MS = 60000;

// Wall clock in ms with sub-ms resolution (latency is receipt - the sender's `t`).
const now = () => performance.timeOrigin + performance.now();
// stdout carries our messages only; Autobahn's console chatter is dropped.
console.log = () => {};
console.info = () => {};
console.warn = () => {};
console.debug = () => {};
// Imported after the console is quiet: Autobahn binds console.warn when it loads.
const { default: autobahn } = await import('autobahn');
const { default: WebSocket } = await import('ws');

const out = (kind, payload) => process.stdout.write(`${JSON.stringify([kind, payload])}\n`);

// Every socket the clients opened, for the bytes read (frames and headers).
const sockets = [];
const emit = WebSocket.prototype.emit;
WebSocket.prototype.emit = function counted(event, ...rest) {
  if (event === 'open' && this._socket) sockets.push(this._socket);
  return emit.call(this, event, ...rest);
};
const bytesRead = () => sockets.reduce((n, s) => n + s.bytesRead, 0);

function rng(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
const randint = (r, lo, hi) => lo + Math.floor(r() * (hi - lo + 1));
const clamp = (v) => (v < 0 ? 0 : v > WORLD ? WORLD : v);
// The seconds to hold after a rate_limited refusal: its details' retry_after when usable.
const retryAfterS = (details) => {
  const v = details && typeof details === 'object' ? details.retry_after : undefined;
  return typeof v === 'number' && Number.isFinite(v) && v > 0 ? v : DEFAULT_RETRY_AFTER_S;
};

function makeMove(r, n) {
  const dy = randint(r, -10, 10);
  const dx = n % INVALID_EVERY === INVALID_EVERY - 1 ? randint(r, 11, 15) : randint(r, -10, 10);
  return { dx, dy, valid: Math.abs(dx) <= 10 && Math.abs(dy) <= 10 };
}

class Tally {
  constructor() {
    Object.assign(this, { startMs: Infinity, endMs: -Infinity, sent: 0, sentValid: 0, accepted: 0 });
    Object.assign(this, { throttled: 0, held: 0 });
    Object.assign(this, { deliveries: 0, messagesIn: 0, lateSends: 0, maxSendLagMs: 0 });
    this.latency = new Map();
  }
  inWindow(ms) {
    return this.startMs <= ms && ms < this.endMs;
  }
  record(ms) {
    // Microseconds to 3 significant digits, as the histogram keeps them.
    let us = Math.max(1, Math.round(ms * 1000));
    const digits = Math.floor(Math.log10(us)) + 1;
    const unit = digits > 3 ? 10 ** (digits - 3) : 1;
    us = Math.round(us / unit) * unit;
    this.latency.set(us, (this.latency.get(us) || 0) + 1);
  }
}

function serializerFor(name) {
  const kinds = { json: 'JSONSerializer', msgpack: 'MsgpackSerializer', cbor: 'CBORSerializer' };
  return new autobahn.serializer[kinds[name]]();
}

class Bot {
  constructor(tally, spec, [room, authid, seed]) {
    Object.assign(this, { tally, room, authid, inputPath: spec.input_path, validating: spec.validating });
    this.r = rng(seed);
    this.topic = `kasagi.room.${room}`;
    Object.assign(this, { epoch: 0, seq: 0, joinSeq: 0, synced: false, repairing: false, buffer: new Map() });
    Object.assign(this, { expected: null, sent: [], invalid: new Map(), fastPending: new Map() });
    Object.assign(this, { cseq: Math.floor(now() * 1000), lastT: 0, moves: 0, timer: null, violations: {} });
    this.holdUntilMs = 0;
    this.owned = []; // own player updates waiting for their check (ownLater)
    this.window = spec.window || 0;
    this.unanswered = 0; // act calls sent and not yet answered
    this.stats = { gaps_repaired: 0 };
    this.session = null;
    this.connection = null;
  }

  connect(url, serializer) {
    return new Promise((resolve, reject) => {
      this.connection = new autobahn.Connection({
        url,
        realm: 'kasagi',
        authmethods: ['ticket'],
        authid: this.authid,
        onchallenge: () => 'dev',
        serializers: [serializerFor(serializer)],
        max_retries: 0,
      });
      this.connection.onopen = (session) => {
        this.session = session;
        resolve();
      };
      this.connection.onclose = (reason) => {
        // After the bot joined, a closed connection (the node dropped it) is a violation: the
        // bot sends nothing more. Before, it fails the join.
        if (this.session && !this.stopping) this.violation('disconnected');
        this.session = null;
        reject(new Error(`connection closed: ${reason}`));
        return true;
      };
      this.connection.open();
    });
  }

  async join() {
    const deadline = now() + OPEN_PATIENCE_MS;
    for (;;) {
      try {
        await this.session.call('kasagi.lobby.open', [this.room]);
        break;
      } catch (e) {
        if (e.error !== 'wamp.error.no_such_procedure' || now() >= deadline) throw e;
        await new Promise((r) => setTimeout(r, 200));
      }
    }
    await this.session.subscribe(this.topic, (args, kwargs) => this.onEvent(args, kwargs, now()));
    this.load(await this.session.call(`kasagi.room.${this.room}.join`, [null]));
  }

  load(reply) {
    const received = now();
    if ('state' in reply) {
      this.epoch = reply.epoch;
      this.seq = reply.seq;
      const player = (reply.state.players || {})[this.authid];
      // A join's reply is a call result, settled after what was read before it: check now.
      this.ownQueued();
      if (player) this.own(player);
    } else {
      for (const event of reply.events || []) if (event.seq === this.seq + 1) this.apply(event, received);
      if (this.seq !== reply.seq) {
        this.violation('unrepaired_gap');
        this.seq = reply.seq;
      }
    }
    this.joinSeq = this.seq;
    this.synced = true;
    this.repairing = false;
    this.drain();
  }

  onEvent(args, kwargs, received) {
    if (this.tally.inWindow(received)) this.tally.messagesIn += 1;
    if (kwargs && 'reply' in kwargs) return this.onReply(kwargs.reply, received);
    const event = args[0];
    if (!this.synced || this.repairing) return void this.buffer.set(event.seq, [event, received]);
    if (event.epoch !== this.epoch) {
      this.violation('epoch_change');
      return this.repair(null);
    }
    if (event.seq <= this.seq) {
      if (event.seq < this.seq && event.seq > this.joinSeq) this.violation('duplicate_or_reordered');
      return undefined;
    }
    if (event.seq > this.seq + 1) {
      this.buffer.set(event.seq, [event, received]);
      return this.repair({ epoch: this.epoch, seq: this.seq });
    }
    this.apply(event, received);
    if (this.buffer.size) this.drain();
    return undefined;
  }

  drain() {
    for (const s of [...this.buffer.keys()]) if (s <= this.seq) this.buffer.delete(s);
    for (let item = this.buffer.get(this.seq + 1); item; item = this.buffer.get(this.seq + 1)) {
      this.buffer.delete(this.seq + 1);
      this.apply(...item);
    }
    if (this.buffer.size && !this.repairing) this.repair({ epoch: this.epoch, seq: this.seq });
  }

  repair(since) {
    if (this.repairing || !this.session) return;
    this.repairing = true;
    this.session.call(`kasagi.room.${this.room}.join`, [since]).then(
      (reply) => {
        this.stats.gaps_repaired += 1;
        this.load(reply);
      },
      () => {
        this.repairing = false;
        this.violation('unrepaired_gap');
      },
    );
  }

  apply(event, received) {
    this.seq = event.seq;
    const counted = this.tally.inWindow(received);
    for (const op of event.ops) {
      const path = op[1];
      if (op[0] !== 'set' || path.length !== 2 || path[0] !== 'players') continue;
      const value = op[2];
      const t = value.t || 0;
      if (t && counted) {
        this.tally.deliveries += 1;
        this.tally.record(Math.max(1, received - t));
      }
      if (path[1] === this.authid) this.ownLater(value);
    }
    const mine = event.acks && event.acks[this.authid];
    if (mine) for (const cseq of mine) this.acked(cseq, received);
  }

  // The bot's own player is checked once the messages read with it are handled. Autobahn JS
  // settles a call's promise on process.nextTick, after every frame of the same socket read:
  // an event read together with an earlier move's refusal would otherwise be checked before
  // the refusal is known, and the refused move expected in it.
  ownLater(value) {
    this.owned.push(value);
    if (this.owned.length === 1) setImmediate(() => this.ownQueued());
  }

  ownQueued() {
    for (const value of this.owned.splice(0)) this.own(value);
  }

  own(value) {
    const t = value.t || 0;
    if (!this.validating) {
      const at = now();
      while (this.sent.length && this.sent[0].t <= t) {
        const s = this.sent.shift();
        if (this.fastPending.delete(s.cseq) && this.tally.inWindow(at)) this.tally.accepted += 1;
      }
      this.expected = [value.x, value.y];
      return;
    }
    if (this.expected === null || !t) {
      this.expected = [value.x, value.y];
      return;
    }
    let [ex, ey] = this.expected;
    let matched = false;
    while (this.sent.length && this.sent[0].t <= t) {
      const s = this.sent.shift();
      if (s.valid) {
        ex = clamp(ex + s.dx);
        ey = clamp(ey + s.dy);
        matched = matched || s.t === t;
      } else if (s.t === t) this.violation('invalid_applied');
    }
    if (!matched || value.x !== ex || value.y !== ey) this.violation('wrong_position');
    this.expected = [value.x, value.y];
  }

  acked(cseq, received) {
    if (!this.fastPending.has(cseq)) return;
    const valid = this.fastPending.get(cseq);
    this.fastPending.delete(cseq);
    if (!valid && this.validating) this.violation('invalid_accepted');
    else if (this.tally.inWindow(received)) this.tally.accepted += 1;
  }

  onReply(reply, received) {
    if ('error' in reply) this.refused(reply.cseq, reply.error, reply.details, received);
    else if (Number.isInteger(reply.cseq)) this.acked(reply.cseq, received);
  }

  refused(cseq, error, details, received) {
    if (error === RATE_LIMITED) return void this.throttled(cseq, retryAfterS(details), received);
    this.fastPending.delete(cseq);
    if (this.invalid.has(cseq)) {
      const n = this.invalid.get(cseq) + 1;
      this.invalid.set(cseq, n);
      if (error !== REJECTED) this.violation('wrong_refusal');
      else if (n > 1) this.violation('refused_twice');
    } else this.violation('valid_refused');
  }

  throttled(cseq, retryAfter, received) {
    // Refused by admission control: never applied, so neither checked nor lost; hold.
    if (this.tally.inWindow(received)) this.tally.throttled += 1;
    this.fastPending.delete(cseq);
    this.invalid.delete(cseq);
    const i = this.sent.findIndex((s) => s.cseq === cseq);
    if (i >= 0) this.sent.splice(i, 1);
    this.holdUntilMs = Math.max(this.holdUntilMs, received + retryAfter * 1000);
  }

  startMoving(rate, start, stop) {
    this.rate = rate;
    this.stopAt = stop;
    if (rate <= 0) return;
    this.nextAt = start + this.r() * (1000 / rate);
    this.schedule();
  }

  schedule() {
    this.timer = setTimeout(() => this.tick(), Math.max(0, this.nextAt - now()));
  }

  tick() {
    this.timer = null;
    const at = now();
    if (at >= this.stopAt) return;
    const lag = at - this.nextAt;
    if (lag > 100) {
      this.tally.lateSends += 1;
      this.tally.maxSendLagMs = Math.max(this.tally.maxSendLagMs, lag);
    }
    if (this.expected !== null && this.session) this.moveDue(at);
    this.nextAt += 1000 / this.rate;
    if (lag > 1000) this.nextAt = at + 1000 / this.rate;
    this.schedule();
  }

  moveDue(nowMs) {
    // While a rate_limited refusal holds the bot, or its window of unanswered moves is full,
    // a due move is skipped (and counted held).
    const waiting = this.inputPath === 'publish' ? this.fastPending.size : this.unanswered;
    if (nowMs < this.holdUntilMs || (this.window > 0 && waiting >= this.window)) {
      if (this.tally.inWindow(nowMs)) this.tally.held += 1;
      return;
    }
    this.sendMove(nowMs);
  }

  sendMove(nowMs) {
    const move = makeMove(this.r, this.moves);
    this.moves += 1;
    const t = nowMs > this.lastT ? nowMs : this.lastT + 0.001;
    this.lastT = t;
    this.cseq += 1;
    const { cseq } = this;
    if (this.tally.inWindow(nowMs)) {
      this.tally.sent += 1;
      if (move.valid) this.tally.sentValid += 1;
    }
    this.sent.push({ t, dx: move.dx, dy: move.dy, valid: move.valid, cseq });
    if (!move.valid) this.invalid.set(cseq, 0);
    const args = ['move', { dx: move.dx, dy: move.dy, t }, cseq];
    if (this.inputPath === 'publish') {
      this.fastPending.set(cseq, move.valid);
      this.session.publish(`kasagi.input.${this.room}`, args);
      return;
    }
    this.unanswered += 1;
    this.session.call(`kasagi.room.${this.room}.act`, args).then(
      () => {
        this.unanswered -= 1;
        if (!move.valid && this.validating) return void this.violation('invalid_accepted');
        const at = now();
        if (this.tally.inWindow(at)) {
          this.tally.accepted += 1;
          this.tally.messagesIn += 1;
        }
        return undefined;
      },
      (e) => {
        this.unanswered -= 1;
        this.refused(cseq, e && e.error ? e.error : 'transport', e && e.kwargs, now());
      },
    );
  }

  stopMoving() {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
  }

  settle(sentBeforeMs) {
    this.ownQueued();
    if (this.repairing || this.buffer.size) this.violation('unrepaired_gap');
    if (this.validating) {
      const lost = this.sent.filter((s) => s.valid && s.t < sentBeforeMs).length;
      if (lost) this.violation('lost_move', lost);
      const unanswered = [...this.invalid.values()].filter((n) => n === 0).length;
      if (unanswered) this.violation('invalid_not_refused', unanswered);
    }
    this.sent = [];
    this.invalid.clear();
    this.fastPending.clear();
  }

  violation(kind, n = 1) {
    this.violations[kind] = (this.violations[kind] || 0) + n;
  }
}

async function main(spec) {
  let tally = new Tally();
  const url = `ws://${spec.host}:${spec.port}/ws`;
  const bots = spec.bots.map((b) => new Bot(tally, spec, b));
  const failures = [];
  let joined = 0;
  let failed = 0;
  let reported = false;
  const sendJoined = (timedOut) => {
    if (reported) return;
    reported = true;
    const ready = bots.filter((b) => b.synced && b.expected !== null).length;
    out('joined', { clients: bots.length, joined, ready, timed_out: timedOut, failed, failures });
  };
  const joinTimer = setTimeout(() => sendJoined(true), spec.join_timeout * 1000);
  const queue = [...bots];
  const joinNext = async () => {
    for (let bot = queue.shift(); bot; bot = queue.shift()) {
      try {
        await bot.connect(url, spec.serializer);
        await bot.join();
        joined += 1;
      } catch (e) {
        failed += 1;
        if (failures.length < 5) failures.push(`${bot.authid}: ${e && (e.error || e.message || e)}`);
      }
    }
  };
  const progress = setInterval(() => {
    out('progress', { sent: tally.sent, accepted: tally.accepted, deliveries: tally.deliveries, joined });
  }, 500);
  await Promise.all(Array.from({ length: spec.join_concurrency || 16 }, joinNext));
  if (!reported) {
    clearTimeout(joinTimer);
    // A joined bot sees its own player in the event after its join reply.
    const until = now() + 30000;
    while (now() < until && !bots.every((b) => !b.synced || b.expected !== null)) {
      await new Promise((r) => setTimeout(r, 50));
    }
    sendJoined(false);
  }

  const runStep = (step) => {
    tally = new Tally();
    for (const b of bots) b.tally = tally;
    const t0 = step.t0 * 1000;
    const start = t0 + step.warmup * 1000;
    const end = start + step.measure * 1000;
    tally.startMs = start;
    tally.endMs = end;
    for (const b of bots) {
      b.violations = {};
      b.startMoving(step.rate, t0, end);
    }
    const marks = [];
    setTimeout(() => marks.push(bytesRead()), Math.max(0, start - now()));
    setTimeout(() => marks.push(bytesRead()), Math.max(0, end - now()));
    setTimeout(() => finishStep(end, marks), Math.max(0, end + step.drain * 1000 - now()));
  };
  const finishStep = (end, marks) => {
    const violations = {};
    let violating = 0;
    for (const b of bots) {
      b.stopMoving();
      b.settle(end);
      if (Object.keys(b.violations).length) violating += 1;
      for (const [k, v] of Object.entries(b.violations)) violations[k] = (violations[k] || 0) + v;
    }
    out('result', {
      sent: tally.sent,
      sent_valid: tally.sentValid,
      accepted: tally.accepted,
      throttled: tally.throttled,
      held: tally.held,
      deliveries: tally.deliveries,
      messages_in: tally.messagesIn,
      bytes: marks.length === 2 ? marks[1] - marks[0] : 0,
      latency_us: Object.fromEntries(tally.latency),
      violations,
      violating_clients: violating,
      late_sends: tally.lateSends,
      max_send_lag_ms: tally.maxSendLagMs,
      gaps_repaired: bots.reduce((n, b) => n + b.stats.gaps_repaired, 0),
      moving: bots.filter((b) => b.expected !== null).length,
    });
  };
  const stop = () => {
    clearInterval(progress);
    for (const b of bots) {
      b.stopMoving();
      b.stopping = true;
      try {
        if (b.connection) b.connection.close();
      } catch {
        // Autobahn throws "connection already closed" for a connection the node closed.
      }
    }
    setTimeout(() => process.exit(0), 500);
  };
  return { runStep, stop };
}

const lines = createInterface({ input: process.stdin });
let control = null;
const early = [];
lines.on('line', (line) => {
  const message = JSON.parse(line);
  if (message.kind === 'spec') {
    main(message).then(
      (c) => {
        control = c;
        for (const m of early.splice(0)) (m.kind === 'step' ? c.runStep(m) : c.stop());
      },
      (e) => {
        out('error', String(e && e.stack ? e.stack : e));
        process.exit(1);
      },
    );
  } else if (!control) early.push(message);
  else if (message.kind === 'step') control.runStep(message);
  else control.stop();
});
lines.on('close', () => (control ? control.stop() : process.exit(0)));
