// GAN runs on disk: both Adam states (D/ and G/) in optimizer.safetensors and an exact --resume, the EMA of G only,
// the fixed-noise grids every N steps and their GIF, the divergence stop as a one-line error, and the CLI end to end.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import '../helpers/backend.ts';
import { TEST_BACKEND } from '../helpers/backend.ts';
import { resolveRunConfig } from '../../src/node/run-config.ts';
import { loadRun, trainRun } from '../../src/node/run.ts';
import { loadCheckpoint } from '../../src/node/checkpoint-store.ts';
import { recordToFloat32 } from '../../src/core/checkpoint/safetensors.ts';
import { UserError } from '../../src/core/errors.ts';
import { runCli } from '../helpers/cli.ts';

const TMP = fs.mkdtempSync(path.join(os.tmpdir(), 'deepgen-gan-'));
after(() => fs.rmSync(TMP, { recursive: true, force: true }));
const dir = (name: string) => path.join(TMP, name);
const quiet = { quiet: true, log: () => {}, backend: TEST_BACKEND };

function config(extra: Record<string, unknown> = {}, sets: string[] = []) {
  return resolveRunConfig(
    'gan',
    [
      {
        model: {
          arch: 'mlp',
          latent: 4,
          hidden: 16,
          statsBatch: 16,
          loss: 'wgan-gp',
          nCritic: 2,
          cond: { kind: 'label', dim: 8 },
        },
        data: { dataset: 'shapes', size: 8, trainN: 64, testN: 16 },
        train: { steps: 8, batchSize: 16, ema: 0.9, seed: 3, logEvery: 1, sampleEvery: 2, checkpointEvery: 0 },
      },
      extra,
    ],
    sets,
  );
}

function maxDiff(a: Record<string, Parameters<typeof recordToFloat32>[0]>, b: typeof a): number {
  assert.deepEqual(Object.keys(a).sort(), Object.keys(b).sort());
  let m = 0;
  for (const k of Object.keys(a)) {
    const x = recordToFloat32(a[k]),
      y = recordToFloat32(b[k]);
    for (let i = 0; i < x.length; i++) m = Math.max(m, Math.abs(x[i] - y[i]));
  }
  return m;
}

test('a GAN run: both optimisers saved by group, EMA of G only, metrics per step; stopped and resumed it equals an uninterrupted run', async () => {
  const full = dir('full'),
    split = dir('split');
  await trainRun({ config: config(), out: full, finish: false, ...quiet });
  const stopped = await trainRun({ config: config(), out: split, stopAtStep: 3, finish: false, ...quiet });
  assert.equal(stopped.step, 3);
  await trainRun({ config: config(), out: split, resume: true, finish: false, ...quiet });
  const a = loadCheckpoint(full),
    b = loadCheckpoint(split);
  const opt = Object.keys(a.optimizer!);
  assert.ok(opt.some((k) => k.startsWith('D/D.')) && opt.some((k) => k.startsWith('G/G.')), opt.join(' '));
  assert.ok(
    opt.every((k) => (k.startsWith('D/D.') || k.startsWith('G/G.')) && /\.(m|v)$/.test(k)),
    'each group holds only its own variables',
  );
  // n_critic = 2: D's Adam took two updates per step, G's one
  assert.deepEqual(a.state.optimizerStep, { D: 16, G: 8 });
  assert.ok(Object.keys(a.ema!).every((k) => k.startsWith('G.')) && Object.keys(a.ema!).includes('G.cond.label'));
  assert.ok(maxDiff(a.weights, b.weights) < 1e-6, `weights differ by ${maxDiff(a.weights, b.weights)}`);
  assert.ok(maxDiff(a.optimizer!, b.optimizer!) < 1e-6, 'optimizer state differs');
  assert.ok(maxDiff(a.ema!, b.ema!) < 1e-6, 'ema differs');
  const rows = fs
    .readFileSync(path.join(split, 'metrics.jsonl'), 'utf8')
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l));
  assert.deepEqual(
    rows.map((r) => r.step),
    [1, 2, 3, 4, 5, 6, 7, 8],
  );
  for (const k of ['lossD', 'lossG', 'dReal', 'dFake', 'gradNormD', 'gradNormG', 'gp', 'gpGradNorm'])
    assert.ok(
      rows.every((r) => Number.isFinite(r[k])),
      k,
    );
  // the fixed-noise grid every 2 steps
  assert.deepEqual(fs.readdirSync(path.join(full, 'samples')).sort(), [
    'step-0000002.png',
    'step-0000004.png',
    'step-0000006.png',
    'step-0000008.png',
  ]);
});

test('sampling a run uses the EMA of G (the raw weights with --no-ema), and the same seed gives the same images', async () => {
  const ema = await loadRun(dir('full'), { backend: TEST_BACKEND });
  const raw = await loadRun(dir('full'), { backend: TEST_BACKEND, useEma: false });
  assert.equal(ema.usedEma, true);
  const a = ema.model.sample(4, 1),
    b = raw.model.sample(4, 1),
    c = ema.model.sample(4, 1);
  assert.notDeepEqual(Array.from(a.dataSync()), Array.from(b.dataSync()));
  assert.deepEqual(Array.from(a.dataSync()), Array.from(c.dataSync()));
  tf.dispose([a, b, c]);
  ema.model.dispose();
  raw.model.dispose();
});

test('--animate: the step grids become a GIF, one frame per grid (plus the held last frame)', async () => {
  const out = dir('anim');
  const gif = path.join(out, 'progress.gif');
  await trainRun({ config: config({ train: { steps: 6 } }), out, finish: false, animate: gif, ...quiet });
  const bytes = fs.readFileSync(gif);
  assert.equal(bytes.subarray(0, 6).toString(), 'GIF89a');
  // image descriptors (0x2c after a graphic control extension block 0x21 0xf9): 3 grids + 5 copies of the last (1 s at 200 ms)
  let frames = 0;
  for (let i = 0; i + 1 < bytes.length; i++) if (bytes[i] === 0x21 && bytes[i + 1] === 0xf9) frames++;
  assert.equal(frames, 3 + 5);
});

test('a discriminator that wins stops training with one line naming the fixes', async () => {
  // a loss floor above any D loss: the watch trips after `steps` steps
  const cfg = config({
    model: { loss: 'ns', nCritic: 1, divergence: { lossFloor: 100, steps: 3 } },
    train: { checkpointEvery: 1 },
  });
  await assert.rejects(
    trainRun({ config: cfg, out: dir('won'), finish: false, ...quiet }),
    (e: Error) =>
      e instanceof UserError &&
      /step 3: the discriminator has won/.test(e.message) &&
      /dLrScale/.test(e.message) &&
      /Last good checkpoint/.test(e.message) &&
      !e.message.includes('\n'),
  );
});

test('e2e: deepgen train gan --set model.loss=hinge with --animate, then deepgen sample by label', async () => {
  const run = dir('cli');
  const cli = (args: string[]) => runCli(args, { cwd: TMP });
  const tr = await cli([
    'train',
    'gan',
    '--dataset',
    'shapes',
    '--size',
    '8',
    '--train-n',
    '32',
    '--test-n',
    '8',
    '--steps',
    '4',
    '--batch-size',
    '8',
    '--cond',
    'label',
    '--set',
    'model.loss=hinge',
    '--set',
    'model.channels=4',
    '--set',
    'model.latent=8',
    '--set',
    'model.statsBatch=16',
    '--set',
    'model.cond.dim=8',
    '--sample-every',
    '2',
    '--animate',
    path.join(run, 'progress.gif'),
    '--backend',
    TEST_BACKEND,
    '--quiet',
    '--out',
    run,
  ]);
  assert.equal(tr.code, 0, tr.stderr);
  assert.match(tr.stderr, /Wrote 2 sample grids .* to .*progress\.gif/);
  const cfg = JSON.parse(fs.readFileSync(path.join(run, 'config.json'), 'utf8'));
  assert.equal(cfg.config.model.loss, 'hinge');
  assert.equal(cfg.config.data.preprocess, 'symmetric');
  for (const f of [
    'model.safetensors',
    'optimizer.safetensors',
    'ema.safetensors',
    'samples.png',
    'interpolation.png',
    'progress.gif',
  ])
    assert.ok(fs.existsSync(path.join(run, f)), f);
  assert.match(
    fs.readFileSync(path.join(run, 'loss-curve.svg'), 'utf8'),
    /gan: training loss \(D loss \+ G loss\)/,
    'a GAN loss is not in nats',
  );
  const s = await cli([
    'sample',
    run,
    '--n',
    '4',
    '--label',
    '2',
    '--seed',
    '1',
    '--out',
    path.join(TMP, 's.png'),
    '--backend',
    TEST_BACKEND,
  ]);
  assert.equal(s.code, 0, s.stderr);
  const bad = await cli(['train', 'gan', '--set', 'model.loss=lsgan', '--out', dir('bad')]);
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /model\.loss/);
  const noGrid = await cli(['train', 'gan', '--sample-every', '0', '--animate', 'x.gif', '--out', dir('bad2')]);
  assert.equal(noGrid.code, 2);
  assert.match(noGrid.stderr, /--animate needs sample grids/);
});
