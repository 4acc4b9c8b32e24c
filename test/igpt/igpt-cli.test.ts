// Image GPT end to end through the command line: train a tiny model (a few steps on 12x12 colour shapes, label-
// conditional), sample a grid, animate the sampling row by row into a GIF, evaluate the exact likelihood, and the
// one-line errors for bad settings.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import '../helpers/backend.ts';
import { loadRun } from '../../src/node/run.ts';
import { floatsToUint8, makeGrid, type ImageU8 } from '../../src/core/viz/grid.ts';

const childEnv = { ...process.env };
delete childEnv.NODE_OPTIONS;
delete childEnv.NODE_TEST_CONTEXT;
const cli = (args: string[]) =>
  spawnSync(process.execPath, [path.join(import.meta.dirname, '../../bin/deepgen.js'), ...args], {
    encoding: 'utf8',
    env: childEnv,
  });

test('igpt end to end: train, sample, animate row by row, eval in nats and bits/dim; one-line errors (slow: ~15 s)', async () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'dg-igpt-'));
  try {
    const run = path.join(dir, 'run');
    const tiny = [
      '--set',
      'model.dim=16',
      '--set',
      'model.layers=1',
      '--set',
      'model.heads=2',
      '--set',
      'model.cond.dim=16',
      '--set',
      'model.colorLevels=3',
    ];
    const tr = cli([
      'train',
      'igpt',
      '--dataset',
      'shapes',
      '--size',
      '12',
      '--train-n',
      '64',
      '--test-n',
      '16',
      '--steps',
      '4',
      '--batch-size',
      '8',
      '--cond',
      'label',
      ...tiny,
      '--sample-every',
      '0',
      '--quiet',
      '--out',
      run,
    ]);
    assert.equal(tr.status, 0, tr.stderr);
    const cfg = JSON.parse(readFileSync(path.join(run, 'config.json'), 'utf8'));
    assert.equal(cfg.family, 'igpt');
    assert.equal(cfg.config.data.preprocess, 'scale01');
    assert.equal(cfg.config.model.colorLevels, 3);
    for (const f of ['samples.png', 'completions.png', 'classes.png', 'eval.json', 'model.safetensors'])
      assert.ok(existsSync(path.join(run, f)), f);

    const s = cli(['sample', run, '--n', '6', '--label', '2', '--seed', '3', '--out', path.join(dir, 'a.png')]);
    assert.equal(s.status, 0, s.stderr);
    assert.ok(existsSync(path.join(dir, 'a.png')));

    // the animation: one grid frame per completed row (12 rows), then the final image held
    const gif = path.join(dir, 'a.gif');
    const an = cli([
      'sample',
      run,
      '--n',
      '4',
      '--seed',
      '1',
      '--guidance',
      '2',
      '--animate',
      gif,
      '--out',
      path.join(dir, 'b.png'),
    ]);
    assert.equal(an.status, 0, an.stderr);
    assert.match(an.stdout, /Wrote the sampling \(12 steps\)/);
    assert.equal(readFileSync(gif).subarray(0, 6).toString(), 'GIF89a');
    // the model-level frames behind it
    const loaded = await loadRun(run, { backend: 'auto' });
    const frames: ImageU8[] = [];
    const x = loaded.model.sample(4, 1, {
      labels: [0, 1],
      onFrame: (img) => {
        frames.push(makeGrid(floatsToUint8(img.dataSync()), 4, 12, 12, 3, { cols: 2 }));
      },
    });
    assert.equal(frames.length, 12);
    tf.dispose(x);
    loaded.model.dispose();

    const ev = cli(['eval', run]);
    assert.equal(ev.status, 0, ev.stderr);
    assert.match(ev.stdout, /-log p\(x\), exact\s+\d+\.\d+\s+\d+\.\d{4}/); // nats/image and bits/dim on one row
    const res = JSON.parse(readFileSync(path.join(run, 'eval.json'), 'utf8'));
    assert.equal(res.n, 16);
    const l = res.likelihood;
    assert.equal(l.kind, 'exact');
    assert.ok(Math.abs(l.bitsPerDim - l.nats / (12 * 12 * 3 * Math.LN2)) < 1e-9);
    assert.ok(l.bitsPerDim > 0 && l.bitsPerDim < 8.5, `bits/dim ${l.bitsPerDim}`);

    for (const [args, msg] of [
      [
        [
          'train',
          'igpt',
          '--dataset',
          'shapes',
          '--preprocess',
          'symmetric',
          '--steps',
          '1',
          '--out',
          path.join(dir, 'bad'),
        ],
        /preprocess=scale01/,
      ],
      [
        [
          'train',
          'igpt',
          '--dataset',
          'shapes',
          '--set',
          'model.heads=3',
          '--steps',
          '1',
          '--out',
          path.join(dir, 'bad'),
        ],
        /divisible/,
      ],
      [['sample', run, '--prompt', 'a red circle'], /not text-conditional/],
      [['sample', run, '--steps', '10'], /--steps applies to diffusion models; .* is a igpt/],
    ] as const) {
      const r = cli([...args]);
      assert.equal(r.status, 2, `${args.join(' ')}: ${r.stderr}`);
      assert.match(r.stderr, msg);
      assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
