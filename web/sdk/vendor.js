// Loads a third-party library: in a page, the copy `make js` put in web/vendor/ (a classic
// script that sets a global; nothing comes from the internet); in Node, the npm package.

function loadClassicScript(url) {
  return new Promise((resolve, reject) => {
    const script = document.createElement('script');
    script.src = url;
    script.async = true;
    script.onload = () => resolve();
    script.onerror = () => reject(new Error(`could not load ${url} (run \`make js\`)`));
    document.head.append(script);
  });
}

/** globalThis[name], loading web/vendor/<file> (page) or npm package `pkg` (Node) if missing. */
export async function vendor(name, file, pkg) {
  if (globalThis[name]) return globalThis[name];
  if (typeof document !== 'undefined') {
    await loadClassicScript(new URL(`../vendor/${file}`, import.meta.url).href);
    return globalThis[name];
  }
  const mod = await import(pkg);
  return mod.default ?? mod;
}
