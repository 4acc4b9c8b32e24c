// The diffusion family beyond the contract suite: classifier-free guidance (w = 0 is the unconditional prediction,
// w = 1 the conditional one), sampler options, a text-conditional model end to end (train, sample with --animate,
// conditional evaluation with held-out pairs) and the CLI's one-line errors.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import '../helpers/backend.ts';
import { initBackend } from '../../src/node/backend.ts';
import { registry } from '../../src/core/registry.ts';
import { DiffusionModel } from '../../src/core/families/diffusion/index.ts';
import { sampleLoop } from '../../src/core/families/diffusion/sample.ts';
import { makeSchedule } from '../../src/core/diffusion/schedules.ts';
import { samplers } from '../../src/core/diffusion/samplers/index.ts';
import { generateShapes } from '../../src/core/data/shapes.ts';
import { loadRun } from '../../src/node/run.ts';
import { conditionalEval, shapePrompt } from '../../src/node/cond-eval.ts';
import type { ShapeAccuracy } from '../../src/core/eval/conditional-accuracy.ts';
import { Rng } from '../../src/core/tensor/rng.ts';
import { disposeCondSeq, type CondSeq } from '../../src/core/conditioning/conditioner.ts';

const shapes = generateShapes({ n: 32, seed: 1, size: 8 });
const vocabulary = [...new Set(shapes.captions!.flatMap((c) => c.split(' ')))].sort();
const info = { height: 8, width: 8, channels: 3, numClasses: 5, classNames: shapes.classNames, vocabulary };
const tiny = (cond: Record<string, unknown>) =>
  registry.diffusion.modelSchema.parse({
    ...registry.diffusion.defaults.model,
    ...registry.diffusion.tinyPreset,
    cond: { dim: 16, textHeads: 2, ...cond },
  });
const maxAbs = (a: tf.Tensor, b: tf.Tensor) => tf.tidy(() => tf.max(tf.abs(tf.sub(a, b))).dataSync()[0]);

for (const kind of ['label', 'text'] as const)
  test(`guidance (${kind}): w = 0 samples the unconditional model, w = 1 the conditional one; other w differ from both`, async () => {
    await initBackend('native');
    const m = new DiffusionModel(tiny({ kind }), info, 3);
    // perturb the weights so the condition matters (the output conv starts at zero)
    for (const v of Object.values(m.params.vars))
      v.assign(tf.tidy(() => tf.add(v, tf.randomNormal(v.shape, 0, 0.2, 'float32', 9))));
    const s = makeSchedule('linear', 40);
    const net = (xt: tf.Tensor4D, t: ArrayLike<number>, c: CondSeq | null) => m.unet.forward(xt, t, c);
    const y =
      kind === 'label'
        ? { labels: [0, 1, 2, 3] }
        : {
            prompts: ['a red circle', 'a blue square', 'a small green cross', 'a large white diamond at the top left'],
          };
    const cond = m.cond!.embedSeq(y, 4),
      nul = m.cond!.nullEmbedSeq(4);
    const run = (w: number, c: CondSeq | null, n: CondSeq | null) =>
      sampleLoop(s, 'eps', net, [4, 8, 8, 3], 5, {
        sampler: samplers.ddim,
        steps: 4,
        eta: 0,
        guidance: w,
        cond: c,
        nullCond: n,
      });
    const w0 = run(0, cond, nul),
      uncond = run(1, nul, null),
      w1 = run(1, cond, nul),
      condOnly = run(1, cond, null),
      w3 = run(3, cond, nul);
    assert.ok(maxAbs(w0, uncond) < 1e-4, `w=0 vs unconditional: ${maxAbs(w0, uncond)}`);
    assert.ok(maxAbs(w1, condOnly) < 1e-4, `w=1 vs conditional: ${maxAbs(w1, condOnly)}`);
    assert.ok(maxAbs(w3, w1) > 1e-3 && maxAbs(w0, w1) > 1e-3, 'the condition changes the samples');
    tf.dispose([w0, uncond, w1, condOnly, w3]);
    disposeCondSeq(cond);
    disposeCondSeq(nul);
    if (kind === 'text') return m.dispose();
    // sampler options: DDPM, DDIM with eta, and the frame callback (one frame per step, values in [0, 1])
    let frames = 0;
    const a = m.sample(2, 1, { sampler: 'ddpm', labels: [1] });
    const b = m.sample(2, 1, {
      steps: 3,
      eta: 1,
      labels: [1],
      onFrame: (img) => {
        frames++;
        assert.ok(img.dataSync().every((v) => v >= 0 && v <= 1));
      },
    });
    assert.equal(frames, 3);
    assert.deepEqual(a.shape, [2, 8, 8, 3]);
    tf.dispose([a, b]);
    assert.throws(() => m.sample(2, 1, { prompts: ['a red circle'] }), /label-conditional/);
    assert.throws(() => m.sample(2, 1, { sampler: 'euler' }), /unknown sampler/);
    m.dispose();
  });

test('cross-attention reads words, never padding; every UNet option (scale-shift, mid block, cross-attention) trains', async () => {
  await initBackend('native');
  const m = new DiffusionModel(tiny({ kind: 'text' }), info, 4);
  for (const v of Object.values(m.params.vars))
    v.assign(tf.tidy(() => tf.add(v, tf.randomNormal(v.shape, 0, 0.2, 'float32', 11))));
  const x = tf.randomNormal([2, 8, 8, 3], 0, 1, 'float32', 2) as tf.Tensor4D;
  const c = m.cond!.embedSeq({ prompts: ['a red circle', 'a blue square'] }, 2);
  // garbage in the padding rows of the sequence changes nothing; a different word changes the output
  const garbage = {
    ...c,
    seq: tf.tidy(() =>
      tf.add(c.seq, tf.mul(tf.randomNormal(c.seq.shape, 0, 5, 'float32', 3), tf.sub(1, tf.expandDims(c.mask, 2)))),
    ) as tf.Tensor3D,
  };
  const other = m.cond!.embedSeq({ prompts: ['a red square', 'a blue square'] }, 2);
  const seqOnly = { ...other, vec: c.vec }; // same pooled vector: only cross-attention sees the changed word
  const a = m.unet.forward(x, [5, 30], c),
    b = m.unet.forward(x, [5, 30], garbage),
    d = m.unet.forward(x, [5, 30], seqOnly);
  assert.ok(maxAbs(a, b) < 1e-5, `padding changed the output by ${maxAbs(a, b)}`);
  const row = (t: tf.Tensor, i: number) => tf.slice(t, [i], [1]);
  assert.ok(maxAbs(row(a, 0), row(d, 0)) > 1e-4, 'changing a word changes the image through cross-attention');
  assert.ok(maxAbs(row(a, 1), row(d, 1)) < 1e-5, 'rows do not mix');
  tf.dispose([x, a, b, d, garbage.seq]);
  disposeCondSeq(c);
  disposeCondSeq(other);
  m.dispose();
  // each option on and off: the loss is finite and one gradient step lowers it on a fixed batch
  for (const opt of [
    { scaleShift: false },
    { midBlock: false, crossAttention: false },
    { heads: 1 },
    { lossWeight: 'uniform' },
  ]) {
    const cfg = registry.diffusion.modelSchema.parse({ ...tiny({ kind: 'label' }), ...opt });
    const mm = new DiffusionModel(cfg, info, 5);
    const x0 = tf.tidy(() =>
      tf.sub(tf.div(tf.tensor4d(generateShapes({ n: 8, seed: 2, size: 8 }).images, [8, 8, 8, 3], 'float32'), 127.5), 1),
    ) as tf.Tensor4D;
    const y = tf.tensor1d([0, 1, 2, 3, 4, 0, 1, 2], 'int32');
    const opt2 = tf.train.adam(3e-3);
    const lossAt = () => tf.tidy(() => mm.loss(x0, y, 7).loss.dataSync()[0]);
    const before = lossAt();
    for (let i = 0; i < 15; i++)
      opt2.minimize(() => mm.loss(x0, y, 7).loss as tf.Scalar, true, Object.values(mm.params.vars))?.dispose();
    const after = lossAt();
    assert.ok(Number.isFinite(before) && after < before, `${JSON.stringify(opt)}: loss ${before} -> ${after}`);
    opt2.dispose();
    tf.dispose([x0, y]);
    mm.dispose();
  }
});

test('a shapes prompt names the pair it was made for, in the form of the training captions', () => {
  const rng = new Rng(1);
  for (let i = 0; i < 20; i++) {
    const p = shapePrompt({ color: 'red', kind: 'circle' }, rng);
    assert.match(p, /^a (small|medium|large) red circle (at the|in the center)/);
    for (const w of p.split(' ')) assert.ok(vocabulary.includes(w) || ['center'].includes(w), `${w} in the vocabulary`);
  }
});

const cli = (args: string[], env: Record<string, string> = {}) =>
  spawnSync(process.execPath, [path.join(import.meta.dirname, '../../bin/deepgen.js'), ...args], {
    encoding: 'utf8',
    env: { ...process.env, ...env },
  });

test('text-conditional diffusion end to end: train (held-out pair), sample with --animate, conditional evaluation (slow: ~20 s)', async () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'dg-diff-'));
  const run = path.join(dir, 'run');
  const tr = cli([
    'train',
    'diffusion',
    '--dataset',
    'shapes',
    '--size',
    '16',
    '--train-n',
    '200',
    '--test-n',
    '32',
    '--steps',
    '6',
    '--batch-size',
    '16',
    '--cond',
    'text',
    '--hold-out',
    'red circle',
    '--set',
    'model.channels=[8,16]',
    '--set',
    'model.groups=4',
    '--set',
    'model.T=20',
    '--set',
    'model.steps=3',
    '--set',
    'model.cond.dim=16',
    '--set',
    'model.cond.textHeads=2',
    '--sample-every',
    '0',
    '--quiet',
    '--out',
    run,
  ]);
  assert.equal(tr.status, 0, tr.stderr);
  const cfg = JSON.parse(readFileSync(path.join(run, 'config.json'), 'utf8'));
  assert.deepEqual(cfg.config.data.holdOut, ['red circle']);
  assert.equal(cfg.config.data.preprocess, 'symmetric');
  const gif = path.join(dir, 'a.gif');
  const s = cli([
    'sample',
    run,
    '--n',
    '4',
    '--prompt',
    'a large blue square in the center',
    '--guidance',
    '2',
    '--steps',
    '3',
    '--animate',
    gif,
  ]);
  assert.equal(s.status, 0, s.stderr);
  assert.ok(existsSync(gif) && readFileSync(gif).subarray(0, 6).toString() === 'GIF89a');
  for (const [args, msg] of [
    [['sample', run, '--prompt', 'a pink square'], /"pink" is not in this model's vocabulary/],
    [['sample', run, '--label', '1'], /not label-conditional/],
    [['sample', run, '--animate', 'x.png'], /must end in .gif/],
    [
      [
        'train',
        'diffusion',
        '--dataset',
        'shapes',
        '--preprocess',
        'scale01',
        '--steps',
        '1',
        '--out',
        path.join(dir, 'bad'),
      ],
      /preprocess=symmetric/,
    ],
    [
      [
        'train',
        'diffusion',
        '--dataset',
        'shapes',
        '--hold-out',
        'pink circle',
        '--steps',
        '1',
        '--out',
        path.join(dir, 'bad'),
      ],
      /pink/,
    ],
  ] as const) {
    const r = cli([...args]);
    assert.equal(r.status, 2, `${args.join(' ')}: ${r.stderr}`);
    assert.match(r.stderr, msg);
    assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
  }
  // conditional evaluation with a tiny classifier in a temporary cache: seen and held-out pairs are reported apart
  await initBackend('native');
  const loaded = await loadRun(run, { backend: 'native' });
  const res = await conditionalEval(loaded, {
    n: 10,
    seed: 1,
    steps: 2,
    batchSize: 5,
    classifier: {
      cacheRoot: path.join(dir, 'cache'),
      trainN: 300,
      testN: 50,
      epochs: 1,
      net: { widths: [4, 8, 8], features: 16 },
      log: () => {},
    },
  });
  assert.equal(res.kind, 'text');
  // shapes prompts: colour+shape accuracies (emoji captions give category ones)
  const seen = res.seen as ShapeAccuracy;
  const heldOut = res.heldOut as ShapeAccuracy & { pairs: string[] };
  assert.equal(seen.n, 10);
  assert.equal(heldOut.n, 10);
  assert.deepEqual(heldOut.pairs, ['red circle']);
  assert.ok(Object.keys(heldOut.perPair).every((k) => k === 'red circle'));
  assert.ok(!('red circle' in seen.perPair));
  for (const v of [seen.both, seen.kind, seen.color, heldOut.both]) assert.ok(v >= 0 && v <= 1);
  assert.deepEqual(res.preview.shape.slice(1), [16, 16, 3]);
  res.preview.dispose();
  loaded.model.dispose();
});
