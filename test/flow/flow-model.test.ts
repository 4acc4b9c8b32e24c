// The flow family as a model: the NLL in nats and bits/dim against closed forms and against the full Jacobian of
// y -> z, actnorm's data-dependent init inside training (and not again after loading), sampling with a temperature,
// conditioning of every coupling network, variational dequantization, evaluation, pictures and config errors.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs-core';
import { mixSeed } from '../../src/core/tensor/rng.ts';
import '../helpers/backend.ts';
import { userError } from '../helpers/assert.ts';
import type { DataInfo } from '../../src/core/family.ts';
import { registry } from '../../src/core/registry.ts';
import { trainSchema } from '../../src/core/config/schema.ts';
import { Trainer } from '../../src/core/train/trainer.ts';
import { assignRecords, variablesToRecords } from '../../src/core/checkpoint/format.ts';
import { decodeSafetensors, encodeSafetensors } from '../../src/core/checkpoint/safetensors.ts';
import { FlowModel, PICTURE_TEMPERATURES } from '../../src/core/families/flow/index.ts';
import { flowModelSchema, type FlowModelConfig } from '../../src/core/families/flow/config.ts';
import { flowLoss, negLogDensity, nll8bit, LOG_256 } from '../../src/core/families/flow/loss.ts';
import { MultiScaleFlow } from '../../src/core/families/flow/model.ts';
import { drawLatents, roundTrip } from '../../src/core/families/flow/sample.ts';
import { ActNorm, squeeze } from '../../src/core/families/flow/layers.ts';
import { logAbsDet } from '../../src/core/families/flow/linalg.ts';

const fam = registry.flow;
const cfgOf = (over: Record<string, unknown> = {}): FlowModelConfig =>
  flowModelSchema.parse({
    hidden: 8,
    steps: 2,
    scales: 2,
    ...over,
    cond: { dim: 8, textHeads: 2, ...((over.cond as object) ?? {}) },
  });
const infoOf = (H: number, C: number): DataInfo => ({
  height: H,
  width: H,
  channels: C,
  numClasses: 4,
  classNames: ['a', 'b', 'c', 'd'],
  vocabulary: ['a', 'blue', 'circle', 'red', 'square'],
});
const maxAbs = (a: tf.Tensor, b: tf.Tensor) => tf.tidy(() => tf.max(tf.abs(tf.sub(a, b))).dataSync()[0]);
/** Dequantized 8-bit data (k + u)/256. */
const dequantized = (shape: number[], seed: number) =>
  tf.tidy(() =>
    tf.div(
      tf.add(
        tf.floor(tf.randomUniform(shape, 0, 256, 'float32', seed)),
        tf.randomUniform(shape, 0, 0.998, 'float32', seed + 1),
      ),
      256,
    ),
  ) as tf.Tensor4D;

function perturb(m: FlowModel, seed: number, std = 0.15): void {
  let i = 0;
  for (const [k, v] of Object.entries(m.params.vars))
    if (!k.startsWith('cond.'))
      v.assign(tf.tidy(() => tf.add(v, tf.randomNormal(v.shape, 0, std, 'float32', seed + i++))));
}

test('defaults: a two-scale conv flow for Fashion-MNIST 28x28x1 on dequantized data, sampled at a temperature', () => {
  const d = fam.modelSchema.parse(fam.defaults.model);
  assert.equal(d.arch, 'conv');
  assert.equal(d.scales, 2);
  assert.equal(fam.defaults.data.preprocess, 'dequantize');
  assert.equal(fam.requiredPreprocess, 'dequantize');
  assert.deepEqual(fam.samplingOptions, ['temperature']);
  const m = fam.create(d, infoOf(28, 1), 1) as FlowModel;
  assert.deepEqual(m.flow.latentShapes, [
    [14, 14, 2],
    [7, 7, 8],
  ]);
  assert.ok(m.params.numParams() > 50_000 && m.params.numParams() < 300_000, `${m.params.numParams()} params`);
  m.dispose();
});

test('config errors name the problem and the fix', () => {
  userError(
    () => new FlowModel(cfgOf({ scales: 3 }), infoOf(28, 1), 1),
    /model\.scales=3 .*divisible by 8, got 28x28; set model\.scales=2/,
  );
  userError(
    () => new FlowModel(cfgOf({ scales: 1 }), infoOf(7, 1), 1),
    /divisible by 2, got 7x7; resize the images to even sides \(e\.g\. data\.size=8\)/,
  );
  assert.equal(flowModelSchema.safeParse({ layers: 3 }).success, false, 'unknown keys are rejected');
  assert.equal(flowModelSchema.safeParse({ permutation: 'shuffle' }).success, false);
  assert.equal(flowModelSchema.safeParse({ logitAlpha: 0.5 }).success, false);
  const m = new FlowModel(cfgOf(), infoOf(8, 3), 1);
  userError(() => m.sample(2, 1, { temperature: -0.5 }), /temperature must be a number >= 0/);
  userError(() => m.sample(2, 1, { temperature: NaN }), /temperature must be a number >= 0/);
  userError(() => m.sample(0, 1), /positive integer/);
  userError(() => m.sample(2, 1, { labels: [1] }), /not label-conditional/);
  m.dispose();
});

test('bits/dim of the identity flow on uniform data: E[-log N(u; 0, 1)] = ln(2 pi)/2 + 1/6 per dim, plus log 256, over ln 2', () => {
  const D = 64,
    N = 2000;
  const u = tf.randomUniform([N, 8, 8, 1], 0, 1, 'float32', 3) as tf.Tensor4D;
  const perDim = tf.tidy(() => tf.mean(negLogDensity([u], tf.zeros([N]))).dataSync()[0] / D);
  const expected = 0.5 * Math.log(2 * Math.PI) + 1 / 6; // E[u^2/2] = 1/6
  assert.ok(Math.abs(perDim - expected) < 3e-3, `${perDim} vs ${expected}`); // standard error ~5e-4
  const out = tf.tidy(() => {
    const o = flowLoss(nll8bit(negLogDensity([u], tf.zeros([N])), D, null), D);
    return [o.loss.dataSync()[0], o.terms.bitsPerDim.dataSync()[0]];
  });
  const bpd = (expected + Math.log(256)) / Math.LN2; // 9.566
  assert.ok(Math.abs(out[1] - bpd) < 5e-3, `bits/dim ${out[1]} vs ${bpd}`);
  assert.ok(Math.abs(out[0] - (expected + LOG_256) * D) < 0.3, `nats ${out[0]}`);
  // a variational q adds log q(u|x) to the bound
  const withQ = tf.tidy(() => nll8bit(tf.tensor1d([10, 20]), 4, tf.tensor1d([-1, -2])).dataSync());
  assert.deepEqual(
    Array.from(withQ).map((v) => +v.toFixed(4)),
    [10 + 4 * LOG_256 - 1, 20 + 4 * LOG_256 - 2].map((v) => +v.toFixed(4)),
  );
  u.dispose();
});

test('an untrained flow is a norm-preserving map: the NLL has its closed form, with the logit log-det counted', () => {
  const info = infoOf(8, 1),
    D = 64;
  const y = dequantized([3, 8, 8, 1], 5);
  const yd = Array.from(y.dataSync());
  for (const setup of [
    { transform: 'center', permutation: 'reverse' },
    { transform: 'center', permutation: 'conv1x1' },
    { transform: 'logit', permutation: 'conv1x1-lu' },
  ] as const) {
    // couplings start at the identity (zero last layer, tanh), actnorm at (0, 1), the 1x1 convs are rotations:
    // z is an orthogonal map of v = T(y), so log N(z) = -D/2 ln 2 pi - |v|^2 / 2 and log|det df/dv| = 0
    const m = new FlowModel(cfgOf({ ...setup }), info, 2);
    const nll = tf.tidy(() => Array.from(m.nll(y, null, 1).dataSync()));
    for (let b = 0; b < 3; b++) {
      const ys = yd.slice(b * D, (b + 1) * D);
      let expected = (D / 2) * Math.log(2 * Math.PI) + D * LOG_256;
      for (const v of ys) {
        if (setup.transform === 'center') expected += (v - 0.5) ** 2 / 2;
        else {
          const a = 0.05,
            s = a + (1 - 2 * a) * v,
            logit = Math.log(s) - Math.log(1 - s);
          expected += logit ** 2 / 2 - (Math.log(1 - 2 * a) - Math.log(s) - Math.log(1 - s)); // -log|dv/dy|
        }
      }
      assert.ok(
        Math.abs(nll[b] - expected) < 1e-5 * expected,
        `${setup.transform}/${setup.permutation} image ${b}: ${nll[b]} vs ${expected}`,
      );
    }
    m.dispose();
  }
  y.dispose();
});

for (const over of [
  { name: 'conv, logit, conv1x1', cfg: {} },
  {
    name: 'mlp, logit, LU, checkerboard, sigmoid, label-conditional',
    cfg: { arch: 'mlp', permutation: 'conv1x1-lu', mask: 'checkerboard', scaleFn: 'sigmoid', cond: { kind: 'label' } },
  },
]) {
  test(`every Jacobian term is counted (${over.name}): nll = -log N(z) - log|det dz/dy| + D log 256, J by autodiff`, () => {
    const m = new FlowModel(cfgOf(over.cfg), infoOf(4, 2), 3);
    const D = 32;
    // actnorm from data, then every weight moved away from its initial value
    tf.tidy(() => {
      m.loss(dequantized([6, 4, 4, 2], 7), m.cond ? tf.tensor1d([0, 1, 2, 3, 0, 1], 'int32') : null, 1);
    });
    perturb(m, 17);
    const y = dequantized([1, 4, 4, 2], 9);
    const c = m.cond ? m.cond.embed({ labels: [2] }, 1) : null;
    const nll = tf.tidy(() => m.nll(y, c, 1).dataSync()[0]);
    const toZ = (ys: tf.Tensor4D, n: number) =>
      MultiScaleFlow.flatten(
        m.flow.forward(m.transform.forward(ys).y, { cond: c ? (tf.tile(c, [n, 1]) as tf.Tensor2D) : null }).zs,
      );
    const z = tf.tidy(() => Array.from(toZ(y, 1).dataSync()));
    const g = tf.tidy(() => {
      const sel = tf.eye(D);
      return tf.grad((ys: tf.Tensor) => tf.sum(tf.mul(toZ(ys as tf.Tensor4D, D), sel)))(tf.tile(y, [D, 1, 1, 1]));
    });
    const logDetJ = logAbsDet(Float64Array.from(g.dataSync()), D);
    const logN = z.reduce((s, v) => s - 0.5 * (v * v + Math.log(2 * Math.PI)), 0);
    const expected = -logN - logDetJ + D * LOG_256;
    assert.ok(
      Math.abs(nll - expected) < 2e-3 * Math.abs(logDetJ) + 1e-2,
      `nll ${nll} vs ${expected} (log|det J| = ${logDetJ})`,
    );
    assert.ok(Math.abs(logDetJ) > 1, 'a non-trivial flow');
    tf.dispose([y, g, ...(c ? [c] : [])]);
    m.dispose();
  });
}

test('learned split prior (Glow): p(z_0 | h) = N(mu(h), sigma(h)^2) standardises only the leaving half, and starts as N(0, I)', () => {
  const info = infoOf(8, 1);
  const learned = new FlowModel(cfgOf({ splitPrior: 'learned' }), info, 4);
  const standard = new FlowModel(cfgOf({ splitPrior: 'standard' }), info, 4);
  const priorKeys = Object.keys(learned.params.vars).filter((k) => k.includes('.prior.'));
  assert.ok(
    priorKeys.length > 0 && priorKeys.every((k) => k.startsWith('scale0.prior.')),
    'one prior coupling, at the only split',
  );
  assert.deepEqual(
    Object.keys(standard.params.vars).sort(),
    Object.keys(learned.params.vars)
      .filter((k) => !k.includes('.prior.'))
      .sort(),
  );
  const y = dequantized([3, 8, 8, 1], 11);
  tf.tidy(() => {
    learned.loss(y, null, 1); // actnorm init
  });
  perturb(learned, 21);
  for (const [k, v] of Object.entries(standard.params.vars)) v.assign(learned.params.vars[k]);
  const zsOf = (m: FlowModel) => m.flow.forward(m.transform.forward(y).y, { cond: null }).zs;
  tf.tidy(() => {
    const [a, b] = [zsOf(learned), zsOf(standard)];
    assert.ok(maxAbs(a[1], b[1]) < 1e-6, 'the half that stays is untouched');
    assert.ok(maxAbs(a[0], b[0]) > 1e-2, 'the leaving half is standardised by mu(h), sigma(h)');
  });
  // zero-initialised, the prior coupling is the identity: both models give the same likelihood
  for (const k of priorKeys) learned.params.vars[k].assign(tf.zerosLike(learned.params.vars[k]));
  for (const k of priorKeys.filter((k) => k.endsWith('.scale')))
    learned.params.vars[k].assign(tf.onesLike(learned.params.vars[k]));
  const [n1, n2] = tf.tidy(() => [learned.nll(y, null, 1).dataSync(), standard.nll(y, null, 1).dataSync()]);
  for (let b = 0; b < 3; b++) assert.ok(Math.abs(n1[b] - n2[b]) < 1e-3, `${n1[b]} vs ${n2[b]}`);
  y.dispose();
  learned.dispose();
  standard.dispose();
});

test('actnorm: initialised from the first training batch (every actnorm output zero mean, unit variance there), once, not again after loading', async () => {
  const info = infoOf(8, 3);
  const m = new FlowModel(cfgOf({ steps: 3 }), info, 4);
  const x = tf.tidy(() => tf.mul(dequantized([16, 8, 8, 3], 11), tf.tensor1d([0.3, 1, 0.6]))) as tf.Tensor4D;
  assert.deepEqual(
    Array.from(m.flow.actnorms()[0].logScale.dataSync()),
    new Array(12).fill(0),
    'identity before training',
  );
  tf.tidy(() => {
    m.loss(x, null, 1);
  });
  // walk the flow on the init batch: each actnorm's output has zero mean and unit variance per channel
  let checked = 0;
  tf.tidy(() => {
    let h = m.transform.forward(x).y;
    m.flow.scales.forEach((scale, s) => {
      h = squeeze(h);
      for (const layer of scale.layers) {
        h = layer.forward(h, { cond: null }).y;
        if (layer instanceof ActNorm) {
          const { mean, variance } = tf.moments(h, [0, 1, 2]);
          for (const v of mean.dataSync()) assert.ok(Math.abs(v) < 1e-4, `scale ${s}: mean ${v}`);
          for (const v of variance.dataSync()) assert.ok(Math.abs(v - 1) < 1e-3, `scale ${s}: variance ${v}`);
          checked++;
        }
      }
      if (s < m.flow.scales.length - 1) h = tf.slice(h, [0, 0, 0, 0], [-1, -1, -1, h.shape[3] / 2]);
    });
  });
  assert.equal(checked, 6);
  // training goes on from there: a batch with another scale does not re-initialise (Adam moves logs by ~lr)
  const first = m.flow.actnorms()[0];
  const before = Array.from(first.logScale.dataSync());
  const tr = new Trainer(m.params.vars, trainSchema.parse({ lr: 1e-3 }), 10);
  tr.trainStep(() => m.loss(tf.mul(x, 0.1) as tf.Tensor4D, null, 2));
  Array.from(first.logScale.dataSync()).forEach((v, i) =>
    assert.ok(Math.abs(v - before[i]) < 0.01, 'not re-initialised'),
  );
  // a loaded model carries the flag (buffer actnorm.initialized) and keeps the loaded actnorm
  assert.equal(m.params.buffers['actnorm.initialized'].dataSync()[0], 1);
  const fresh = new FlowModel(cfgOf({ steps: 3 }), info, 9);
  assignRecords(
    fresh.params.all(),
    decodeSafetensors(encodeSafetensors(await variablesToRecords(m.params.all()))).tensors,
    'test',
  );
  const loaded = Array.from(fresh.flow.actnorms()[0].logScale.dataSync());
  tf.dispose(tf.tidy(() => fresh.loss(tf.mul(x, 0.1) as tf.Tensor4D, null, 3).loss));
  assert.deepEqual(Array.from(fresh.flow.actnorms()[0].logScale.dataSync()), loaded);
  // while a fresh, unloaded model does initialise on that batch
  const other = new FlowModel(cfgOf({ steps: 3 }), info, 9);
  tf.dispose(tf.tidy(() => other.loss(tf.mul(x, 0.1) as tf.Tensor4D, null, 3).loss));
  assert.ok(Math.abs(other.flow.actnorms()[0].logScale.dataSync()[0] - loaded[0]) > 1, 'x 0.1 moves logs by ln 10');
  x.dispose();
  tr.dispose();
  m.dispose();
  fresh.dispose();
  other.dispose();
});

test('ActNorm is the only layer with data-dependent init; without actnorm nothing is initialised', () => {
  const m = new FlowModel(cfgOf({ actnorm: false }), infoOf(8, 1), 1);
  assert.equal(m.flow.actnorms().length, 0);
  assert.ok(!Object.keys(m.params.vars).some((k) => k.includes('actnorm')));
  const l = tf.tidy(() => m.loss(dequantized([4, 8, 8, 1], 1), null, 1).loss.dataSync()[0]);
  assert.ok(Number.isFinite(l));
  assert.ok(m.flow.scales[0].layers.every((x) => !(x instanceof ActNorm)));
  m.dispose();
});

test('sampling: z ~ N(0, T^2 I) with the same eps at every T; T = 0 decodes z = 0; samples lie on the 8-bit grid', () => {
  const m = new FlowModel(cfgOf(), infoOf(8, 3), 5);
  perturb(m, 3, 0.1);
  const z1 = drawLatents(m.flow.latentShapes, 3, 7, 1),
    z07 = drawLatents(m.flow.latentShapes, 3, 7, 0.7);
  z1.forEach((z, i) => assert.ok(maxAbs(tf.mul(z, 0.7), z07[i]) < 1e-6));
  const s0 = m.sample(4, 1, { temperature: 0 });
  const d0 = s0.dataSync(),
    per = 8 * 8 * 3;
  for (let i = 0; i < per; i++)
    for (let b = 1; b < 4; b++) assert.equal(d0[b * per + i], d0[i], 'T = 0: every sample is the image of z = 0');
  const a = m.sample(4, 1, { temperature: 0.7 }),
    b = m.sample(4, 1, { temperature: 0.7 }),
    c = m.sample(4, 1, { temperature: 1 });
  assert.deepEqual(Array.from(a.dataSync()), Array.from(b.dataSync()));
  assert.notDeepEqual(Array.from(a.dataSync()), Array.from(c.dataSync()));
  for (const v of c.dataSync()) assert.ok(Math.abs(v * 255 - Math.round(v * 255)) < 1e-4 && v >= 0 && v <= 1);
  // the config's temperature is the default
  const m0 = new FlowModel(cfgOf({ temperature: 0 }), infoOf(8, 3), 5);
  for (const [k, v] of Object.entries(m.params.all())) m0.params.all()[k].assign(v);
  const s0b = m0.sample(4, 1);
  assert.deepEqual(Array.from(s0b.dataSync()), Array.from(d0));
  tf.dispose([s0, a, b, c, s0b, ...z1, ...z07]);
  m.dispose();
  m0.dispose();
});

test('conditioning: c = embed(y) reaches every coupling network (gradients), labels change samples, text samples with and without a prompt', () => {
  for (const arch of ['conv', 'mlp'] as const) {
    const m = new FlowModel(cfgOf({ arch, cond: { kind: 'label' } }), infoOf(8, 3), 6);
    // the steps' couplings and the learned split prior's coupling (one split: 2 scales)
    const couplings = Object.keys(m.params.vars).filter((k) => /\.(coupling|prior)\.net\.(conv1|fc1)\.weight$/.test(k));
    const condWeights = Object.keys(m.params.vars).filter((k) => k.endsWith('.net.cond.weight'));
    assert.equal(condWeights.length, couplings.length, 'one condition projection per coupling network');
    assert.equal(couplings.length, 5);
    tf.tidy(() => {
      m.loss(dequantized([4, 8, 8, 3], 2), tf.tensor1d([0, 1, 2, 3], 'int32'), 1);
    });
    perturb(m, 5, 0.1);
    const x = dequantized([4, 8, 8, 3], 3);
    const y = tf.tensor1d([0, 1, 2, 3], 'int32');
    const { grads } = tf.variableGrads(
      () => m.loss(x, y, 7).loss,
      [...condWeights, 'cond.label'].map((k) => m.params.vars[k]),
    );
    for (const [name, g] of Object.entries(grads))
      assert.ok(tf.tidy(() => tf.max(tf.abs(g)).dataSync()[0]) > 0, `no gradient reaches ${name}`);
    tf.dispose(Object.values(grads));
    const s0 = m.sample(3, 4, { labels: [0] }),
      s1 = m.sample(3, 4, { labels: [1] });
    assert.notDeepEqual(Array.from(s0.dataSync()), Array.from(s1.dataSync()));
    tf.dispose([x, y, s0, s1]);
    m.dispose();
  }
  const t = new FlowModel(cfgOf({ cond: { kind: 'text' } }), infoOf(8, 3), 6);
  perturb(t, 5, 0.1);
  const a = t.sample(2, 1, { prompts: ['a red square'] }),
    b = t.sample(2, 1, {}),
    c = t.sample(2, 1, { prompts: ['a blue circle'] });
  assert.deepEqual(a.shape, [2, 8, 8, 3]);
  assert.notDeepEqual(Array.from(a.dataSync()), Array.from(c.dataSync()));
  userError(() => t.sample(2, 1, { prompts: ['a green triangle'] }), /green|triangle/);
  tf.dispose([a, b, c]);
  t.dispose();
});

test('variational dequantization: y = (k + u)/256 stays in the bin of k, log q(u|x) enters the bound, training lowers it', () => {
  const m = new FlowModel(cfgOf({ dequant: { kind: 'variational', steps: 2, hidden: 6 } }), infoOf(8, 1), 7);
  assert.ok(m.dequant);
  const x = dequantized([8, 8, 8, 1], 4);
  const k = tf.tidy(() => tf.floor(tf.mul(x, 256))) as tf.Tensor4D;
  perturb(m, 9, 0.2);
  // the bound = -log p(y) + D log 256 + log q(u|k), recomputed from its pieces with the same noise seed
  const seed = 12;
  const nll = tf.tidy(() => Array.from(m.nll(x, null, seed).dataSync()));
  const ref = tf.tidy(() => {
    const q = m.dequant!.sample(k, seed);
    const y = tf.div(tf.add(k, q.u), 256) as tf.Tensor4D;
    const inBin = tf.logicalAnd(tf.greaterEqual(tf.mul(y, 256), k), tf.less(tf.mul(y, 256), tf.add(k, 1)));
    assert.ok(
      inBin.dataSync().every((v) => v === 1),
      'u in [0,1)',
    );
    const t = m.transform.forward(y);
    const f = m.flow.forward(t.y, { cond: null });
    return Array.from(
      tf.add(tf.add(negLogDensity(f.zs, tf.add(f.logdet, t.logdet) as tf.Tensor1D), 64 * LOG_256), q.logq).dataSync(),
    );
  });
  nll.forEach((v, i) => assert.ok(Math.abs(v - ref[i]) < 1e-3, `${v} vs ${ref[i]}`));
  // the same data given as k/255 (scale01) gives the same k, so the same bound
  const nll255 = tf.tidy(() => Array.from(m.nll(tf.div(k, 255) as tf.Tensor4D, null, seed).dataSync()));
  nll255.forEach((v, i) => assert.ok(Math.abs(v - nll[i]) < 1e-3));
  const tr = new Trainer(m.params.vars, trainSchema.parse({ lr: 3e-3 }), 40);
  const start = tr.trainStep(() => m.loss(x, null, 1)).loss;
  let last = start;
  for (let i = 0; i < 40; i++) last = tr.trainStep(() => m.loss(x, null, 2 + i)).loss;
  assert.ok(last < start - 5, `${start} -> ${last}`);
  tf.dispose([x, k]);
  tr.dispose();
  m.dispose();
});

test('evaluate: exact NLL per image in chunks, bits/dim = nll / (D ln 2), round-trip error ~1e-6', () => {
  const m = new FlowModel(cfgOf({ cond: { kind: 'label' } }), infoOf(4, 1), 8);
  tf.tidy(() => {
    m.loss(dequantized([8, 4, 4, 1], 1), tf.tensor1d([0, 1, 2, 3, 0, 1, 2, 3], 'int32'), 1);
  });
  perturb(m, 2, 0.1);
  const xs = [dequantized([300, 4, 4, 1], 5), dequantized([7, 4, 4, 1], 6)]; // 300 > one chunk of 250
  const ys = [
    tf.tensor1d(
      Array.from({ length: 300 }, (_, i) => i % 4),
      'int32',
    ),
    tf.tensor1d([0, 1, 2, 3, 0, 1, 2], 'int32'),
  ];
  const r = m.evaluate(
    [
      { x: xs[0], y: ys[0] },
      { x: xs[1], y: ys[1] },
    ],
    { iwaeK: 0, seed: 0, perImage: true },
  );
  assert.deepEqual(Object.keys(r).sort(), ['likelihood', 'n', 'perImage', 'terms']);
  assert.deepEqual(Object.keys(r.terms), ['roundTripMaxAbs']);
  const l = r.likelihood!;
  assert.deepEqual([l.kind, l.name, l.discrete], ['bound', 'dequantization', true]);
  assert.equal(r.perImage!.length, 307);
  assert.ok(
    Math.abs(r.perImage!.reduce((a, b) => a + b, 0) / 307 - l.nats) < 1e-5 * Math.abs(l.nats),
    'the mean of the per-image figures (float32 sums)',
  );
  assert.equal(r.n, 307);
  let sum = 0;
  xs.forEach((x, i) => {
    sum += tf.tidy(() => {
      const c = m.cond!.embed({ labels: ys[i] }, x.shape[0]);
      return tf.sum(m.nll(x, c, 0)).dataSync()[0];
    });
  });
  assert.ok(Math.abs(l.nats - sum / 307) < 1e-3 * Math.abs(l.nats), `${l.nats} vs ${sum / 307}`);
  assert.ok(Math.abs(l.bitsPerDim - l.nats / (16 * Math.LN2)) < 1e-9);
  assert.ok(r.terms.roundTripMaxAbs < 1e-4, `round trip ${r.terms.roundTripMaxAbs}`);
  tf.dispose([...xs, ...ys]);
  m.dispose();
});

for (const kind of ['uniform', 'variational'] as const) {
  test(`importance-weighted bound (${kind} dequantization): K = 1 is the one-sample bound, K samples lie below the mean of their plain bounds, evaluate reports it`, () => {
    const m = new FlowModel(cfgOf({ dequant: { kind } }), infoOf(4, 1), 12);
    tf.tidy(() => {
      m.loss(dequantized([8, 4, 4, 1], 1), null, 1);
    });
    perturb(m, 3, 0.1);
    const x = dequantized([6, 4, 4, 1], 13);
    const K = 8,
      seed = 77;
    tf.tidy(() => {
      const one = m.importanceWeightedNll(x, null, 1, seed).dataSync();
      const plain = m.nll(x, null, mixSeed(seed, 0), false, true).dataSync();
      for (let b = 0; b < 6; b++) assert.ok(Math.abs(one[b] - plain[b]) < 1e-3, `K=1 ${one[b]} vs ${plain[b]}`);
      // the samples differ (a fresh u per j), so the bound is not the plain one repeated
      const each = Array.from({ length: K }, (_, j) => m.nll(x, null, mixSeed(seed, j), false, true).dataSync());
      assert.ok(Math.abs(each[0][0] - each[1][0]) > 1e-3, 'fresh dequantization noise per sample');
      // Jensen: -log mean_j exp(-nll_j) <= mean_j nll_j, strictly when the nll_j differ
      const iw = m.importanceWeightedNll(x, null, K, seed).dataSync();
      for (let b = 0; b < 6; b++) {
        const mean = each.reduce((s, e) => s + e[b], 0) / K;
        const lme = -Math.log(each.reduce((s, e) => s + Math.exp(-(e[b] - each[0][b])), 0) / K) + each[0][b];
        assert.ok(iw[b] < mean - 1e-4, `image ${b}: IW ${iw[b]} vs mean ${mean}`);
        assert.ok(Math.abs(iw[b] - lme) < 1e-2, `image ${b}: IW ${iw[b]} vs logmeanexp ${lme}`);
      }
    });
    const r = m.evaluate([{ x, y: null }], { iwaeK: 4, seed: 0 });
    const iw = r.likelihood!,
      plain = r.bounds![0];
    assert.deepEqual([iw.name, iw.samples, plain.name], ['IWAE k=4', 4, 'dequantization']);
    assert.ok(
      iw.nats < plain.nats + 5 && Math.abs(iw.bitsPerDim - iw.nats / (16 * Math.LN2)) < 1e-9,
      `${iw.nats} vs ${plain.nats}`,
    );
    x.dispose();
    m.dispose();
  });
}

test('pictures: samples at several temperatures, originals beside f^-1(f(x)), interpolations that start and end at the images', () => {
  const m = new FlowModel(cfgOf({ cond: { kind: 'label' } }), infoOf(8, 3), 9);
  perturb(m, 4, 0.1);
  const x = dequantized([10, 8, 8, 3], 7);
  const pics = m.pictures(x, [0, 1, 2, 3, 0, 1, 2, 3, 0, 1], 3);
  assert.deepEqual(
    pics.map((p) => p.name),
    ['temperatures', 'round-trip', 'interpolation'],
  );
  const [temps, trip, interp] = pics;
  assert.deepEqual(temps.images.shape, [PICTURE_TEMPERATURES.length * 8, 8, 8, 3]);
  // row r: the samples at temperature T_r (classes in turn), as sample() draws them; up to one 8-bit level of
  // float difference (the batch is larger here)
  PICTURE_TEMPERATURES.forEach((T, r) => {
    const s = m.sample(8, 3, { temperature: T, labels: [0, 1, 2, 3] });
    assert.ok(tf.tidy(() => maxAbs(tf.slice(temps.images, r * 8, 8), s)) <= 1 / 255 + 1e-6, `row ${r}`);
    s.dispose();
  });
  assert.ok(
    tf.tidy(() => maxAbs(tf.slice(temps.images, 0, 8), tf.slice(temps.images, 32, 8))) > 0.1,
    'T = 0 and T = 1 differ',
  );
  assert.deepEqual(trip.images.shape, [20, 8, 8, 3]);
  assert.match(trip.caption, /max \|error\| \d\.\de-\d/);
  const pairs = tf.tidy(() => tf.reshape(trip.images, [10, 2, 8, 8, 3]));
  assert.ok(tf.tidy(() => maxAbs(tf.slice(pairs, [0, 0], [-1, 1]), tf.slice(pairs, [0, 1], [-1, 1]))) < 1e-4);
  assert.deepEqual(interp.images.shape, [4 * 8, 8, 8, 3]);
  // row 0 runs from x_0 to x_9: its first and last frames are those images again
  assert.ok(tf.tidy(() => maxAbs(tf.slice(interp.images, 0, 1), tf.slice(x, 0, 1))) < 1e-4);
  assert.ok(tf.tidy(() => maxAbs(tf.slice(interp.images, 7, 1), tf.slice(x, 9, 1))) < 1e-4);
  for (const p of pics) assert.ok(p.images.dataSync().every((v) => v >= 0 && v <= 1));
  tf.dispose([x, pairs, ...pics.map((p) => p.images)]);
  m.dispose();
});

test('round trip f^-1(f(x)) = x to 1e-4 in [0,1] units for a perturbed flow (conv, LU, checkerboard, variational)', () => {
  const m = new FlowModel(
    cfgOf({ permutation: 'conv1x1-lu', mask: 'checkerboard', dequant: { kind: 'variational' } }),
    infoOf(8, 3),
    10,
  );
  tf.tidy(() => {
    m.loss(dequantized([8, 8, 8, 3], 1), null, 1);
  });
  perturb(m, 6, 0.1);
  const x = dequantized([5, 8, 8, 3], 2);
  // |z| reaches ~15 here (a trained flow: ~4); float32 round-off grows with it
  const zMax = tf.tidy(
    () =>
      tf.max(tf.abs(MultiScaleFlow.flatten(m.flow.forward(m.transform.forward(x).y, { cond: null }).zs))).dataSync()[0],
  );
  assert.ok(zMax > 4, `a non-trivial flow (max |z| ${zMax})`);
  const err = tf.tidy(() => maxAbs(roundTrip(m, x, null), x));
  assert.ok(err < 1e-4, `${err}`);
  x.dispose();
  m.dispose();
});

test('no tensor leak (conv, LU, checkerboard, variational dequantization, label-conditional): train, sample, evaluate, pictures', () => {
  const m = new FlowModel(
    cfgOf({
      permutation: 'conv1x1-lu',
      mask: 'checkerboard',
      scaleFn: 'sigmoid',
      dequant: { kind: 'variational', steps: 2, hidden: 4 },
      cond: { kind: 'label' },
    }),
    infoOf(8, 3),
    11,
  );
  const tr = new Trainer(m.params.vars, trainSchema.parse({ ema: 0.9, clipNorm: 100 }), 20);
  const x = dequantized([6, 8, 8, 3], 3);
  const y = tf.tensor1d([0, 1, 2, 3, 0, 1], 'int32');
  const round = (i: number) => {
    tr.trainStep(() => m.loss(x, y, i + 1));
    tf.dispose(m.sample(2, i, { temperature: 0.7 }));
    m.evaluate([{ x, y }], { iwaeK: 0, seed: i });
    for (const p of m.pictures(x, [0, 1, 2, 3, 0, 1], i)) p.images.dispose();
  };
  round(0);
  const before = tf.memory().numTensors;
  for (let i = 1; i < 4; i++) round(i);
  assert.equal(tf.memory().numTensors, before);
  tf.dispose([x, y]);
  tr.dispose();
  m.dispose();
});
