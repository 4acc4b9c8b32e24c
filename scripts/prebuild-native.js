#!/usr/bin/env node
// prepack hook: builds the N-API prebuild native/prebuilds/<platform>-<arch>/deepgen_native.node with prebuildify
// (stripped), which node-gyp-build loads when no local build exists, so an install without a compiler still gets the
// native backend. Builds in a scratch copy of native/ (a checkout's native/build stays as it is), with the local Node
// headers when present (no download). Fails loudly: a package without its prebuild is a bug. The binary needs the
// build machine's glibc and libstdc++ versions or newer: build it on the oldest Linux to support.
import { cpSync, existsSync, mkdtempSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const nativeDir = join(root, 'native');
const require = createRequire(import.meta.url);

if (process.env.DEEPGEN_SKIP_PREBUILD === '1') {
  console.log(
    'deepgen: native prebuild skipped (DEEPGEN_SKIP_PREBUILD=1); the package carries whatever native/prebuilds holds',
  );
  process.exit(0);
}

// node-gyp: the one npm puts on PATH for scripts, else npm's bundled copy or a local one (as scripts/build-native.js).
function findNodeGyp() {
  const candidates = [
    process.env.npm_config_node_gyp,
    join(dirname(process.execPath), '../lib/node_modules/npm/node_modules/node-gyp/bin/node-gyp.js'),
  ];
  try {
    candidates.push(require.resolve('node-gyp/bin/node-gyp.js'));
  } catch {
    /* not installed locally */
  }
  return candidates.find((p) => p && existsSync(p));
}

// prebuildify hands process.env to node-gyp, which reads npm_config_nodedir.
const prefix = join(dirname(process.execPath), '..');
if (!process.env.npm_config_nodedir && existsSync(join(prefix, 'include/node/node_api.h')))
  process.env.npm_config_nodedir = prefix;
const nodeGyp = findNodeGyp();
if (!nodeGyp) {
  console.error('deepgen: node-gyp not found; install it (npm i -g node-gyp) to build the native prebuild');
  process.exit(1);
}
const arch = process.env.PREBUILD_ARCH || process.arch;
// The previous prebuild of this platform goes first, so a failed build cannot leave a stale binary to be packed.
rmSync(join(nativeDir, 'prebuilds', `${process.platform}-${arch}`), { recursive: true, force: true });
const scratch = mkdtempSync(join(nativeDir, '.prebuild-')); // inside the package, so node-addon-api resolves
cpSync(join(nativeDir, 'binding.gyp'), join(scratch, 'binding.gyp'));
cpSync(join(nativeDir, 'src'), join(scratch, 'src'), { recursive: true });
const t0 = Date.now();
const prebuildify = require('prebuildify');
prebuildify({ cwd: scratch, out: nativeDir, napi: true, strip: true, name: 'deepgen_native', nodeGyp, arch }, (err) => {
  rmSync(scratch, { recursive: true, force: true });
  if (err) {
    console.error(`deepgen: native prebuild failed (${err.message})`);
    process.exit(1);
  }
  console.log(
    `deepgen: native prebuild for ${process.platform}-${arch} built in ${((Date.now() - t0) / 1000).toFixed(1)} s (native/prebuilds)`,
  );
});
