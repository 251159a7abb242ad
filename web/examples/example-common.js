// What the example game pages share: joining a room of a type the node may not serve.
import { ErrorURI } from '../sdk/kasagi.js';

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
