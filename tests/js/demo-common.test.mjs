// The demo pages' shared helpers that need no page: the id rules, the invite link, the room refusal.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { AUTHID, ROOM_ID, ROOM_ID_RULE, inviteLink, roomRefusal } from '../../web/demo-common.js';

const WIRE = readFileSync(new URL('../../src/kasagi/wire.py', import.meta.url), 'utf8');
const serverPattern = (name) => WIRE.match(new RegExp(`${name}: Final = re\\.compile\\(r"([^"]+)"\\)`))[1];

test('the pages check member and room ids with the server patterns', () => {
  assert.equal(AUTHID.source, serverPattern('AUTHID_RE'));
  assert.equal(ROOM_ID.source, serverPattern('ROOM_ID_RE'));
});

test('an invite link opens the same room on the same page without the inviter name or ticket', () => {
  const link = new URL(inviteLink('lobby_2', 'http://node:8080/doc.html?room=old&name=ada&ticket=v1.x.y&serializer=json&url=ws%3A%2F%2Fnode%2Fws'));
  assert.equal(link.origin + link.pathname, 'http://node:8080/doc.html');
  assert.deepEqual(Object.fromEntries(link.searchParams), { url: 'ws://node/ws', serializer: 'json', room: 'lobby_2' });
});

test('a refused room name is explained with the rule, the server expectation and a name that would do', () => {
  const err = { error: 'kasagi.error.invalid_argument', details: { field: 'room', expected: 'a room id matching ^[a-z0-9_]{1,64}$' } };
  const refusal = roomRefusal(err, 'My Room!');
  assert.ok(refusal.text.includes(ROOM_ID_RULE));
  assert.ok(refusal.text.includes('^[a-z0-9_]{1,64}$'));
  assert.equal(refusal.fixed, 'my_room');
  assert.ok(ROOM_ID.test(roomRefusal(err, 'x'.repeat(80)).fixed));
  assert.equal(roomRefusal(err, '***').fixed, 'room');
});

test('an error about anything but the room name is not a room refusal', () => {
  assert.equal(roomRefusal({ error: 'kasagi.error.rejected', details: { field: 'dx' } }, 'arena'), null);
  assert.equal(roomRefusal(new Error('boom'), 'arena'), null);
});
