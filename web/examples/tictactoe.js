// Tic-tac-toe on the room type `tictactoe` (examples/tictactoe/rooms.py): click a cell to move.
import * as kasagi from '../sdk/kasagi.js';
import { pageOptions, renderMembers, showStatus } from '../demo-common.js';
import { showNotServed, typeNotServed } from './example-common.js';

const TYPE = 'tictactoe';
const SPEC = 'examples.tictactoe.rooms:TicTacToe';
const $ = (id) => document.getElementById(id);
const opts = pageOptions('tictactoe');
const params = new URLSearchParams(location.search);

// What the page exposes for the console (and the browser test).
const demo = { errors: [], unserved: false };
window.kasagiDemo = demo;

const cells = [];
for (let i = 0; i < 9; i += 1) {
  const button = document.createElement('button');
  button.type = 'button';
  button.dataset.cell = String(i);
  button.setAttribute('aria-label', `cell ${i}`);
  cells.push(button);
}
$('board').append(...cells);

function report(err) {
  demo.errors.push(err.error || String(err));
  $('error').textContent = err.message;
}

function mySeat(state) {
  const seats = state.seats || {};
  return seats.X === opts.authid ? 'X' : seats.O === opts.authid ? 'O' : null;
}

function message(state) {
  const seat = mySeat(state);
  const seats = state.seats || {};
  const who = (s) => (seats[s] === opts.authid ? 'you' : seats[s] || 'nobody');
  if (state.phase === 'waiting') return seat ? `You are ${seat}. Waiting for an opponent…` : 'Waiting for two players…';
  if (state.phase === 'over') {
    const how = state.reason === 'left' ? ' (the other player left)' : '';
    if (state.winner === 'draw') return 'Draw!';
    if (state.winner === seat) return `You win${how}!`;
    return `${state.winner} (${who(state.winner)}) wins${how}.`;
  }
  const timedOut = state.last && state.last.timed_out ? `${state.last.seat} ran out of time. ` : '';
  if (state.turn === seat) return `${timedOut}You are ${seat}: your move.`;
  return `${timedOut}${state.turn} (${who(state.turn)}) to move.`;
}

// The turn timer: state.timers.turn.at is the server's time (ms) at which the turn passes. Use it
// when this machine's clock agrees with the server's; otherwise count from when the turn began here.
let turnKey = '';
let deadline = 0;
function trackTurn(state) {
  const timer = state.timers && state.timers.turn;
  const key = timer ? `${timer.at}` : '';
  if (key === turnKey) return;
  turnKey = key;
  if (!timer) {
    deadline = 0;
    return;
  }
  const plausible = Math.abs(timer.at - Date.now()) <= state.turn_ms + 5000;
  deadline = plausible ? timer.at : Date.now() + state.turn_ms;
}

function tickTimer(room) {
  const state = room.state;
  const left = deadline ? Math.max(0, deadline - Date.now()) : 0;
  $('timer-bar').style.width = deadline && state.turn_ms ? `${(100 * left) / state.turn_ms}%` : '0';
  $('countdown').textContent = deadline ? `${Math.ceil(left / 1000)} s left for ${state.turn}` : '';
}

function render(room) {
  const state = room.state;
  const seat = mySeat(state);
  const board = Array.isArray(state.board) ? state.board : [];
  const line = new Set(state.line || []);
  cells.forEach((button, i) => {
    const mark = board[i] || '';
    button.textContent = mark;
    button.dataset.mark = mark;
    button.classList.toggle('win', line.has(i));
    button.disabled = !(state.phase === 'playing' && state.turn === seat && !mark);
  });
  $('message').textContent = message(state);
  $('seat-X').textContent = (state.seats && state.seats.X) || '-';
  $('seat-O').textContent = (state.seats && state.seats.O) || '-';
  $('games').textContent = String(state.games ?? '-');
  $('score').textContent = Object.entries(state.score || {}).map(([m, n]) => `${m} ${n}`).join(', ') || '-';
  $('seq').textContent = String(room.seq);
  const asked = (state.rematch || []).includes(opts.authid);
  $('rematch').hidden = !(state.phase === 'over' && seat);
  $('rematch').disabled = asked;
  $('rematch').textContent = asked ? 'waiting for the other player…' : 'rematch';
  renderMembers($('members'), state.members, opts.authid);
  trackTurn(state);
  tickTimer(room);
}

function play(room) {
  cells.forEach((button, i) => {
    button.addEventListener('click', () => {
      $('error').textContent = '';
      room.act('move', { cell: i }).catch(report);
    });
  });
  $('rematch').addEventListener('click', () => {
    $('error').textContent = '';
    room.act('rematch', {}).catch(report);
  });
  setInterval(() => tickTimer(room), 250);
}

async function main() {
  $('room').textContent = opts.room;
  $('me').textContent = opts.authid;
  const client = new kasagi.Client({ url: opts.url, authid: opts.authid, ticket: opts.ticket, serializer: opts.serializer });
  showStatus($('status'), client);
  demo.client = client;
  await client.start();
  const options = params.has('turn_seconds') ? { turn_seconds: Number(params.get('turn_seconds')) } : {};
  let room;
  try {
    room = await client.join(opts.room, { type: TYPE, options });
  } catch (err) {
    if (!typeNotServed(err)) throw err;
    demo.unserved = true;
    showNotServed($('unserved'), TYPE, SPEC, err);
    $('message').textContent = 'not served here';
    client.close();
    return;
  }
  demo.room = room;
  room.on('change', () => render(room));
  render(room);
  play(room);
  demo.ready = true;
}

main().catch((err) => {
  $('status').textContent = 'failed';
  $('status').className = 'pill failed';
  report({ error: err.error || 'error', message: err.message });
});
