// The SDK as an npm package (web/sdk/package.json) and its TypeScript declarations: packed
// with `npm pack`, unpacked into a throwaway project and imported by name from Node and from
// TypeScript. Offline: only the local tarball, with the repository's installed autobahn and
// js-sha256 linked in as the package's dependencies.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, mkdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const SDK = join(ROOT, 'web/sdk');
const TSC = join(ROOT, 'node_modules/.bin/tsc');
const manifest = JSON.parse(readFileSync(join(SDK, 'package.json'), 'utf8'));

function run(cmd, args, cwd) {
  const out = spawnSync(cmd, args, { cwd, encoding: 'utf8', timeout: 60_000 });
  return { status: out.status, output: `${out.stdout ?? ''}${out.stderr ?? ''}${out.error ?? ''}` };
}

/** A project with the packed SDK in node_modules under its package name; removed by the caller. */
function projectWithPackedSdk() {
  const dir = mkdtempSync(join(tmpdir(), 'kasagi-sdk-'));
  const packed = JSON.parse(execFileSync('npm', ['pack', '--json', '--pack-destination', dir], { cwd: SDK, encoding: 'utf8', timeout: 60_000 }));
  const target = join(dir, 'node_modules', ...manifest.name.split('/'));
  mkdirSync(target, { recursive: true });
  execFileSync('tar', ['-xzf', join(dir, packed[0].filename), '-C', target, '--strip-components=1']);
  for (const dep of Object.keys(manifest.dependencies)) symlinkSync(join(ROOT, 'node_modules', dep), join(dir, 'node_modules', dep), 'dir');
  writeFileSync(join(dir, 'package.json'), JSON.stringify({ name: 'uses-kasagi', private: true, type: 'module', dependencies: { [manifest.name]: manifest.version } }));
  return dir;
}

test('the TypeScript example type-checks against the SDK declarations (tsc --noEmit)', () => {
  const { status, output } = run(TSC, ['--noEmit', '-p', join(ROOT, 'tests/ts')], ROOT);
  assert.equal(status, 0, output);
});

test('the packed SDK is importable by its package name, with its exports and types', () => {
  assert.equal(manifest.type, 'module');
  assert.equal(manifest.exports['.'].types, './kasagi.d.ts');
  const dir = projectWithPackedSdk();
  try {
    const script = `
      import * as kasagi from '${manifest.name}';
      import { RoomReplica } from '${manifest.name}/sync';
      const names = ['connect', 'Client', 'Room', 'KasagiError', 'ErrorURI', 'RoomReplica', 'stateHash'];
      const missing = names.filter((n) => kasagi[n] === undefined);
      if (missing.length) throw new Error('missing exports: ' + missing);
      if (RoomReplica !== kasagi.RoomReplica) throw new Error('two copies of RoomReplica');
      if (kasagi.stateHash({}).length !== 16) throw new Error('stateHash');
      let hidden = false;
      try { await import('${manifest.name}/client.js'); } catch (err) { hidden = err.code === 'ERR_PACKAGE_PATH_NOT_EXPORTED'; }
      if (!hidden) throw new Error('a private module is importable');
      console.log('ok');
    `;
    const node = run(process.execPath, ['--input-type=module', '-e', script], dir);
    assert.equal(node.status, 0, node.output);
    assert.match(node.output, /ok/);

    writeFileSync(
      join(dir, 'main.ts'),
      `import { connect, KasagiError, type ErrorDetails } from '${manifest.name}';\n` +
        `export async function go(): Promise<ErrorDetails | null> {\n` +
        `  try { await (await connect({ url: 'ws://x/ws', authid: 'a' })).join('r1'); return null; }\n` +
        `  catch (err) { if (err instanceof KasagiError) return err.details; throw err; }\n}\n`,
    );
    writeFileSync(join(dir, 'tsconfig.json'), JSON.stringify({ compilerOptions: { strict: true, noEmit: true, module: 'nodenext', moduleResolution: 'nodenext', target: 'es2022', lib: ['es2022', 'dom'], types: [] }, files: ['main.ts'] }));
    const tsc = run(TSC, ['--noEmit', '-p', dir], dir);
    assert.equal(tsc.status, 0, tsc.output);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
