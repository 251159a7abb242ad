// What the SDK does after a call failed, by error URI: the one table of docs/protocol.md
// (Errors), kept as data. It is the same table as kasagi.wire.ERROR_POLICY on the server;
// tests/js/policy.test.mjs checks it against tests/vectors/policy.json, which Python writes.

/** What a client does after an error. */
export const Recovery = Object.freeze({
  RETRY: 'retry', // call again as it was (same cseq) after a backoff
  REOPEN: 'reopen', // kasagi.lobby.open the room (its owner restarted or moved), join, retry
  REJOIN: 'rejoin', // join the room again (its owner forgot this session), retry
  LATER: 'later', // final now: the caller gets the error at once; the same call may succeed later (capacity)
  GIVE_UP: 'give_up', // final: the caller gets the error
});

/** Whether the SDK hands the error to its caller instead of trying again itself. */
export function isFinal(action) {
  return action === Recovery.GIVE_UP || action === Recovery.LATER;
}

/** Error URI -> Recovery. A URI not in it is final. */
export const ERROR_POLICY = Object.freeze({
  'kasagi.error.invalid_argument': Recovery.GIVE_UP,
  'kasagi.error.rejected': Recovery.GIVE_UP,
  'kasagi.error.not_member': Recovery.REJOIN,
  'kasagi.error.no_such_room': Recovery.REOPEN,
  'kasagi.error.rate_limited': Recovery.RETRY,
  'kasagi.error.full': Recovery.LATER,
  'kasagi.error.unavailable': Recovery.RETRY,
  'kasagi.error.not_authorized': Recovery.GIVE_UP,
  'kasagi.error.internal': Recovery.GIVE_UP, // a bug in the room type's code: nothing was applied
  'kasagi.error.outcome_unknown': Recovery.GIVE_UP, // the room forgot that cseq's result: it may have been applied; look at the state
  'wamp.error.no_such_procedure': Recovery.REOPEN,
  'wamp.error.authorization_failed': Recovery.RETRY, // the router could not decide (room service silent)
  'wamp.error.not_authorized': Recovery.GIVE_UP,
  'wamp.error.canceled': Recovery.RETRY,
  'wamp.error.timeout': Recovery.RETRY,
  'wamp.close.transport_lost': Recovery.RETRY,
  'kasagi.client.timeout': Recovery.RETRY,
  'kasagi.client.connection_lost': Recovery.RETRY,
  'kasagi.client.closed': Recovery.GIVE_UP,
});

/**
 * What to do after error `uri` with keyword `details`: the table's entry, except that a retry
 * the server marks `retryable: false` (a room whose stored data is damaged) is final.
 */
export function recovery(uri, details) {
  const action = Object.hasOwn(ERROR_POLICY, uri) ? ERROR_POLICY[uri] : Recovery.GIVE_UP;
  const final = details !== null && typeof details === 'object' && details.retryable === false;
  return action === Recovery.RETRY && final ? Recovery.GIVE_UP : action;
}
