// scripts/build-native.js (the install hook) in a scratch package with a fake node-gyp: a prebuild that loads means no
// compile; DEEPGEN_FORCE_NATIVE_BUILD=1, no prebuild, or a prebuild that fails to load compile. Plus the load hint.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { nativeLoadReason } from '../../src/node/native/addon.ts';

const repo = fileURLToPath(new URL('../..', import.meta.url));
const platformDir = `${process.platform}-${process.arch}`;
// A binary that loads here: the package's prebuild, else a local build.
const realAddon = [
  join(repo, 'native/prebuilds', platformDir, 'deepgen_native.node'),
  join(repo, 'native/build/Release/deepgen_native.node'),
].find(existsSync);

/** Runs build-native.js in a scratch package (prebuild: a binary to place in native/prebuilds, or none) and reports
 *  what it printed and whether it called node-gyp. */
function runInstallHook(prebuild: 'real' | 'broken' | 'none', env: Record<string, string> = {}) {
  const dir = mkdtempSync(join(tmpdir(), 'deepgen-build-native-'));
  try {
    mkdirSync(join(dir, 'scripts'));
    copyFileSync(join(repo, 'scripts/build-native.js'), join(dir, 'scripts/build-native.js'));
    symlinkSync(join(repo, 'node_modules'), join(dir, 'node_modules'));
    mkdirSync(join(dir, 'native'));
    writeFileSync(join(dir, 'native/binding.gyp'), '{}');
    if (prebuild !== 'none') {
      mkdirSync(join(dir, 'native/prebuilds', platformDir), { recursive: true });
      const file = join(dir, 'native/prebuilds', platformDir, 'deepgen_native.node');
      if (prebuild === 'real') copyFileSync(realAddon!, file);
      else writeFileSync(file, 'not an ELF file');
    }
    const marker = join(dir, 'node-gyp-called');
    const fakeGyp = join(dir, 'fake-node-gyp.js');
    writeFileSync(
      fakeGyp,
      `require('fs').writeFileSync(${JSON.stringify(marker)}, process.argv.slice(2).join(' '));\n`,
    );
    const childEnv: Record<string, string | undefined> = { ...process.env };
    for (const k of ['DEEPGEN_SKIP_NATIVE_BUILD', 'DEEPGEN_FORCE_NATIVE_BUILD', 'npm_lifecycle_event'])
      delete childEnv[k];
    Object.assign(childEnv, { npm_config_node_gyp: fakeGyp }, env);
    const r = spawnSync(process.execPath, [join(dir, 'scripts/build-native.js')], {
      cwd: dir,
      env: childEnv,
      encoding: 'utf8',
    });
    return { status: r.status, stdout: r.stdout, stderr: r.stderr, compiled: existsSync(marker) };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const noAddon = realAddon ? false : 'no native binary here to act as the prebuild';

test('a prebuild that loads: no compile, one line naming it', { skip: noAddon }, () => {
  const r = runInstallHook('real');
  assert.equal(r.status, 0, r.stderr);
  assert.equal(r.compiled, false);
  assert.match(r.stdout, /^deepgen: using the prebuilt native addon \(native\/prebuilds\/[^)]+\.node\)/);
  assert.equal(r.stdout.trim().split('\n').length, 1);
});

test('DEEPGEN_FORCE_NATIVE_BUILD=1 compiles despite a working prebuild', { skip: noAddon }, () => {
  const r = runInstallHook('real', { DEEPGEN_FORCE_NATIVE_BUILD: '1' });
  assert.equal(r.status, 0, r.stderr);
  assert.equal(r.compiled, true);
  assert.match(r.stdout, /native addon built/);
});

test('no prebuild, or one that fails to load: compiles from source', () => {
  for (const prebuild of ['none', 'broken'] as const) {
    const r = runInstallHook(prebuild);
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.compiled, true, prebuild);
  }
});

test('DEEPGEN_SKIP_NATIVE_BUILD=1 neither compiles nor fails', () => {
  const r = runInstallHook('none', { DEEPGEN_SKIP_NATIVE_BUILD: '1' });
  assert.equal(r.status, 0, r.stderr);
  assert.equal(r.compiled, false);
  assert.match(r.stdout, /skipped/);
});

test('the missing-addon reason says to run npm rebuild deepgen, in one line', () => {
  const missing = nativeLoadReason(
    'No native build was found for platform=linux arch=x64 runtime=node abi=115\n    loaded from: /x\n',
  );
  assert.equal(
    missing,
    'the native addon is not built for this platform; `npm rebuild deepgen` builds it when make, g++ and python3 are installed; inside a checkout, `npm run build:native`',
  );
  const broken = nativeLoadReason('/x/deepgen_native.node: invalid ELF header\nmore');
  assert.match(
    broken,
    /^the native addon failed to load \(\/x\/deepgen_native\.node: invalid ELF header\); `npm rebuild deepgen`/,
  );
  assert.ok(!broken.includes('\n'));
});
