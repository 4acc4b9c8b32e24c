// The root entry `deepgen` (src/index.ts) must bundle for the browser: its import graph reaches only src/core and
// packages, never node: modules, src/node or src/cli.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';

const SRC = path.resolve(import.meta.dirname, '../../src');

test('src/index.ts imports nothing from node: or src/node (walking its relative imports)', () => {
  const seen = new Set<string>();
  const bad: string[] = [];
  const walk = (file: string) => {
    if (seen.has(file)) return;
    seen.add(file);
    const text = fs.readFileSync(file, 'utf8');
    for (const m of text.matchAll(
      /(?:^|\n)\s*(?:import|export)\b[^'"]*?from\s+['"]([^'"]+)['"]|import\(\s*['"]([^'"]+)['"]\s*\)/g,
    )) {
      const spec = m[1] ?? m[2];
      if (spec.startsWith('node:') || ['fs', 'path', 'os', 'child_process'].includes(spec))
        bad.push(`${path.relative(SRC, file)} imports ${spec}`);
      if (!spec.startsWith('.')) continue;
      const target = path.resolve(path.dirname(file), spec);
      if (!target.startsWith(path.join(SRC, 'core') + path.sep))
        bad.push(`${path.relative(SRC, file)} imports ${path.relative(SRC, target)}`);
      else walk(target);
    }
  };
  walk(path.join(SRC, 'index.ts'));
  assert.ok(seen.size > 20, `walked ${seen.size} files`);
  assert.deepEqual(bad, []);
});

test('deepgen/node re-exports the root entry with its own loadModel', async () => {
  const root = await import('../../src/index.ts');
  const node = await import('../../src/node/index.ts');
  for (const k of Object.keys(root))
    if (k !== 'loadModel') assert.equal((node as Record<string, unknown>)[k], (root as Record<string, unknown>)[k], k);
  assert.notEqual(node.loadModel, root.loadModel);
  assert.equal(typeof node.evaluate, 'function');
});
