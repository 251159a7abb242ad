// Chase on the room type `chase` (examples/chase/rooms.py): the server loop moves the NPCs at
// 20 Hz; this page draws them between the positions it received, a little in the past, so the
// steps look like motion (snapshot interpolation).
import {
  colourOf,
  drawGrid,
  keysDirection,
  pageOptions,
  renderMembers,
  sendMove,
  showFailed,
  steerWithKeys,
} from '../demo-common.js';
import { joinExample } from './example-common.js';
import { Track } from './track.js';

const TYPE = 'chase';
const SPEC = 'examples.chase.rooms:Chase';
const WORLD = 1000;
const STEP = 10; // the room's speed limit per move
const NPC_RADIUS = 12;
const INTERP_DELAY = 100; // ms behind the newest position: two server ticks
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
  drawGrid(ctx, canvas, WORLD);
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

function steer(room) {
  const held = new Set();
  const direction = () => {
    const [dx, dy] = keysDirection(held);
    return [Math.sign(dx) * STEP, Math.sign(dy) * STEP];
  };
  steerWithKeys(held, direction, (dx, dy) => sendMove(room, demo, $('error'), dx, dy));
}

async function main() {
  const room = await joinExample(opts, demo, TYPE, SPEC);
  if (!room) return;
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
  showFailed($('status'));
  demo.errors.push(err.error || String(err));
  $('error').textContent = `${err.error || 'error'}: ${err.message}`;
});
