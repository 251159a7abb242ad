// SHA-256 for the state hash, synchronous, in browsers and Node alike: js-sha256 (npm).
//
// Why not crypto.subtle: it is missing outside secure contexts (a page served over plain
// http from another host than localhost), and it is asynchronous -- a replica checks a hash
// in the middle of applying an event, and must not let other events in while it waits.
// In a page the module loads the copy `make js` puts in web/vendor/ (nothing from the
// internet); in Node it imports the npm package.

async function load() {
  if (typeof globalThis.sha256 === 'function') return globalThis.sha256;
  if (typeof document !== 'undefined') {
    // A classic script that sets window.sha256; importing it runs it once.
    await import(new URL('../vendor/sha256.min.js', import.meta.url).href);
    return globalThis.sha256;
  }
  const mod = await import('js-sha256');
  return mod.sha256 ?? mod.default.sha256 ?? mod.default;
}

/** sha256(string) -> 64 lowercase hex digits of the SHA-256 of its UTF-8 bytes. */
export const sha256 = await load();
