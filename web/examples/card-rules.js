// The cards page's view of a card (web/examples/cards.js): "7H" is the seven of hearts, "10S"
// the ten of spades. `playable` is the room type's rule (examples/cards/rooms.py), used only to
// enable the cards that may be played; the server decides.

export const SUIT_SIGNS = Object.freeze({ C: '\u2663', D: '\u2666', H: '\u2665', S: '\u2660' });

export const rankOf = (card) => card.slice(0, -1);
export const suitOf = (card) => card.slice(-1);

/** How the page shows a card: its rank and the sign of its suit ("7♥"). */
export function label(card) {
  return `${rankOf(card)}${SUIT_SIGNS[suitOf(card)] || ''}`;
}

/** Whether `card` may go on `top` when `suit` is the suit to follow: a match of suit or rank, or an eight. */
export function playable(card, top, suit) {
  return rankOf(card) === '8' || suitOf(card) === suit || (top !== null && top !== undefined && rankOf(card) === rankOf(top));
}
