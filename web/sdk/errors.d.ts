// Types of errors.js: the error every failed or refused SDK call rejects with.

import type { Recovery } from './policy.js';

/** The keyword details of a refusal: what was at fault, what was expected, what arrived. */
export interface ErrorDetails {
  /** The argument at fault, e.g. "args.dx", "room", "members". */
  field?: string;
  /** What the server expected there, e.g. "|dx| <= 10". */
  expected?: string;
  /** What it got, e.g. "int 50". */
  got?: string;
  /** The server's word on whether the same call may succeed later. */
  retryable?: boolean;
  /** Seconds to wait before retrying (kasagi.error.rate_limited). */
  retry_after?: number;
  [key: string]: unknown;
}

/** A refused or failed call: `.error` is the URI, `.details` the keyword details. */
export declare class KasagiError extends Error {
  constructor(uri: string, message?: string, details?: ErrorDetails, args?: unknown[]);
  readonly name: 'KasagiError';
  /** The error URI: kasagi.error.* from the server, kasagi.client.* from the SDK, or wamp.error.*. */
  error: string;
  details: ErrorDetails;
  /** The positional arguments of the WAMP error (the first is the server's message). */
  args: unknown[];
  /** What the SDK does about it: retry, reopen, rejoin, later or give_up. */
  recovery: Recovery;
  /** Whether the SDK tries again (after re-opening or re-joining the room if need be). */
  retryable: boolean;
  /** From an Autobahn error (or anything a transport rejected with). */
  static from(err: unknown): KasagiError;
}
