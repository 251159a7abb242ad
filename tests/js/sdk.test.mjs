// The SDK's ordering, gap repair, reconnection and action retries, over a fake transport and clock.
import { test, beforeEach, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { Client, ErrorURI, KasagiError, stateHash } from '../../web/sdk/kasagi.js';
import { applyOps, copyValue } from '../../web/sdk/sync.js';
import { FakeClock, FakeConnector, flush, wampError } from './fakes.mjs';

const E = 1_700_000_000_000;
const TOPIC = 'kasagi.room.r1';

/** A room as the server keeps it: state, seq, history; answers open/join/act. */
class FakeRoomServer {
  constructor(connector, { epoch = E } = {}) {
    this.connector = connector;
    this.epoch = epoch;
    this.seq = 0;
    this.state = { members: {}, players: {} };
    this.history = [];
    this.joins = [];
    this.acts = [];
    this.onAct = (call) => this.emit([['set', ['last'], call.args[1]]]) && { seq: this.seq, cseq: call.args[2] };
    connector.server = (call) => this.handle(call);
  }

  /** Commit an event; publish it unless told to lose it. */
  emit(ops, { publish = true, hash = false } = {}) {
    applyOps(this.state, ops);
    this.seq += 1;
    const event = { epoch: this.epoch, seq: this.seq, ops };
    if (hash) event.hash = typeof hash === 'string' ? hash : stateHash(this.state);
    this.history.push(event);
    if (publish) this.connector.publish(TOPIC, event);
    return event;
  }

  /** The room's history is lost: a new epoch with a fresh state. */
  newEpoch(state) {
    this.epoch += 1000;
    this.seq = 0;
    this.state = state;
    this.history = [];
  }

  handle(call) {
    const verb = call.uri.split('.').pop();
    if (call.uri === 'kasagi.lobby.open') return { room: 'r1', type: call.args[1], epoch: this.epoch, seq: this.seq };
    if (verb === 'join' && this.joinErrors && this.joinErrors.length) throw this.joinErrors.shift();
    if (verb === 'join') {
      const since = call.args[0];
      this.joins.push(since);
      const base = { room: 'r1', epoch: this.epoch, seq: this.seq, member: 'alice' };
      if (since && since.epoch === this.epoch && since.seq <= this.seq) {
        return { ...base, events: this.history.filter((e) => e.seq > since.seq) };
      }
      return { ...base, state: copyValue(this.state) };
    }
    if (verb === 'act') {
      this.acts.push(call.args);
      return this.onAct(call);
    }
    if (verb === 'leave') return {};
    if (verb === 'silent') return undefined;
    throw wampError('wamp.error.no_such_procedure');
  }
}

let clock;
let connector;
let server;
let unhandled;
const onUnhandled = (err) => unhandled.push(err);
const quiet = { info() {}, warn() {}, error() {} };

function makeClient(extra = {}) {
  return new Client({ url: 'ws://fake/ws', authid: 'alice', connector, timers: clock, now: clock.now, random: () => 1, log: quiet, ...extra });
}

async function joined() {
  const client = makeClient();
  await client.start();
  const room = await client.join('r1', { type: 'doc' });
  return { client, room };
}

beforeEach(() => {
  clock = new FakeClock();
  connector = new FakeConnector();
  server = new FakeRoomServer(connector);
  unhandled = [];
  process.on('unhandledRejection', onUnhandled);
});

afterEach(() => {
  process.off('unhandledRejection', onUnhandled);
  assert.deepEqual(unhandled, [], 'no promise was left rejected without a handler');
});

test('join gives the snapshot, then each published event is applied and reported', async () => {
  server.emit([['set', ['title'], 'hello']]);
  const { client, room } = await joined();
  assert.deepEqual([room.epoch, room.seq, room.state.title], [E, 1, 'hello']);
  const seen = [];
  room.on('change', (event) => seen.push(event.seq));
  server.emit([['set', ['title'], 'a']]);
  server.emit([['set', ['n'], 1]]);
  await flush();
  assert.deepEqual(seen, [2, 3]);
  assert.deepEqual(room.state, server.state);
  client.close();
});

test('events ahead of order are never applied early: a gap is repaired by join(since)', async () => {
  const { client, room } = await joined();
  const order = [];
  room.on('change', (event) => order.push(event && event.seq));
  server.emit([['set', ['a'], 1]], { publish: false }); // lost on the way
  server.emit([['set', ['a'], 2]]);
  server.emit([['set', ['b'], 3]]);
  await flush();
  assert.deepEqual(server.joins.slice(1), [{ epoch: E, seq: 0 }], 'one catch-up from the last applied position');
  assert.deepEqual(order, [1, 2, 3], 'strictly in seq order');
  assert.deepEqual(room.state, server.state);
  assert.equal(room.seq, 3);
  client.close();
});

test('duplicated and reordered deliveries give each event once, in order', async () => {
  const { client, room } = await joined();
  const order = [];
  room.on('change', (event) => order.push(event.seq));
  const e1 = server.emit([['set', ['x'], 1]], { publish: false });
  const e2 = server.emit([['set', ['x'], 2]], { publish: false });
  const session = connector.session;
  // Hold the repair join's answer so the live copies arrive first.
  connector.server = (call) => (call.uri.endsWith('.join') ? undefined : server.handle(call));
  session.publish(TOPIC, e2);
  session.publish(TOPIC, e2);
  session.publish(TOPIC, e1);
  session.publish(TOPIC, e1);
  await flush();
  assert.deepEqual(order, [1, 2]);
  assert.equal(room.state.x, 2);
  client.close();
});

test('a new epoch makes the room re-join and replace its state with the new snapshot', async () => {
  server.emit([['set', ['old'], true]]);
  const { client, room } = await joined();
  let snapshots = 0;
  room.on('change', (event) => {
    if (event === null) snapshots += 1;
  });
  server.newEpoch({ members: {}, fresh: 1 });
  server.emit([['set', ['fresh'], 2]]);
  await flush();
  assert.equal(room.epoch, E + 1000);
  assert.deepEqual(room.state, { members: {}, fresh: 2 });
  assert.equal(snapshots, 1);
  client.close();
});

test('a state hash that disagrees makes the room take a fresh snapshot (join with since = null)', async () => {
  const { client, room } = await joined();
  server.emit([['set', ['a'], 1]], { hash: true });
  await flush();
  assert.equal(room.replica.hashChecked, 1);
  server.emit([['set', ['a'], 2]], { hash: 'ffffffffffffffff' });
  await flush();
  assert.equal(server.joins.at(-1), null);
  assert.deepEqual(room.state, server.state);
  assert.equal(room.replica.needsSnapshot, false);
  client.close();
});

test('events of an unexpected shape neither throw nor apply; the room re-syncs from a snapshot', async () => {
  const { client, room } = await joined();
  const session = connector.session;
  for (const bad of [undefined, null, 'x', 42, [], { seq: 1 }, { epoch: E, seq: '1', ops: [] }, { epoch: E, seq: 1, ops: 'no' }, { epoch: E, seq: 1, ops: [['set', [], 1]] }]) {
    session.publish(TOPIC, bad);
  }
  session.handlers.get(TOPIC)?.(undefined, undefined, undefined); // no args at all
  await flush();
  assert.deepEqual(server.joins, [null, null], 'one snapshot join for all of them');
  assert.deepEqual(room.state, server.state);
  assert.equal(room.seq, 0);
  server.emit([['set', ['ok'], true]]);
  await flush();
  assert.equal(room.state.ok, true);
  client.close();
});

test('a listener that throws does not stop the room from syncing', async () => {
  const { client, room } = await joined();
  room.on('change', () => {
    throw new Error('a bug in the page');
  });
  server.emit([['set', ['a'], 1]]);
  server.emit([['set', ['a'], 2]]);
  await flush();
  assert.equal(room.state.a, 2);
  client.close();
});

test('a refused action rejects with the error URI and its details, and is not retried', async () => {
  const { client, room } = await joined();
  server.onAct = () => {
    throw wampError(ErrorURI.REJECTED, 'move is faster than the speed limit', { field: 'args.dx', expected: '|dx| <= 10', got: 'int 11', retryable: false });
  };
  const err = await room.act('move', { dx: 11, dy: 0 }).catch((e) => e);
  assert.ok(err instanceof KasagiError);
  assert.equal(err.error, 'kasagi.error.rejected');
  assert.equal(err.details.field, 'args.dx');
  assert.equal(err.retryable, false);
  assert.equal(server.acts.length, 1);
  client.close();
});

test('an unavailable answer is retried with the same cseq until it succeeds', async () => {
  const { client, room } = await joined();
  let refusals = 2;
  server.onAct = (call) => {
    if (refusals-- > 0) throw wampError(ErrorURI.UNAVAILABLE, 'store did not confirm');
    server.emit([['set', ['done'], true]]);
    return { seq: server.seq, cseq: call.args[2] };
  };
  const done = room.act('set', { path: ['done'], value: true });
  await clock.advance(5000);
  const ack = await done;
  assert.equal(server.acts.length, 3);
  assert.equal(new Set(server.acts.map((a) => a[2])).size, 1, 'one cseq for every attempt');
  assert.equal(ack.cseq, server.acts[0][2]);
  client.close();
});

test('a router that could not decide is retried; a refusal is not', () => {
  // wamp.error.authorization_failed: the router's authorizer had no answer from the room
  // service (it is restarting or moving the room); wamp.error.not_authorized: a refusal.
  assert.equal(new KasagiError('wamp.error.authorization_failed', 'no access answer').retryable, true);
  assert.equal(new KasagiError('wamp.error.not_authorized', 'no').retryable, false);
  assert.equal(new KasagiError(ErrorURI.REJECTED, 'no').retryable, false);
});

test('an error the server marks final is not retried', () => {
  // kasagi.error.unavailable with retryable: false -- a room whose stored data is damaged.
  assert.equal(new KasagiError(ErrorURI.UNAVAILABLE, 'damaged', { retryable: false }).retryable, false);
  assert.equal(new KasagiError(ErrorURI.UNAVAILABLE, 'busy', { retryable: true }).retryable, true);
  // not_member and no_such_room say retryable false too, yet the SDK recovers: re-join / re-open.
  assert.equal(new KasagiError(ErrorURI.NOT_MEMBER, 'join first', { retryable: false }).retryable, true);
});

test('an act refused with not_member (the owner forgot this session) joins again and lands', async () => {
  const { client, room } = await joined();
  const joinsBefore = server.joins.length;
  let forgot = true;
  server.onAct = (call) => {
    if (forgot) {
      forgot = false;
      throw wampError(ErrorURI.NOT_MEMBER, 'join the room before acting', { retryable: false });
    }
    server.emit([['set', ['done'], true]]);
    return { seq: server.seq, cseq: call.args[2] };
  };
  const done = room.act('set', { path: ['done'], value: true });
  await clock.advance(5000);
  const ack = await done;
  assert.equal(ack.seq, server.seq);
  assert.ok(server.joins.length > joinsBefore, 'joined again before the retry');
  assert.equal(new Set(server.acts.map((a) => a[2])).size, 1, 'one cseq for both attempts');
  client.close();
});

test('an act refused with full (a capacity limit, retryable later) reaches the caller at once', async () => {
  const { client, room } = await joined();
  server.onAct = () => {
    throw wampError(ErrorURI.FULL, 'the room holds max_members members', { field: 'members', retryable: true });
  };
  const done = room.act('set', { path: ['done'], value: true });
  const refused = assert.rejects(done, (err) => err.error === ErrorURI.FULL && err.retryable === false && err.details.retryable === true);
  await clock.advance(5000);
  await refused;
  assert.equal(server.acts.length, 1);
  client.close();
});

test('an act refused with rate_limited waits retry_after, then lands with the same cseq', async () => {
  const { client, room } = await joined();
  let refusals = 1;
  const sentAt = [];
  server.onAct = (call) => {
    sentAt.push(clock.now());
    if (refusals-- > 0) throw wampError(ErrorURI.RATE_LIMITED, 'the room service is overloaded', { field: 'service', retry_after: 2.0, retryable: true });
    return { seq: 9, cseq: call.args[2] };
  };
  const done = room.act('set', { path: ['a'], value: 1 });
  await clock.advance(1900);
  assert.equal(server.acts.length, 1, 'nothing sent again before retry_after');
  await clock.advance(200);
  const ack = await done;
  assert.equal(server.acts.length, 2);
  assert.ok(sentAt[1] - sentAt[0] >= 2000, `waited ${sentAt[1] - sentAt[0]} ms`);
  assert.equal(server.acts[0][2], server.acts[1][2], 'the same cseq');
  assert.equal(ack.cseq, server.acts[0][2]);
  client.close();
});

test('while a room is held, a short-deadline act fails at once unsent and a patient one waits', async () => {
  const { client, room } = await joined();
  let refusals = 1;
  server.onAct = (call) => {
    if (refusals-- > 0) throw wampError(ErrorURI.RATE_LIMITED, 'overloaded', { field: 'service', retry_after: 1.5, retryable: true });
    return { seq: 9, cseq: call.args[2] };
  };
  // A move that is worth nothing after 250 ms: refused with retry_after beyond that, it fails at once.
  const stale = await room.act('move', { dx: 1 }, { deadline: 250 }).catch((e) => e);
  assert.equal(stale.error, ErrorURI.RATE_LIMITED);
  assert.equal(stale.details.retry_after, 1.5);
  assert.equal(server.acts.length, 1);
  assert.ok(room.holdUntil >= clock.now() + 1400);
  // The next short one is not even sent: the client refuses it itself.
  const held = await room.act('move', { dx: 1 }, { deadline: 250 }).catch((e) => e);
  assert.equal(held.error, ErrorURI.RATE_LIMITED);
  assert.equal(held.details.held, true);
  assert.ok(held.details.retry_after > 1 && held.details.retry_after <= 1.5, `${held.details.retry_after}`);
  assert.equal(server.acts.length, 1, 'not sent');
  assert.equal(room.stats.held, 1);
  // A patient act waits for the hold, then is sent once.
  const patient = room.act('set', { path: ['a'], value: 1 });
  await clock.advance(1000);
  assert.equal(server.acts.length, 1, 'still held');
  await clock.advance(600);
  assert.equal((await patient).seq, 9);
  assert.equal(server.acts.length, 2);
  const bad = await room.act('move', {}, { deadline: -1 }).catch((e) => e);
  assert.equal(bad.error, ErrorURI.INVALID_ARGUMENT);
  client.close();
});

test('at most maxUnanswered acts are unanswered at once: the next wait, in order, and go as answers come', async () => {
  const client = makeClient({ maxUnanswered: 2 });
  await client.start();
  const room = await client.join('r1', { type: 'doc' });
  const answers = [];
  server.onAct = (call) => new Promise((resolve) => answers.push(() => resolve({ seq: 9, cseq: call.args[2] })));
  const acts = [1, 2, 3, 4].map((n) => room.act('set', { path: ['n'], value: n }));
  await flush();
  assert.deepEqual(server.acts.map((a) => a[1].value), [1, 2], 'two sent, two waiting on the client');
  answers.shift()();
  await flush();
  assert.deepEqual(server.acts.map((a) => a[1].value), [1, 2, 3], 'an answer lets the next one go');
  answers.shift()();
  answers.shift()();
  await flush();
  assert.deepEqual(server.acts.map((a) => a[1].value), [1, 2, 3, 4]);
  answers.shift()();
  const results = await Promise.all(acts);
  assert.equal(new Set(results.map((r) => r.cseq)).size, 4);
  assert.equal(room.stats.held, 0);
  client.close();
});

test('an act whose deadline ends while the window is full fails unsent with rate_limited, and a refusal frees its turn', async () => {
  const client = makeClient({ maxUnanswered: 1 });
  await client.start();
  const room = await client.join('r1', { type: 'doc' });
  let answer = null;
  server.onAct = (call) => new Promise((resolve, reject) => {
    answer = { ok: () => resolve({ seq: 9, cseq: call.args[2] }), refuse: () => reject(wampError(ErrorURI.REJECTED, 'no', { field: 'n' })) };
  });
  const first = room.act('set', { path: ['n'], value: 1 });
  const refusedFirst = assert.rejects(first, (err) => err.error === ErrorURI.REJECTED);
  const stale = room.act('move', { dx: 1 }, { deadline: 250 }).catch((e) => e);
  const patient = room.act('set', { path: ['n'], value: 3 });
  await flush();
  await clock.advance(300);
  const held = await stale;
  assert.equal(held.error, ErrorURI.RATE_LIMITED);
  assert.deepEqual([held.details.held, held.details.field, held.retryable], [true, 'window', true]);
  assert.equal(room.stats.held, 1);
  assert.equal(server.acts.length, 1, 'the stale act was never sent');
  answer.refuse();
  await refusedFirst;
  await flush();
  assert.deepEqual(server.acts.map((a) => a[1].value ?? a[1].dx), [1, 3], 'the refusal passed the turn on');
  answer.ok();
  assert.equal((await patient).seq, 9);
  // Acts still waiting when the client closes fail at once, and leave no timer behind.
  answer = null;
  room.act('set', { path: ['n'], value: 4 }).catch(() => {});
  const waiting = room.act('set', { path: ['n'], value: 5 });
  await flush();
  client.close();
  await assert.rejects(waiting, (err) => err.error === ErrorURI.CLOSED);
  assert.equal(clock.pending, 0, 'no timer left');
  assert.throws(() => makeClient({ maxUnanswered: 0 }), (err) => err.error === ErrorURI.INVALID_ARGUMENT && err.details.field === 'maxUnanswered');
});

test('catching up refused with rate_limited waits retry_after before it joins again', async () => {
  const { client, room } = await joined();
  const joinsBefore = server.joins.length;
  server.joinErrors = [wampError(ErrorURI.RATE_LIMITED, 'overloaded', { field: 'service', retry_after: 2.0, retryable: true })];
  server.emit([['set', ['a'], 1]], { publish: false }); // lost: the next event shows a gap
  server.emit([['set', ['b'], 2]]);
  await clock.advance(1900);
  assert.equal(server.joins.length, joinsBefore, 'no join again before retry_after');
  await clock.advance(300);
  assert.equal(server.joins.length, joinsBefore + 1);
  assert.deepEqual(room.state, server.state);
  client.close();
});

test('cseqs start from the clock in microseconds and count up', async () => {
  const { client, room } = await joined();
  const first = room.nextCseq();
  assert.ok(first >= clock.now() * 1000 && first <= clock.now() * 1000 + 1001, `${first}`);
  assert.equal(room.nextCseq(), first + 1);
  assert.ok(Number.isSafeInteger(first));
  client.close();
});

test('a call with no answer fails with kasagi.client.timeout at its deadline; act retries it', async () => {
  const { client, room } = await joined();
  let silent = 1;
  server.onAct = (call) => {
    if (silent-- > 0) return undefined; // never answered
    return { seq: 7, cseq: call.args[2] };
  };
  const acked = room.act('set', { path: ['a'], value: 1 });
  const plain = client.call('kasagi.room.r1.silent').catch((e) => e);
  await clock.advance(5000);
  assert.equal((await plain).error, ErrorURI.TIMEOUT);
  await clock.advance(1000);
  assert.deepEqual(await acked, { seq: 7, cseq: server.acts[0][2] });
  assert.equal(server.acts[0][2], server.acts[1][2]);
  client.close();
});

test('a dropped connection fails calls in flight, reconnects, re-joins from the last position and retries the action with the same cseq', async () => {
  const { client, room } = await joined();
  server.emit([['set', ['a'], 1]]);
  await flush();
  server.onAct = () => undefined; // the answer is lost with the connection
  const acked = room.act('set', { path: ['b'], value: 2 });
  await flush();
  const firstCseq = server.acts[0][2];
  server.emit([['set', ['b'], 2]], { publish: false }); // committed while the client is away
  connector.drop();
  await flush();
  assert.equal(client.session, null);
  server.onAct = (call) => ({ seq: 2, cseq: call.args[2] });
  await clock.advance(5000);
  assert.ok(client.session, 'reconnected');
  assert.deepEqual(server.joins.at(-1), { epoch: E, seq: 1 }, 're-joined from the last position');
  assert.deepEqual(await acked, { seq: 2, cseq: firstCseq });
  assert.deepEqual(room.state, server.state);
  assert.equal(room.seq, 2);
  client.close();
});

test('reconnect delays grow exponentially with jitter and never exceed 5 s', async () => {
  let r = 0;
  const randoms = [0, 1, 0.5, 0.25, 1, 0];
  const { client } = await (async () => {
    const c = makeClient({ random: () => (r < randoms.length ? randoms[r++] : 1) });
    await c.start();
    return { client: c };
  })();
  const delays = [];
  client.on('reconnecting', (d) => delays.push(d));
  connector.mode = 'unreachable';
  connector.drop();
  await clock.advance(60_000);
  assert.ok(delays.length >= 10, `${delays.length} attempts in a minute`);
  assert.ok(delays.every((d) => d <= 5000), `${delays}`);
  assert.equal(delays[0], 100, 'first: half of 200 ms at jitter 0');
  assert.equal(delays[1], 400, 'second: 400 ms at jitter 1');
  assert.ok(delays.slice(6).every((d) => d === 5000), 'capped');
  connector.mode = 'accept';
  await clock.advance(5000);
  assert.ok(client.session, 'back once the router is reachable');
  client.close();
});

test('a refused login rejects connect() with the URI and does not retry', async () => {
  connector.mode = 'refuse';
  const client = makeClient();
  const err = await client.start().catch((e) => e);
  assert.equal(err.error, 'kasagi.error.not_authorized');
  await clock.advance(30_000);
  assert.equal(connector.connections.length, 1);
  assert.equal(clock.pending, 0, 'no timer left behind');
});

test('connect() to a URL where nothing listens rejects at once with connection_lost and does not retry', async () => {
  connector.mode = 'unreachable';
  const client = makeClient();
  const err = await client.start().catch((e) => e);
  assert.ok(err instanceof KasagiError);
  assert.equal(err.error, ErrorURI.CONNECTION_LOST);
  assert.match(err.message, /nothing listens at ws:\/\/fake\/ws/);
  assert.equal(err.retryable, false);
  assert.equal(clock.t, E, 'no time passed: not the connect deadline');
  await clock.advance(30_000);
  assert.equal(connector.connections.length, 1);
  assert.equal(clock.pending, 0, 'no timer left behind');
});

test('once connected, an unreachable router is retried rather than final', async () => {
  const client = makeClient();
  await client.start();
  connector.mode = 'unreachable';
  connector.drop();
  await clock.advance(1000);
  assert.ok(connector.connections.length >= 3, `${connector.connections.length} attempts`);
  connector.mode = 'accept';
  await clock.advance(5000);
  assert.ok(client.session);
  client.close();
});

test('actions with arguments no serializer can send are refused before sending', async () => {
  const { client, room } = await joined();
  const cyclic = {};
  cyclic.self = cyclic;
  for (const args of [{ v: undefined }, { v: NaN }, { v: 1n }, cyclic, [1], null]) {
    const err = await room.act('set', args).catch((e) => e);
    assert.equal(err.error, ErrorURI.INVALID_ARGUMENT, String(args));
  }
  assert.equal((await room.act('').catch((e) => e)).error, ErrorURI.INVALID_ARGUMENT);
  assert.equal(server.acts.length, 0);
  client.close();
});

test('join refuses a malformed room id without calling the server', async () => {
  const client = makeClient();
  await client.start();
  const err = await client.join('No Such Room!').catch((e) => e);
  assert.equal(err.error, ErrorURI.INVALID_ARGUMENT);
  assert.equal(connector.allCalls.length, 0);
  client.close();
});

test('a room whose owner restarted is opened again and re-joined', async () => {
  const { client, room } = await joined();
  let gone = true;
  const inner = connector.server;
  connector.server = (call) => {
    if (gone && call.uri.endsWith('.act')) {
      gone = false;
      throw wampError(ErrorURI.NO_SUCH_ROOM, 'room is not open');
    }
    return inner(call);
  };
  const ack = room.act('set', { path: ['z'], value: 1 });
  await clock.advance(2000);
  await ack;
  assert.equal(connector.callsTo('lobby.open').length, 2);
  assert.equal(server.acts.length, 1);
  client.close();
});

test('leave stops the room: later events change nothing and acts are refused', async () => {
  const { client, room } = await joined();
  await room.leave();
  server.emit([['set', ['after'], 1]]);
  await flush();
  assert.equal(room.state.after, undefined);
  assert.equal((await room.act('set', { path: ['a'], value: 1 }).catch((e) => e)).error, ErrorURI.CLOSED);
  assert.equal(connector.callsTo('.leave').length, 1);
  client.close();
});

test('close fails calls waiting for a connection and leaves no timers', async () => {
  const { client, room } = await joined();
  connector.mode = 'hold';
  connector.drop();
  const pending = room.act('set', { path: ['a'], value: 1 }).catch((e) => e);
  await clock.advance(1000);
  client.close();
  await flush();
  assert.ok([ErrorURI.CLOSED, ErrorURI.CONNECTION_LOST].includes((await pending).error));
  await clock.advance(60_000);
  assert.equal(clock.pending, 0);
});

test('every act carries the room handle\'s client instance id, the same one on a retry', async () => {
  const { client, room } = await joined();
  let refusals = 1;
  server.onAct = (call) => {
    if (refusals-- > 0) throw wampError(ErrorURI.UNAVAILABLE, 'store did not confirm');
    return { seq: server.seq, cseq: call.args[2] };
  };
  const done = room.act('set', { path: ['a'], value: 1 });
  await clock.advance(5000);
  await done;
  assert.ok(Number.isSafeInteger(room.instance) && room.instance >= clock.now() * 1000 - 1e9, `${room.instance}`);
  assert.deepEqual(server.acts.map((a) => a[3]), [room.instance, room.instance]);
  client.close();
});

test('outcome_unknown reaches the caller at once and is never retried; a dropped instance is replaced above the floor', async () => {
  const { client, room } = await joined();
  const floor = room.instance + 5_000_000;
  server.onAct = (call) => {
    if (call.args[3] <= floor) {
      throw wampError(ErrorURI.OUTCOME_UNKNOWN, 'the room no longer knows this client instance', { field: 'instance', floor, retryable: false });
    }
    return { seq: server.seq, cseq: call.args[2] };
  };
  const refused = room.act('set', { path: ['a'], value: 1 }).catch((e) => e);
  await clock.advance(5000);
  const err = await refused;
  assert.equal(err.error, ErrorURI.OUTCOME_UNKNOWN);
  assert.equal(err.retryable, false);
  assert.equal(server.acts.length, 1, 'not retried: it may have been applied');
  assert.ok(room.instance > floor, 'the next acts come from a new instance above the floor');
  const ack = room.act('set', { path: ['a'], value: 2 });
  await clock.advance(5000);
  assert.equal((await ack).cseq, server.acts[1][2]);
  client.close();
});
