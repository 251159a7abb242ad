// The arena demo: each tab is a player; arrow keys / WASD (or a finger held on the board) move it
// through room.act('move').
import {
  bindInvite,
  bindNameForm,
  bindRoomForm,
  colourOf,
  drawGrid,
  keysDirection,
  pageClient,
  pageOptions,
  renderMembers,
  roomRefusal,
  sendMove,
  showEnded,
  showFailed,
  showPresent,
  showRoomRefusal,
  showStatus,
  steerWithKeys,
  syncTracker,
} from './demo-common.js';

const WORLD = 1000;
const STEP = 10; // the room's speed limit per move
const $ = (id) => document.getElementById(id);
const canvas = $('world');
const ctx = canvas.getContext('2d');
const opts = pageOptions('arena');

// What the page exposes for people poking around in the console (and for the browser test).
const demo = { latencies: [], seen: {}, errors: [], sent: [] };
window.kasagiDemo = demo;

function draw(room) {
  const scale = canvas.width / WORLD;
  drawGrid(ctx, canvas, WORLD);
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
  sendMove(room, demo, $('error'), dx, dy);
}

function steer(room) {
  const held = new Set();
  let target = null; // where a held finger (or mouse button) points, in world units
  const towards = (from, to) => (Math.abs(to - from) < STEP / 2 ? 0 : Math.sign(to - from));
  const direction = () => {
    let [dx, dy] = keysDirection(held);
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
  steerWithKeys(held, direction, (dx, dy) => move(room, dx, dy));
}

async function main() {
  $('room').textContent = opts.room;
  $('me').textContent = opts.authid;
  bindNameForm($('name-form'), opts.authid);
  bindRoomForm($('room-form'), opts.room, (refusal) => showRoomRefusal($('room-form'), refusal));
  bindInvite($('invite'), opts.room, demo);
  const client = pageClient(opts);
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
  showFailed($('status'));
  const refusal = roomRefusal(err, opts.room);
  if (refusal) showRoomRefusal($('room-form'), refusal, $('status'));
  else $('error').textContent = `${err.error || 'error'}: ${err.message}`;
  demo.errors.push(err.error || String(err));
  demo.failed = true;
});
