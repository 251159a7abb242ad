// What the example game pages share: joining a room of a type the node may not serve, reporting
// a refused act, and the turn timer of the turn-based games.
import { ErrorURI } from '../sdk/kasagi.js';
import { pageClient, showStatus } from '../demo-common.js';

const $ = (id) => document.getElementById(id);

/** True when a join failed because the node does not serve the room type (lobby.open refused it). */
export function typeNotServed(err) {
  return Boolean(err) && err.error === ErrorURI.INVALID_ARGUMENT && Boolean(err.details) && err.details.field === 'type';
}

/** Show why the page cannot play: the node serves other room types; say how to start one that does. */
export function showNotServed(el, type, spec, err) {
  el.hidden = false;
  const served = err.details && err.details.expected ? ` (it serves ${err.details.expected})` : '';
  el.replaceChildren(
    `This node does not serve the room type "${type}"${served}. Start one that does: `,
    Object.assign(document.createElement('code'), { textContent: `kasagi up --room-type ${spec}` }),
  );
}

/**
 * Connect as the page's member (the #room, #me and #status elements say who, where and how) and
 * join the page's room of `type` (with `join`'s `options` when given). When the node does not
 * serve the type, #unserved says how to start one that does, `demo.unserved` is set, the client
 * closes and the answer is null.
 */
export async function joinExample(opts, demo, type, spec, options = undefined) {
  $('room').textContent = opts.room;
  $('me').textContent = opts.authid;
  const client = pageClient(opts);
  showStatus($('status'), client);
  demo.client = client;
  await client.start();
  try {
    return await client.join(opts.room, options === undefined ? { type } : { type, options });
  } catch (err) {
    if (!typeNotServed(err)) throw err;
    demo.unserved = true;
    showNotServed($('unserved'), type, spec, err);
    client.close();
    return null;
  }
}

/** A function that reports a refused act: its URI into `demo.errors`, its message into #error. */
export function errorReporter(demo) {
  return (err) => {
    demo.errors.push(err.error || String(err));
    $('error').textContent = err.message;
  };
}

/**
 * The turn timer: state.timers.turn.at is the server's time (ms) at which the turn passes. It is
 * used when this machine's clock agrees with the server's; otherwise the count is from when the
 * turn began here. `keyOf(timer)` tells one turn's timer from the next.
 */
export class TurnTimer {
  constructor(keyOf) {
    this.keyOf = keyOf;
    this.key = '';
    this.deadline = 0;
  }

  /** Follow the room's turn timer, starting a new count when it is another turn's. */
  track(state) {
    const timer = state.timers && state.timers.turn;
    const key = timer ? this.keyOf(timer) : '';
    if (key === this.key) return;
    this.key = key;
    if (!timer) {
      this.deadline = 0;
      return;
    }
    const plausible = Math.abs(timer.at - Date.now()) <= state.turn_ms + 5000;
    this.deadline = plausible ? timer.at : Date.now() + state.turn_ms;
  }

  /** Show the time left on #timer-bar and, for `who`, on #countdown. */
  show(state, who) {
    const { deadline } = this;
    const left = deadline ? Math.max(0, deadline - Date.now()) : 0;
    $('timer-bar').style.width = deadline && state.turn_ms ? `${(100 * left) / state.turn_ms}%` : '0';
    $('countdown').textContent = deadline ? `${Math.ceil(left / 1000)} s left for ${who}` : '';
  }
}
