// The GAN maths on every backend we ship: the three losses against their formulas, WGAN-GP's gradient penalty against
// a hand-computed value on a linear critic (gradient norm known) together with its gradient w.r.t. the critic's weights
// (a gradient of a gradient), the penalty through the conv critic agreeing across backends, and slerp.
import { describe, test, before } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs-core';
import '../helpers/backend.ts';
import { initBackend } from '../../src/node/backend.ts';
import { registerNativeBackend } from '../../src/node/native/backend.ts';
import { discriminatorLoss, generatorLoss, gradientPenalty } from '../../src/core/families/gan/loss.ts';
import { slerp, slerpPath } from '../../src/core/families/gan/sample.ts';
import { ganModelSchema } from '../../src/core/families/gan/config.ts';
import { GanModel } from '../../src/core/families/gan/index.ts';

const BACKENDS = [
  'cpu',
  'wasm',
  ...(registerNativeBackend().ok || process.env.DEEPGEN_REQUIRE_NATIVE ? ['native'] : []),
];
const close = (a: number, b: number, tol: number, what: string) =>
  assert.ok(Math.abs(a - b) <= tol * Math.max(1, Math.abs(b)), `${what}: ${a} vs ${b}`);
const softplus = (v: number) => Math.log1p(Math.exp(v));
const mean = (xs: number[]) => xs.reduce((s, v) => s + v, 0) / xs.length;

for (const backend of BACKENDS) {
  describe(`gan maths on ${backend}`, () => {
    before(async () => {
      await initBackend(backend);
    });

    test('losses: ns, hinge and wgan against their formulas', () => {
      const r = [2, -0.5, 0.3],
        f = [-1, 0.8, 1.7];
      const dR = tf.tensor1d(r),
        dF = tf.tensor1d(f);
      const val = (t: tf.Scalar) => {
        const v = t.dataSync()[0];
        t.dispose();
        return v;
      };
      // ns: -log sigmoid(D(x)) - log(1 - sigmoid(D(G(z)))) = softplus(-D(x)) + softplus(D(G(z)))
      close(
        val(discriminatorLoss('ns', dR, dF)),
        mean(r.map((v) => -Math.log(1 / (1 + Math.exp(-v))))) +
          mean(f.map((v) => -Math.log(1 - 1 / (1 + Math.exp(-v))))),
        1e-5,
        'ns L_D',
      );
      close(val(generatorLoss('ns', dF)), mean(f.map((v) => softplus(-v))), 1e-5, 'ns L_G');
      close(
        val(discriminatorLoss('hinge', dR, dF)),
        mean(r.map((v) => Math.max(0, 1 - v))) + mean(f.map((v) => Math.max(0, 1 + v))),
        1e-6,
        'hinge L_D',
      );
      close(val(generatorLoss('hinge', dF)), -mean(f), 1e-6, 'hinge L_G');
      close(val(discriminatorLoss('wgan-gp', dR, dF)), mean(f) - mean(r), 1e-6, 'wgan L_D');
      close(val(generatorLoss('wgan-gp', dF)), -mean(f), 1e-6, 'wgan L_G');
      tf.dispose([dR, dF]);
    });

    test('gradient penalty on a linear critic D(x) = <w, x> + b: GP = (||w|| - 1)^2 and dGP/dw = 2 (||w|| - 1) w / ||w||', () => {
      // w on 2x2x1 images with ||w|| = 3 (1, 2, 2, 0): grad_x D = w at every interpolate, so GP = (3 - 1)^2 = 4
      const wv = [1, 2, 2, 0];
      const w = tf.variable(tf.tensor4d(wv, [1, 2, 2, 1]), true, `gp-linear-w-${backend}`);
      const b = tf.variable(tf.scalar(0.7), true, `gp-linear-b-${backend}`);
      const critic = (x: tf.Tensor4D) => tf.add(tf.sum(tf.mul(x, w), [1, 2, 3]), b) as tf.Tensor1D;
      const real = tf.randomNormal([5, 2, 2, 1], 0, 1, 'float32', 1) as tf.Tensor4D;
      const fake = tf.randomNormal([5, 2, 2, 1], 0, 1, 'float32', 2) as tf.Tensor4D;
      const eps = tf.tensor1d([0, 0.25, 0.5, 0.9, 1]);
      const before = tf.memory().numTensors;
      const { value, grads } = tf.variableGrads(() => gradientPenalty(critic, real, fake, eps).gp, [w, b]);
      close(value.dataSync()[0], 4, 1e-5, 'GP');
      const gw = Array.from(grads[w.name].dataSync());
      // d/dw (||w|| - 1)^2 = 2 (||w|| - 1) w / ||w|| = (4/3) w
      gw.forEach((g, i) => close(g, (4 / 3) * wv[i], 1e-4, `dGP/dw[${i}]`));
      // the bias does not move the gradient, so it gets none (or zero)
      if (grads[b.name]) close(grads[b.name].dataSync()[0], 0, 1e-6, 'dGP/db');
      const { gradNorm, gp } = gradientPenalty(critic, real, fake, eps);
      close(gradNorm.dataSync()[0], 3, 1e-5, 'mean ||grad D||');
      tf.dispose([value, ...Object.values(grads), gradNorm, gp]);
      assert.equal(tf.memory().numTensors, before, 'the penalty leaks no tensors');
      // a critic already 1-Lipschitz along its gradient has no penalty: ||w|| = 1
      w.assign(tf.tensor4d([0.6, 0.8, 0, 0], [1, 2, 2, 1]));
      const zero = gradientPenalty(critic, real, fake, eps);
      close(zero.gp.dataSync()[0], 0, 1e-6, 'GP at ||w|| = 1');
      tf.dispose([zero.gp, zero.gradNorm, w, b, real, fake, eps]);
    });

    test('gradient penalty through a quadratic critic D(x) = sum x^2 / 2: grad = x^, so GP = mean (||x^|| - 1)^2', () => {
      // D depends on x nonlinearly, so the interpolates matter: x^ = eps x + (1 - eps) x~
      const real = tf.tensor4d([1, 0, 0, 2, 2, 1], [2, 1, 1, 3]);
      const fake = tf.tensor4d([0, 0, 0, 0, 2, 1], [2, 1, 1, 3]);
      const eps = tf.tensor1d([0.5, 0.25]);
      const critic = (x: tf.Tensor4D) => tf.mul(0.5, tf.sum(tf.square(x), [1, 2, 3])) as tf.Tensor1D;
      const { gp, gradNorm } = gradientPenalty(critic, real, fake, eps);
      // x^_0 = (0.5, 0, 0), ||.|| = 0.5; x^_1 = 0.25 (2, 2, 1) + 0.75 (0, 2, 1) = (0.5, 2, 1), ||.|| = sqrt(5.25)
      const n0 = 0.5,
        n1 = Math.sqrt(5.25);
      close(gp.dataSync()[0], ((n0 - 1) ** 2 + (n1 - 1) ** 2) / 2, 1e-5, 'GP');
      close(gradNorm.dataSync()[0], (n0 + n1) / 2, 1e-5, 'mean norm');
      tf.dispose([gp, gradNorm, real, fake, eps]);
    });

    test('the penalty through the GAN critic has finite, non-zero gradients for every D weight and none for G', () => {
      const arch = backend === 'wasm' ? 'mlp' : 'conv'; // wasm has no Conv2DBackpropFilter
      const cfg = ganModelSchema.parse({
        arch,
        loss: 'wgan-gp',
        latent: 4,
        channels: 4,
        hidden: 8,
        // the projection: c multiplies D's features, so grad_x D (and the penalty) depends on it; a concat channel,
        // like a bias, only picks which leaky-ReLU slopes apply
        dCond: 'projection',
        cond: { kind: 'label', dim: 4 },
      });
      const m = new GanModel(cfg, { height: 8, width: 8, channels: 1, numClasses: 3 }, 3);
      const x = tf.randomUniform([4, 8, 8, 1], -1, 1, 'float32', 5) as tf.Tensor4D;
      const fake = tf.tidy(() =>
        m.generate(tf.randomNormal([4, 4], 0, 1, 'float32', 6) as tf.Tensor2D, { labels: [0, 1, 2, 0] }, null),
      );
      const dVars = m.discriminatorVars();
      const { value, grads } = tf.variableGrads(
        () => m.discriminatorObjective(x, fake, { labels: [0, 1, 2, 0] }, null, 9).terms.gp,
        Object.values(dVars),
      );
      assert.ok(Number.isFinite(value.dataSync()[0]) && value.dataSync()[0] > 0);
      for (const [k, v] of Object.entries(dVars)) {
        // biases only pick which leaky-ReLU slopes apply (piecewise constant), so grad_x D and GP do not depend on them;
        // the null row is not used without a drop mask
        if (k.endsWith('.bias') || k === 'D.cond.null') continue;
        const g = grads[v.name];
        assert.ok(g, `no gradient for ${k}`);
        const d = g.dataSync();
        assert.ok(d.every(Number.isFinite) && d.some((e) => e !== 0), `${k}: gradient ${d.slice(0, 4)}`);
      }
      tf.dispose([value, ...Object.values(grads), x, fake]);
      m.dispose();
    });
  });
}

test('the penalty gradient through the conv critic agrees between cpu and native', async (t) => {
  if (!registerNativeBackend().ok) return t.skip('native addon not built');
  const cfg = ganModelSchema.parse({ arch: 'conv', loss: 'wgan-gp', latent: 4, channels: 4 });
  const grads: Record<string, Float32Array>[] = [];
  for (const b of ['cpu', 'native']) {
    await initBackend(b);
    const m = new GanModel(cfg, { height: 8, width: 8, channels: 1, numClasses: 0 }, 3);
    const x = tf.randomUniform([4, 8, 8, 1], -1, 1, 'float32', 5) as tf.Tensor4D;
    const f = tf.randomUniform([4, 8, 8, 1], -1, 1, 'float32', 6) as tf.Tensor4D;
    const dVars = m.discriminatorVars();
    const r = tf.variableGrads(() => m.discriminatorObjective(x, f, {}, null, 9).loss, Object.values(dVars));
    grads.push(
      Object.fromEntries(Object.entries(dVars).map(([k, v]) => [k, r.grads[v.name].dataSync() as Float32Array])),
    );
    tf.dispose([r.value, ...Object.values(r.grads), x, f]);
    m.dispose();
  }
  for (const k of Object.keys(grads[0])) {
    const a = grads[0][k],
      b = grads[1][k];
    const scale = Math.max(...Array.from(a, Math.abs), 1e-6);
    for (let i = 0; i < a.length; i++)
      assert.ok(Math.abs(a[i] - b[i]) <= 1e-3 * scale, `${k}[${i}]: cpu ${a[i]} native ${b[i]}`);
  }
  await initBackend('cpu');
});

test('slerp: the ends, the great circle between orthogonal unit vectors, norm kept, parallel vectors', () => {
  const a = [1, 0, 0],
    b = [0, 1, 0];
  assert.deepEqual(Array.from(slerp(a, b, 0)), [1, 0, 0]);
  const end = slerp(a, b, 1);
  assert.ok(Math.abs(end[0]) < 1e-7 && Math.abs(end[1] - 1) < 1e-7);
  const mid = slerp(a, b, 0.5);
  close(mid[0], Math.SQRT1_2, 1e-6, 'mid x');
  close(mid[1], Math.SQRT1_2, 1e-6, 'mid y');
  // vectors of equal norm stay on the sphere (the straight line's midpoint has norm 0.707 here)
  for (const t of [0.1, 0.3, 0.77]) {
    const p = slerp([3, 0, 4], [0, 5, 0], t);
    close(Math.hypot(...p), 5, 1e-5, `norm at t=${t}`);
  }
  // angle is linear in t: at t = 1/3 between unit vectors 90 degrees apart, 30 degrees from a
  const third = slerp(a, b, 1 / 3);
  close(Math.atan2(third[1], third[0]), Math.PI / 6, 1e-6, 'angle');
  // (anti)parallel: the straight line, no NaN
  assert.deepEqual(Array.from(slerp([1, 2], [2, 4], 0.5)), [1.5, 3]);
  assert.ok(Array.from(slerp([1, 0], [-1, 0], 0.5)).every(Number.isFinite));
  const A = tf.tensor2d([
      [1, 0],
      [0, 2],
    ]),
    B = tf.tensor2d([
      [0, 1],
      [2, 0],
    ]);
  const path = slerpPath(A, B, 3);
  assert.deepEqual(path.shape, [6, 2]);
  const d = path.dataSync();
  close(d[2], Math.SQRT1_2, 1e-6, 'row 0 mid');
  close(d[4], 0, 1e-6, 'row 0 end x');
  close(d[5], 1, 1e-6, 'row 0 end y');
  close(Math.hypot(d[8], d[9]), 2, 1e-6, 'row 1 mid norm');
  tf.dispose([A, B, path]);
});
