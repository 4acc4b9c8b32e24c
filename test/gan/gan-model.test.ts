// The GAN family as a model: defaults for Fashion-MNIST, config errors, two optimisers that each move only their own
// player (a D update leaves G unchanged and vice versa), loss()'s per-player gradients, health terms, the divergence
// watch, sampling (fixed noise, independent of n and of the other samples, EMA of G only) and conditioning.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs-core';
import '../helpers/backend.ts';
import { userError } from '../helpers/assert.ts';
import type { DataInfo } from '../../src/core/family.ts';
import { registry } from '../../src/core/registry.ts';
import { trainSchema } from '../../src/core/config/schema.ts';
import { DivergenceError, NonFiniteLossError } from '../../src/core/train/trainer.ts';
import { trainerFor, trainModelStep } from '../../src/core/train/model-step.ts';
import { GanModel } from '../../src/core/families/gan/index.ts';
import { ganModelSchema, criticSteps, dLrScaleOf, type GanModelConfig } from '../../src/core/families/gan/config.ts';
import { DivergenceWatch } from '../../src/core/families/gan/train-step.ts';
import * as networks from '../../src/core/families/gan/networks.ts';

const fam = registry.gan;
const INFO: DataInfo = {
  height: 8,
  width: 8,
  channels: 1,
  numClasses: 3,
  classNames: ['a', 'b', 'c'],
  vocabulary: ['a', 'b', 'c', 'big', 'small'],
};
const cfgOf = (over: Record<string, unknown> = {}): GanModelConfig =>
  ganModelSchema.parse({
    latent: 4,
    channels: 4,
    hidden: 8,
    statsBatch: 16,
    ...over,
    cond: { dim: 8, textHeads: 2, ...((over.cond as object) ?? {}) },
  });
const X = tf.keep(tf.randomUniform([6, 8, 8, 1], -1, 1, 'float32', 1) as tf.Tensor4D);
const Y = tf.keep(tf.tensor1d([0, 1, 2, 0, 1, 2], 'int32'));
const CAPTIONS = ['a big', 'b small', 'c big', 'a small', 'b big', 'c small'];

const snapshot = (vars: Record<string, tf.Variable>) =>
  Object.fromEntries(Object.entries(vars).map(([k, v]) => [k, Array.from(v.dataSync())]));
const changed = (a: Record<string, number[]>, b: Record<string, number[]>) =>
  Object.keys(a).filter((k) => a[k].some((v, i) => v !== b[k][i]));

test('defaults: a DCGAN for Fashion-MNIST 28x28x1 on [-1, 1] data, G z 64 -> 7x7x128 -> 14x14x64 -> 28x28x1, D its mirror', () => {
  const d = fam.modelSchema.parse(fam.defaults.model);
  assert.equal(d.arch, 'conv');
  assert.equal(d.loss, 'ns');
  assert.equal(fam.requiredPreprocess, 'symmetric');
  assert.equal(fam.defaults.data.preprocess, 'symmetric');
  assert.equal(fam.defaults.train.beta1, 0.5);
  const m = fam.create(d, { height: 28, width: 28, channels: 1, numClasses: 10 }, 1) as GanModel;
  const shapes = Object.fromEntries(Object.entries(m.params.vars).map(([k, v]) => [k, v.shape]));
  assert.deepEqual(shapes['G.fc.weight'], [64, 7 * 7 * 128]);
  assert.deepEqual(shapes['G.up0.weight'], [4, 4, 64, 128]);
  assert.deepEqual(shapes['G.up1.weight'], [4, 4, 1, 64]);
  assert.deepEqual(shapes['D.conv0.weight'], [4, 4, 1, 64]);
  assert.deepEqual(shapes['D.conv1.weight'], [4, 4, 64, 128]);
  assert.deepEqual(shapes['D.out.weight'], [7 * 7 * 128, 1]);
  assert.ok(Object.keys(shapes).every((k) => k.startsWith('G.') || k.startsWith('D.')));
  assert.ok(m.params.numParams() < 800_000, `${m.params.numParams()} params`);
  const s = m.sample(3, 0);
  assert.deepEqual(s.shape, [3, 28, 28, 1]);
  s.dispose();
  m.dispose();
  // G at 4e-4, D at half that (DCGAN's 2e-4) for ns and hinge; the critic of WGAN-GP at G's rate; D reads y twice
  assert.equal(fam.defaults.train.lr, 4e-4);
  assert.equal(dLrScaleOf(cfgOf()), 0.5);
  assert.equal(dLrScaleOf(cfgOf({ loss: 'hinge' })), 0.5);
  assert.equal(dLrScaleOf(cfgOf({ loss: 'wgan-gp' })), 1);
  assert.equal(dLrScaleOf(cfgOf({ loss: 'wgan-gp', dLrScale: 0.25 })), 0.25);
  const groups = new GanModel(cfgOf(), INFO, 1);
  assert.equal(groups.optimizerGroups().D.lrScale, 0.5);
  groups.dispose();
  assert.equal(d.dCond, 'both');
  assert.equal(d.dCondScale, 'unit');
  assert.equal(criticSteps(cfgOf({ loss: 'wgan-gp' })), 5);
  assert.equal(criticSteps(cfgOf({ loss: 'hinge' })), 1);
  assert.equal(criticSteps(cfgOf({ loss: 'wgan-gp', nCritic: 2 })), 2);
});

test('config errors name the problem and the fix', () => {
  userError(
    () => new GanModel(cfgOf({ arch: 'conv', stages: 3 }), { ...INFO, height: 28, width: 28 }, 1),
    /model\.stages=3 .*divisible by 8, got 28x28; set model\.stages=2/,
  );
  userError(
    () => new GanModel(cfgOf({ arch: 'conv', stages: 1 }), { ...INFO, height: 7, width: 7 }, 1),
    /divisible by 2, got 7x7; resize .* or model.arch=mlp/,
  );
  assert.equal(ganModelSchema.safeParse({ lambda: 3 }).success, false, 'unknown keys are rejected');
  assert.equal(ganModelSchema.safeParse({ loss: 'lsgan' }).success, false);
  assert.equal(ganModelSchema.safeParse({ divergence: { patience: 3 } }).success, false);
  const m = new GanModel(cfgOf(), INFO, 1);
  userError(() => m.sample(0, 1), /positive integer/);
  userError(() => m.sample(2, 1, { labels: [1] }), /not label-conditional/);
  m.dispose();
  const l = new GanModel(cfgOf({ cond: { kind: 'label' } }), INFO, 1);
  userError(() => l.sample(2, 1, { labels: [5] }), /out of range/);
  l.dispose();
});

for (const arch of ['mlp', 'conv'] as const) {
  for (const loss of ['ns', 'wgan-gp'] as const) {
    test(`${arch} ${loss}: a D update leaves G unchanged, a G update leaves D unchanged (two optimisers, explicit variable lists)`, () => {
      const m = new GanModel(cfgOf({ arch, loss, cond: { kind: 'label' } }), INFO, 2);
      const tr = trainerFor(m, trainSchema.parse({ lr: 1e-2, ema: 0.9 }), 10);
      const G = m.generatorVars(),
        D = m.discriminatorVars();
      assert.ok(
        Object.keys(G).includes('G.cond.label') && Object.keys(D).includes('D.cond.label'),
        'each player has its own label embedding',
      );
      assert.equal(
        Object.keys(G).length + Object.keys(D).length,
        Object.keys(m.params.vars).length,
        'the groups cover every variable',
      );
      const g0 = snapshot(G),
        d0 = snapshot(D);
      const labels = { labels: Y };
      // one D update only
      tr.customStep((ctx) => {
        const fake = tf.tidy(() =>
          m.generate(tf.randomNormal([6, 4], 0, 1, 'float32', 3) as tf.Tensor2D, labels, null),
        );
        const u = ctx.update('D', () => m.discriminatorObjective(X, fake, labels, null, 4));
        fake.dispose();
        assert.ok(u.gradNorm > 0);
        return { loss: u.loss, terms: u.terms };
      });
      assert.deepEqual(changed(g0, snapshot(G)), [], 'a D update moved G');
      const dMoved = changed(d0, snapshot(D));
      assert.ok(dMoved.includes('D.out.weight') && dMoved.includes('D.cond.label'), `D moved: ${dMoved}`);
      // one G update only
      const g1 = snapshot(G),
        d1 = snapshot(D);
      tr.customStep((ctx) => {
        const u = ctx.update('G', () => m.generatorObjective(6, labels, null, 5));
        return { loss: u.loss, terms: u.terms };
      });
      assert.deepEqual(changed(d1, snapshot(D)), [], 'a G update moved D');
      const gMoved = changed(g1, snapshot(G));
      assert.ok(gMoved.includes('G.cond.label') && gMoved.some((k) => k.includes('weight')), `G moved: ${gMoved}`);
      // the optimisers are separate: D's Adam has taken one step, G's one, each holding only its own moments
      assert.equal(tr.groupOptimizers.D.t, 1);
      assert.equal(tr.groupOptimizers.G.t, 1);
      assert.ok(Object.keys(tr.groupOptimizers.D.m).every((k) => k.startsWith('D.')));
      assert.ok(Object.keys(tr.groupOptimizers.G.m).every((k) => k.startsWith('G.')));
      // the EMA holds G only
      assert.deepEqual(Object.keys(tr.ema!.shadow).sort(), Object.keys(G).sort());
      tr.dispose();
      m.dispose();
    });
  }
}

test('a full step: n_critic D updates then one G update, with the health terms, and no tensor leak', () => {
  for (const loss of ['ns', 'hinge', 'wgan-gp'] as const) {
    const m = new GanModel(cfgOf({ loss, nCritic: loss === 'wgan-gp' ? 3 : 0 }), INFO, 2);
    const tr = trainerFor(m, trainSchema.parse({ lr: 1e-3, ema: 0.9 }), 10);
    const step = (i: number) => trainModelStep(tr, m, () => ({ x: tf.clone(X), y: null, captions: null }), i);
    const r = step(0);
    const want = [
      'lossD',
      'lossG',
      'dReal',
      'dFake',
      'gradNormD',
      'gradNormG',
      ...(loss === 'wgan-gp' ? ['gp', 'gpGradNorm'] : []),
    ];
    assert.deepEqual(Object.keys(r.terms).sort(), want.sort(), loss);
    for (const [k, v] of Object.entries(r.terms)) assert.ok(Number.isFinite(v), `${loss} ${k} = ${v}`);
    assert.ok(Math.abs(r.loss - (r.terms.lossD + r.terms.lossG)) < 1e-5);
    if (loss === 'ns') {
      // at the start D outputs ~0 logits: D(x) ~ 1/2 as probabilities, L_D ~ 2 ln 2, L_G ~ ln 2
      assert.ok(Math.abs(r.terms.dReal - 0.5) < 0.05 && Math.abs(r.terms.dFake - 0.5) < 0.05, JSON.stringify(r.terms));
      assert.ok(
        Math.abs(r.terms.lossD - 2 * Math.LN2) < 0.1 && Math.abs(r.terms.lossG - Math.LN2) < 0.1,
        JSON.stringify(r.terms),
      );
    }
    assert.equal(tr.groupOptimizers.D.t, loss === 'wgan-gp' ? 3 : 1);
    assert.equal(tr.groupOptimizers.G.t, 1);
    step(1);
    const before = tf.memory().numTensors;
    for (let i = 2; i < 6; i++) step(i);
    assert.equal(tf.memory().numTensors, before, `${loss}: numTensors grew`);
    tr.dispose();
    m.dispose();
  }
});

test("loss() for a single-loss trainer: its gradient is grad_D L_D on D's variables and grad_G L_G on G's", () => {
  const m = new GanModel(cfgOf({ loss: 'hinge', gNorm: 'none' }), INFO, 4);
  const G = m.generatorVars(),
    D = m.discriminatorVars();
  const all = tf.variableGrads(() => m.loss(X, null, 7).loss, Object.values(m.params.vars));
  assert.ok(Number.isFinite(all.value.dataSync()[0]));
  // the same noise as loss(seed 7) uses: the first and second seeds after the drop seed
  const terms = m.loss(X, null, 7).terms;
  const lossD = terms.lossD.dataSync()[0],
    lossG = terms.lossG.dataSync()[0];
  tf.dispose(Object.values(terms));
  assert.ok(Math.abs(all.value.dataSync()[0] - (lossD + lossG)) < 1e-5);
  // grad_D of L = L_D + L_G must equal grad_D of L_D alone: G's loss sends nothing into D's weights
  const onlyD = tf.variableGrads(() => m.loss(X, null, 7).terms.lossD, Object.values(D));
  for (const v of Object.values(D)) {
    const a = all.grads[v.name].dataSync(),
      b = onlyD.grads[v.name].dataSync();
    for (let i = 0; i < a.length; i++) assert.ok(Math.abs(a[i] - b[i]) < 1e-6, `${v.name}`);
  }
  // grad_G of L must equal grad_G of L_G alone: D's loss sees G's samples through stopGradient
  const onlyG = tf.variableGrads(() => m.loss(X, null, 7).terms.lossG, Object.values(G));
  for (const v of Object.values(G)) {
    const a = all.grads[v.name].dataSync(),
      b = onlyG.grads[v.name].dataSync();
    for (let i = 0; i < a.length; i++) assert.ok(Math.abs(a[i] - b[i]) < 1e-6, `${v.name}`);
  }
  tf.dispose([
    all.value,
    ...Object.values(all.grads),
    onlyD.value,
    ...Object.values(onlyD.grads),
    onlyG.value,
    ...Object.values(onlyG.grads),
  ]);
  m.dispose();
});

test('divergence: D loss near 0 for `steps` steps in a row stops training with a message naming the fixes', () => {
  const w = new DivergenceWatch('ns', 1e-3, 3);
  const t = (lossD: number) => ({ lossD, dReal: 0.9999, dFake: 1e-5 });
  w.observe(1, t(1e-4));
  w.observe(2, t(1e-4));
  w.observe(3, t(0.5)); // a healthy step resets the count
  assert.equal(w.consecutive, 0);
  w.observe(4, t(1e-4));
  w.observe(5, t(1e-4));
  assert.throws(
    () => w.observe(6, t(1e-4)),
    (e: unknown) =>
      e instanceof DivergenceError &&
      /step 6: the discriminator has won: its loss stayed below 0\.001 for 3 steps/.test(e.message) &&
      /model\.dLrScale=0\.25/.test(e.message) &&
      /model\.loss=hinge/.test(e.message) &&
      /wgan-gp/.test(e.message) &&
      !e.message.includes('\n'),
  );
  // wgan-gp's critic loss is negative when it separates: no floor
  const c = new DivergenceWatch('wgan-gp', 1e-3, 1);
  c.observe(1, t(-50));
  assert.equal(c.consecutive, 0);
  // through the model's step: a floor above any loss trips the watch after `steps` steps
  const m = new GanModel(cfgOf({ divergence: { lossFloor: 100, steps: 2 } }), INFO, 2);
  const tr = trainerFor(m, trainSchema.parse({}), 10);
  const step = (i: number) => trainModelStep(tr, m, () => ({ x: tf.clone(X), y: null, captions: null }), i);
  step(0);
  assert.throws(() => step(1), DivergenceError);
  tr.dispose();
  m.dispose();
});

test('a non-finite loss stops the step with NonFiniteLossError naming the player, before its update', () => {
  const m = new GanModel(cfgOf(), INFO, 2);
  const tr = trainerFor(m, trainSchema.parse({}), 10);
  const g0 = snapshot(m.generatorVars()),
    d0 = snapshot(m.discriminatorVars());
  const bad = tf.fill([6, 8, 8, 1], NaN) as tf.Tensor4D;
  assert.throws(
    () => trainModelStep(tr, m, () => ({ x: bad, y: null, captions: null }), 0),
    (e: unknown) => e instanceof NonFiniteLossError && /D\.loss=NaN/.test(e.message),
  );
  assert.deepEqual(changed(d0, snapshot(m.discriminatorVars())), []);
  assert.deepEqual(changed(g0, snapshot(m.generatorVars())), []);
  tr.dispose();
  m.dispose();
});

test('sampling: fixed noise per seed, each sample independent of n and of the others (reference-batch statistics)', () => {
  for (const arch of ['mlp', 'conv'] as const) {
    const m = new GanModel(cfgOf({ arch }), INFO, 5);
    // move the batch-norm parameters off their init so the statistics matter
    for (const [k, v] of Object.entries(m.params.vars))
      if (k.includes('.bn')) v.assign(tf.tidy(() => tf.add(v, tf.randomNormal(v.shape, 0, 0.3, 'float32', 9))));
    const a = m.sample(5, 3),
      b = m.sample(2, 3),
      c = m.sample(5, 3),
      d = m.sample(5, 4);
    const ad = a.dataSync(),
      bd = b.dataSync();
    for (let i = 0; i < bd.length; i++)
      assert.ok(Math.abs(ad[i] - bd[i]) < 1e-6, `${arch}: the first samples change with n`);
    assert.deepEqual(Array.from(ad), Array.from(c.dataSync()));
    assert.notDeepEqual(Array.from(ad), Array.from(d.dataSync()));
    assert.ok(ad.every((v) => v >= 0 && v <= 1));
    // one sample alone is not degenerate (batch statistics of a single row would flatten it to beta)
    const one = m.sample(1, 3).dataSync();
    for (let i = 0; i < one.length; i++) assert.ok(Math.abs(one[i] - ad[i]) < 1e-6);
    tf.dispose([a, b, c, d]);
    m.dispose();
  }
});

test('conditioning: labels and prompts change the samples; projection, concat and both discriminators train', () => {
  for (const dCond of ['projection', 'concat', 'both'] as const) {
    const m = new GanModel(cfgOf({ arch: 'conv', dCond, cond: { kind: 'label' } }), INFO, 6);
    const tr = trainerFor(m, trainSchema.parse({ lr: 1e-2 }), 10);
    for (let i = 0; i < 3; i++) trainModelStep(tr, m, () => ({ x: tf.clone(X), y: tf.clone(Y), captions: null }), i);
    const a = m.sample(3, 1, { labels: [0] }),
      b = m.sample(3, 1, { labels: [1] });
    assert.notDeepEqual(Array.from(a.dataSync()), Array.from(b.dataSync()), dCond);
    tf.dispose([a, b]);
    tr.dispose();
    m.dispose();
  }
  const t = new GanModel(cfgOf({ cond: { kind: 'text' } }), INFO, 6);
  const tr = trainerFor(t, trainSchema.parse({ lr: 1e-2 }), 10);
  for (let i = 0; i < 2; i++) trainModelStep(tr, t, () => ({ x: tf.clone(X), y: null, captions: CAPTIONS }), i);
  const p = t.sample(2, 1, { prompts: ['a big'] }),
    q = t.sample(2, 1, { prompts: ['c small'] }),
    u = t.sample(2, 1);
  assert.notDeepEqual(Array.from(p.dataSync()), Array.from(q.dataSync()));
  assert.notDeepEqual(Array.from(p.dataSync()), Array.from(u.dataSync()), 'no prompt: the null embedding');
  userError(() => t.sample(2, 1, { prompts: ['a zebra'] }), /zebra/);
  tf.dispose([p, q, u]);
  tr.dispose();
  t.dispose();
});

test('pictures: a slerp interpolation grid, one class per row for label models', () => {
  const m = new GanModel(cfgOf({ cond: { kind: 'label' } }), INFO, 7);
  const pics = m.pictures(X, undefined, 0);
  assert.deepEqual(
    pics.map((p) => p.name),
    ['interpolation'],
  );
  assert.deepEqual(pics[0].images.shape, [60, 8, 8, 1]);
  assert.equal(pics[0].cols, 10);
  assert.match(pics[0].caption, /slerp.*one class per row/);
  pics[0].images.dispose();
  m.dispose();
});

test('minibatch std: one channel per group of g images, the mean feature std; D sees a batch of copies as different', () => {
  const { minibatchStd } = networks;
  tf.tidy(() => {
    // 4 images in groups of 2: group 0 = two copies (std 0), group 1 = values 0 and 2 (std 1 everywhere)
    const h = tf.concat([tf.ones([2, 2, 2, 3]), tf.zeros([1, 2, 2, 3]), tf.fill([1, 2, 2, 3], 2)]) as tf.Tensor4D;
    const s = minibatchStd(h, 2);
    assert.deepEqual(s.shape, [4, 2, 2, 1]);
    const v = Array.from(s.dataSync());
    assert.ok(
      v.slice(0, 8).every((x) => Math.abs(x - 1e-4) < 1e-5),
      `copies: ${v.slice(0, 8)}`,
    );
    assert.ok(
      v.slice(8).every((x) => Math.abs(x - 1) < 1e-4),
      `spread: ${v.slice(8)}`,
    );
    // group size 4 on 6 images falls back to 3 (a divisor), so [real; fake] halves of 3 never mix
    const six = minibatchStd(
      tf.concat([tf.zeros([3, 1, 1, 1]), tf.randomNormal([3, 1, 1, 1], 0, 1, 'float32', 2)]) as tf.Tensor4D,
      4,
    );
    assert.ok(six.dataSync()[0] < 1e-3 && six.dataSync()[5] > 0.01, Array.from(six.dataSync()).join(' '));
  });
  // in D: a batch of one image repeated gets another score than a varied batch holding that image first
  const m = new GanModel(cfgOf({ arch: 'conv', mbstd: 3 }), INFO, 6);
  const before = tf.memory().numTensors;
  tf.tidy(() => {
    const same = tf.tile(tf.slice(X, 0, 1), [3, 1, 1, 1]) as tf.Tensor4D;
    const a = m.D.forward(same, null).dataSync()[0],
      b = m.D.forward(tf.slice(X, 0, 3), null).dataSync()[0];
    assert.notEqual(a, b);
    // and without mbstd it is the same image, the same score
    const plain = new GanModel(cfgOf({ arch: 'conv' }), INFO, 6);
    assert.equal(plain.D.forward(same, null).dataSync()[0], plain.D.forward(tf.slice(X, 0, 3), null).dataSync()[0]);
    plain.dispose();
  });
  assert.equal(tf.memory().numTensors, before);
  m.dispose();
  userError(
    () => new GanModel(cfgOf({ arch: 'conv', mbstd: 4, loss: 'wgan-gp' }), INFO, 1),
    /mbstd.*WGAN-GP.*model.mbstd=0/,
  );
  userError(() => new GanModel(cfgOf({ arch: 'mlp', mbstd: 4 }), INFO, 1), /model.mbstd applies to model.arch=conv/);
});

test('mode seeking (MSGAN): G trains on pairs sharing a condition, the term is reported, and it pays G for different images', () => {
  const m = new GanModel(cfgOf({ arch: 'conv', modeSeeking: 1, cond: { kind: 'label' } }), INFO, 6);
  const cond = { labels: Y, prompts: null };
  const before = tf.memory().numTensors;
  const out = m.generatorObjective(6, cond, null, 3);
  const ms = out.terms.modeSeeking as unknown as tf.Scalar;
  const lossG = out.terms.lossG as unknown as tf.Scalar;
  // loss = L_G + lambda / (ratio + 1e-5), ratio = mean|G(z1,c) - G(z2,c)| / mean|z1 - z2| > 0
  const ratio = ms.dataSync()[0];
  assert.ok(ratio > 0 && Number.isFinite(ratio), `ratio ${ratio}`);
  const want = lossG.dataSync()[0] + 1 / (ratio + 1e-5);
  assert.ok(Math.abs(out.loss.dataSync()[0] - want) < 1e-3 * want, `${out.loss.dataSync()[0]} vs ${want}`);
  tf.dispose([out.loss, ...Object.values(out.terms)] as unknown as tf.Tensor[]);
  assert.equal(tf.memory().numTensors, before);
  // without it: no term, and the loss is L_G alone
  const plain = new GanModel(cfgOf({ arch: 'conv', cond: { kind: 'label' } }), INFO, 6);
  const p = plain.generatorObjective(6, cond, null, 3);
  assert.equal(p.terms.modeSeeking, undefined);
  tf.dispose([p.loss, ...Object.values(p.terms)] as unknown as tf.Tensor[]);
  // a full training step reports it with the other health terms
  const tr = trainerFor(m, trainSchema.parse({ lr: 1e-3 }), 10);
  const r = trainModelStep(tr, m, () => ({ x: tf.clone(X), y: tf.clone(Y), captions: null }), 0);
  assert.ok(r.terms.modeSeeking > 0, JSON.stringify(r.terms));
  tr.dispose();
  m.dispose();
  plain.dispose();
});

test("AC-GAN: D's class head learns the real images' labels and G is paid for samples it reads as asked", () => {
  // D at G's rate with the raw-scale projection, the setting this test was written for
  const m = new GanModel(
    cfgOf({ arch: 'conv', dCond: 'projection', dCondScale: 'raw', dLrScale: 1, acWeight: 1, cond: { kind: 'label' } }),
    INFO,
    6,
  );
  assert.deepEqual(m.params.vars['D.aux.weight'].shape, [8, 3]);
  const cond = { labels: Y, prompts: null };
  const before = tf.memory().numTensors;
  tf.tidy(() => {
    // the head's loss is the mean cross-entropy over the rows whose label was kept
    const { classLogits } = m.D.forwardWithClass(X, null);
    const logp = tf.logSoftmax(classLogits!).arraySync() as number[][];
    const y = Array.from(Y.dataSync());
    const ce = (rows: number[]) => -rows.reduce((s, i) => s + logp[i][y[i]], 0) / rows.length;
    const drop = [false, true, false, false, true, false];
    const d = m.discriminatorObjective(X, X, cond, drop, 1);
    // the D objective with the head on real rows 0, 2, 3, 5 only (and no class term without labels kept)
    assert.ok(
      Math.abs(d.terms.acD.dataSync()[0] - ce([0, 2, 3, 5])) < 1e-4,
      `${d.terms.acD.dataSync()[0]} vs ${ce([0, 2, 3, 5])}`,
    );
    const g = m.generatorObjective(6, cond, null, 3);
    assert.ok(g.terms.acG.dataSync()[0] > 0);
    assert.ok(g.loss.dataSync()[0] > g.terms.lossG.dataSync()[0], 'L_G + lambda CE');
  });
  assert.equal(tf.memory().numTensors, before);
  // a few steps teach the head the real labels: its loss falls
  const tr = trainerFor(m, trainSchema.parse({ lr: 1e-2 }), 10);
  const first = trainModelStep(tr, m, () => ({ x: tf.clone(X), y: tf.clone(Y), captions: null }), 0).terms.acD;
  let last = first;
  for (let i = 1; i < 15; i++)
    last = trainModelStep(tr, m, () => ({ x: tf.clone(X), y: tf.clone(Y), captions: null }), i).terms.acD;
  assert.ok(last < first, `acD ${first} -> ${last}`);
  tr.dispose();
  m.dispose();
  userError(
    () => new GanModel(cfgOf({ acWeight: 1, cond: { kind: 'text' } }), INFO, 1),
    /model.acWeight.*set model.acWeight=0 or model.cond.kind=label/,
  );
});

test('guidance: c = c_null + w (c_y - c_null) when sampling; w = 1 is the plain conditional G, and the default', () => {
  const m = new GanModel(cfgOf({ arch: 'conv', cond: { kind: 'label' } }), INFO, 6);
  const before = tf.memory().numTensors;
  const plain = m.sample(3, 1, { labels: [2] }),
    one = m.sample(3, 1, { labels: [2], guidance: 1 }),
    two = m.sample(3, 1, { labels: [2], guidance: 2 }),
    again = m.sample(3, 1, { labels: [2], guidance: 2 });
  assert.deepEqual(Array.from(one.dataSync()), Array.from(plain.dataSync()));
  assert.notDeepEqual(Array.from(two.dataSync()), Array.from(plain.dataSync()));
  assert.deepEqual(Array.from(two.dataSync()), Array.from(again.dataSync()), 'the same seed, the same images');
  // w = 0 is the null condition: the same images whatever the label
  const a = m.sample(3, 1, { labels: [0], guidance: 0 }),
    b = m.sample(3, 1, { labels: [1], guidance: 0 });
  assert.deepEqual(Array.from(a.dataSync()), Array.from(b.dataSync()));
  tf.dispose([plain, one, two, again, a, b]);
  assert.equal(tf.memory().numTensors, before);
  userError(() => m.sample(2, 1, { labels: [0], guidance: -1 }), /guidance must be a number >= 0/);
  assert.equal(ganModelSchema.parse({}).guidance, 1);
  m.dispose();
});

test('temperature: z ~ N(0, T^2 I) when sampling (the truncation trick); T = 1 is the default, T = 0 one image per class', () => {
  const m = new GanModel(cfgOf({ arch: 'conv', cond: { kind: 'label' } }), INFO, 6);
  const before = tf.memory().numTensors;
  const plain = m.sample(4, 3, { labels: [1] }),
    one = m.sample(4, 3, { labels: [1], temperature: 1 }),
    half = m.sample(4, 3, { labels: [1], temperature: 0.5 }),
    zero = m.sample(4, 3, { labels: [1], temperature: 0 });
  assert.deepEqual(Array.from(one.dataSync()), Array.from(plain.dataSync()));
  assert.notDeepEqual(Array.from(half.dataSync()), Array.from(plain.dataSync()));
  // sample() is decode(prior(n, seed, T)): the same noise, scaled
  const ls = m.latentSpace();
  const z = ls.prior(4, 3, 0.5);
  const decoded = ls.decode(z, { labels: [1] });
  assert.deepEqual(Array.from(decoded.dataSync()), Array.from(half.dataSync()));
  // T = 0: z = 0 for every sample, so every image of the class is the same
  const rows = tf.split(zero, 4);
  for (const r of rows.slice(1)) assert.deepEqual(Array.from(r.dataSync()), Array.from(rows[0].dataSync()));
  tf.dispose([plain, one, half, zero, z, decoded, ...rows]);
  assert.equal(tf.memory().numTensors, before);
  userError(() => m.sample(2, 1, { temperature: -0.5 }), /temperature must be a number >= 0/);
  assert.equal(ganModelSchema.parse({}).temperature, 1);
  assert.ok(fam.samplingOptions?.includes('temperature'));
  m.dispose();
});

test("conditional batch norm (gCond=cbn): zero-initialised W_gamma, W_beta leave G as 'input'; trained, they move, and per class", () => {
  const input = new GanModel(cfgOf({ arch: 'conv', cond: { kind: 'label' } }), INFO, 9);
  const cbn = new GanModel(cfgOf({ arch: 'conv', gCond: 'cbn', cond: { kind: 'label' } }), INFO, 9);
  const extra = Object.keys(cbn.params.vars).filter((k) => !(k in input.params.vars));
  // stages 2, channels 4: G's batch norms have 8 and 4 channels; cond.dim 8
  assert.deepEqual(Object.fromEntries(extra.sort().map((k) => [k, cbn.params.vars[k].shape])), {
    'G.bn0.cond.beta': [8, 8],
    'G.bn0.cond.gamma': [8, 8],
    'G.bn1.cond.beta': [8, 4],
    'G.bn1.cond.gamma': [8, 4],
  });
  for (const k of extra) assert.ok(cbn.params.vars[k].dataSync().every((v) => v === 0));
  for (const [k, v] of Object.entries(input.params.vars)) cbn.params.vars[k].assign(v);
  const a = input.sample(3, 2, { labels: [0, 1, 2] }),
    b = cbn.sample(3, 2, { labels: [0, 1, 2] });
  assert.deepEqual(Array.from(b.dataSync()), Array.from(a.dataSync()), 'W = 0: the same G');
  // training moves W_gamma and W_beta
  const tr = trainerFor(cbn, trainSchema.parse({ lr: 1e-2 }), 10);
  const before = snapshot(cbn.params.vars);
  trainModelStep(tr, cbn, () => ({ x: tf.clone(X), y: tf.clone(Y), captions: null }), 0);
  const moved = changed(before, snapshot(cbn.params.vars));
  for (const k of extra) assert.ok(moved.includes(k), `${k} did not move`);
  // and then they modulate G: the samples differ from the same G without them
  const c = cbn.sample(3, 2, { labels: [0, 1, 2] });
  for (const k of extra) cbn.params.vars[k].assign(tf.zerosLike(cbn.params.vars[k]));
  const d = cbn.sample(3, 2, { labels: [0, 1, 2] });
  assert.notDeepEqual(Array.from(c.dataSync()), Array.from(d.dataSync()));
  tf.dispose([a, b, c, d]);
  tr.dispose();
  input.dispose();
  cbn.dispose();
  userError(
    () => new GanModel(cfgOf({ gCond: 'cbn', gNorm: 'none', cond: { kind: 'label' } }), INFO, 1),
    /model.gCond=cbn .*set model.gNorm=batch or model.gCond=input/,
  );
});

test('spectral norm (dNorm=spectral): W / sigma(W) by power iteration; the top singular value, its gradient u v^T, and a D that trains', () => {
  // W = R diag(3, 1) R^T (R a rotation by 30 degrees): sigma = 3 along (cos 30, sin 30)
  const c = Math.cos(Math.PI / 6),
    s = Math.sin(Math.PI / 6);
  const R = tf.tensor2d([
    [c, -s],
    [s, c],
  ]);
  const W = tf.matMul(tf.matMul(R, tf.diag(tf.tensor1d([3, 1])) as tf.Tensor2D), R, false, true);
  const Wsn = networks.spectralNorm(W, 8);
  const want = (W.arraySync() as number[][]).map((r) => r.map((x) => x / 3));
  (Wsn.arraySync() as number[][]).forEach((r, i) =>
    r.forEach((x, j) => assert.ok(Math.abs(x - want[i][j]) < 1e-5, `${x} ${want[i][j]}`)),
  );
  // the gradient flows through sigma too: for f = sum(W_sn * G), df/dW = G / sigma - sum(W * G) / sigma^2 v u^T, and
  // the top singular pair of this symmetric W is n n^T with n = (cos 30, sin 30)
  const G = tf.tensor2d([
    [0.5, -1],
    [2, 0.25],
  ]);
  const g = tf.grad((w: tf.Tensor) => tf.sum(tf.mul(networks.spectralNorm(w, 8), G)))(W);
  const wg = tf.sum(tf.mul(W, G)).dataSync()[0];
  const nn = [
    [c * c, c * s],
    [s * c, s * s],
  ];
  const Gv = G.arraySync();
  (g.arraySync() as number[][]).forEach((r, i) =>
    r.forEach((x, j) => {
      const e = Gv[i][j] / 3 - (wg / 9) * nn[i][j];
      assert.ok(Math.abs(x - e) < 1e-4, `dW[${i}][${j}] = ${x}, want ${e}`);
    }),
  );
  // a conv filter [k, k, in, out] is normalised as [k k in, out]: the result has top singular value 1
  const f = tf.randomNormal([4, 4, 2, 3], 0, 1, 'float32', 5);
  const fsn = networks.spectralNorm(f, 50);
  const again = networks.spectralNorm(fsn, 50);
  assert.ok(
    again.dataSync().every((x, i) => Math.abs(x - fsn.dataSync()[i]) < 1e-4),
    'W_sn has sigma 1, so normalising again changes nothing',
  );
  tf.dispose([R, W, Wsn, G, g, f, fsn, again]);
  const m = new GanModel(cfgOf({ arch: 'conv', dNorm: 'spectral', loss: 'hinge', cond: { kind: 'label' } }), INFO, 4);
  const tr = trainerFor(m, trainSchema.parse({ lr: 1e-3 }), 10);
  const step = (i: number) => trainModelStep(tr, m, () => ({ x: tf.clone(X), y: tf.clone(Y), captions: null }), i);
  for (const [k, v] of Object.entries(step(0).terms)) assert.ok(Number.isFinite(v), `${k} = ${v}`);
  step(1);
  const before = tf.memory().numTensors;
  for (let i = 2; i < 4; i++) step(i);
  assert.equal(tf.memory().numTensors, before, 'numTensors grew');
  tr.dispose();
  m.dispose();
});
