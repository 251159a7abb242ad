// The cards page's card rules (web/examples/card-rules.js), the same as the room type's.
import assert from 'node:assert/strict';
import { test } from 'node:test';

import { label, playable, rankOf, suitOf } from '../../web/examples/card-rules.js';

test('a card is its rank and its suit, shown with the suit sign', () => {
  assert.deepEqual([rankOf('10S'), suitOf('10S')], ['10', 'S']);
  assert.equal(label('7H'), '7\u2665');
  assert.equal(label('QC'), 'Q\u2663');
});

test('a card matching the suit to follow or the top rank is playable, an eight always', () => {
  assert.ok(playable('2H', '7H', 'H'));
  assert.ok(playable('7C', '7H', 'H'));
  assert.ok(playable('8S', '7H', 'H'));
  assert.ok(!playable('2C', '7H', 'H'));
});

test('after an eight the named suit counts, not the eight\'s own', () => {
  assert.ok(playable('2C', '8H', 'C'));
  assert.ok(!playable('2H', '8H', 'C'));
  assert.ok(!playable('2H', null, 'C'));
});
