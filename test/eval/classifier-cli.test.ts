// `deepgen classifier` end to end: help, one-line user errors (exit 2), and `show` on a cache folder from DEEPGEN_CACHE.
import { BIN as SRC_BIN } from '../helpers/cli.ts';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, test } from 'node:test';

const BIN = SRC_BIN;
const CACHE = fs.mkdtempSync(path.join(os.tmpdir(), 'deepgen-clf-cli-'));
after(() => fs.rmSync(CACHE, { recursive: true, force: true }));

const env: NodeJS.ProcessEnv = { ...process.env, DEEPGEN_CACHE: CACHE };
delete env.NODE_OPTIONS;
delete env.NODE_TEST_CONTEXT;
delete env.DEEPGEN_DEBUG;

function cli(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [BIN, ...args], { cwd: CACHE, env, timeout: 60_000 }, (err, stdout, stderr) => {
      resolve({
        code: err ? Number((err as { code?: unknown }).code ?? -1) : 0,
        stdout: String(stdout),
        stderr: String(stderr),
      });
    });
  });
}

function errorLines(stderr: string): string[] {
  return stderr.split('\n').filter((l) => l.trim() && l.trim() !== '(run with --help for usage)');
}

test('classifier CLI: help, errors, show', async () => {
  // a fake cached classifier: `show` reads only config.json
  const dir = path.join(CACHE, 'classifiers', 'shapes-32x32');
  fs.mkdirSync(dir, { recursive: true });
  const info = {
    dataset: 'shapes',
    testAccuracy: { kind: 0.995, color: 1 },
    testN: 5000,
    trainN: 20000,
    epochs: 4,
    seed: 0,
    trainSeconds: 120,
    backend: 'native',
    createdAt: '2026-01-01T00:00:00.000Z',
  };
  fs.writeFileSync(
    path.join(dir, 'config.json'),
    JSON.stringify({ family: 'classifier', formatVersion: 1, createdBy: 'deepgen', config: {}, info }),
  );
  const [help, trainHelp, badDataset, noDataset, missing, show, trained] = await Promise.all([
    cli(['classifier', '--help']),
    cli(['classifier', 'train', '--help']),
    cli(['classifier', 'show', '--dataset', 'cifar']),
    cli(['classifier', 'train']),
    cli(['classifier', 'show', '--dataset', 'fashion-mnist']),
    cli(['classifier', 'show', '--dataset', 'shapes']),
    cli(['classifier', 'train', '--dataset', 'shapes']),
  ]);
  assert.equal(help.code, 0);
  assert.match(help.stdout, /DEEPGEN_CACHE/);
  assert.match(help.stdout, /classifier train --dataset fashion-mnist/);
  assert.match(trainHelp.stdout, /--force/);
  for (const [r, re] of [
    [badDataset, /must be one of fashion-mnist, shapes/],
    [noDataset, /--dataset fashion-mnist\|shapes/],
    [missing, /No fashion-mnist classifier cached in .*fashion-mnist-28x28/],
  ] as const) {
    assert.equal(r.code, 2, r.stderr);
    const lines = errorLines(r.stderr);
    assert.equal(lines.length, 1, r.stderr);
    assert.match(lines[0], re);
  }
  assert.equal(show.code, 0, show.stderr);
  assert.match(show.stdout, /kind 99\.5%, color 100\.0% on 5000 test images/);
  assert.match(show.stdout, new RegExp(dir.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')));
  assert.equal(trained.code, 0, trained.stderr);
  assert.match(trained.stdout, /already cached .* \(use --force to train again\)/);
});
