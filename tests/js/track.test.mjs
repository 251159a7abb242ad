// The chase page's interpolation (web/examples/track.js): positions between server ticks.
import assert from 'node:assert/strict';
import { test } from 'node:test';

import { Track } from '../../web/examples/track.js';

test('between two ticks the position is interpolated linearly', () => {
  const track = new Track();
  track.push(0, 0, 0);
  track.push(50, 10, 20);
  assert.deepEqual(track.at(25), { x: 5, y: 10, between: true });
});

test('before the first and after the last sample the track holds that position', () => {
  const track = new Track();
  track.push(100, 1, 2);
  track.push(150, 3, 4);
  assert.equal(track.at(0).x, 1);
  assert.equal(track.at(500).x, 3);
  assert.equal(new Track().at(0), null);
});

test('a jump longer than the snap distance is a teleport: no sliding from the old place', () => {
  const track = new Track({ snap: 100 });
  track.push(0, 0, 0);
  track.push(50, 500, 500);
  assert.equal(track.at(25).x, 500);
});

test('a repeated position adds no sample and only the newest samples are kept', () => {
  const track = new Track({ keep: 3 });
  track.push(0, 1, 1);
  track.push(10, 1, 1);
  for (let i = 1; i <= 5; i += 1) track.push(i * 50, i, i);
  assert.equal(track.samples.length, 3);
  assert.equal(track.samples[0].x, 3);
});
