// `deepgen leaderboard`: parameter count from the safetensors header, the likelihood rule of every family, one
// markdown row per fake run folder with its numbers, JSON round trip, non-run folders, and the CLI end to end.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { encodeSafetensors } from '../../src/core/checkpoint/safetensors.ts';
import { checkpointFileMetadata } from '../../src/core/checkpoint/format.ts';
import { UserError } from '../../src/core/errors.ts';
import {
  collectRunDirs,
  leaderboardJson,
  leaderboardMarkdown,
  leaderboardOf,
  likelihoodOf,
  paramsFromSafetensorsHeader,
  readSafetensorsParams,
  type Leaderboard,
} from '../../src/node/leaderboard.ts';
import { runCli } from '../helpers/cli.ts';

const TMP = fs.mkdtempSync(path.join(os.tmpdir(), 'dg-leaderboard-'));
after(() => fs.rmSync(TMP, { recursive: true, force: true }));

/** Weights of 3*4 + 5 + 1 = 18 parameters, with the checkpoint's __metadata__. */
const WEIGHTS = encodeSafetensors(
  {
    'enc/w': { dtype: 'F32', shape: [3, 4], data: new Float32Array(12) },
    'enc/b': { dtype: 'F32', shape: [5], data: new Float32Array(5) },
    scale: { dtype: 'F32', shape: [], data: new Float32Array(1) },
  },
  checkpointFileMetadata(100, 'test'),
);

interface FakeRun {
  family: string;
  dataset?: string;
  model?: Record<string, unknown>;
  batchSize?: number;
  step?: number;
  elapsedSeconds?: number;
  evalJson?: Record<string, unknown>;
  condEval?: Record<string, unknown>;
}

/** A run folder as deepgen train writes it, with only the files the leaderboard reads. */
function makeRun(root: string, name: string, r: FakeRun): string {
  const dir = path.join(root, name);
  fs.mkdirSync(dir, { recursive: true });
  const config = {
    family: r.family,
    formatVersion: 1,
    createdBy: 'deepgen',
    config: {
      family: r.family,
      model: r.model ?? {},
      data: { dataset: r.dataset ?? 'fashion-mnist' },
      train: { batchSize: r.batchSize ?? 32 },
    },
    dataInfo: { height: 28, width: 28, channels: 1, numClasses: 10 },
  };
  fs.writeFileSync(path.join(dir, 'config.json'), JSON.stringify(config));
  fs.writeFileSync(
    path.join(dir, 'state.json'),
    JSON.stringify({ step: r.step ?? 100, epoch: 1, rng: [1, 2, 3, 4], elapsedSeconds: r.elapsedSeconds ?? 50 }),
  );
  fs.writeFileSync(path.join(dir, 'model.safetensors'), WEIGHTS);
  if (r.evalJson) fs.writeFileSync(path.join(dir, 'eval.json'), JSON.stringify(r.evalJson));
  if (r.condEval) fs.writeFileSync(path.join(dir, 'cond-eval.json'), JSON.stringify(r.condEval));
  return dir;
}

const quality = (fid: number, withKid: boolean) => ({
  n: 1000,
  features: "deepgen's own classifier",
  fid,
  ...(withKid ? { kid: 0.5, kidStd: 0.1 } : {}),
  precision: 0.6,
  recall: 0.4,
  reference: { fid: 3.25, ...(withKid ? { kid: -0.01, kidStd: 0.02 } : {}), precision: 0.85, recall: 0.86 },
  sampleSecondsPerImage: 0.002,
  seconds: 2,
});

const ROOT = path.join(TMP, 'runs');
const RUNS = {
  pixelcnn: makeRun(ROOT, 'pixelcnn-a', {
    family: 'pixelcnn',
    step: 200,
    batchSize: 32,
    elapsedSeconds: 64,
    evalJson: { family: 'pixelcnn', step: 200, n: 100, nll: 1600, bitsPerDim: 3.0278 },
  }),
  // the typed shape (EvalResult); the pixelcnn and vae runs hold the older flat keys
  flow: makeRun(ROOT, 'flow-a', {
    family: 'flow',
    evalJson: {
      step: 100,
      n: 100,
      likelihood: { nats: 1890, bitsPerDim: 3.4919, kind: 'bound', name: 'IWAE k=4', discrete: true, samples: 4 },
      bounds: [{ nats: 1900, bitsPerDim: 3.5055, kind: 'bound', name: 'dequantization', discrete: true }],
      terms: { roundTripMaxAbs: 1e-6 },
    },
  }),
  vae: makeRun(ROOT, 'vae-gauss', {
    family: 'vae',
    model: { likelihood: 'gaussian' },
    evalJson: { step: 100, n: 100, nelbo: 100, nelboBitsPerDim: -1.5 },
  }),
  gan: makeRun(ROOT, 'gan-a', {
    family: 'gan',
    model: { cond: { kind: 'label' } },
    evalJson: { step: 100, sampleQuality: quality(212.2265, true) },
    condEval: { step: 100, kind: 'label', guidance: 3, labels: { overall: 0.937, n: 1000 } },
  }),
  gan2: makeRun(ROOT, 'gan-b', { family: 'gan', evalJson: { step: 100, sampleQuality: quality(300, false) } }),
  diffusion: makeRun(ROOT, 'diffusion-a', {
    family: 'diffusion',
    dataset: 'shapes',
    model: { cond: { kind: 'text' } },
  }),
};
const NOT_A_RUN = path.join(ROOT, 'scratch');
fs.mkdirSync(NOT_A_RUN);

test('params: the sum of the shape products in the safetensors header, __metadata__ skipped, data not read', () => {
  assert.equal(paramsFromSafetensorsHeader(WEIGHTS, 'w'), 18);
  assert.equal(readSafetensorsParams(path.join(RUNS.pixelcnn, 'model.safetensors')), 18);
  const header = WEIGHTS.subarray(0, 8 + new DataView(WEIGHTS.buffer).getUint32(0, true));
  assert.equal(paramsFromSafetensorsHeader(header, 'w'), 18, 'the header alone is enough');
  assert.throws(
    () => paramsFromSafetensorsHeader(new Uint8Array([200, 0, 0, 0, 0, 0, 0, 0, 123]), 'bad.safetensors'),
    (e: unknown) =>
      e instanceof UserError &&
      /bad.safetensors is not a valid safetensors file: header length 200 runs past the end/.test(e.message),
  );
});

test('likelihoodOf: the figure eval.json names (exact or a bound), n/a for densities, models without one and runs not evaluated; older flat eval.json files by their keys', () => {
  const fig = (kind: string, name: string, bitsPerDim = 3, discrete = true) => ({
    n: 10,
    likelihood: { nats: 100, bitsPerDim, kind, name, discrete },
    terms: {},
  });
  const pick = (model: Record<string, unknown> | null, e: Record<string, unknown> | null) => {
    const l = likelihoodOf(model, e, 'runs/x');
    return [l.bitsPerDim, l.kind, l.name];
  };
  // typed
  assert.deepEqual(pick({}, fig('exact', 'exact')), [3, 'exact', 'exact']);
  assert.deepEqual(pick({}, fig('bound', 'VLB', 3.2)), [3.2, 'bound', 'VLB']);
  assert.equal(likelihoodOf({}, fig('bound', 'VLB'), 'r').n, 10);
  const dens = likelihoodOf({ likelihood: 'bernoulli' }, fig('bound', '-ELBO', 0.2, false), 'runs/x');
  assert.deepEqual([dens.bitsPerDim, dens.kind], [null, 'n/a']);
  assert.match(dens.reason, /bernoulli decoder: a density on continuous values, not a probability of 8-bit data/);
  assert.deepEqual(pick({}, { n: 10, terms: { recon: 3 } }), [null, 'n/a', null]);
  assert.match(likelihoodOf({}, { n: 10, terms: { recon: 3 } }, 'r').reason, /^no likelihood/);
  assert.match(likelihoodOf({}, { step: 1, sampleQuality: {} }, 'r').reason, /^no likelihood figure in eval.json/);
  assert.equal(
    likelihoodOf({}, { n: 10, likelihood: { bitsPerDim: Number.NaN, kind: 'exact' }, terms: {} }, 'r').kind,
    'n/a',
    'non-finite numbers are not figures',
  );
  // flat keys of older files
  const ev = { n: 10, bitsPerDim: 3, iwaeK: 8, iwaeBitsPerDim: 2.9 };
  assert.deepEqual(pick({}, { n: 10, bitsPerDim: 3 }), [3, 'exact', 'exact']);
  assert.deepEqual(pick({}, ev), [2.9, 'bound', 'IWAE k=8']);
  assert.deepEqual(pick({}, { bitsPerDim: 3.5, roundTripMaxAbs: 0 }), [3.5, 'bound', 'dequantization']);
  assert.deepEqual(pick({}, { bitsPerDim: 3.5, vlbPriorNats: 0 }), [3.5, 'bound', 'VLB']);
  assert.deepEqual(pick({ likelihood: 'logistic' }, { ...ev, nelboBitsPerDim: 3.1 }), [2.9, 'bound', 'IWAE k=8']);
  assert.deepEqual(pick({ likelihood: 'logistic' }, { nelboBitsPerDim: 3.1 }), [3.1, 'bound', '-ELBO']);
  for (const lik of ['bernoulli', 'gaussian']) {
    const l = likelihoodOf({ likelihood: lik }, { ...ev, nelboBitsPerDim: 3.1 }, 'runs/x');
    assert.equal(l.kind, 'n/a');
    assert.equal(l.bitsPerDim, null);
    assert.match(
      l.reason,
      new RegExp(`${lik} decoder: a density on continuous values, not a probability of 8-bit data`),
    );
  }
  assert.equal(likelihoodOf({}, { nelboBitsPerDim: 3.1 }, 'runs/x').kind, 'n/a', 'bernoulli is the default decoder');
  assert.deepEqual(pick({}, null), [null, 'n/a', null]);
  assert.equal(likelihoodOf({}, null, 'runs/x').reason, 'not evaluated (run deepgen eval runs/x)');
  assert.equal(
    likelihoodOf({}, { denoisingMse: 0.1 }, 'runs/x').reason,
    'not evaluated (run deepgen eval runs/x)',
    'a missing key is not evaluated',
  );
  assert.equal(
    likelihoodOf({}, { bitsPerDim: Number.NaN as unknown as number }, 'r').kind,
    'n/a',
    'non-finite numbers are not figures',
  );
});

test('leaderboard: one markdown row per run with its numbers, sorted by dataset, family, run; runs without eval show n/a', () => {
  const warnings: string[] = [];
  const board = leaderboardOf(Object.values(RUNS).concat(NOT_A_RUN), (l) => warnings.push(l));
  assert.deepEqual(warnings, [`deepgen: warning: skipped ${NOT_A_RUN}: not a run folder (no config.json)`]);
  assert.deepEqual(
    board.rows.map((r) => path.basename(r.run)),
    ['flow-a', 'gan-a', 'gan-b', 'pixelcnn-a', 'vae-gauss', 'diffusion-a'],
  );
  const row = (name: string) => board.rows.find((r) => path.basename(r.run) === name)!;
  assert.ok(board.rows.every((r) => r.params === 18));
  assert.equal(row('pixelcnn-a').imagesPerSec, (200 * 32) / 64);
  assert.deepEqual(row('gan-a').condAccuracy, { kind: 'label', overall: 0.937, heldOut: null, n: 1000, guidance: 3 });

  const md = leaderboardMarkdown(board);
  const lines = md.split('\n');
  const cells = (l: string) => l.replace(/^\| | \|$/g, '').split(' | ');
  const rowLine = (name: string) => {
    const found = lines.filter((l) => l.startsWith(`| ${path.join(ROOT, name)} |`));
    assert.equal(found.length, 1, `one row for ${name}`);
    return cells(found[0]);
  };
  assert.equal(lines.filter((l) => l.startsWith(`| ${ROOT}`)).length, 6);
  const header = cells(lines[0]);
  const col = (name: string, title: string) => rowLine(name)[header.indexOf(title)];
  assert.equal(col('pixelcnn-a', 'params'), '18');
  assert.equal(col('pixelcnn-a', 'steps'), '200');
  assert.equal(col('pixelcnn-a', 'img/s'), '100.0');
  assert.equal(col('pixelcnn-a', 'train time'), '1m04s');
  assert.equal(col('pixelcnn-a', 'bits/dim'), '3.0278');
  assert.equal(col('pixelcnn-a', 'kind'), 'exact');
  assert.equal(col('flow-a', 'bits/dim'), '3.4919');
  assert.equal(col('flow-a', 'kind'), 'bound (IWAE k=4)');
  assert.equal(col('vae-gauss', 'bits/dim'), 'n/a');
  assert.match(col('vae-gauss', 'notes'), /gaussian decoder: a density on continuous values/);
  assert.equal(col('gan-a', 'kind'), 'n/a');
  assert.equal(col('gan-a', 'FID'), '212.23');
  assert.equal(col('gan-a', 'KID'), '0.500 ± 0.100');
  assert.equal(col('gan-a', 'precision'), '0.600');
  assert.equal(col('gan-a', 'n'), '1000');
  assert.equal(col('gan-a', 'ms/sample'), '2.00');
  assert.equal(col('gan-a', 'cond acc'), '93.7%');
  assert.equal(col('gan-b', 'KID'), 'n/a');
  for (const t of ['bits/dim', 'FID', 'cond acc']) assert.equal(col('diffusion-a', t), 'n/a');
  assert.match(col('diffusion-a', 'notes'), /not evaluated \(run deepgen eval .*diffusion-a\)/);
  // the floor once per dataset, its KID taken from the eval that measured it
  assert.equal(lines.filter((l) => l.startsWith('Floor for ')).length, 1);
  assert.match(
    md,
    /Floor for fashion-mnist 28x28x1 \(n = 1000 real training images against the test images\): FID 3\.25, KID -0\.010 ± 0\.020, precision 0\.850, recall 0\.860/,
  );
  assert.match(md, /not Inception/);
});

test('leaderboard JSON round-trips', () => {
  const board = leaderboardOf(Object.values(RUNS), () => {});
  const back = JSON.parse(leaderboardJson(board)) as Leaderboard;
  assert.deepEqual(back, board);
  assert.equal(back.rows.find((r) => r.family === 'flow')!.likelihood.kind, 'bound');
});

test('a folder that is not a run is a one-line error alone, a warning among several or in a pattern', () => {
  assert.throws(
    () => collectRunDirs([NOT_A_RUN], () => {}),
    (e: unknown) =>
      e instanceof UserError &&
      e.message === `${NOT_A_RUN} is not a run folder (no config.json); pass a folder written by deepgen train`,
  );
  assert.throws(() => collectRunDirs([path.join(TMP, 'nope')], () => {}), /nope does not exist; pass run folders/);
  const warnings: string[] = [];
  const dirs = collectRunDirs([path.join(ROOT, '*')], (l) => warnings.push(l));
  assert.equal(dirs.length, 6, 'an unexpanded pattern is expanded here');
  assert.equal(warnings.length, 1);
  assert.throws(() => collectRunDirs([path.join(TMP, 'empty-*')], () => {}), /No files match .*empty-\*; train a run/);
  assert.throws(() => collectRunDirs([NOT_A_RUN, NOT_A_RUN], () => {}), /No run folders among/);
});

test('e2e: deepgen leaderboard prints the table and writes FILE.md and FILE.json; a non-run folder exits 2', async () => {
  const out = path.join(TMP, 'board.md');
  const [ok, bad] = await Promise.all([
    runCli(['leaderboard', RUNS.pixelcnn, RUNS.gan, NOT_A_RUN, '--out', out], { cwd: TMP }),
    runCli(['leaderboard', NOT_A_RUN], { cwd: TMP }),
  ]);
  assert.equal(ok.code, 0, ok.stderr);
  assert.match(ok.stderr, /warning: skipped .*scratch: not a run folder/);
  assert.equal(ok.stdout, fs.readFileSync(out, 'utf8'));
  assert.equal(ok.stdout.split('\n').filter((l) => l.startsWith(`| ${ROOT}`)).length, 2);
  assert.equal(JSON.parse(fs.readFileSync(path.join(TMP, 'board.json'), 'utf8')).rows.length, 2);
  assert.equal(bad.code, 2);
  assert.equal(
    bad.stderr,
    `deepgen: error: ${NOT_A_RUN} is not a run folder (no config.json); pass a folder written by deepgen train\n`,
  );
});
