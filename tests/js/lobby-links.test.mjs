// The index page's room list (web/lobby-list.js): each listed type links to its own page.
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';

// The SDK loads its libraries from npm when there is no document; then the module reads the
// page it runs in when it loads: an index page with no room section.
await import('../../web/sdk/kasagi.js');
const page = new URL('http://demo.test/index.html?name=ann&url=ws%3A%2F%2Fnode%2Fws&extra=1');
const stored = new Map();
Object.assign(globalThis, {
  document: { getElementById: () => null },
  window: {},
  location: { href: page.href, search: page.search, protocol: page.protocol, host: page.host },
  sessionStorage: { getItem: (k) => stored.get(k) ?? null, setItem: (k, v) => stored.set(k, v) },
  localStorage: { getItem: () => null, setItem: () => {} },
});
const { PAGES, roomLink } = await import('../../web/lobby-list.js');
const WEB = new URL('../../web/', import.meta.url);

test('every page the room list links to exists under web/', () => {
  for (const [type, path] of Object.entries(PAGES)) {
    assert.ok(existsSync(fileURLToPath(new URL(path, WEB))), `${type}: web/${path}`);
  }
});

test('a cards room links to the cards page with its room id and the connection options', () => {
  assert.equal(PAGES.cards, 'examples/cards.html');
  const link = new URL(roomLink('cards', 'cards_1f2e'));
  assert.equal(link.origin + link.pathname, 'http://demo.test/examples/cards.html');
  assert.deepEqual(Object.fromEntries(link.searchParams), { url: 'ws://node/ws', name: 'ann', room: 'cards_1f2e' });
});

test('a type with no page of its own is listed without a link', () => {
  assert.equal(roomLink('quad', 'q1'), null);
});
