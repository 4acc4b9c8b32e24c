// The pixelcnn family end to end through the command line: train a tiny label-conditional model on shapes, sample by
// label, evaluate (exact NLL in nats and bits/dim), and the row-by-row animation written as a GIF.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { runCli, type CliResult } from '../helpers/cli.ts';
import { initBackend } from '../../src/node/backend.ts';
import { loadRun } from '../../src/node/run.ts';
import { writeGif } from '../../src/node/gif.ts';
import { floatsToUint8, makeGrid, type ImageU8 } from '../../src/core/viz/grid.ts';

const TMP = mkdtempSync(path.join(os.tmpdir(), 'dg-pixelcnn-'));
after(() => rmSync(TMP, { recursive: true, force: true }));

const cli = (args: string[]) => runCli(args, { cwd: TMP });

const RUN = path.join(TMP, 'run');
const TINY = [
  '--set',
  'model.channels=12',
  '--set',
  'model.layers=2',
  '--set',
  'model.firstKernel=3',
  '--set',
  'model.cond.dim=8',
];
let trained: Promise<CliResult> | null = null;
const train = () =>
  (trained ??= cli([
    'train',
    'pixelcnn',
    '--dataset',
    'shapes',
    '--size',
    '8',
    '--train-n',
    '64',
    '--test-n',
    '16',
    '--steps',
    '6',
    '--batch-size',
    '16',
    '--cond',
    'label',
    ...TINY,
    '--quiet',
    '--out',
    RUN,
  ]));

test('e2e: train a label-conditional pixelcnn on shapes, sample by label, evaluate the exact NLL (slow: ~6 s)', async () => {
  const tr = await train();
  assert.equal(tr.code, 0, tr.stderr);
  const cfg = JSON.parse(readFileSync(path.join(RUN, 'config.json'), 'utf8'));
  assert.equal(cfg.family, 'pixelcnn');
  assert.equal(cfg.config.data.preprocess, 'scale01');
  assert.equal(cfg.config.model.channels, 12);
  for (const f of ['model.safetensors', 'samples.png', 'completions.png', 'sampling-order.png', 'eval.json'])
    assert.ok(existsSync(path.join(RUN, f)), f);
  const s = await cli(['sample', RUN, '--n', '4', '--label', '1', '--seed', '3', '--out', path.join(TMP, 's.png')]);
  assert.equal(s.code, 0, s.stderr);
  assert.ok(readFileSync(path.join(TMP, 's.png')).subarray(1, 4).toString() === 'PNG');
  const e = await cli(['eval', RUN]);
  assert.equal(e.code, 0, e.stderr);
  assert.match(e.stdout, /-log p\(x\), exact\s+\d+\.\d+\s+\d+\.\d{4}/); // nats/image and bits/dim on one row
  const ev = JSON.parse(readFileSync(path.join(RUN, 'eval.json'), 'utf8'));
  assert.equal(ev.n, 16);
  const l = ev.likelihood;
  assert.ok(
    Math.abs(l.bitsPerDim - l.nats / (8 * 8 * 3 * Math.LN2)) < 1e-6 && l.bitsPerDim > 0 && l.bitsPerDim < 9,
    JSON.stringify(ev),
  );
  const iwae = await cli(['eval', RUN, '--iwae', '10']);
  assert.equal(iwae.code, 2, 'an exact likelihood takes no importance samples');
  assert.match(
    iwae.stderr,
    /--iwae applies to importance-weighted bounds \(vae, flow\); the pixelcnn family's exact -log p\(x\) takes no importance samples/,
  );
  const bad = await cli([
    'train',
    'pixelcnn',
    '--dataset',
    'shapes',
    '--size',
    '8',
    '--preprocess',
    'symmetric',
    '--steps',
    '1',
    '--out',
    path.join(TMP, 'bad'),
  ]);
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /preprocess=scale01/);
});

test('e2e: the sampling animation fills in row by row and encodes as a GIF', async () => {
  const tr = await train();
  assert.equal(tr.code, 0, tr.stderr);
  await initBackend('cpu');
  const r = await loadRun(RUN, { backend: 'cpu' });
  const frames: ImageU8[] = [];
  const x = r.model.sample(4, 1, {
    labels: [0, 1, 2, 3],
    onFrame: (img, step, total) => {
      assert.equal(total, 8);
      assert.equal(step, frames.length + 1);
      const [n, h, w, c] = img.shape;
      frames.push(makeGrid(floatsToUint8(img.dataSync()), n, h, w, c, { cols: 4 }));
    },
  });
  assert.equal(frames.length, 8);
  const gif = path.join(TMP, 'fill.gif');
  writeGif(gif, frames, { delayMs: 80 });
  assert.equal(readFileSync(gif).subarray(0, 6).toString(), 'GIF89a');
  x.dispose();
  r.model.dispose();
});

test('e2e: deepgen sample RUN --guidance 2 --animate out.gif writes one frame per row; --steps does not apply', async () => {
  const tr = await train();
  assert.equal(tr.code, 0, tr.stderr);
  const gif = path.join(TMP, 'cli.gif');
  const s = await cli(['sample', RUN, '--n', '4', '--label', '2', '--guidance', '2', '--animate', gif]);
  assert.equal(s.code, 0, s.stderr);
  assert.match(s.stdout, /Wrote the sampling \(8 steps\)/);
  assert.equal(readFileSync(gif).subarray(0, 6).toString(), 'GIF89a');
  const bad = await cli(['sample', RUN, '--steps', '3']);
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /--steps applies to/);
});
