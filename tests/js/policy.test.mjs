// The JS SDK's error policy against the table Python writes (tests/vectors/policy.json).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { ERROR_POLICY, ErrorURI, KasagiError, isFinal, recovery } from '../../web/sdk/kasagi.js';

const policy = JSON.parse(readFileSync(new URL('../vectors/policy.json', import.meta.url), 'utf8'));

test('policy: the SDK embeds the same table as kasagi.wire.ERROR_POLICY, entry by entry', () => {
  assert.deepEqual({ ...ERROR_POLICY }, policy.table);
});

test('policy: every error URI the SDK names has an entry in the table', () => {
  for (const uri of Object.values(ErrorURI)) assert.ok(Object.hasOwn(policy.table, uri), uri);
});

for (const c of policy.cases) {
  test(`policy: ${c.name} -- the SDK does what the table says (${c.recovery})`, () => {
    assert.equal(recovery(c.uri, c.details), c.recovery);
    const err = new KasagiError(c.uri, 'message', c.details);
    assert.equal(err.recovery, c.recovery);
    assert.equal(err.retryable, !isFinal(c.recovery));
    // As an Autobahn error arrives (error, args, kwargs).
    assert.equal(KasagiError.from({ error: c.uri, args: ['message'], kwargs: c.details }).recovery, c.recovery);
  });
}
