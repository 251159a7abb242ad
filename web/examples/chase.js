// Chase on the room type `chase` (examples/chase/rooms.py): the server loop moves the NPCs at
// 20 Hz; this page draws them between the positions it received, a little in the past, so the
// steps look like motion (snapshot interpolation).
import * as kasagi from '../sdk/kasagi.js';
import { colourOf, pageOptions, renderMembers, showStatus } from '../demo-common.js';
import { showNotServed, typeNotServed } from './example-common.js';
import { Track } from './track.js';

const TYPE = 'chase';
const SPEC = 'examples.chase.rooms:Chase';
const WORLD = 1000;
const STEP = 10; // the room's speed limit per move
const NPC_RADIUS = 12;
const INTERP_DELAY = 100; // ms behind the newest position: two server ticks
const KEYS = {
  ArrowLeft: [-1, 0], ArrowRight: [1, 0], ArrowUp: [0, -1], ArrowDown: [0, 1],
  a: [-1, 0], d: [1, 0], w: [0, -1], s: [0, 1], A: [-1, 0], D: [1, 0], W: [0, -1], S: [0, 1],
};
const $ = (id) => document.getElementById(id);
const canvas = $('world');
const ctx = canvas.getContext('2d');
const opts = pageOptions('chase');

// What the page exposes for the console (and the browser test).
const demo = { errors: [], unserved: false, npcTrail: [], frames: 0, between: 0, sent: [] };
window.kasagiDemo = demo;

const npcTracks = [];
const playerTracks = new Map();

function record(room) {
  const now = performance.now();
  const npcs = Array.isArray(room.state.npcs) ? room.state.npcs : [];
  npcs.forEach((npc, i) => {
    if (!npcTracks[i]) npcTracks[i] = new Track();
    npcTracks[i].push(now, npc.x, npc.y);
  });
  npcTracks.length = npcs.length;
  if (npcs.length) {
    demo.npcTrail.push({ seq: room.seq, x: npcs[0].x, y: npcs[0].y });
    if (demo.npcTrail.length > 200) demo.npcTrail.shift();
  }
  const players = room.state.players || {};
  for (const id of playerTracks.keys()) if (!(id in players)) playerTracks.delete(id);
  for (const [id, p] of Object.entries(players)) {
    if (!playerTracks.has(id)) playerTracks.set(id, new Track());
    playerTracks.get(id).push(now, p.x, p.y);
  }
}

function dot(x, y, r, fill) {
  ctx.fillStyle = fill;
  ctx.beginPath();
  ctx.arc(x, y, r, 0, Math.PI * 2);
  ctx.fill();
}

function draw(room) {
  const scale = canvas.width / WORLD;
  const smooth = $('smooth').checked;
  const t = performance.now() - INTERP_DELAY;
  ctx.clearRect(0, 0, canvas.width, canvas.height);
  ctx.strokeStyle = '#1b2230';
  for (let g = 100; g < WORLD; g += 100) {
    ctx.beginPath(); ctx.moveTo(g * scale, 0); ctx.lineTo(g * scale, canvas.height); ctx.stroke();
    ctx.beginPath(); ctx.moveTo(0, g * scale); ctx.lineTo(canvas.width, g * scale); ctx.stroke();
  }
  const members = room.state.members || {};
  const players = room.state.players || {};
  ctx.font = '12px system-ui, sans-serif';
  for (const [id, p] of Object.entries(players)) {
    // Your own dot is drawn where the room has it now; the others a little in the past, smoothly.
    const at = id === opts.authid || !smooth ? p : playerTracks.get(id)?.at(t) ?? p;
    const online = members[id] ? members[id].online : false;
    ctx.globalAlpha = online ? 1 : 0.35;
    dot(at.x * scale, at.y * scale, id === opts.authid ? 9 : 7, colourOf(id));
    if (id === opts.authid) {
      ctx.strokeStyle = '#fff'; ctx.lineWidth = 2; ctx.stroke(); ctx.lineWidth = 1;
    }
    ctx.fillStyle = '#e6e9ef';
    ctx.fillText(`${id} (${p.caught})`, at.x * scale + 12, at.y * scale + 4);
  }
  ctx.globalAlpha = 1;
  const npcs = Array.isArray(room.state.npcs) ? room.state.npcs : [];
  npcs.forEach((npc, i) => {
    const at = smooth ? npcTracks[i]?.at(t) ?? npc : npc;
    if (at.between) demo.between += 1;
    dot(at.x * scale, at.y * scale, NPC_RADIUS * scale + 4, '#ef5350');
    ctx.fillStyle = '#ffcdd2';
    ctx.fillText(String(npc.score), at.x * scale - 4, at.y * scale - 12);
  });
  demo.frames += 1;
}

function showPanel(room) {
  const me = (room.state.players || {})[opts.authid];
  $('caught').textContent = me ? String(me.caught) : '-';
  $('catches').textContent = String(room.state.catches ?? '-');
  $('seq').textContent = String(room.seq);
  renderMembers($('members'), room.state.members, opts.authid);
}

function animate(room) {
  const frame = () => {
    draw(room);
    requestAnimationFrame(frame);
  };
  requestAnimationFrame(frame);
}

function countEvents(room) {
  let events = 0;
  room.on('change', (event) => {
    if (event) events += 1;
  });
  setInterval(() => {
    $('rate').textContent = String(events);
    events = 0;
  }, 1000);
}

function move(room, dx, dy) {
  const t = Date.now();
  demo.sent.push(t);
  room.act('move', { dx, dy, t }).catch((err) => {
    demo.errors.push(err.error);
    $('error').textContent = err.message;
  });
}

function steer(room) {
  const held = new Set();
  const direction = () => {
    let dx = 0;
    let dy = 0;
    for (const key of held) { dx += KEYS[key][0]; dy += KEYS[key][1]; }
    return [Math.sign(dx) * STEP, Math.sign(dy) * STEP];
  };
  window.addEventListener('keydown', (e) => {
    if (!(e.key in KEYS)) return;
    e.preventDefault();
    if (e.repeat || held.has(e.key)) return;
    held.add(e.key);
    const [dx, dy] = direction();
    if (dx || dy) move(room, dx, dy); // at once on the press, then every 50 ms while held
  });
  window.addEventListener('keyup', (e) => held.delete(e.key));
  window.addEventListener('blur', () => held.clear());
  setInterval(() => {
    const [dx, dy] = direction();
    if (dx || dy) move(room, dx, dy);
  }, 50);
}

async function main() {
  $('room').textContent = opts.room;
  $('me').textContent = opts.authid;
  const client = new kasagi.Client({ url: opts.url, authid: opts.authid, ticket: opts.ticket, serializer: opts.serializer });
  showStatus($('status'), client);
  demo.client = client;
  await client.start();
  let room;
  try {
    room = await client.join(opts.room, { type: TYPE });
  } catch (err) {
    if (!typeNotServed(err)) throw err;
    demo.unserved = true;
    showNotServed($('unserved'), TYPE, SPEC, err);
    client.close();
    return;
  }
  demo.room = room;
  room.on('change', () => {
    record(room);
    showPanel(room);
  });
  record(room);
  showPanel(room);
  countEvents(room);
  animate(room);
  steer(room);
  canvas.focus();
  demo.ready = true;
}

main().catch((err) => {
  $('status').textContent = 'failed';
  $('status').className = 'pill failed';
  demo.errors.push(err.error || String(err));
  $('error').textContent = `${err.error || 'error'}: ${err.message}`;
});
