// The DDPM variational bound (likelihood.ts): an oracle denoiser for a one-image dataset makes every L_{t-1} vanish
// and leaves L_T + L_0 (computed here by hand and by quadrature); the stratified Monte-Carlo sum over t averages to the
// exact sum; the discretized Gaussian's 256 bins sum to 1; and evaluate() returns a finite bound without leaking tensors.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs-core';
import '../helpers/backend.ts';
import { registry } from '../../src/core/registry.ts';
import { DiffusionModel } from '../../src/core/families/diffusion/index.ts';
import { makeSchedule, type Schedule } from '../../src/core/diffusion/schedules.ts';
import {
  diffusionKl,
  epsPredictor,
  timestepStrata,
  variationalBound,
  type EpsPredictor,
} from '../../src/core/families/diffusion/likelihood.ts';
import { logBinProbability, logNormalCdf } from '../../src/core/families/diffusion/discretized-gaussian.ts';
import { Rng } from '../../src/core/tensor/rng.ts';

const sum = (a: ArrayLike<number>) => Array.from(a).reduce((x, y) => x + y, 0);
/** Mean and its standard error. */
const stats = (v: number[]) => {
  const mean = sum(v) / v.length;
  return { mean, se: Math.sqrt(sum(v.map((d) => (d - mean) ** 2)) / (v.length - 1) / v.length) };
};

/** A one-image dataset x* [1,6,6,1] of 8-bit values 2k/255 - 1, including both edge bins. */
function oneImage(seed: number): { x: tf.Tensor4D; k: number[] } {
  const rng = new Rng(seed);
  const k = Array.from({ length: 36 }, (_, i) => (i === 0 ? 0 : i === 1 ? 255 : rng.int(256)));
  return {
    x: tf.tensor4d(
      k.map((v) => (2 * v) / 255 - 1),
      [1, 6, 6, 1],
    ),
    k,
  };
}

/** The optimal predictor for the dataset {x*}: eps*(x_t, t) = (x_t - sqrt(alphaBar_t) x*) / sqrt(1 - alphaBar_t), one t per image. */
function oracle(s: Schedule, xStar: tf.Tensor4D): EpsPredictor {
  return (xt, t) =>
    tf.tidy(() => {
      const a = tf.tensor4d(
        Array.from(t, (ti) => Math.sqrt(s.alphaBar[ti])),
        [t.length, 1, 1, 1],
      );
      const b = tf.tensor4d(
        Array.from(t, (ti) => Math.sqrt(1 - s.alphaBar[ti])),
        [t.length, 1, 1, 1],
      );
      return tf.div(tf.sub(xt, tf.mul(a, xStar)), b) as tf.Tensor4D;
    });
}

/** Simpson's rule for the N(0, 1) mass on [a, b] (an independent check of the decoder's CDF differences). */
function normalMass(a: number, b: number, n = 2000): number {
  const f = (z: number) => Math.exp(-0.5 * z * z) / Math.sqrt(2 * Math.PI);
  const h = (b - a) / n;
  let s = f(a) + f(b);
  for (let i = 1; i < n; i++) s += (i % 2 ? 4 : 2) * f(a + i * h);
  return (s * h) / 3;
}

test('oracle denoiser on a one-image dataset: every L_{t-1} is 0 and the bound is L_T + L_0, both computed by hand (eps and v)', () => {
  const { x, k } = oneImage(1);
  for (const [name, T] of [
    ['linear', 40],
    ['cosine', 25],
  ] as const) {
    const s = makeSchedule(name, T);
    const eps = oracle(s, x);
    // per t: the KL between the posterior and the oracle's reverse step vanishes, whatever the noise draw
    for (let t = 1; t < T; t++) {
      const e = tf.randomNormal([1, 6, 6, 1], 0, 1, 'float32', t) as tf.Tensor4D;
      const kl = diffusionKl(s, eps, x, [t], e);
      assert.ok(Math.abs(kl.dataSync()[0]) < 1e-5, `${name} L_${t} = ${kl.dataSync()[0]}`);
      tf.dispose([e, kl]);
    }
    // by hand: L_T = 1/2 sum_i (abT x_i^2 + (1 - abT) - 1 - log(1 - abT)), L_0 = -sum_i log of the bin mass of N(x*_i, beta~_2)
    const abT = s.alphaBar[T - 1],
      sigma = Math.sqrt(s.posteriorVariance[1]);
    const LT =
      0.5 *
      sum(
        k.map((v) => {
          const xi = (2 * v) / 255 - 1;
          return abT * xi * xi + (1 - abT) - 1 - Math.log(1 - abT);
        }),
      );
    const half = 1 / 255 / sigma; // the bin's half-width in units of sigma; the mean sits at the bin's centre
    const L0 = -sum(k.map((v) => Math.log(v === 0 || v === 255 ? 0.5 + normalMass(0, half) : normalMass(-half, half))));
    for (const timesteps of ['all', 5] as const) {
      const b = variationalBound(s, eps, x, { timesteps, seed: 3 });
      assert.ok(Math.abs(b.diffusion[0]) < 1e-4, `${name} sum L_{t-1} = ${b.diffusion[0]}`);
      assert.ok(Math.abs(b.prior[0] - LT) < 1e-5 * Math.max(1, LT), `${name} L_T ${b.prior[0]} vs ${LT}`);
      assert.ok(Math.abs(b.decoder[0] - L0) < 1e-6 * L0, `${name} L_0 ${b.decoder[0]} vs ${L0}`);
      assert.equal(b.timesteps, timesteps === 'all' ? T - 1 : 5);
    }
    // a v-predicting oracle, v* = sqrt(abar) eps* - sqrt(1 - abar) x*, converted to eps_hat, is the same oracle
    const vNet: EpsPredictor = (xt, t) =>
      tf.tidy(() => {
        const a = tf.tensor4d(
          Array.from(t, (ti) => Math.sqrt(s.alphaBar[ti])),
          [t.length, 1, 1, 1],
        );
        const b = tf.tensor4d(
          Array.from(t, (ti) => Math.sqrt(1 - s.alphaBar[ti])),
          [t.length, 1, 1, 1],
        );
        return tf.sub(tf.mul(a, eps(xt, t)), tf.mul(b, x)) as tf.Tensor4D;
      });
    const bv = variationalBound(s, epsPredictor(s, 'v', vNet), x, { timesteps: 'all', seed: 3 });
    assert.ok(
      Math.abs(bv.diffusion[0]) < 1e-3 && Math.abs(bv.decoder[0] - L0) < 1e-3 * L0,
      `v oracle: ${bv.diffusion[0]}, ${bv.decoder[0]} vs ${L0}`,
    );
  }
  x.dispose();
});

test('L_{t-1} equals the Gaussian KL of the posterior mean and the model mean (both variances beta~_t), computed in float64', () => {
  const s = makeSchedule('linear', 40);
  const { x } = oneImage(2);
  // a fixed "network": eps_hat = 0.7 x_t + 0.1
  const net: EpsPredictor = (xt) => tf.tidy(() => tf.add(tf.mul(xt, 0.7), 0.1) as tf.Tensor4D);
  const e = tf.randomNormal([1, 6, 6, 1], 0, 1, 'float32', 5) as tf.Tensor4D;
  const x0 = Array.from(x.dataSync()),
    ev = Array.from(e.dataSync());
  for (const t of [1, 2, 17, 39]) {
    const ab = s.alphaBar[t],
      c1 = s.posteriorMeanCoef1[t],
      c2 = s.posteriorMeanCoef2[t],
      v = s.posteriorVariance[t];
    let kl = 0;
    x0.forEach((xi, i) => {
      const xt = Math.fround(Math.sqrt(ab) * xi + Math.sqrt(1 - ab) * ev[i]);
      const x0Hat = (xt - Math.sqrt(1 - ab) * (0.7 * xt + 0.1)) / Math.sqrt(ab);
      kl += (c1 * xi + c2 * xt - (c1 * x0Hat + c2 * xt)) ** 2 / (2 * v); // KL(N(m1, v) || N(m2, v)) = (m1 - m2)^2 / 2v
    });
    const got = diffusionKl(s, net, x, [t], e);
    assert.ok(Math.abs(got.dataSync()[0] - kl) < 1e-4 * kl, `t=${t}: ${got.dataSync()[0]} vs ${kl}`);
    got.dispose();
  }
  assert.throws(() => diffusionKl(s, net, x, [0], e), /not in 1\.\.39/);
  tf.dispose([x, e]);
});

test('a worse predictor gives a larger bound than the oracle', () => {
  const s = makeSchedule('linear', 40);
  const { x } = oneImage(3);
  const good = oracle(s, x);
  const noisy: EpsPredictor = (xt, t) =>
    tf.tidy(() => tf.add(good(xt, t), tf.mul(0.2, tf.randomNormal(xt.shape, 0, 1, 'float32', 7))) as tf.Tensor4D);
  const total = (b: { prior: Float64Array; diffusion: Float64Array; decoder: Float64Array }) =>
    b.prior[0] + b.diffusion[0] + b.decoder[0];
  const a = variationalBound(s, good, x, { timesteps: 8, seed: 1 }),
    b = variationalBound(s, noisy, x, { timesteps: 8, seed: 1 });
  assert.ok(total(b) > total(a) + 1, `noisy ${total(b)} vs oracle ${total(a)}`);
  assert.ok(b.diffusion[0] > 1 && b.decoder[0] > a.decoder[0]);
  x.dispose();
});

test('the discretized Gaussian: the 256 bins sum to 1 for any mean and variance; log-probabilities stay finite far in the tails', () => {
  for (const mu of [-1, -0.3, 0, 0.5, 1, -3, 2.5]) {
    for (const sigma of [1e-4, 3e-3, 0.05, 1, 30]) {
      const logs = Array.from({ length: 256 }, (_, k) => logBinProbability(k, mu, sigma));
      assert.ok(
        logs.every((l) => Number.isFinite(l) && l <= 0),
        `mu ${mu} sigma ${sigma}: ${logs.find((l) => !Number.isFinite(l) || l > 0)}`,
      );
      const total = sum(logs.map(Math.exp));
      assert.ok(Math.abs(total - 1) < 1e-9, `mu ${mu} sigma ${sigma}: sum ${total}`);
    }
  }
  // the far tail: 255 bins away at sigma 1e-3 is ~ -log(sqrt(2 pi)) - z^2/2 - log z for z = (2 - 1/255) / 1e-3
  const z = (2 - 1 / 255) / 1e-3;
  const tail = logBinProbability(255, -1, 1e-3);
  assert.ok(
    Math.abs(tail - (-0.5 * Math.log(2 * Math.PI) - 0.5 * z * z - Math.log(z))) < 1e-6 * Math.abs(tail),
    `${tail}`,
  );
  // log Phi against reference values (mpmath, 50 digits)
  for (const [zz, ref] of [
    [-30, -454.3212439563432],
    [-3.5, -8.366065308344092],
    [0, -Math.LN2],
    [1, -0.17275377902344988],
    [6, -9.865876455243758e-10],
  ] as const) {
    assert.ok(
      Math.abs(logNormalCdf(zz) - ref) < 1e-12 * Math.abs(ref),
      `log Phi(${zz}) = ${logNormalCdf(zz)} vs ${ref}`,
    );
  }
});

test('strata cover t = 2..T once; the stratified Monte-Carlo sum averages to the exact sum over t; same seed, same bound; alpha_T = 0 gives +inf', () => {
  for (const [T, K] of [
    [1000, 8],
    [40, 8],
    [40, 39],
    [40, 100],
    [5, 3],
  ] as const) {
    for (const spacing of ['log', 'even'] as const) {
      const st = timestepStrata(T, K, spacing);
      assert.equal(st.length, Math.min(K, T - 1));
      assert.equal(st[0][0], 1);
      assert.equal(st[st.length - 1][1], T);
      st.forEach(([a, b], j) =>
        assert.ok(b > a && (j === 0 || st[j - 1][1] === a), `${T} ${K} ${spacing}: ${JSON.stringify(st)}`),
      );
    }
  }
  // a predictor whose error depends on t only, eps_hat = eps* + c_t, makes L_{t-1} = lambda_t D c_t^2 exactly, so the only
  // randomness is the draw of t: the mean over many copies must match the exact sum within its standard error
  const s = makeSchedule('cosine', 30);
  const { x } = oneImage(4);
  const good = oracle(s, x);
  const offset: EpsPredictor = (xt, t) =>
    tf.tidy(
      () =>
        tf.add(
          good(xt, t),
          tf.tensor4d(
            Array.from(t, (ti) => 0.3 + Math.sin(ti)),
            [t.length, 1, 1, 1],
          ),
        ) as tf.Tensor4D,
    );
  const exact = variationalBound(s, offset, x, { timesteps: 'all', seed: 0 }).diffusion[0];
  const copies = tf.tile(x, [300, 1, 1, 1]) as tf.Tensor4D; // each copy draws its own t's: 300 independent estimates
  for (const spacing of ['log', 'even'] as const) {
    const { mean, se } = stats(
      Array.from(variationalBound(s, offset, copies, { timesteps: 4, seed: 1, spacing }).diffusion),
    );
    assert.ok(Math.abs(mean - exact) < 4 * se + 1e-3 * exact, `${spacing}: mean ${mean} +- ${se} vs exact ${exact}`);
  }
  const again = (seed: number) =>
    Array.from(variationalBound(s, offset, copies, { timesteps: 4, seed }).diffusion.slice(0, 20));
  assert.deepEqual(again(2), again(2));
  assert.notDeepEqual(again(2), again(3));
  copies.dispose();
  // linear betas with T = 20 end at beta_T = 1: no eps-parameterized reverse step reaches x_{T-1}, the bound is infinite
  const degenerate = makeSchedule('linear', 20);
  assert.equal(
    variationalBound(degenerate, oracle(degenerate, x), x, { timesteps: 4, seed: 1 }).diffusion[0],
    Infinity,
  );
  x.dispose();
});

test('Monte-Carlo bound of a random tiny UNet averages to the exact one; evaluate() is seeded, finite, positive and leak-free', () => {
  const info = { height: 4, width: 4, channels: 1, numClasses: 3 };
  const cfg = registry.diffusion.modelSchema.parse({
    ...registry.diffusion.defaults.model,
    ...registry.diffusion.tinyPreset,
    schedule: 'cosine',
    T: 10,
    cond: { kind: 'label', dim: 16 },
  });
  const m = new DiffusionModel(cfg, info, 3);
  // perturb the weights so the network is not the zero map (its output conv starts at zero)
  for (const v of Object.values(m.params.vars))
    v.assign(tf.tidy(() => tf.add(v, tf.randomNormal(v.shape, 0, 0.1, 'float32', 9))));
  const x = tf.tidy(() =>
    tf.sub(tf.div(tf.round(tf.randomUniform([3, 4, 4, 1], 0, 255, 'float32', 4)), 127.5), 1),
  ) as tf.Tensor4D;
  const y = tf.tensor1d([0, 1, 2], 'int32');
  // the labels 0, 1, 2 of the 3 images, repeated for R copies of them
  const eps =
    (R: number): EpsPredictor =>
    (xt, t) =>
      tf.tidy(() =>
        m.unet.forward(xt, t, m.cond!.embedSeq({ labels: Array.from({ length: 3 * R }, (_, i) => i % 3) }, 3 * R)),
      );
  // R copies of the 3 images in one batch give R independent estimates of the bound's diffusion part for the 3 images
  const run = (timesteps: number | 'all', seed: number, R: number) =>
    tf.tidy(() => {
      const d = variationalBound(m.schedule, eps(R), tf.tile(x, [R, 1, 1, 1]) as tf.Tensor4D, {
        timesteps,
        seed,
      }).diffusion;
      return Array.from({ length: R }, (_, r) => d[3 * r] + d[3 * r + 1] + d[3 * r + 2]);
    });
  const exact = stats(run('all', 100, 12)),
    mc = stats(run(3, 1, 32));
  assert.ok(
    Math.abs(mc.mean - exact.mean) < 4 * Math.hypot(mc.se, exact.se),
    `MC ${mc.mean} +- ${mc.se} vs exact ${exact.mean} +- ${exact.se}`,
  );
  assert.deepEqual(run(3, 7, 1), run(3, 7, 1));
  // evaluate: the figures, their sum, bits/dim, determinism, no leak
  const batches = () => [
    { x, y },
    { x: tf.slice(x, 0, 2) as tf.Tensor4D, y: tf.slice(y, 0, 2) as tf.Tensor1D },
  ];
  const b1 = batches(),
    b2 = batches(),
    b3 = batches();
  const r = m.evaluate(b1, { iwaeK: 0, seed: 5 });
  assert.equal(r.n, 5);
  const t = r.terms,
    l = r.likelihood!;
  assert.equal(t.vlbTimesteps, 8);
  assert.deepEqual([l.kind, l.name, l.discrete], ['bound', 'VLB', true]);
  for (const [k, v] of Object.entries({ nats: l.nats, bitsPerDim: l.bitsPerDim, ...t }))
    assert.ok(Number.isFinite(v) && v > 0, `${k} = ${v}`);
  assert.ok(Math.abs(l.nats - (t.vlbPriorNats + t.vlbDecoderNats + t.vlbDiffusionNats)) < 1e-9 * l.nats);
  assert.ok(Math.abs(l.bitsPerDim - l.nats / (16 * Math.LN2)) < 1e-12);
  const r2 = m.evaluate(b2, { iwaeK: 0, seed: 5, vlbTimesteps: 2 });
  const before = tf.memory().numTensors;
  const again = m.evaluate(b3, { iwaeK: 0, seed: 5, vlbTimesteps: 2 });
  assert.equal(tf.memory().numTensors, before, 'numTensors grew');
  assert.deepEqual(again, r2);
  assert.equal(r2.terms.vlbTimesteps, 2);
  tf.dispose([x, y, ...[b1, b2, b3].flatMap((b) => [b[1].x, b[1].y!])]);
  m.dispose();
});
