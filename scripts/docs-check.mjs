#!/usr/bin/env node
// npm run docs:check: the API reference in docs/api matches the current TSDoc (TypeDoc into a temporary folder, then
// compared file by file). Fails with the files that differ; `npm run docs` regenerates them.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.join(path.dirname(fileURLToPath(import.meta.url)), '..');
const tmp = mkdtempSync(path.join(os.tmpdir(), 'deepgen-docs-'));
const list = (dir, base = dir) =>
  readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? list(path.join(dir, e.name), base) : [path.relative(base, path.join(dir, e.name))],
  );
try {
  const typedoc = path.join(root, 'node_modules/typedoc/bin/typedoc');
  const r = spawnSync(process.execPath, [typedoc, '--out', tmp, '--logLevel', 'Warn'], { cwd: root, encoding: 'utf8' });
  if (r.status !== 0) {
    console.error(`docs:check: typedoc failed\n${r.stdout}${r.stderr}`);
    process.exit(1);
  }
  const committed = path.join(root, 'docs/api');
  let have = [];
  try {
    have = list(committed);
  } catch {
    /* no docs/api yet */
  }
  const want = list(tmp);
  const differ = [...new Set([...have, ...want])].filter((f) => {
    try {
      return readFileSync(path.join(committed, f), 'utf8') !== readFileSync(path.join(tmp, f), 'utf8');
    } catch {
      return true;
    }
  });
  if (differ.length) {
    console.error(
      `docs:check: docs/api is out of date (${differ.length} files: ${differ.slice(0, 5).join(', ')}${differ.length > 5 ? ', ...' : ''}); run npm run docs`,
    );
    process.exit(1);
  }
  console.log(`docs:check: docs/api is up to date (${want.length} files)`);
} finally {
  rmSync(tmp, { recursive: true, force: true });
}
