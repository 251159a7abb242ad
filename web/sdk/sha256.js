// SHA-256 for the state hash, synchronous, in browsers and Node alike: js-sha256 (npm).
//
// Why not crypto.subtle: it is missing outside secure contexts (a page served over plain
// http from another host than localhost), and it is asynchronous -- a replica checks a hash
// in the middle of applying an event, and must not let other events in while it waits.

import { vendor } from './vendor.js';

const lib = await vendor('sha256', 'sha256.min.js', 'js-sha256');

/** sha256(string) -> 64 lowercase hex digits of the SHA-256 of its UTF-8 bytes. */
export const sha256 = typeof lib === 'function' ? lib : lib.sha256;
