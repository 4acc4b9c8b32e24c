// `deepgen eval --metrics` end to end: a tiny flow on shapes, a tiny cached classifier as the feature network, then
// nll and FID/KID/precision/recall in one eval.json beside the real-vs-real reference, seeded; bad metric lists fail.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import '../helpers/backend.ts';
import { runCli } from '../helpers/cli.ts';
import { trainAndSaveClassifier } from '../../src/node/classifier-store.ts';
import { keptFromEarlierEval, parseMetrics } from '../../src/cli/eval.ts';

const TMP = mkdtempSync(path.join(os.tmpdir(), 'dg-quality-'));
after(() => rmSync(TMP, { recursive: true, force: true }));
const CACHE = path.join(TMP, 'cache');
const cli = (args: string[]) => runCli(args, { cwd: TMP, env: { ...process.env, DEEPGEN_CACHE: CACHE } });

test('parseMetrics: a comma list of nll, fid, kid, pr in a fixed order; anything else is a one-line error', () => {
  assert.deepEqual(parseMetrics('pr, FID,nll'), { nll: true, sample: ['fid', 'pr'] });
  assert.deepEqual(parseMetrics('kid'), { nll: false, sample: ['kid'] });
  assert.throws(
    () => parseMetrics('fid,is'),
    /--metrics must be a comma-separated list of nll, fid, kid, pr, got "fid,is"/,
  );
  assert.throws(() => parseMetrics(','), /--metrics must be/);
});

test('e2e: eval --metrics nll,fid,kid,pr writes the likelihood and sample quality (with the real-vs-real reference) to eval.json, seeded (slow: ~15 s)', async () => {
  const run = path.join(TMP, 'run');
  const tr = await cli([
    'train',
    'flow',
    '--dataset',
    'shapes',
    '--size',
    '8',
    '--train-n',
    '64',
    '--test-n',
    '60',
    '--steps',
    '4',
    '--batch-size',
    '16',
    '--hidden',
    '8',
    '--set',
    'model.steps=2',
    '--quiet',
    '--out',
    run,
  ]);
  assert.equal(tr.code, 0, tr.stderr);
  // the feature network: a tiny shapes classifier at 8x8 in the test's cache (the CLI would otherwise train the full one)
  const clf = await trainAndSaveClassifier('shapes', {
    size: 8,
    trainN: 300,
    testN: 60,
    epochs: 1,
    net: { widths: [4, 8, 8], features: 16 },
    cacheRoot: CACHE,
    log: () => {},
  });
  clf.classifier.dispose();
  const e = await cli(['eval', run, '--metrics', 'nll,fid,kid,pr', '--n', '60']);
  assert.equal(e.code, 0, e.stderr);
  const ev = JSON.parse(readFileSync(path.join(run, 'eval.json'), 'utf8'));
  assert.ok(ev.likelihood.bitsPerDim > 0, 'the likelihood is there too');
  const q = ev.sampleQuality;
  assert.equal(q.n, 60);
  assert.match(q.features, /deepgen's own shapes classifier.*not Inception/);
  for (const k of ['fid', 'kid', 'kidStd', 'precision', 'recall']) {
    assert.ok(Number.isFinite(q[k]), `${k} = ${q[k]}`);
    assert.ok(Number.isFinite(q.reference[k]), `reference ${k}`);
  }
  for (const v of [q.precision, q.recall, q.reference.precision, q.reference.recall]) assert.ok(v >= 0 && v <= 1);
  // 60 images: subsets of 30, not of the whole set (all alike, which would give an error bar of 0)
  for (const r of [q, q.reference])
    assert.ok(r.kidStd > 0.01 * Math.abs(r.kid), `KID error bar ${r.kidStd} (KID ${r.kid})`);
  // four training steps make noise, not shapes: farther from the test images than real training images are
  assert.ok(q.fid > q.reference.fid, `FID ${q.fid} vs real ${q.reference.fid}`);
  assert.ok(q.sampleSecondsPerImage > 0);
  assert.match(e.stdout, /FID\s+\d+\.\d{3}\s+\d+\.\d{3}/);
  assert.match(e.stdout, /KID\s+-?\d\.\d{4} \+- \d\.\d{4}/);
  assert.match(e.stdout, /not Inception/);
  // the same seed gives the same samples and figures
  const again = await cli(['eval', run, '--metrics', 'fid', '--n', '60', '--json']);
  assert.equal(again.code, 0, again.stderr);
  const ev2 = JSON.parse(again.stdout);
  assert.equal(ev2.sampleQuality.fid, q.fid);
  assert.equal(
    ev2.bitsPerDim,
    ev.bitsPerDim,
    'the likelihood of the earlier eval of the same weights is kept, not recomputed',
  );
  const bad = await cli(['eval', run, '--metrics', 'fid,inception']);
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /--metrics must be a comma-separated list of nll, fid, kid, pr/);
  assert.doesNotMatch(bad.stderr, /\n\s+at /, 'no stack trace');
});

test("eval.json keeps the earlier eval's figures of the same step and weights that were not recomputed, and only those", () => {
  const f = path.join(TMP, 'kept-eval.json');
  writeFileSync(
    f,
    JSON.stringify({
      run: 'r',
      family: 'flow',
      step: 7,
      weights: 'ema',
      seconds: 3,
      n: 100,
      nll: 900,
      bitsPerDim: 3.2,
      sampleQuality: { fid: 12 },
    }),
  );
  assert.deepEqual(keptFromEarlierEval(f, 7, 'ema', { nll: false, sample: true }), {
    n: 100,
    nll: 900,
    bitsPerDim: 3.2,
  });
  assert.deepEqual(keptFromEarlierEval(f, 7, 'ema', { nll: true, sample: false }), { sampleQuality: { fid: 12 } });
  assert.deepEqual(keptFromEarlierEval(f, 7, 'ema', { nll: true, sample: true }), {});
  assert.deepEqual(keptFromEarlierEval(f, 8, 'ema', { nll: false, sample: true }), {}, 'another step: nothing kept');
  assert.deepEqual(keptFromEarlierEval(f, 7, 'raw', { nll: false, sample: true }), {}, 'other weights: nothing kept');
  assert.deepEqual(keptFromEarlierEval(path.join(TMP, 'missing.json'), 7, 'ema', { nll: false, sample: true }), {});
});

test('e2e: deepgen train classifier --dataset D is `classifier train` (cached: says so), and rejects flags that do not apply', async () => {
  await trainAndSaveClassifier('shapes', {
    size: 8,
    trainN: 100,
    testN: 20,
    epochs: 1,
    net: { widths: [4, 8, 8], features: 16 },
    cacheRoot: CACHE,
    log: () => {},
  }).then((c) => c.classifier.dispose());
  const r = await cli(['train', 'classifier', '--dataset', 'shapes', '--size', '8']);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /shapes classifier already cached in .*shapes-8x8/);
  const bad = await cli(['train', 'classifier', '--dataset', 'shapes', '--arch', 'conv']);
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /train classifier takes --dataset.*drop --arch/);
  const badData = await cli(['train', 'classifier', '--dataset', 'mnist']);
  assert.equal(badData.code, 2);
  assert.match(badData.stderr, /--dataset must be one of fashion-mnist, shapes/);
});
