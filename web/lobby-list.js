// The open rooms of every room type the node serves, live: one block per type in
// <section id="rooms"> with each listed room's metadata and seats, a "join" link per room and a
// "play" button per type (matchmaking, then the matched room's page). The section has its own
// connection, so the rest of the page keeps working when the lobby does not answer.
import * as kasagi from './sdk/kasagi.js';
import { pageClient, pageOptions } from './demo-common.js';

/** The demo page of each room type, relative to this page (other types are listed without one). */
export const PAGES = {
  arena: 'index.html',
  doc: 'doc.html',
  tictactoe: 'examples/tictactoe.html',
  chase: 'examples/chase.html',
  cards: 'examples/cards.html',
};
/** The order of the blocks: the demo types first, then any other type by name. */
const ORDER = Object.keys(PAGES);
/** No room type is named this (a type name starts with a letter), so a list of it is refused. */
const NO_TYPE = '?';
/** Pages of one type read at most (each up to the node's lobby_page rooms). */
const MAX_PAGES = 20;
/** The query options a page link carries over (the connection and the member). */
const CARRIED = ['url', 'serializer', 'ticket', 'name'];

const section = document.getElementById('rooms');
const holder = section ? section.querySelector('.lobby-types') || section : null;
const opts = pageOptions('arena');

// What the section exposes for the console (and for the browser test).
const lobby = { ready: false, types: [], listed: [], rooms: {}, changes: 0, errors: [] };
window.kasagiLobby = lobby;

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (key === 'class') node.className = value;
    else if (key.startsWith('data-')) node.setAttribute(key, value);
    else node[key] = value;
  }
  node.append(...children);
  return node;
}

/** The link to `room`'s page (carrying this page's connection options), or null. */
export function roomLink(type, room, base = location.href, search = location.search) {
  const page = PAGES[type];
  if (!page) return null;
  const url = new URL(page, base);
  const params = new URLSearchParams(search);
  for (const key of CARRIED) if (params.get(key)) url.searchParams.set(key, params.get(key));
  url.searchParams.set('room', room);
  return url.href;
}

/** Which room types the node serves, and which of them are listed: what it says when asked for none. */
export async function servedTypes(client) {
  try {
    await client.list(NO_TYPE);
  } catch (err) {
    const details = err.details || {};
    if (err.error === kasagi.ErrorURI.INVALID_ARGUMENT && details.field === 'type') {
      const types = Array.isArray(details.types) ? details.types : String(details.expected || '').replace(/^one of /, '').split(', ').filter(Boolean);
      const listed = Array.isArray(details.listed) ? details.listed : types;
      return { types, listed };
    }
    throw err;
  }
  throw new Error('the node listed rooms of a type no room type can be named');
}

/** Every listed room of `type` (following `next`), by room id. */
async function listAll(client, type) {
  const rooms = new Map();
  let cursor = null;
  for (let n = 0; n < MAX_PAGES; n += 1) {
    const page = await client.list(type, {}, cursor);
    for (const listed of page.rooms) rooms.set(listed.room, listed);
    cursor = page.next;
    if (!cursor) break;
  }
  return rooms;
}

function sortTypes(types) {
  const rank = (t) => (ORDER.includes(t) ? ORDER.indexOf(t) : ORDER.length);
  return [...types].sort((a, b) => rank(a) - rank(b) || (a < b ? -1 : a > b ? 1 : 0));
}

function describeError(err) {
  return `${err.error || 'error'}: ${err.message || String(err)}`;
}

/** One type's block: its rooms (kept in step with the lobby topic) and its play button. */
class TypeBlock {
  constructor(client, type, listed) {
    this.client = client;
    this.type = type;
    this.listed = listed;
    this.rooms = new Map();
    this.buffer = null; // changes that arrive while a list is being read
    this.list = el('ul', { class: 'lobby-rooms' });
    this.message = el('p', { class: 'lobby-message' });
    this.error = el('p', { class: 'error' });
    const title = el('h3', {}, type);
    const head = el('div', { class: 'lobby-head' }, title);
    if (listed) {
      this.play = el('button', { type: 'button', class: 'play', textContent: 'play' });
      this.play.addEventListener('click', () => this.match());
      head.append(this.play);
    }
    this.node = el('div', { class: 'lobby-type', 'data-type': type }, head, this.message, this.list, this.error);
    lobby.rooms[type] = [];
  }

  async start() {
    if (!this.listed) {
      this.message.textContent = 'Rooms of this type are not listed; open one by name on its page.';
      return;
    }
    this.message.textContent = 'loading…';
    // Follow the topic first, then read the list: no change falls between the two.
    await this.client.watch(this.type, (change) => this.changed(change), () => this.reload());
    await this.reload();
  }

  async reload() {
    this.buffer = [];
    try {
      const rooms = await listAll(this.client, this.type);
      const missed = this.buffer;
      this.buffer = null;
      this.rooms = rooms;
      for (const change of missed) this.apply(change);
      this.error.textContent = '';
    } catch (err) {
      this.buffer = null;
      this.error.textContent = `The rooms could not be listed (${describeError(err)}).`;
      lobby.errors.push(err.error || String(err));
    }
    this.render();
  }

  changed(change) {
    lobby.changes += 1;
    if (this.buffer) this.buffer.push(change);
    else {
      this.apply(change);
      this.render();
    }
  }

  apply(change) {
    if (change.type !== this.type || typeof change.room !== 'string') return;
    if (change.gone) this.rooms.delete(change.room);
    else this.rooms.set(change.room, change);
  }

  async match() {
    this.play.disabled = true;
    this.error.textContent = '';
    try {
      const seat = await this.client.match(this.type, {});
      const link = roomLink(this.type, seat.room);
      if (!link) throw new Error(`no page shows rooms of type ${this.type}; matched room ${seat.room}`);
      lobby.matched = seat;
      location.assign(link);
    } catch (err) {
      this.play.disabled = false;
      this.error.textContent = `No seat was found (${describeError(err)}).`;
      lobby.errors.push(err.error || String(err));
    }
  }

  render() {
    const rooms = [...this.rooms.values()].sort((a, b) => (a.room < b.room ? -1 : 1));
    lobby.rooms[this.type] = rooms;
    this.message.textContent = rooms.length ? '' : 'No open rooms yet: press play to start one.';
    this.list.replaceChildren(...rooms.map((listed) => this.roomItem(listed)));
  }

  roomItem(listed) {
    const full = listed.members >= listed.max_members;
    const meta = Object.keys(listed.meta || {})
      .sort()
      .map((key) => el('span', { class: 'lobby-meta', 'data-key': key }, `${key} ${JSON.stringify(listed.meta[key])}`));
    const seats = el('span', { class: 'lobby-seats', title: 'seats taken / seats' }, `${listed.members}/${listed.max_members}${full ? ' full' : ''}`);
    const link = roomLink(this.type, listed.room);
    const join = link ? el('a', { href: link, class: 'join' }, 'join') : el('span');
    const item = el('li', { 'data-room': listed.room, 'data-full': String(full) }, el('code', {}, listed.room), el('span', { class: 'lobby-metas' }, ...meta), seats, join);
    return item;
  }
}

async function main() {
  const status = el('p', { class: 'lobby-message' }, 'Asking the node for its rooms…');
  holder.append(status);
  const client = pageClient(opts);
  lobby.client = client;
  await client.start();
  const { types, listed } = await servedTypes(client);
  lobby.types = sortTypes(types);
  lobby.listed = listed;
  const blocks = lobby.types.map((type) => new TypeBlock(client, type, listed.includes(type)));
  status.remove();
  holder.append(...blocks.map((b) => b.node));
  await Promise.all(
    blocks.map((b) =>
      b.start().catch((err) => {
        b.error.textContent = `The rooms could not be followed (${describeError(err)}).`;
        lobby.errors.push(err.error || String(err));
      }),
    ),
  );
  lobby.ready = true;
}

if (section) {
  main().catch((err) => {
    holder.querySelectorAll('.lobby-message').forEach((n) => n.remove());
    holder.append(el('p', { class: 'error lobby-failed' }, `The open rooms can't be shown: ${describeError(err)}. The rest of this page still works.`));
    lobby.errors.push(err.error || String(err));
    lobby.failed = true;
    lobby.ready = true;
  });
}
