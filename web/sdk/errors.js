// The error every failed or refused SDK call rejects with.

import { ErrorURI } from './wire.js';
import { isFinal, recovery } from './policy.js';
import { isMap } from './sync.js';

/** A refused or failed call: .error is the URI, .details the keyword details. */
export class KasagiError extends Error {
  constructor(uri, message, details = {}, args = []) {
    super(message ? `${uri}: ${message}` : uri);
    this.name = 'KasagiError';
    this.error = uri;
    this.details = details;
    this.args = args;
    /** What the SDK does about it (policy.js): retry, reopen, rejoin, later or give_up. */
    this.recovery = recovery(uri, isMap(details) ? details : {});
    /** Whether the SDK tries again (after re-opening or re-joining the room if need be). */
    this.retryable = !isFinal(this.recovery);
  }

  /** From an Autobahn error (or anything a transport rejected with). */
  static from(err) {
    if (err instanceof KasagiError) return err;
    if (err && typeof err.error === 'string') {
      const args = Array.isArray(err.args) ? err.args : [];
      const details = isMap(err.kwargs) ? err.kwargs : {};
      return new KasagiError(err.error, typeof args[0] === 'string' ? args[0] : '', details, args);
    }
    return new KasagiError(ErrorURI.CONNECTION_LOST, String(err && err.message ? err.message : err));
  }
}
