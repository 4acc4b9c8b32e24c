// Fine-tuning with --init: the new run starts from the source model's weights (its EMA ones when kept, F16 ones from a
// model-only folder), trains from step 0, records where it started, resumes without the source; every misfit (family,
// image shape, classes, caption words, architecture, --init with --resume) is one line.
import { before, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import '../helpers/backend.ts';
import { TEST_BACKEND } from '../helpers/backend.ts';
import { assertUserError, runCli } from '../helpers/cli.ts';
import { train, type RunConfigInput } from '../../src/node/train.ts';
import { loadCheckpoint, readCheckpointConfig } from '../../src/node/checkpoint-store.ts';
import { resolveRunConfig } from '../../src/node/run-config.ts';
import { dataInfoOf, prepareRun, loadSplit } from '../../src/node/train/prepare.ts';
import { learnMerges } from '../../src/core/conditioning/bpe.ts';
import { initConfigLayer, initDataInfo, readInitModel, type InitModel } from '../../src/node/train/init.ts';
import { emaVarsOf } from '../../src/core/train/model-step.ts';
import {
  encodeSafetensors,
  recordToF16,
  recordToFloat32,
  type TensorRecord,
} from '../../src/core/checkpoint/safetensors.ts';
import { writePng } from '../../src/node/png.ts';
import { UserError } from '../../src/core/errors.ts';

const tmp = () => fs.mkdtempSync(path.join(os.tmpdir(), 'deepgen-init-'));
const backend = TEST_BACKEND as 'cpu';
const quiet = () => {};

/** The source model: a tiny VAE on 8x8 shapes that keeps an EMA (so its EMA and model weights differ). */
const SOURCE: RunConfigInput = {
  family: 'vae',
  model: { hidden: [16], latent: 2 },
  data: { dataset: 'shapes', size: 8, trainN: 64, testN: 16 },
  train: { steps: 6, batchSize: 32, ema: 0.9, lr: 1e-2, seed: 3, logEvery: 1, sampleEvery: 0, checkpointEvery: 0 },
};
let src = '';

before(async () => {
  src = path.join(tmp(), 'src');
  await train(SOURCE, { out: src, backend, finish: false });
});

type Records = Record<string, TensorRecord>;
const floats = (recs: Records) => Object.fromEntries(Object.entries(recs).map(([k, r]) => [k, recordToFloat32(r)]));

/** Largest |a - b| over the variables' values and the records of the same names. */
async function maxDiff(vars: Record<string, tf.Tensor>, recs: Records): Promise<number> {
  assert.deepEqual(Object.keys(vars).sort(), Object.keys(recs).sort());
  let m = 0;
  for (const [k, v] of Object.entries(vars)) {
    const a = (await v.data()) as Float32Array;
    const b = recordToFloat32(recs[k]!);
    for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  }
  return m;
}

/** The prepared run of `init` (weights loaded, no step done); disposed after `check`. */
async function prepared(init: InitModel, check: (st: Awaited<ReturnType<typeof prepareRun>>) => Promise<void>) {
  const config = resolveRunConfig('vae', [initConfigLayer(init, undefined, [], [])], []);
  const st = await prepareRun({ config, out: path.join(tmp(), 'new'), backend, init, log: quiet });
  try {
    await check(st);
  } finally {
    st.trainer.dispose();
    st.model.dispose();
  }
}

test('init: the new model starts with the source EMA weights (its EMA too), then training changes them from step 0', async () => {
  const ck = loadCheckpoint(src);
  assert.ok(ck.ema, 'the source keeps an EMA');
  const emaVsModel = Object.keys(ck.ema!).some((k) => {
    const [a, b] = [recordToFloat32(ck.ema![k]!), recordToFloat32(ck.weights[k]!)];
    return a.some((x, i) => x !== b[i]);
  });
  assert.ok(emaVsModel, 'EMA and model weights of the source differ, so the test can tell which was loaded');
  const init = await readInitModel(src);
  assert.equal(init.step, 6);
  const lines: string[] = [];
  await prepared(init, async (st) => {
    assert.equal(st.trainer.step, 0);
    assert.equal(await maxDiff(emaVarsOf(st.model), ck.ema!), 0, 'model weights are the source EMA weights');
    assert.equal(await maxDiff(st.trainer.ema!.shadow, ck.ema!), 0, 'the new EMA starts from them');
  });
  const out = path.join(tmp(), 'tuned');
  await train({ family: 'vae', train: { steps: 3 } }, { out, backend, finish: false, init: src }); // warm-up
  const tensors = tf.memory().numTensors;
  const out2 = path.join(tmp(), 'tuned2');
  const r = await train(
    { train: { steps: 3, lr: 5e-3 } },
    { out: out2, backend, finish: false, init: src, log: (l) => lines.push(l) },
  );
  assert.equal(tf.memory().numTensors, tensors, 'tensors leaked by train() with init');
  assert.equal(r.step, 3);
  assert.equal(r.config.train.lr, 5e-3);
  assert.equal(r.config.model.latent, 2, "the source's model config is the base");
  const tuned = loadCheckpoint(out2);
  assert.equal(tuned.state.step, 3);
  assert.deepEqual(tuned.config.init, { spec: src, step: 6 });
  assert.ok(tuned.state.optimizerStep === 3, 'a fresh Adam: 3 updates');
  const [a, b] = [floats(tuned.weights), floats(ck.ema!)];
  assert.ok(
    Object.keys(a).some((k) => a[k]!.some((x, i) => x !== b[k]![i])),
    'three steps changed the weights',
  );
  assert.ok(
    lines.some((l) => l.startsWith(`Starting from ${src} (step 6): its EMA weights`)),
    lines.join('\n'),
  );
});

const toF16 = (recs: Records): Records =>
  Object.fromEntries(Object.entries(recs).map(([k, r]) => [k, recordToF16(r)!]));

test('init from a model-only folder with F16 weights: the decoded F16 EMA weights, no step recorded', async () => {
  const ck = loadCheckpoint(src);
  const dir = path.join(tmp(), 'model-only');
  fs.mkdirSync(dir);
  const config = readCheckpointConfig(src);
  fs.writeFileSync(path.join(dir, 'config.json'), JSON.stringify(config));
  const [model16, ema16] = [toF16(ck.weights), toF16(ck.ema!)];
  fs.writeFileSync(path.join(dir, 'model.safetensors'), encodeSafetensors(model16));
  fs.writeFileSync(path.join(dir, 'ema.safetensors'), encodeSafetensors(ema16));
  const init = await readInitModel(dir);
  assert.equal(init.step, undefined);
  await prepared(init, async (st) => {
    assert.equal(await maxDiff(emaVarsOf(st.model), ema16), 0, 'the F16 EMA weights, decoded');
    assert.ok((await maxDiff(emaVarsOf(st.model), ck.ema!)) > 0, 'not the float32 ones: the F16 file was read');
  });
  const out = path.join(tmp(), 'from-f16');
  await train({ family: 'vae', train: { steps: 2 } }, { out, backend, finish: false, init: dir });
  assert.deepEqual(readCheckpointConfig(out).init, { spec: dir });
});

test('CLI: family, image shape, architecture and --resume misfits are one line each (exit 2)', async () => {
  const cwd = tmp();
  const run = (...args: string[]) =>
    runCli(['train', ...args, '--backend', 'cpu', '--quiet', '--steps', '2'], { cwd, env: { ...process.env } });
  assertUserError(await run('gan', '--init', src, '--out', 'a'), /is a vae model, not gan/, /drop the family/);
  assertUserError(await run('--init', src, '--size', '16', '--out', 'b'), /8x8x3/, /16x16x3/, /--size 8/);
  assertUserError(
    await run('--init', src, '--latent', '5', '--out', 'c'),
    /does not match the model/,
    /\[2,5\]|\[5,|,5\]/,
    /--init needs the same architecture/,
  );
  assertUserError(await run('--init', src, '--resume', '--out', 'd'), /--init .*--resume.*drop one of them/);
  for (const d of ['a', 'b', 'c', 'd']) assert.ok(!fs.existsSync(path.join(cwd, d, 'config.json')), `no run in ${d}`);
});

test('CLI: a fine-tuned run resumes after its init source is gone', async () => {
  const cwd = tmp();
  const source = path.join(cwd, 'source');
  fs.cpSync(src, source, { recursive: true });
  const env = { ...process.env };
  const first = await runCli(
    ['train', '--init', 'source', '--steps', '4', '--stop-at', '2', '--out', 'tuned', '--backend', 'cpu', '--quiet'],
    { cwd, env },
  );
  assert.equal(first.code, 0, first.stderr);
  assert.match(first.stderr, /Starting from source \(step 6\): its EMA weights/);
  fs.rmSync(source, { recursive: true });
  const again = await runCli(['train', '--resume', '--out', 'tuned', '--backend', 'cpu', '--quiet'], { cwd, env });
  assert.equal(again.code, 0, again.stderr);
  const ck = loadCheckpoint(path.join(cwd, 'tuned'));
  assert.equal(ck.state.step, 4);
  assert.deepEqual(ck.config.init, { spec: 'source', step: 6 });
});

/** An InitModel with only a config and data info, for the checks that come before any weight. */
function fakeInit(info: InitModel['info'], model: Record<string, unknown> = {}): InitModel {
  const config = resolveRunConfig('vae', [{ model, data: { dataset: 'shapes', size: 8, dataDir: '/x' } }], []);
  return {
    spec: 'zoo:fake',
    dir: '/nowhere',
    config: { family: 'vae', formatVersion: 1, createdBy: 'deepgen', config, dataInfo: info },
    info,
    weights: {},
  };
}
const INFO = { height: 8, width: 8, channels: 3, numClasses: 2, classNames: ['a', 'b'] };

test('initDataInfo: classes and caption words must fit; a text model keeps its vocabulary; grey folder fix', () => {
  const cfg = (kind: string, dataset = 'shapes') => ({ model: { cond: { kind } }, data: { dataset } });
  const label = fakeInit(INFO, { cond: { kind: 'label' } });
  assert.throws(
    () => initDataInfo(label, { ...INFO, numClasses: 3 }, cfg('label'), 'folder:pics/train'),
    (e: Error) => e instanceof UserError && /trained on 2 classes but folder:pics\/train has 3/.test(e.message),
  );
  assert.equal(initDataInfo(label, { ...INFO, numClasses: 3 }, cfg('none'), 'x').numClasses, 3, 'unconditional');
  const text = fakeInit({ ...INFO, vocabulary: ['a', 'blue', 'red', 'square'] });
  const sub = initDataInfo(text, { ...INFO, vocabulary: ['blue', 'square'] }, cfg('text'), 'd');
  assert.deepEqual(sub.vocabulary, ['a', 'blue', 'red', 'square'], "the init model's vocabulary: ids stay");
  assert.throws(
    () => initDataInfo(text, { ...INFO, vocabulary: ['blue', 'shoe', 'zebra'] }, cfg('text'), 'd'),
    (e: Error) => e instanceof UserError && /knows 4 caption words but d uses 2 others \(shoe, zebra\)/.test(e.message),
  );
  const grey = fakeInit({ ...INFO, height: 28, width: 28, channels: 1 });
  assert.throws(
    () => initDataInfo(grey, INFO, cfg('none', 'folder:pics'), 'folder:pics/train'),
    (e: Error) =>
      e instanceof UserError &&
      /28x28x1 images but folder:pics\/train gives 8x8x3.*--size 28, --set data.channels=1/.test(e.message),
  );
});

test('initDataInfo: a bpe text model keeps its vocabulary and merges and takes captions with words it never saw', () => {
  const bpe = () => ({ model: { cond: { kind: 'text', tokenizer: 'bpe' } }, data: { dataset: 'shapes' } });
  const merges = ['r e', 're d</w>'];
  const text = fakeInit({ ...INFO, vocabulary: ['blue', 'red', 'square'], merges });
  const fresh = { ...INFO, vocabulary: ['purplish', 'zebra'], merges: ['z e'] };
  const got = initDataInfo(text, fresh, bpe(), 'd');
  assert.deepEqual(got.vocabulary, ['blue', 'red', 'square'], "the init model's alphabet: ids stay");
  assert.deepEqual(got.merges, merges, "the init model's merges, not the new data's");
  assert.throws(
    () => initDataInfo(fakeInit({ ...INFO, vocabulary: ['red'] }), fresh, bpe(), 'd'),
    (e: Error) =>
      e instanceof UserError && /--init zoo:fake has no BPE merges .*model\.cond\.tokenizer=word/.test(e.message),
  );
});

test('dataInfoOf: BPE merges for a text model with cond.tokenizer bpe only', () => {
  const captions = ['a red apple', 'A green apple', 'a grinning cat face'];
  const ds = { name: 'x', height: 2, width: 2, channels: 1, n: 3, images: new Uint8Array(12), captions };
  const of = (cond?: Record<string, unknown>) => dataInfoOf(ds, cond && { cond });
  assert.deepEqual(of().vocabulary, ['a', 'apple', 'cat', 'face', 'green', 'grinning', 'red']);
  for (const info of [of(), of({ kind: 'text' }), of({ kind: 'label', tokenizer: 'bpe' })])
    assert.equal(info.merges, undefined);
  assert.deepEqual(of({ kind: 'text', tokenizer: 'bpe', merges: 7 }).merges, learnMerges(captions, 7));
  assert.deepEqual(of({ kind: 'text', tokenizer: 'bpe' }).merges, learnMerges(captions, 800), 'cond.merges default');
});

test('initConfigLayer: another dataset keeps only size and preprocessing, read at its shape; epochs without steps drop its steps', () => {
  const init = fakeInit(INFO);
  (init.config.config as { train: { steps: number } }).train.steps = 500;
  const same = initConfigLayer(init, 'vae', [{ train: { lr: 1e-4 } }], []);
  assert.equal((same.data as { dataDir?: string }).dataDir, '/x');
  assert.equal((same.train as { steps: number }).steps, 500);
  const other = initConfigLayer(init, undefined, [{ data: { dataset: 'folder:pics' } }], ['train.epochs=2']);
  assert.deepEqual(Object.keys(other.data as object).sort(), ['preprocess', 'size', 'testSeed']);
  assert.equal((other.train as { steps: number }).steps, 0);
  const grey = fakeInit({ ...INFO, height: 28, width: 28, channels: 1 });
  delete (grey.config.config as { data: { size?: number } }).data.size;
  const pics = initConfigLayer(grey, undefined, [{ data: { dataset: 'folder:pics' } }], []);
  assert.deepEqual(
    pics.data,
    { size: 28, channels: 1, preprocess: 'binarize-dynamic', testSeed: 0 },
    'read at its shape',
  );
  const viaSet = initConfigLayer(init, undefined, [], ['data.dataset=mnist', 'train.epochs=2', 'train.steps=9']);
  assert.equal((viaSet.data as { dataDir?: string }).dataDir, undefined);
  assert.equal((viaSet.train as { steps: number }).steps, 500, 'the user sets steps too: theirs win later');
});

/** A folder of n small RGB PNGs (side px), made of a pattern seeded by k. */
function pngFolder(n: number, side: number, k: number): string {
  const dir = tmp();
  for (let i = 0; i < n; i++) {
    const data = new Uint8Array(side * side * 3).map((_, j) => (k * 31 + i * 20 + j * 7) & 255);
    writePng(path.join(dir, `${i}.png`), { height: side, width: side, channels: 3, data });
  }
  return dir;
}

test('data.channels: a folder read as grey; other datasets refuse it; a grey model fine-tunes on an RGB folder', async () => {
  const a = pngFolder(20, 6, 1);
  const cfg = resolveRunConfig('vae', [{ data: { dataset: `folder:${a}`, size: 8, channels: 1 } }], []);
  const ds = loadSplit(cfg, 'train');
  assert.equal(ds.channels, 1);
  assert.equal(ds.height, 8);
  assert.throws(
    () => resolveRunConfig('vae', [{ data: { dataset: 'shapes', channels: 1 } }], []),
    (e: Error) => e instanceof UserError && /channels only apply to folder: datasets/.test(e.message),
  );
  const grey = path.join(tmp(), 'grey');
  const small = { hidden: [8], latent: 2 };
  const steps = { steps: 2, batchSize: 8, sampleEvery: 0, checkpointEvery: 0 };
  await train(
    { family: 'vae', model: small, data: { dataset: `folder:${a}`, size: 8, channels: 1 }, train: steps },
    { out: grey, backend, finish: false },
  );
  const b = pngFolder(20, 12, 2); // RGB, another size: read at the grey model's 8x8x1
  const r = await train(
    { data: { dataset: `folder:${b}` } },
    { out: path.join(tmp(), 'tuned'), backend, finish: false, init: grey },
  );
  assert.equal(r.config.data.channels, 1);
  assert.equal(r.config.data.size, 8);
  assert.equal(r.step, 2);
});
