// deepgen -> PyTorch -> deepgen: every exported family's networks agree with PyTorch's on the same weights and inputs
// (1e-4 max abs), train.py's loss of one batch agrees with deepgen's on the same draws, export then import is
// bit-exact, and bad packages get one-line errors. Needs Debian's python3-torch (CI sets DEEPGEN_REQUIRE_TORCH=1).
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { variablesToRecords } from '../../src/core/checkpoint/format.ts';
import { encodeSafetensors } from '../../src/core/checkpoint/safetensors.ts';
import type { GenerativeModel } from '../../src/core/family.ts';
import type { FamilyName } from '../../src/core/registry.ts';
import { mixSeed, Rng } from '../../src/core/tensor/rng.ts';
import { drawNoise } from '../../src/core/families/gan/sample.ts';
import type { GanModel } from '../../src/core/families/gan/index.ts';
import type { DiffusionModel } from '../../src/core/families/diffusion/index.ts';
import type { VaeModel } from '../../src/core/families/vae/index.ts';
import { exportTorch, importTorch } from '../../src/node/torch-package.ts';
import { torchPackage } from '../../src/core/export/export.ts';
import { loadRun } from '../../src/node/run.ts';
import { trainTinyRun, type TinyRunOptions } from '../helpers/tiny-run.ts';
import { readFloats } from '../helpers/checkpoint-files.ts';
import { assertUserError, runCli } from '../helpers/cli.ts';
import { PYTHON, torchMissing } from '../helpers/torch.ts';

const missing = torchMissing();

const CASES: [string, FamilyName, TinyRunOptions][] = [
  ['diffusion-label', 'diffusion', { model: { cond: { kind: 'label', dropProb: 0.5 } } }],
  ['diffusion-text', 'diffusion', { model: { cond: { kind: 'text' } } }],
  ['diffusion-v', 'diffusion', { model: { prediction: 'v', lossWeight: 'min-snr', schedule: 'cosine' } }],
  ['vae-conv-label', 'vae', { model: { arch: 'conv', cond: { kind: 'label', dropProb: 0.5 } } }],
  ['vae-gaussian', 'vae', { model: { likelihood: 'gaussian' } }],
  ['vae-logistic', 'vae', { model: { arch: 'conv', likelihood: 'logistic' } }],
  ['ae', 'ae', {}],
  ['gan-label', 'gan', { model: { cond: { kind: 'label', dropProb: 0.5 } } }],
  ['gan-hinge-spectral', 'gan', { model: { loss: 'hinge', dNorm: 'spectral' } }],
  ['gan-mlp-text', 'gan', { model: { arch: 'mlp', cond: { kind: 'text' } } }],
  ['pixelcnn-label', 'pixelcnn', { model: { cond: { kind: 'label', dropProb: 0.5 } } }],
  ['pixelcnn-bernoulli', 'pixelcnn', { model: { output: 'bernoulli' } }],
  ['igpt-label', 'igpt', { model: { cond: { kind: 'label', dropProb: 0.5 } } }],
  ['igpt-text', 'igpt', { model: { cond: { kind: 'text' } } }],
  ['flow', 'flow', {}],
  ['flow-lu-label', 'flow', { model: { permutation: 'conv1x1-lu', cond: { kind: 'label', dropProb: 0.5 } } }],
];

const B = 4;

/** The inputs and outputs of every network on seeded examples (B = 3), and one batch's loss with its draws. */
async function writeIo(model: GenerativeModel, family: string, name: string, dir: string): Promise<void> {
  const io: Record<string, tf.Tensor> = {};
  for (const net of model.networks!()) {
    const ins = net.example(3, 7);
    const outs = net.run(ins);
    for (const [k, v] of Object.entries(ins)) io[`${net.name}.in.${k}`] = v;
    for (const [k, v] of Object.entries(outs)) io[`${net.name}.out.${k}`] = v;
  }
  const info = (model as unknown as { info: { height: number; width: number; channels: number; numClasses: number } })
    .info;
  const shape: [number, number, number, number] = [B, info.height, info.width, info.channels];
  const labelled = name.includes('label');
  const y = labelled
    ? tf.tensor1d(
        [0, 1, 2, 3].map((i) => i % info.numClasses),
        'int32',
      )
    : null;
  if (y) io['loss.labels'] = y;
  const seed = 77;
  const put = (drop: boolean[] | null | undefined) => {
    if (drop) io['loss.drop'] = tf.tensor1d(drop.map((d) => (d ? 1 : 0)));
  };
  if (name.includes('text') || name.includes('logistic')) {
    // forward agreement only: text losses need deepgen's tokenizer, the logistic VAE's loss is not in train.py
  } else if (family === 'diffusion') {
    const m = model as unknown as DiffusionModel;
    const x = tf.randomUniform(shape, -1, 1, 'float32', 5);
    io['loss.expected'] = tf.tidy(() => tf.reshape(m.loss(x as tf.Tensor4D, y, seed).loss, [1]));
    // the draws of DiffusionModel.loss and diffusionLoss, in their order
    const rng = new Rng(seed);
    const lossSeed = rng.seed(),
      dropSeed = rng.seed();
    const r = new Rng(lossSeed);
    io['loss.t'] = tf.tensor1d(
      Array.from({ length: B }, () => r.int(m.cfg.T)),
      'int32',
    );
    io['loss.eps'] = tf.randomNormal(shape, 0, 1, 'float32', r.seed());
    io['loss.x'] = x;
    put(m.cond?.dropMask(B, dropSeed));
  } else if (family === 'vae' || family === 'ae') {
    const m = model as unknown as VaeModel;
    const x = tf.randomUniform(shape, 0, 1, 'float32', 5);
    io['loss.expected'] = tf.tidy(() => tf.reshape(m.loss(x as tf.Tensor4D, y, seed).loss, [1]));
    io['loss.eps'] = tf.randomNormal([B, m.cfg.latent], 0, 1, 'float32', seed); // reparameterise(mu, logVar, seed)
    io['loss.x'] = x;
    put(m.nets.cond?.dropMask(B, mixSeed(seed, 17)));
  } else if (family === 'pixelcnn' || family === 'igpt' || family === 'flow') {
    // their one draw is the condition's drop mask (the flow's uniform dequantization is the data pipeline's)
    const m = model as unknown as { cond: { dropMask(B: number, seed: number): boolean[] } | null };
    const x = tf.randomUniform(shape, 0.001, 0.999, 'float32', 5);
    io['loss.expected'] = tf.tidy(() => tf.reshape(model.loss(x as tf.Tensor4D, y, seed).loss, [1]));
    io['loss.x'] = x;
    put(m.cond?.dropMask(B, new Rng(seed).seed()));
  } else {
    const m = model as unknown as GanModel;
    const x = tf.randomUniform(shape, -1, 1, 'float32', 5) as tf.Tensor4D;
    const drop = m.dropMask(B, 5);
    const c = { labels: y };
    const z = drawNoise(B, m.cfg.latent, 11);
    const lossD = tf.tidy(() => m.discriminatorObjective(x, m.generate(z, c, drop), c, drop, 0).loss);
    const lossG = tf.tidy(() => m.generatorObjective(B, c, drop, 12).loss);
    io['loss.expected'] = tf.stack([lossD, lossG]);
    io['loss.x'] = x;
    io['loss.z'] = z;
    io['loss.zG'] = drawNoise(B, m.cfg.latent, 12);
    put(drop);
  }
  fs.writeFileSync(path.join(dir, 'io.safetensors'), encodeSafetensors(await variablesToRecords(io)));
  tf.dispose(Object.values(io));
}

describe('export to PyTorch and import back', { skip: missing ?? false }, () => {
  let root: string;
  const runs: Record<string, string> = {};
  const pkgs: Record<string, string> = {};
  let results: Record<string, Record<string, number | number[] | string[]>>;

  before(async () => {
    root = fs.mkdtempSync(path.join(os.tmpdir(), 'deepgen-torch-'));
    for (const [name, family, o] of CASES) {
      runs[name] = await trainTinyRun(family, path.join(root, 'runs', name), { steps: 3, ...o });
      pkgs[name] = path.join(root, 'pt', name);
      await exportTorch(runs[name], pkgs[name]);
      const run = await loadRun(runs[name], { backend: 'cpu', useEma: false });
      try {
        await writeIo(run.model, family, name, pkgs[name]);
      } finally {
        run.model.dispose();
      }
    }
    const out = execFileSync(PYTHON, [path.join(import.meta.dirname, 'check.py'), ...Object.values(pkgs)], {
      encoding: 'utf8',
      maxBuffer: 64 << 20,
    });
    results = JSON.parse(out) as typeof results;
  });
  after(() => fs.rmSync(root, { recursive: true, force: true }));

  for (const [name] of CASES) {
    test(`${name}: every network output agrees with PyTorch to 1e-4, over every parameter`, async () => {
      const r = results[pkgs[name]];
      const outputs = Object.entries(r).filter(([k]) => !k.startsWith('loss') && k !== 'params');
      assert.ok(outputs.length >= 1, `${name}: ${JSON.stringify(Object.keys(r))}`);
      for (const [k, diff] of outputs) assert.ok((diff as number) <= 1e-4, `${name} ${k}: max abs diff ${diff}`);
      // the PyTorch model holds exactly deepgen's tensors, under the same names
      const run = await loadRun(runs[name], { backend: 'cpu', useEma: false });
      try {
        assert.deepEqual(r.params, Object.keys(run.model.params.all()).sort());
      } finally {
        run.model.dispose();
      }
    });
  }

  for (const [name] of CASES.filter(([n]) => !n.includes('text') && !n.includes('logistic')))
    test(`${name}: train.py's loss of one batch equals deepgen's on the same draws`, () => {
      const r = results[pkgs[name]];
      const pairs = Object.entries(r).filter(([k]) => k.startsWith('loss')) as [string, number[]][];
      assert.ok(pairs.length >= 1, `${name}: no loss compared`);
      for (const [k, [torch, deepgen]] of pairs)
        assert.ok(
          Math.abs(torch - deepgen) <= 1e-4 * Math.max(1, Math.abs(deepgen)),
          `${name} ${k}: PyTorch ${torch}, deepgen ${deepgen}`,
        );
    });

  test('export then import is bit-exact, and the imported run samples', async () => {
    for (const name of ['diffusion-text', 'vae-conv-label', 'gan-label']) {
      const back = path.join(root, 'back', name);
      await importTorch(pkgs[name], back);
      const a = readFloats(path.join(runs[name], 'model.safetensors'));
      const b = readFloats(path.join(back, 'model.safetensors'));
      assert.deepEqual(Object.keys(b).sort(), Object.keys(a).sort());
      for (const k of Object.keys(a)) {
        assert.deepEqual(b[k].shape, a[k].shape, k);
        assert.ok(Buffer.from(b[k].data.buffer).equals(Buffer.from(a[k].data.buffer)), `${name} ${k} changed`);
      }
    }
    const r = await runCli(['sample', path.join(root, 'back', 'gan-label'), '--n', '4', '--label', '1'], { cwd: root });
    assert.equal(r.code, 0, r.stderr);
  });

  test('tracing leaves no tensor behind, and gives the same model.py twice', async () => {
    const run = await loadRun(runs['diffusion-label'], { backend: 'cpu', useEma: false });
    try {
      const first = torchPackage(run.model, 'diffusion', '# t').modelPy;
      const before = tf.memory().numTensors;
      const second = torchPackage(run.model, 'diffusion', '# t').modelPy;
      assert.equal(tf.memory().numTensors, before);
      assert.equal(second, first);
    } finally {
      run.model.dispose();
    }
  });

  test('one-line errors: an unknown target, a family not exported, a folder that is no package, a wrong shape', async () => {
    const oneshot = await trainTinyRun('oneshot', path.join(root, 'runs', 'oneshot'), {
      steps: 1,
      model: { cond: { kind: 'label' } },
    });
    assertUserError(
      await runCli(['export', oneshot, path.join(root, 'o'), '--to', 'pytorch'], { cwd: root }),
      /the oneshot family cannot be exported to PyTorch yet/,
    );
    assertUserError(
      await runCli(['export', runs['ae'], path.join(root, 'x'), '--to', 'onnx'], { cwd: root }),
      /--to pytorch/,
    );
    assertUserError(
      await runCli(['import', root, '--out', path.join(root, 'y')], { cwd: root }),
      /No config\.json in .*deepgen export/,
    );
    // a tensor of the wrong shape and one missing: both named, nothing written
    const bad = path.join(root, 'bad');
    fs.cpSync(pkgs['ae'], bad, { recursive: true });
    const w = readFloats(path.join(bad, 'weights.safetensors'));
    const names = Object.keys(w).sort();
    const reshaped = names.find((k) => w[k].shape.length === 2)!; // [a, b] written as [b, a]
    const recs = Object.fromEntries(
      names
        .slice(1)
        .map((k) => [
          k,
          { dtype: 'F32' as const, shape: k === reshaped ? w[k].shape.slice().reverse() : w[k].shape, data: w[k].data },
        ]),
    );
    fs.writeFileSync(path.join(bad, 'weights.safetensors'), encodeSafetensors(recs));
    const out = path.join(root, 'bad-run');
    const msg = assertUserError(
      await runCli(['import', bad, '--out', out], { cwd: root }),
      /does not fit the exported model/,
    );
    assert.match(msg, new RegExp(`missing ${names[0].replace(/\./g, '\\.')}`));
    assert.match(msg, new RegExp(`${reshaped.replace(/\./g, '\\.')} is \\[`));
    assert.ok(!fs.existsSync(out), 'nothing written');
  });
});
