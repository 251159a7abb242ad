// The shared-doc demo: a form whose fields are paths of a `doc` room (set/del actions).
import {
  bindInvite,
  bindNameForm,
  bindRoomForm,
  pageClient,
  pageOptions,
  renderMembers,
  roomRefusal,
  showEnded,
  showFailed,
  showPresent,
  showRoomRefusal,
  showStatus,
  syncTracker,
} from './demo-common.js';

const $ = (id) => document.getElementById(id);
const opts = pageOptions('notes');
const demo = { errors: [] };
window.kasagiDemo = demo;

// The server checks every edit against this (draft 2020-12); refusals show up below the form.
const SCHEMA = {
  type: 'object',
  properties: {
    title: { type: 'string', maxLength: 200 },
    notes: { type: 'string', maxLength: 10000 },
    stage: { enum: ['idea', 'doing', 'done'] },
    items: {
      type: 'array',
      maxItems: 100,
      items: { type: 'object', required: ['text', 'done'], properties: { text: { type: 'string', maxLength: 200 }, done: { type: 'boolean' } } },
    },
  },
};

function report(err) {
  demo.errors.push(err.error);
  $('error').textContent = err.message;
}

function edit(room, action, args) {
  $('error').textContent = '';
  return room.act(action, args).catch(report);
}

/** Resolves once the local copy has reached `seq` (or after 5 s). */
function reached(room, seq) {
  return new Promise((resolve) => {
    if (room.seq >= seq) return resolve();
    const timer = setTimeout(done, 5000);
    const off = room.on('change', () => room.seq >= seq && done());
    function done() {
      clearTimeout(timer);
      off();
      resolve();
    }
  });
}

function renderItems(room) {
  const items = Array.isArray(room.state.items) ? room.state.items : [];
  $('items').replaceChildren(
    ...items.map((item, i) => {
      const li = document.createElement('li');
      const box = document.createElement('input');
      box.type = 'checkbox';
      box.checked = Boolean(item.done);
      box.addEventListener('change', () => edit(room, 'set', { path: ['items', i, 'done'], value: box.checked }));
      const text = document.createElement('span');
      text.textContent = item.text;
      text.className = item.done ? 'done' : '';
      const del = document.createElement('button');
      del.type = 'button';
      del.textContent = 'remove';
      // A list delete: the items after it shift down, in every tab.
      del.addEventListener('click', () => edit(room, 'del', { path: ['items', i] }));
      li.append(box, text, del);
      return li;
    }),
  );
}

function renderPresence(room) {
  showPresent($('present'), room.state.members || {});
  renderMembers($('members'), room.state.members, opts.authid, room.client.status);
}

function render(room) {
  $('seq').textContent = String(room.seq);
  renderPresence(room);
  for (const field of document.querySelectorAll('[data-path]')) {
    const value = room.state[field.dataset.path];
    // Leave the field being typed in alone; it is sent as the user types.
    if (document.activeElement !== field) field.value = typeof value === 'string' ? value : field.tagName === 'SELECT' ? 'idea' : '';
  }
  renderItems(room);
}

function bindFields(room) {
  for (const field of document.querySelectorAll('[data-path]')) {
    let timer = 0;
    const send = () => edit(room, 'set', { path: [field.dataset.path], value: field.value });
    field.addEventListener('input', () => {
      clearTimeout(timer);
      timer = setTimeout(send, 120);
    });
    field.addEventListener('change', () => {
      clearTimeout(timer);
      send();
    });
  }
  // Appends go one after another: each waits until the previous one is in the local copy,
  // so its index (the list's length) is not stale.
  let queue = Promise.resolve();
  const add = () => {
    const text = $('new-item').value.trim();
    if (!text) return;
    $('new-item').value = '';
    queue = queue.then(async () => {
      const items = Array.isArray(room.state.items) ? room.state.items : null;
      const ack = items === null
        ? await edit(room, 'set', { path: ['items'], value: [{ text, done: false }] })
        : await edit(room, 'set', { path: ['items', items.length], value: { text, done: false } });
      if (ack) await reached(room, ack.seq);
    });
  };
  $('add').addEventListener('click', add);
  $('new-item').addEventListener('keydown', (e) => {
    if (e.key === 'Enter') {
      e.preventDefault();
      add();
    }
  });
}

async function main() {
  $('room').textContent = opts.room;
  $('me').textContent = opts.authid;
  bindNameForm($('name-form'), opts.authid);
  bindRoomForm($('room-form'), opts.room, (refusal) => showRoomRefusal($('room-form'), refusal));
  bindInvite($('invite'), opts.room, demo);
  const client = pageClient(opts);
  let room = null;
  showStatus($('status'), client, () => room && renderPresence(room));
  demo.client = client;
  await client.start();
  room = await client.join(opts.room, { type: 'doc', options: { schema: SCHEMA } });
  demo.room = room;
  showEnded($('status'), room, demo);
  syncTracker($('sync'), room, client);
  room.on('change', () => render(room));
  render(room);
  bindFields(room);
  demo.ready = true;
}

main().catch((err) => {
  showFailed($('status'));
  const refusal = roomRefusal(err, opts.room);
  if (refusal) showRoomRefusal($('room-form'), refusal, $('status'));
  else report({ error: err.error || 'error', message: err.message });
  if (refusal) demo.errors.push(err.error);
  demo.failed = true;
});
