// Crazy eights on the room type `cards` (examples/cards/rooms.py): click a card of your hand to
// play it, the stock to draw. Your hand is room.state.private[you].hand: the server sends each
// member its own hand only, so a watcher's page holds no hand at all.
import { pageOptions, renderMembers, showFailed } from '../demo-common.js';
import { SUIT_SIGNS, label, playable, rankOf, suitOf } from './card-rules.js';
import { TurnTimer, errorReporter, joinExample } from './example-common.js';

const TYPE = 'cards';
const SPEC = 'examples.cards.rooms:Cards';
const $ = (id) => document.getElementById(id);
const opts = pageOptions('cards');
const params = new URLSearchParams(location.search);

// What the page exposes for the console (and the browser test): every event and snapshot it
// received is kept in `received`.
const demo = { errors: [], unserved: false, received: [] };
window.kasagiDemo = demo;

const report = errorReporter(demo);

function myHand(state) {
  const mine = state.private && state.private[opts.authid];
  return (mine && Array.isArray(mine.hand)) ? mine.hand : [];
}

function seated(state) {
  return (state.seats || []).includes(opts.authid);
}

function message(state) {
  const me = opts.authid;
  const who = (m) => (m === me ? 'you' : m);
  if (state.phase === 'waiting') {
    const free = (state.players || 2) - (state.seats || []).length;
    return seated(state) ? `Waiting for ${free} more player${free === 1 ? '' : 's'}…` : 'Waiting for players…';
  }
  if (state.phase === 'over') {
    const how = state.reason === 'left' ? ' (the others left)' : '';
    if (state.winner === me) return `You win the round${how}!`;
    return `${state.winner || 'nobody'} wins the round${how}.`;
  }
  const last = state.last || {};
  let before = '';
  if (last.timed_out) before = `${who(last.member)} ran out of time and drew. `;
  else if (last.played) before = `${who(last.member)} played ${label(last.played)}${last.suit ? ` and named ${SUIT_SIGNS[last.suit]}` : ''}. `;
  else if (last.drew) before = `${who(last.member)} drew a card. `;
  else if (last.passed) before = `${who(last.member)} passed. `;
  else if (last.left) before = `${who(last.member)} left. `;
  if (state.turn === me) return `${before}Your turn.`;
  return `${before}${state.turn} to play.`;
}

// The turn timer, as on the tic-tac-toe page; one member's turn is told from the next one's.
const turnTimer = new TurnTimer((timer) => `${timer.at}:${timer.data && timer.data.member}`);

function tickTimer(room) {
  const state = room.state;
  turnTimer.show(state, state.turn === opts.authid ? 'you' : state.turn);
}

let eight = null; // the eight waiting for its suit

function cardButton(card, enabled, onClick) {
  const button = document.createElement('button');
  button.type = 'button';
  button.className = 'card';
  button.dataset.card = card;
  button.dataset.suit = suitOf(card);
  button.textContent = label(card);
  button.setAttribute('aria-label', card);
  button.disabled = !enabled;
  button.addEventListener('click', onClick);
  return button;
}

function render(room) {
  const state = room.state;
  const myTurn = state.phase === 'playing' && state.turn === opts.authid;
  const hand = myHand(state);
  $('hand').replaceChildren(
    ...hand.map((card) =>
      cardButton(card, myTurn && playable(card, state.top, state.suit), () => {
        $('error').textContent = '';
        if (rankOf(card) === '8') {
          eight = card;
          $('suits').hidden = false;
          return;
        }
        room.act('play', { card }).catch(report);
      }),
    ),
  );
  if (!myTurn) {
    eight = null;
    $('suits').hidden = true;
  }
  const top = $('top');
  top.textContent = state.top ? label(state.top) : '-';
  top.dataset.suit = state.top ? suitOf(state.top) : '';
  top.dataset.card = state.top || '';
  $('suit').textContent = state.suit ? SUIT_SIGNS[state.suit] : '-';
  $('draw').textContent = String(state.stock ?? '-');
  $('draw').disabled = !myTurn;
  $('message').textContent = message(state);
  $('round').textContent = String(state.round ?? '-');
  $('score').textContent = Object.entries(state.score || {}).map(([m, n]) => `${m} ${n}`).join(', ') || '-';
  $('seq').textContent = String(room.seq);
  $('deal').hidden = !(state.phase === 'over' && seated(state));
  const hands = state.hands || {};
  $('players').replaceChildren(
    ...(state.seats || []).map((m) => {
      const li = document.createElement('li');
      li.dataset.member = m;
      li.dataset.turn = String(state.turn === m);
      li.textContent = `${m === opts.authid ? `${m} (you)` : m}: ${hands[m] ?? 0} card${hands[m] === 1 ? '' : 's'}${state.turn === m ? ' \u2190 turn' : ''}`;
      return li;
    }),
  );
  renderMembers($('members'), state.members, opts.authid);
  turnTimer.track(state);
  tickTimer(room);
}

function play(room) {
  $('draw').addEventListener('click', () => {
    $('error').textContent = '';
    room.act('draw', {}).catch(report);
  });
  for (const button of $('suits').querySelectorAll('button')) {
    button.addEventListener('click', () => {
      if (eight === null) return;
      const card = eight;
      eight = null;
      $('suits').hidden = true;
      room.act('play', { card, suit: button.dataset.suit }).catch(report);
    });
  }
  $('deal').addEventListener('click', () => {
    $('error').textContent = '';
    room.act('deal', {}).catch(report);
  });
  setInterval(() => tickTimer(room), 250);
}

function roomOptions() {
  const options = {};
  for (const key of ['players', 'turn_seconds']) {
    if (params.has(key)) options[key] = Number(params.get(key));
  }
  return options;
}

async function main() {
  const room = await joinExample(opts, demo, TYPE, SPEC, roomOptions());
  if (!room) {
    $('message').textContent = 'not served here';
    return;
  }
  demo.room = room;
  demo.received.push({ snapshot: structuredClone(room.state) });
  room.on('change', (event) => {
    demo.received.push(event ? structuredClone(event) : { snapshot: structuredClone(room.state) });
    render(room);
  });
  render(room);
  play(room);
  demo.ready = true;
}

main().catch((err) => {
  showFailed($('status'));
  report({ error: err.error || 'error', message: err.message });
});
