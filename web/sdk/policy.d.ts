// Types of policy.js: what the SDK does after a call failed, by error URI.

import type { ErrorDetails } from './errors.js';

export declare const Recovery: Readonly<{
  RETRY: 'retry';
  REOPEN: 'reopen';
  REJOIN: 'rejoin';
  LATER: 'later';
  GIVE_UP: 'give_up';
}>;
export type Recovery = (typeof Recovery)[keyof typeof Recovery];

/** Whether the SDK hands the error to its caller instead of trying again itself. */
export declare function isFinal(action: Recovery): boolean;

/** Error URI -> Recovery. A URI not in it is final. */
export declare const ERROR_POLICY: Readonly<Record<string, Recovery>>;

/** The table's entry for `uri`, except that a retry the server marks `retryable: false` is final. */
export declare function recovery(uri: string, details: ErrorDetails | null): Recovery;
