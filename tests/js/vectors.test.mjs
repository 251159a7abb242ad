// The JS SDK's sync logic against the shared vectors made by the Python core (tests/vectors/).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { RoomReplica, ReplyError, applyOps, canonicalJSON, copyValue, stateHash } from '../../web/sdk/sync.js';

const load = (name) => JSON.parse(readFileSync(new URL(`../vectors/${name}`, import.meta.url), 'utf8')).cases;

for (const c of load('canonical.json')) {
  test(`canonical: ${c.name} -- the JS encoding and hash equal Python's`, () => {
    assert.equal(canonicalJSON(c.value), c.canonical);
    assert.equal(stateHash(c.value), c.hash);
  });
}

for (const c of load('ops.json')) {
  test(`ops: ${c.name} -- the JS ops give Python's result`, () => {
    const state = copyValue(c.state);
    let ok = true;
    try {
      applyOps(state, c.ops);
    } catch {
      ok = false;
    }
    assert.equal(ok, c.result !== null, 'applies exactly when Python applies');
    assert.deepEqual(state, ok ? c.result : c.state);
    assert.equal(canonicalJSON(state), canonicalJSON(ok ? c.result : c.state));
    assert.equal(stateHash(state), c.hash);
  });
}

for (const c of load('replica.json')) {
  test(`replica: ${c.name} -- the JS replica gives Python's verdicts and final state`, () => {
    const replica = new RoomReplica('r1');
    for (const [i, step] of c.steps.entries()) {
      if ('offer' in step) {
        assert.equal(replica.offer(step.offer), step.verdict, `step ${i}`);
      } else {
        let error = false;
        try {
          replica.load(step.load);
        } catch (err) {
          assert.ok(err instanceof ReplyError, `step ${i}: ${err}`);
          error = true;
        }
        assert.equal(error, step.error, `step ${i}`);
      }
    }
    assert.equal(replica.epoch, c.final.epoch);
    assert.equal(replica.seq, c.final.seq);
    assert.deepEqual(replica.state, c.final.state);
    assert.equal(stateHash(replica.state), c.final.hash);
    assert.equal(replica.needsSnapshot, c.final.needs_snapshot);
    assert.deepEqual(replica.position, c.final.position);
    assert.equal(replica.hashChecked, c.final.hash_checked);
  });
}

for (const c of load('room.json')) {
  test(`room: ${c.name} -- snapshot plus the room core's events rebuild its state and hash`, () => {
    const replica = new RoomReplica(c.snapshot.room);
    replica.load(c.snapshot);
    for (const event of c.events) assert.equal(replica.offer(event), 'applied', `seq ${event.seq}`);
    assert.deepEqual(replica.state, c.state);
    assert.equal(stateHash(replica.state), c.hash);
    assert.ok(replica.hashChecked >= 1, 'the case carries hashed events');
  });
}
