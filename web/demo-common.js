// What the demo pages share: the member id (a name a person sets, or a random one per tab), the
// query options, the client, the connection status, the sync label, the invite link, the
// presence list, and steering a dot on a board (the arena and the chase example).

import { Client, DEFAULTS as kasagiDefaults } from './sdk/kasagi.js';
import { ROOM_ID } from './sdk/wire.js';

/** A room id (docs/protocol.md, Rooms; kasagi.wire.ROOM_ID on the server). */
export { ROOM_ID };

const AUTHID_KEY = 'kasagi.authid'; // sessionStorage: this tab's member id
const NAME_KEY = 'kasagi.name'; // localStorage: the name a person chose, for their next visits
/** A member id (docs/protocol.md, Authentication). */
export const AUTHID = /^[A-Za-z0-9_.@-]{1,64}$/;
/** What a member id may be, in words. */
export const AUTHID_RULE = 'a name is 1 to 64 letters, digits or _ . @ - (no spaces)';
/** What a room id may be, in words. */
export const ROOM_ID_RULE = 'a room name is 1 to 64 lowercase letters, digits or _ (no spaces, no capitals)';
/** The query options an invite link carries (the connection, never the member or its ticket). */
const INVITE_CARRIED = ['url', 'serializer'];

function stored(storage, key) {
  try {
    return storage.getItem(key);
  } catch {
    return null; // storage turned off: every tab is a new member
  }
}

function store(storage, key, value) {
  try {
    storage.setItem(key, value);
  } catch {
    // storage turned off: the name lasts as long as the page
  }
}

/** A random member id for a tab whose person has not chosen a name. */
export function randomName() {
  return `player_${Math.random().toString(36).slice(2, 7)}`;
}

/**
 * The page's options: ?room=&name=&serializer=&ticket=&url=. The member id is ?name=, else the
 * one this tab already has (a reload keeps it), else the name the person chose last time, else
 * a random one for this tab (so two fresh tabs are two players).
 */
export function pageOptions(defaultRoom) {
  const params = new URLSearchParams(location.search);
  const candidates = [params.get('name'), stored(sessionStorage, AUTHID_KEY), stored(localStorage, NAME_KEY)];
  const authid = candidates.find((name) => name && AUTHID.test(name)) || randomName();
  store(sessionStorage, AUTHID_KEY, authid);
  const scheme = location.protocol === 'https:' ? 'wss' : 'ws';
  return {
    url: params.get('url') || `${scheme}://${location.host}/ws`,
    authid,
    ticket: params.get('ticket') || undefined,
    serializer: params.get('serializer') || kasagiDefaults.serializer,
    room: params.get('room') || defaultRoom,
  };
}

/** Take `name` as this person's member id from now on (this tab and their next visits): reload as it. */
export function chooseName(name) {
  if (!AUTHID.test(name)) return false;
  store(localStorage, NAME_KEY, name);
  store(sessionStorage, AUTHID_KEY, name);
  const url = new URL(location.href);
  url.searchParams.delete('name');
  location.replace(url.href); // a member id is the login: a new one is a new connection
  return true;
}

/** The name form: shows the member id, states the rule, and sets a new name on submit. */
export function bindNameForm(form, current) {
  const input = form.querySelector('input');
  const message = form.querySelector('.name-message');
  input.value = current;
  input.pattern = AUTHID.source.slice(1, -1);
  input.title = AUTHID_RULE;
  const say = (text, bad) => {
    message.textContent = text;
    message.classList.toggle('error', bad);
  };
  say(`Your name in every room. Rule: ${AUTHID_RULE}.`, false);
  input.addEventListener('input', () => {
    const name = input.value.trim();
    if (name && !AUTHID.test(name)) say(`"${name}" cannot be a name: ${AUTHID_RULE}.`, true);
    else say(`Your name in every room. Rule: ${AUTHID_RULE}.`, false);
  });
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    const name = input.value.trim();
    if (name === current) return;
    if (!chooseName(name)) say(`"${name}" cannot be a name: ${AUTHID_RULE}.`, true);
  });
}

/** The link that opens `room` on this page, for someone else (no name, no ticket). */
export function inviteLink(room, href = location.href) {
  const here = new URL(href);
  const url = new URL(here.pathname, here.origin);
  for (const key of INVITE_CARRIED) if (here.searchParams.get(key)) url.searchParams.set(key, here.searchParams.get(key));
  url.searchParams.set('room', room);
  return url.href;
}

/** The invite button: copies the link (or, where the clipboard is refused, shows it to copy by hand). */
export function bindInvite(button, room, demo) {
  const link = inviteLink(room);
  demo.invite = link;
  const label = button.textContent;
  const shown = document.getElementById(button.dataset.shows);
  button.addEventListener('click', async () => {
    try {
      await navigator.clipboard.writeText(link);
      button.textContent = 'link copied';
      demo.inviteCopied = true;
    } catch {
      button.textContent = 'copy the link below';
      if (shown) {
        shown.hidden = false;
        shown.value = link;
        shown.select();
      }
    }
    setTimeout(() => (button.textContent = label), 2000);
  });
}

/**
 * Keep the status pill in step with the connection: "connecting", "connected", and after a
 * drop "reconnecting" (with when the next try is) until it is back. `onChange(status)` too.
 */
export function showStatus(el, client, onChange = () => {}) {
  let nextTry = null;
  const set = () => {
    const status = client.status;
    document.body.dataset.connection = status === 'open' ? 'open' : client.connects > 0 ? 'reconnecting' : status;
    onChange(status);
    if (el.dataset.ended) return; // the room ended: that is what the pill says from now on
    let text = status === 'open' ? 'connected' : status;
    let kind = status;
    if (status !== 'open' && status !== 'closed' && client.connects > 0) {
      kind = 'reconnecting';
      const wait = nextTry === null ? 0 : Math.max(0, Math.ceil((nextTry - Date.now()) / 1000));
      text = wait > 0 ? `reconnecting (next try in ${wait} s)` : 'reconnecting…';
    }
    el.textContent = text;
    el.className = `pill ${kind}`;
    el.title = status === 'open' ? `connected to ${client.url}` : `not connected to ${client.url}: your moves wait until it is back`;
  };
  set();
  client.on('status', set);
  client.on('reconnecting', (delay) => {
    nextTry = Date.now() + delay;
    set();
  });
  setInterval(() => client.status !== 'open' && set(), 1000); // the countdown
}

/** When an admin removes this member or closes the room, say so in the pill (and stop there). */
export function showEnded(el, room, demo) {
  room.on('ended', ({ kind, reason }) => {
    demo.ended = kind;
    el.textContent = kind === 'closed' ? `room closed${reason ? `: ${reason}` : ''}` : 'removed by an admin';
    el.className = 'pill closed';
    el.dataset.ended = kind;
  });
}

/**
 * Whether the local copy is current, in words: "in sync", "catching up" (back online but the
 * missed events are not in yet, or an event is waiting for one before it) or "waiting for the
 * connection". Call `update()` whenever something may have changed.
 */
export function syncTracker(el, room, client) {
  const joins = () => room.stats.catchups + room.stats.snapshots;
  let joinsWhileDown = null; // the joins made before the connection came back
  const update = () => {
    const open = client.status === 'open';
    if (!open) joinsWhileDown = joins();
    else if (joinsWhileDown !== null && joins() > joinsWhileDown) joinsWhileDown = null;
    let label = 'in sync';
    if (room.ended) label = 'stopped';
    else if (!open) label = 'waiting for the connection';
    else if (joinsWhileDown !== null || room.replica.buffered > 0) label = 'catching up';
    if (el.textContent !== label) el.textContent = label;
    el.dataset.sync = label.replace(/ /g, '-');
    el.title = `event ${room.seq} of this room`;
  };
  update();
  client.on('status', update);
  room.on('change', update);
  setInterval(update, 250); // a catch-up with nothing missed changes nothing else
  return update;
}

/** Show a presence count in `el`: "2", or "2 (1 away)"; data-present holds the count. */
export function showPresent(el, members = {}, ids = null) {
  const keys = ids ?? Object.keys(members);
  const here = keys.filter((id) => members[id] && members[id].online).length;
  const away = keys.length - here;
  el.textContent = away ? `${here} (${away} away)` : String(here);
  el.dataset.present = String(here);
  el.title = 'members with a live connection; a member who dropped keeps a seat for the grace period, shown greyed';
}

/** The words for a refused room name, with the rule and a name that would do. */
export function roomRefusal(err, room) {
  const details = (err && err.details) || {};
  if (details.field !== 'room') return null;
  const fixed = String(room).toLowerCase().replace(/[^a-z0-9_]+/g, '_').replace(/^_+|_+$/g, '').slice(0, 64) || 'room';
  return {
    text: `"${room}" cannot be a room name: ${ROOM_ID_RULE}. The server expects ${details.expected || `a room id matching ${ROOM_ID.source}`}.`,
    fixed,
  };
}

/** The room form: go to another room by name, refusing (with the rule) a name that cannot be one. */
export function bindRoomForm(form, current, onRefused) {
  const input = form.querySelector('input');
  input.value = current;
  input.title = ROOM_ID_RULE;
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    const room = input.value.trim();
    if (!ROOM_ID.test(room)) {
      onRefused(roomRefusal({ details: { field: 'room', expected: `a room id matching ${ROOM_ID.source}` } }, room));
      return;
    }
    const url = new URL(location.href);
    url.searchParams.set('room', room);
    location.assign(url.href);
  });
}

/**
 * Show a refused room name beside the room field of `form`: the rule, and a link to a name that
 * would do. `pill` (the status) says so too when the page could not open its room.
 */
export function showRoomRefusal(form, refusal, pill = null) {
  const el = form.querySelector('.room-message');
  const link = document.createElement('a');
  const url = new URL(location.href);
  url.searchParams.set('room', refusal.fixed);
  link.href = url.href;
  link.textContent = `open "${refusal.fixed}" instead`;
  el.replaceChildren(`${refusal.text} `, link);
  el.dataset.rule = 'room';
  form.querySelector('input').focus();
  if (pill) {
    pill.textContent = 'room name refused';
    pill.className = 'pill failed';
    form.querySelector('#invite').disabled = true;
  }
}

/** A stable colour for a member id. */
export function colourOf(id) {
  let h = 2166136261; // FNV-1a, then the golden angle spreads neighbours around the wheel
  for (const ch of id) h = Math.imul(h ^ ch.codePointAt(0), 16777619) >>> 0;
  return `hsl(${Math.round((h % 1000) * 137.508) % 360} 75% 62%)`;
}

/**
 * Fill a <ul class="members"> from state.members: present members first, those in their grace
 * period greyed as "away". `me` is this tab's member; `myStatus` (the connection's status) shows
 * on its row while this tab is not connected, where the room still says "online".
 */
export function renderMembers(ul, members = {}, me = null, myStatus = 'open') {
  ul.replaceChildren(
    ...Object.keys(members)
      .sort((a, b) => Number(Boolean(members[b].online)) - Number(Boolean(members[a].online)) || (a < b ? -1 : a > b ? 1 : 0))
      .map((id) => {
        const m = members[id];
        const li = document.createElement('li');
        li.dataset.member = id;
        li.dataset.online = String(Boolean(m.online));
        const dot = document.createElement('span');
        dot.className = 'dot';
        dot.style.background = colourOf(id);
        const name = document.createElement('span');
        name.className = 'name';
        name.textContent = id === me ? `${id} (you)` : id;
        const st = document.createElement('span');
        const mine = id === me && myStatus !== 'open';
        st.className = mine ? 'reconnecting' : m.online ? 'online' : 'offline';
        st.textContent = mine ? 'reconnecting' : m.online ? 'online' : 'away';
        if (!m.online) li.title = 'offline: the seat is kept for a grace period, then the member leaves';
        li.append(dot, name, st);
        return li;
      }),
  );
}


/** The page's client, connecting as the page's options say (`pageOptions`). */
export function pageClient(opts) {
  return new Client({ url: opts.url, authid: opts.authid, ticket: opts.ticket, serializer: opts.serializer });
}

/** Mark the status pill failed: the page could not start. */
export function showFailed(el) {
  el.textContent = 'failed';
  el.className = 'pill failed';
}

/** The keys that steer a dot, and the direction each one adds. */
export const MOVE_KEYS = {
  ArrowLeft: [-1, 0], ArrowRight: [1, 0], ArrowUp: [0, -1], ArrowDown: [0, 1],
  a: [-1, 0], d: [1, 0], w: [0, -1], s: [0, 1], A: [-1, 0], D: [1, 0], W: [0, -1], S: [0, 1],
};

/** The direction the held keys add up to, as [dx, dy] (each a sum of -1, 0 and 1). */
export function keysDirection(held) {
  let dx = 0;
  let dy = 0;
  for (const key of held) { dx += MOVE_KEYS[key][0]; dy += MOVE_KEYS[key][1]; }
  return [dx, dy];
}

/**
 * Steer with the arrow keys and WASD: `held` keeps the keys that are down, and `send(dx, dy)`
 * goes at once on a press, then every 50 ms while `direction()` says to move.
 */
export function steerWithKeys(held, direction, send) {
  const step = () => {
    const [dx, dy] = direction();
    if (dx || dy) send(dx, dy);
  };
  window.addEventListener('keydown', (e) => {
    if (!(e.key in MOVE_KEYS)) return;
    e.preventDefault();
    if (e.repeat || held.has(e.key)) return;
    held.add(e.key);
    step();
  });
  window.addEventListener('keyup', (e) => held.delete(e.key));
  window.addEventListener('blur', () => held.clear());
  setInterval(step, 50);
}

/**
 * Act `move` by (dx, dy) with the time of sending, kept in `demo.sent`; a refusal goes to
 * `demo.errors` and its message into `errorEl`.
 */
export function sendMove(room, demo, errorEl, dx, dy) {
  const t = Date.now();
  demo.sent.push(t);
  room.act('move', { dx, dy, t }).catch((err) => {
    demo.errors.push(err.error);
    errorEl.textContent = err.message;
  });
}

/** Clear the canvas and draw a line every 100 world units across a board `world` units wide. */
export function drawGrid(ctx, canvas, world) {
  const scale = canvas.width / world;
  ctx.clearRect(0, 0, canvas.width, canvas.height);
  ctx.strokeStyle = '#1b2230';
  for (let g = 100; g < world; g += 100) {
    ctx.beginPath(); ctx.moveTo(g * scale, 0); ctx.lineTo(g * scale, canvas.height); ctx.stroke();
    ctx.beginPath(); ctx.moveTo(0, g * scale); ctx.lineTo(canvas.width, g * scale); ctx.stroke();
  }
}
