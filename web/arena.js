// The arena demo: each tab is a player; arrow keys / WASD (or a finger held on the board) move it
// through room.act('move').
import * as kasagi from './sdk/kasagi.js';
import {
  bindInvite,
  bindNameForm,
  bindRoomForm,
  colourOf,
  pageOptions,
  renderMembers,
  roomRefusal,
  showEnded,
  showPresent,
  showRoomRefusal,
  showStatus,
  syncTracker,
} from './demo-common.js';

const WORLD = 1000;
const STEP = 10; // the room's speed limit per move
const KEYS = {
  ArrowLeft: [-1, 0], ArrowRight: [1, 0], ArrowUp: [0, -1], ArrowDown: [0, 1],
  a: [-1, 0], d: [1, 0], w: [0, -1], s: [0, 1], A: [-1, 0], D: [1, 0], W: [0, -1], S: [0, 1],
};
const $ = (id) => document.getElementById(id);
const canvas = $('world');
const ctx = canvas.getContext('2d');
const opts = pageOptions('arena');

// What the page exposes for people poking around in the console (and for the browser test).
const demo = { latencies: [], seen: {}, errors: [], sent: [] };
window.kasagiDemo = demo;

function draw(room) {
  const scale = canvas.width / WORLD;
  ctx.clearRect(0, 0, canvas.width, canvas.height);
  ctx.strokeStyle = '#1b2230';
  for (let g = 100; g < WORLD; g += 100) {
    ctx.beginPath(); ctx.moveTo(g * scale, 0); ctx.lineTo(g * scale, canvas.height); ctx.stroke();
    ctx.beginPath(); ctx.moveTo(0, g * scale); ctx.lineTo(canvas.width, g * scale); ctx.stroke();
  }
  const players = room.state.players || {};
  const members = room.state.members || {};
  // Dots and names keep their size on screen when the board is shown smaller (a phone).
  const px = Math.max(1, canvas.width / (canvas.clientWidth || canvas.width));
  for (const [id, p] of Object.entries(players)) {
    const online = members[id] ? members[id].online : false;
    const x = p.x * scale;
    const y = p.y * scale;
    ctx.globalAlpha = online ? 1 : 0.35;
    ctx.fillStyle = colourOf(id);
    ctx.beginPath(); ctx.arc(x, y, (id === opts.authid ? 9 : 7) * px, 0, Math.PI * 2); ctx.fill();
    if (id === opts.authid) {
      ctx.strokeStyle = '#fff'; ctx.lineWidth = 2 * px; ctx.stroke(); ctx.lineWidth = 1;
    }
    ctx.fillStyle = '#e6e9ef';
    ctx.font = `${Math.round(12 * px)}px system-ui, sans-serif`;
    const label = online ? id : `${id} (away)`;
    const right = x + 12 * px + ctx.measureText(label).width > canvas.width; // keep it on the board
    ctx.textAlign = right ? 'right' : 'left';
    ctx.fillText(label, right ? x - 12 * px : x + 12 * px, y + 4 * px);
    ctx.textAlign = 'left';
  }
  ctx.globalAlpha = 1;
}

function showPanel(room) {
  $('seq').textContent = String(room.seq);
  const members = room.state.members || {};
  showPresent($('players'), members, Object.keys(room.state.players || {}));
  renderMembers($('members'), members, opts.authid, room.client.status);
}

let frame = 0;
function render(room) {
  showPanel(room);
  if (!frame) frame = requestAnimationFrame(() => { frame = 0; draw(room); });
}

function watchLatency(room) {
  // Each move carries t = the sender's Date.now() at the key press; when the move arrives here
  // the difference is key press -> change in this tab (all tabs share this machine's clock).
  room.on('change', (event) => {
    if (!event) return;
    const now = Date.now();
    for (const op of event.ops) {
      const [kind, path, value] = op;
      if (kind !== 'set' || path[0] !== 'players' || path.length !== 2 || !value || !value.t) continue;
      const who = path[1];
      const ms = now - value.t;
      demo.seen[who] = { t: value.t, at: now, ms, seq: event.seq };
      if (who === opts.authid) {
        demo.latencies.push(ms);
        $('latency').textContent = `${ms.toFixed(0)} ms`;
      } else {
        $('remote-latency').textContent = `${ms.toFixed(0)} ms (${who})`;
      }
    }
  });
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
  let target = null; // where a held finger (or mouse button) points, in world units
  const towards = (from, to) => (Math.abs(to - from) < STEP / 2 ? 0 : Math.sign(to - from));
  const direction = () => {
    let dx = 0;
    let dy = 0;
    for (const key of held) { dx += KEYS[key][0]; dy += KEYS[key][1]; }
    const me = (room.state.players || {})[opts.authid];
    if (!held.size && target && me) {
      dx = towards(me.x, target.x);
      dy = towards(me.y, target.y);
    }
    return [Math.sign(dx) * STEP, Math.sign(dy) * STEP];
  };
  const point = (e) => {
    const box = canvas.getBoundingClientRect();
    target = { x: ((e.clientX - box.left) / box.width) * WORLD, y: ((e.clientY - box.top) / box.height) * WORLD };
  };
  canvas.addEventListener('pointerdown', (e) => {
    canvas.setPointerCapture(e.pointerId);
    point(e);
    const [dx, dy] = direction();
    if (dx || dy) move(room, dx, dy);
  });
  canvas.addEventListener('pointermove', (e) => target && point(e));
  for (const end of ['pointerup', 'pointercancel']) canvas.addEventListener(end, () => (target = null));
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
  bindNameForm($('name-form'), opts.authid);
  bindRoomForm($('room-form'), opts.room, (refusal) => showRoomRefusal($('room-form'), refusal));
  bindInvite($('invite'), opts.room, demo);
  const client = new kasagi.Client({ url: opts.url, authid: opts.authid, ticket: opts.ticket, serializer: opts.serializer });
  let room = null;
  showStatus($('status'), client, () => room && showPanel(room));
  demo.client = client;
  await client.start();
  room = await client.join(opts.room, { type: 'arena' });
  demo.room = room;
  showEnded($('status'), room, demo);
  syncTracker($('sync'), room, client);
  watchLatency(room);
  room.on('change', () => render(room));
  render(room);
  steer(room);
  canvas.focus();
  demo.ready = true;
}

main().catch((err) => {
  $('status').textContent = 'failed';
  $('status').className = 'pill failed';
  const refusal = roomRefusal(err, opts.room);
  if (refusal) showRoomRefusal($('room-form'), refusal, $('status'));
  else $('error').textContent = `${err.error || 'error'}: ${err.message}`;
  demo.errors.push(err.error || String(err));
  demo.failed = true;
});
