// Tic-tac-toe on the room type `tictactoe` (examples/tictactoe/rooms.py): click a cell to move.
import { pageOptions, renderMembers, showFailed } from '../demo-common.js';
import { TurnTimer, errorReporter, joinExample } from './example-common.js';

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

const report = errorReporter(demo);

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

const turnTimer = new TurnTimer((timer) => `${timer.at}`);

function tickTimer(room) {
  turnTimer.show(room.state, room.state.turn);
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
  turnTimer.track(state);
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
  const options = params.has('turn_seconds') ? { turn_seconds: Number(params.get('turn_seconds')) } : {};
  const room = await joinExample(opts, demo, TYPE, SPEC, options);
  if (!room) {
    $('message').textContent = 'not served here';
    return;
  }
  demo.room = room;
  room.on('change', () => render(room));
  render(room);
  play(room);
  demo.ready = true;
}

main().catch((err) => {
  showFailed($('status'));
  report({ error: err.error || 'error', message: err.message });
});
