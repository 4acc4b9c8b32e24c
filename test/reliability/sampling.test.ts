// Sampling many images (issue 19, items 3 and 10): sampling runs in chunks whose memory does not grow with n, the images
// of a seed do not depend on the chunk size, the CLI writes the grid or numbered files as chunks finish, and a grid too
// large to be useful is refused in one line. (Every family's chunk invariance is in test/contract/families.test.ts.)
import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import v8 from 'node:v8';
import vm from 'node:vm';
import * as tf from '@tensorflow/tfjs-core';
import '../helpers/backend.ts';
import { initBackend } from '../../src/node/backend.ts';
import { registry } from '../../src/core/registry.ts';
import type { DataInfo, Family, GenerativeModel } from '../../src/core/family.ts';
import { sampleChunks } from '../../src/core/sample-chunks.ts';
import { MAX_GRID_SAMPLES, sampleFileName, writeSampleFiles } from '../../src/node/sample-files.ts';
import { decodePng } from '../../src/node/png.ts';
import { assertUserError, runCli } from '../helpers/cli.ts';
import { trainTinyRun } from '../helpers/tiny-run.ts';

const TMP = fs.mkdtempSync(path.join(os.tmpdir(), 'dg-sampling-'));
after(() => fs.rmSync(TMP, { recursive: true, force: true }));

const info: DataInfo = { height: 8, width: 8, channels: 3, numClasses: 4, classNames: ['a', 'b', 'c', 'd'] };
function tiny(name: 'diffusion' | 'vae'): GenerativeModel {
  const fam = registry[name] as unknown as Family<unknown>;
  const model = fam.modelSchema.parse({
    ...fam.defaults.model,
    ...fam.tinyPreset,
    ...(name === 'diffusion' ? { cond: { kind: 'label' } } : {}),
  });
  return fam.create(model, info, 1);
}

before(async () => {
  await initBackend('wasm'); // the backend whose fixed heap ran out in the reported crash
});

test('the peak tensor memory of writing n samples does not grow with n (a guided diffusion model, chunks of 8)', async () => {
  const m = tiny('diffusion');
  const peak = async (n: number, dir: string) =>
    (
      await tf.profile(async () => {
        await writeSampleFiles(m, {
          n,
          seed: 3,
          image: info,
          chunk: 8,
          opts: { steps: 2, guidance: 3 },
          dir: path.join(TMP, dir),
        });
      })
    ).peakBytes;
  const small = await peak(16, 'p16'),
    large = await peak(160, 'p160');
  assert.ok(large <= small * 1.05, `peak ${large} bytes for 160 samples vs ${small} for 16`);
  // the measure sees batch size: drawing the 160 in one batch (the reported crash's path) peaks ~10x higher
  const whole = (await tf.profile(() => m.sample(160, 3, { steps: 2, guidance: 3 }))).peakBytes;
  assert.ok(whole > small * 5, `one batch of 160 peaked at ${whole} bytes, chunks of 8 at ${small}`);
  assert.equal(fs.readdirSync(path.join(TMP, 'p160')).length, 160);
  m.dispose();
});

test('writing 3,000 numbered sample files keeps the process memory flat (no per-file leak)', async () => {
  v8.setFlagsFromString('--expose-gc');
  const gc = vm.runInNewContext('gc') as () => void;
  // on the cpu backend: wasm's heap (counted in arrayBuffers) grows by pages now and then, which is not a leak
  await initBackend('cpu');
  const m = tiny('vae');
  const used = () => {
    gc();
    const u = process.memoryUsage();
    return u.arrayBuffers + u.heapUsed;
  };
  let at500 = 0;
  await writeSampleFiles(m, {
    n: 3000,
    seed: 1,
    image: info,
    chunk: 100,
    dir: path.join(TMP, 'many'),
    onChunk: (done) => {
      if (done === 500) at500 = used();
    },
  });
  const growth = used() - at500;
  // a pngjs PNG object per file kept ~33 KB each: ~80 MB over these 2,500 files
  assert.ok(growth < 8 * 2 ** 20, `memory grew ${(growth / 2 ** 20).toFixed(1)} MB over 2,500 files`);
  assert.equal(fs.readdirSync(path.join(TMP, 'many')).length, 3000);
  m.dispose();
  await initBackend('wasm');
});

test('sampleChunks leaves no tensor behind, also when the caller stops early', () => {
  const m = tiny('vae');
  const before = tf.memory().numTensors;
  let seen = 0;
  for (const { images } of sampleChunks(m, 50, 1, {}, 7)) seen += images.shape[0];
  assert.equal(seen, 50);
  for (const { first } of sampleChunks(m, 50, 1, {}, 7)) if (first >= 14) break;
  assert.equal(tf.memory().numTensors, before);
  m.dispose();
});

test('sampleChunks and writeSampleFiles reject bad sizes in one line', async () => {
  const m = tiny('vae');
  assert.throws(() => [...sampleChunks(m, 0, 1)], { name: 'UserError', message: /positive integer, got 0/ });
  assert.throws(() => [...sampleChunks(m, 5, 1, {}, 0)], {
    name: 'UserError',
    message: /batch size must be a positive integer/,
  });
  await assert.rejects(
    writeSampleFiles(m, {
      n: MAX_GRID_SAMPLES + 1,
      seed: 0,
      image: info,
      grid: { file: path.join(TMP, 'big.png'), cols: 10 },
    }),
    { name: 'UserError', message: /at most 2048 samples.*--files DIR/ },
  );
  await assert.rejects(
    writeSampleFiles(m, {
      n: 2000,
      seed: 0,
      image: { height: 64, width: 64, channels: 3 },
      scale: 16,
      grid: { file: path.join(TMP, 'huge.png'), cols: 45 },
    }),
    { name: 'UserError', message: /MB picture.*lower --scale/ },
  );
  assert.ok(!fs.existsSync(path.join(TMP, 'big.png')) && !fs.existsSync(path.join(TMP, 'huge.png')));
  m.dispose();
});

test('deepgen sample: chunks as --batch-size says, the same grid for any batch size, numbered files above the grid limit', async () => {
  const run = await trainTinyRun('vae', path.join(TMP, 'vae'));
  const cwd = TMP;
  const a = await runCli(['sample', run, '--n', '20', '--batch-size', '7', '--out', 'a.png'], { cwd });
  assert.equal(a.code, 0, a.stderr);
  // progress lines at each chunk's end: the CLI drew 7, 7 and 6
  assert.deepEqual(
    [...a.stderr.matchAll(/^sample (\d+)\/20/gm)].map((x) => Number(x[1])),
    [7, 14, 20],
  );
  const b = await runCli(['sample', run, '--n', '20', '--out', 'b.png'], { cwd });
  assert.equal(b.code, 0, b.stderr);
  assert.deepEqual(fs.readFileSync(path.join(TMP, 'a.png')), fs.readFileSync(path.join(TMP, 'b.png')));

  // numbered files: file i is grid cell i (cols = n, pad 2)
  const c = await runCli(['sample', run, '--n', '12', '--batch-size', '5', '--files', 'files', '--seed', '4'], { cwd });
  assert.equal(c.code, 0, c.stderr);
  assert.match(c.stdout, /Wrote 12 samples to files\/ \(0000\.png to 0011\.png\)/);
  const g = await runCli(['sample', run, '--n', '12', '--cols', '12', '--out', 'g.png', '--seed', '4'], { cwd });
  assert.equal(g.code, 0, g.stderr);
  const grid = decodePng(fs.readFileSync(path.join(TMP, 'g.png')));
  for (let i = 0; i < 12; i++) {
    const one = decodePng(fs.readFileSync(path.join(TMP, 'files', sampleFileName(i, 12))));
    assert.equal(one.height, 16);
    for (let y = 0; y < 16; y++) {
      const row = one.data.subarray(y * 16 * 3, (y + 1) * 16 * 3);
      const x0 = 2 + i * 18;
      assert.deepEqual(
        row,
        grid.data.subarray(((2 + y) * grid.width + x0) * 3, ((2 + y) * grid.width + x0 + 16) * 3),
        `sample ${i}, row ${y}`,
      );
    }
  }

  // above the grid limit: numbered files in RUN/samples-seed<seed>/ by default, with progress
  const d = await runCli(['sample', run, '--n', String(MAX_GRID_SAMPLES + 1), '--batch-size', '512'], { cwd });
  assert.equal(d.code, 0, d.stderr);
  assert.equal(
    fs.readdirSync(path.join(run, 'samples-seed0')).filter((f) => f.endsWith('.png')).length,
    MAX_GRID_SAMPLES + 1,
  );
  assert.ok(!fs.existsSync(path.join(run, 'samples-seed0.png')));

  for (const [args, msg] of [
    [['--n', '3000', '--out', 'x.png'], /a grid holds at most 2048 samples/],
    [['--out', 'x.png', '--files', 'd'], /pass one of them/],
    [['--batch-size', '0'], /--batch-size must be an integer >= 1/],
  ] as const) {
    assertUserError(await runCli(['sample', run, ...args], { cwd }), msg);
  }
});
