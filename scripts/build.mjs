#!/usr/bin/env node
// npm run build: src/ -> dist/ (ESM JavaScript + .d.ts) with tsc, for the `deepgen` and `deepgen/node` entries and the
// CLI. tsc rewrites `.ts` import extensions in the JavaScript but not in declarations, so they are rewritten here.
import { spawnSync } from 'node:child_process';
import { mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const dist = join(root, 'dist');
const t0 = Date.now();
// the previous build's output, not the playground (dist/web, built by vite); a fresh clone has no dist/ yet
mkdirSync(dist, { recursive: true });
for (const name of readdirSync(dist, { withFileTypes: true })
  .map((d) => d.name)
  .filter((n) => n !== 'web')) {
  rmSync(join(dist, name), { recursive: true, force: true });
}
const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc');
const r = spawnSync(process.execPath, [tsc, '-p', join(root, 'tsconfig.build.json')], { stdio: 'inherit' });
if (r.status !== 0) process.exit(r.status ?? 1);

/** `from './x.ts'` and `import('./x.ts')` in declarations -> `.js`, as in the emitted JavaScript. */
function fixDeclarations(dir) {
  let n = 0;
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) n += fixDeclarations(p);
    else if (e.name.endsWith('.d.ts')) {
      const text = readFileSync(p, 'utf8');
      const fixed = text.replace(/((?:from|import)\s*\(?\s*['"])(\.{1,2}\/[^'"]+?)\.ts(['"])/g, '$1$2.js$3');
      if (fixed !== text) writeFileSync(p, fixed);
      n++;
    }
  }
  return n;
}
const files = fixDeclarations(dist);
console.log(`deepgen: built dist/ (${files} declaration files) in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
