#!/usr/bin/env node
// npm install/rebuild hook: uses the prebuilt addon (native/prebuilds) when it loads here, else builds native/ with
// node-gyp when a C++ toolchain is present. Never fails the install: on any problem it prints one line and deepgen runs
// on the wasm/cpu backends. Uses local Node headers (no download) when they sit next to the node binary.
// DEEPGEN_SKIP_NATIVE_BUILD=1 skips; DEEPGEN_FORCE_NATIVE_BUILD=1, --force or `npm run build:native` always compile.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const nativeDir = join(root, 'native');
const logFile = join(nativeDir, 'build', 'build.log');

function notice(msg) {
  console.log(`deepgen: ${msg}`);
  process.exit(0);
}

if (process.env.DEEPGEN_SKIP_NATIVE_BUILD === '1')
  notice('native addon build skipped (DEEPGEN_SKIP_NATIVE_BUILD=1); using the wasm/cpu backends');
if (!existsSync(join(nativeDir, 'binding.gyp'))) notice('native/binding.gyp not found; native addon not built');

// The prebuild, when node-gyp-build picks it (no local build) and it loads (e.g. this glibc is recent enough).
function workingPrebuild() {
  try {
    const load = createRequire(import.meta.url)('node-gyp-build');
    const file = load.resolve(nativeDir);
    if (!file.startsWith(join(nativeDir, 'prebuilds'))) return null;
    load(nativeDir);
    return file;
  } catch {
    return null;
  }
}
const force =
  process.env.DEEPGEN_FORCE_NATIVE_BUILD === '1' ||
  process.argv.includes('--force') ||
  process.env.npm_lifecycle_event === 'build:native';
const prebuild = force ? null : workingPrebuild();
if (prebuild) {
  console.log(
    `deepgen: using the prebuilt native addon (${relative(root, prebuild)}); DEEPGEN_FORCE_NATIVE_BUILD=1 compiles it instead`,
  );
  process.exit(0);
}

function findNodeGyp() {
  const candidates = [
    process.env.npm_config_node_gyp,
    join(dirname(process.execPath), '../lib/node_modules/npm/node_modules/node-gyp/bin/node-gyp.js'),
  ];
  try {
    candidates.push(createRequire(import.meta.url).resolve('node-gyp/bin/node-gyp.js'));
  } catch {
    /* not installed locally */
  }
  return candidates.find((p) => p && existsSync(p));
}

const gyp = findNodeGyp();
if (!gyp) notice('node-gyp not found; native addon not built, using the wasm/cpu backends');
const args = [gyp, 'rebuild'];
const prefix = join(dirname(process.execPath), '..');
if (!process.env.npm_config_nodedir && existsSync(join(prefix, 'include/node/node_api.h')))
  args.push(`--nodedir=${prefix}`);
const t0 = Date.now();
const r = spawnSync(process.execPath, args, { cwd: nativeDir, encoding: 'utf8', env: process.env });
mkdirSync(dirname(logFile), { recursive: true });
writeFileSync(logFile, `${r.stdout ?? ''}\n${r.stderr ?? ''}\n${r.error ? String(r.error) : ''}`);
if (r.status !== 0) {
  const why =
    /not found: (make|g\+\+|c\+\+|python)/i.exec(r.stderr ?? '')?.[0] ??
    (r.error ? String(r.error) : `node-gyp exited with ${r.status}`);
  notice(`native addon not built (${why}; see native/build/build.log); using the wasm/cpu backends`);
}
console.log(`deepgen: native addon built in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
