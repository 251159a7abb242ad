// The admin monitor: live summaries of every room-service process (kasagi.admin.summary, about
// once a second), a room inspector and the admin actions (docs/monitor.md). Nothing polls: the
// page redraws when a summary arrives, and re-reads the inspected room when its seq moved.

import { vendor } from '../sdk/vendor.js';

const REALM = 'kasagi';
const SUMMARY = 'kasagi.admin.summary';
const CREDENTIALS_KEY = 'kasagi.monitor.credentials';
/** A process whose summary is older than this (ms) is shown as silent. */
const STALE_MS = 3500;

const $ = (id) => document.getElementById(id);
const state = {
  ready: false,
  status: 'signed out',
  /** process id -> {summary, receivedAt} */
  processes: new Map(),
  /** {process, room} of the room in the inspector, and its last reply */
  selected: null,
  inspected: null,
  inspecting: false,
  openPaths: new Set(['$', '$.members']),
  session: null,
  connection: null,
  error: '',
};
window.kasagiMonitor = state;

function setStatus(status, text = status) {
  state.status = status;
  const pill = $('status');
  pill.textContent = text;
  pill.className = `pill ${status}`;
}

function cell(text, className) {
  const td = document.createElement('td');
  td.textContent = text ?? '-';
  if (className) td.className = className;
  return td;
}

function row(...cells) {
  const tr = document.createElement('tr');
  tr.append(...cells);
  return tr;
}

function duration(seconds) {
  if (seconds < 90) return `${Math.round(seconds)} s`;
  if (seconds < 5400) return `${Math.round(seconds / 60)} min`;
  return `${(seconds / 3600).toFixed(1)} h`;
}

function wampError(err) {
  if (err && err.error) return `${err.error}${err.args && err.args[0] ? `: ${err.args[0]}` : ''}`;
  return String(err && err.message ? err.message : err);
}

// -- drawing -----------------------------------------------------------------------------------
function allRooms() {
  const rooms = [];
  for (const { summary } of state.processes.values()) rooms.push(...summary.rooms);
  return rooms;
}

function drawProcesses(now) {
  const body = $('processes').tBodies[0];
  const rows = [...state.processes.values()]
    .sort((a, b) => a.summary.process.localeCompare(b.summary.process))
    .map(({ summary, receivedAt }) => {
      const silent = now - receivedAt > STALE_MS;
      const health = silent ? 'silent' : summary.health;
      const tr = row(
        cell(summary.process),
        cell(summary.kind),
        cell(health, silent ? 'stale' : `health-${summary.health}`),
        cell(String(summary.links)),
        cell(summary.store),
        cell(String(summary.rooms_total)),
        cell(String(summary.online_total)),
        cell(duration(summary.uptime_s)),
        cell(`${Math.round((now - receivedAt) / 1000)} s ago`, silent ? 'stale' : ''),
      );
      tr.dataset.process = summary.process;
      return tr;
    });
  body.replaceChildren(...rows);
}

function drawRooms() {
  const filter = $('filter').value.trim();
  const rooms = allRooms().filter((r) => !filter || r.room.includes(filter) || r.type.includes(filter));
  let total = 0;
  for (const { summary } of state.processes.values()) total += summary.rooms_total;
  $('rooms-count').textContent = `${total} in all${rooms.length < total ? `, ${rooms.length} shown (the busiest of each process)` : ''}`;
  const body = $('rooms').tBodies[0];
  body.replaceChildren(
    ...rooms.map((r) => {
      const write = r.store_write ? `${r.store_write.avg_ms} / ${r.store_write.max_ms}` : '-';
      const tr = row(
        cell(r.private ? `${r.room} (private)` : r.room),
        cell(r.type),
        cell(String(r.online)),
        cell(String(r.members)),
        cell(String(r.actions_per_s)),
        cell(String(r.events_per_s)),
        cell(String(r.seq)),
        cell(String(r.epoch)),
        cell(r.owner),
        cell(r.phase, `phase-${r.phase}`),
        cell(write),
      );
      tr.dataset.room = r.room;
      tr.dataset.process = r.owner;
      if (state.selected && state.selected.room === r.room) tr.className = 'selected';
      tr.addEventListener('click', () => select(r.owner, r.room));
      return tr;
    }),
  );
}

function drawLagging() {
  const body = $('lagging').tBodies[0];
  const rows = [];
  for (const { summary } of state.processes.values()) {
    for (const m of summary.lagging) {
      rows.push(row(cell(m.room), cell(m.member), cell(`${m.joins} in ${Math.round(m.window_s)} s`), cell(summary.process)));
    }
  }
  if (!rows.length) rows.push(row(Object.assign(cell('none'), { colSpan: 4, className: 'hint' })));
  body.replaceChildren(...rows);
}

function draw() {
  const now = Date.now();
  drawProcesses(now);
  drawRooms();
  drawLagging();
  $('updated').textContent = `updated ${new Date(now).toLocaleTimeString()}`;
}

// -- the state tree ----------------------------------------------------------------------------
function tree(value, path, key) {
  const label = document.createElement('span');
  if (key !== undefined) {
    const k = document.createElement('span');
    k.className = 'key';
    k.textContent = `${key}: `;
    label.append(k);
  }
  if (value !== null && typeof value === 'object') {
    const entries = Array.isArray(value) ? value.map((v, i) => [String(i), v]) : Object.entries(value);
    const details = document.createElement('details');
    details.dataset.path = path;
    details.open = state.openPaths.has(path);
    details.addEventListener('toggle', () => {
      if (details.open) state.openPaths.add(path);
      else state.openPaths.delete(path);
    });
    const summary = document.createElement('summary');
    const count = document.createElement('span');
    count.className = 'count';
    count.textContent = Array.isArray(value) ? `[${entries.length}]` : `{${entries.length}}`;
    summary.append(label, count);
    details.append(summary, ...entries.map(([k, v]) => tree(v, `${path}.${k}`, k)));
    return details;
  }
  const leaf = document.createElement('div');
  leaf.className = 'leaf';
  leaf.append(label, document.createTextNode(JSON.stringify(value)));
  return leaf;
}

function drawInspector() {
  const view = state.inspected;
  $('inspector').hidden = !state.selected;
  if (!state.selected) return;
  $('inspect-room').textContent = state.selected.room;
  if (!view) return;
  $('inspect-position').textContent = `seq ${view.seq}, epoch ${view.epoch}, ${view.phase}, owner ${view.process}${view.private ? `, private: ${view.private.join(', ')}` : ''}`;
  $('state-size').textContent = `${view.state_bytes} bytes${view.state_truncated ? ' (too big: top-level keys only)' : ''}`;
  $('state').replaceChildren(tree(view.state, '$'));
  const members = $('inspect-members').tBodies[0];
  members.replaceChildren(
    ...view.members.map((m) => {
      const p = m.presence;
      const presence = !p ? 'no presence' : p.online ? 'online' : `offline until ${new Date(p.until).toLocaleTimeString()}`;
      const remove = document.createElement('button');
      remove.type = 'button';
      remove.textContent = 'remove';
      remove.dataset.member = m.member;
      remove.addEventListener('click', () => removeMember(m.member));
      const action = document.createElement('td');
      action.append(remove);
      const tr = row(cell(m.member), cell(presence, p && p.online ? 'online' : 'offline'), cell(String(m.sessions)), action);
      tr.dataset.member = m.member;
      return tr;
    }),
  );
  $('events').replaceChildren(
    ...view.events.map((e) => {
      const li = document.createElement('li');
      li.value = e.seq;
      li.textContent = JSON.stringify(e.ops) + (e.acks ? ` acks ${JSON.stringify(e.acks)}` : '');
      if (e.notices) {
        const n = document.createElement('span');
        n.className = 'notice';
        n.textContent = ` ${e.notices.map((x) => (x.kind === 'removed' ? `removed ${x.member}` : `closed${x.reason ? `: ${x.reason}` : ''}`)).join(', ')}`;
        li.append(n);
      }
      return li;
    }),
  );
}

// -- the inspector and admin actions -----------------------------------------------------------
const procedure = (process, verb) => `kasagi.admin.${process}.${verb}`;

async function inspect() {
  const target = state.selected;
  if (!target || !state.session || state.inspecting) return;
  state.inspecting = true;
  try {
    const view = await state.session.call(procedure(target.process, 'inspect'), [target.room]);
    if (state.selected === target) {
      state.inspected = view;
      if ($('inspect-error').textContent.startsWith('inspect failed')) $('inspect-error').textContent = '';
    }
  } catch (err) {
    if (state.selected === target) $('inspect-error').textContent = `inspect failed: ${wampError(err)}`;
  } finally {
    state.inspecting = false;
  }
  drawInspector();
}

function select(process, room) {
  state.selected = { process, room };
  state.inspected = null;
  $('close-room').textContent = 'close room';
  drawRooms();
  drawInspector();
  inspect();
}

async function removeMember(member) {
  const target = state.selected;
  if (!target) return;
  try {
    const { seq } = await state.session.call(procedure(target.process, 'remove'), [target.room, member]);
    $('inspect-error').textContent = `${member} removed (seq ${seq})`;
  } catch (err) {
    $('inspect-error').textContent = `remove failed: ${wampError(err)}`;
  }
  inspect();
}

async function closeRoom() {
  const target = state.selected;
  const button = $('close-room');
  if (!target) return;
  if (button.textContent !== 'confirm close') {
    button.textContent = 'confirm close';
    return;
  }
  button.textContent = 'close room';
  try {
    const { seq } = await state.session.call(procedure(target.process, 'close'), [target.room, $('close-reason').value]);
    $('inspect-error').textContent = `room closed at seq ${seq}`;
  } catch (err) {
    $('inspect-error').textContent = `close failed: ${wampError(err)}`;
  }
}

// -- the connection ----------------------------------------------------------------------------
function onSummary(args) {
  const summary = args[0];
  if (!summary || typeof summary.process !== 'string') return;
  state.processes.set(summary.process, { summary, receivedAt: Date.now() });
  draw();
  const target = state.selected;
  if (target && summary.process === target.process) {
    const room = summary.rooms.find((r) => r.room === target.room);
    if (room && (!state.inspected || room.seq !== state.inspected.seq || room.epoch !== state.inspected.epoch)) inspect();
  }
}

function refuse(message) {
  setStatus('refused', 'refused');
  $('login-error').textContent = message;
  $('login').hidden = false;
  $('board').hidden = true;
  sessionStorage.removeItem(CREDENTIALS_KEY);
}

async function signIn(name, ticket) {
  const autobahn = await vendor('autobahn', 'autobahn.min.js', 'autobahn');
  const scheme = location.protocol === 'https:' ? 'wss' : 'ws';
  setStatus('connecting');
  $('login-error').textContent = '';
  if (state.connection) state.connection.close();
  const connection = new autobahn.Connection({
    url: `${scheme}://${location.host}/ws`,
    realm: REALM,
    authmethods: ['ticket'],
    authid: name,
    onchallenge: () => ticket,
    max_retries: -1,
    max_retry_delay: 5,
  });
  state.connection = connection;
  connection.onopen = async (session, details) => {
    state.session = session;
    try {
      await session.subscribe(SUMMARY, onSummary);
    } catch (err) {
      state.session = null;
      connection.close();
      refuse(`refused: this ticket is not an admin's (${wampError(err)}); mint one with kasagi token NAME --role admin`);
      return;
    }
    sessionStorage.setItem(CREDENTIALS_KEY, JSON.stringify({ name, ticket }));
    setStatus('open', 'live');
    $('who').textContent = `${details.authid} (${details.authrole})`;
    $('login').hidden = true;
    $('board').hidden = false;
    state.ready = true;
    if (state.selected) inspect();
  };
  connection.onclose = (reason, details) => {
    state.session = null;
    const why = (details && details.reason) || reason;
    if (String(why).includes('not_authorized') || String(why).includes('authentication')) {
      refuse(`refused: ${details && details.message ? details.message : why}`);
      return true; // no retry with a refused ticket
    }
    if (state.status === 'refused') return true;
    setStatus('connecting', reason === 'closed' ? 'closed' : 'reconnecting');
    return false;
  };
  connection.open();
}

$('login').addEventListener('submit', (ev) => {
  ev.preventDefault();
  signIn($('login-name').value.trim(), $('login-ticket').value.trim());
});
$('filter').addEventListener('input', drawRooms);
$('close-room').addEventListener('click', closeRoom);
$('inspect-hide').addEventListener('click', () => {
  state.selected = null;
  state.inspected = null;
  drawRooms();
  drawInspector();
});

const saved = sessionStorage.getItem(CREDENTIALS_KEY);
if (saved) {
  try {
    const { name, ticket } = JSON.parse(saved);
    $('login-name').value = name;
    signIn(name, ticket);
  } catch {
    sessionStorage.removeItem(CREDENTIALS_KEY);
  }
}
