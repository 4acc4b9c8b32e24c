// The flow's invertible layers one by one and composed: f^-1(f(x)) = x and f(f^-1(z)) = z, and each log-det equal to
// log|det J| of the Jacobian computed by autodiff (one row per output) on small inputs, plus the JS linear algebra
// (LU, inverse, the log|det W| gradient W^-T) and the squeeze layout.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs-core';
import '../helpers/backend.ts';
import { ParamStore } from '../../src/core/nn/params.ts';
import { Rng } from '../../src/core/tensor/rng.ts';
import {
  ActNorm,
  DataTransform,
  InvConv1x1,
  InvConv1x1Lu,
  logAbsDet as logAbsDetOp,
  reverseLayer,
  squeeze,
  squeezeLayer,
  unsqueeze,
  type Bijector,
  type FlowCtx,
} from '../../src/core/families/flow/layers.ts';
import { AffineCoupling, conv, type CouplingOptions } from '../../src/core/families/flow/coupling.ts';
import { MultiScaleFlow } from '../../src/core/families/flow/model.ts';
import { VariationalDequantizer } from '../../src/core/families/flow/dequant.ts';
import { flowModelSchema, type FlowModelConfig } from '../../src/core/families/flow/config.ts';
import { inverse, logAbsDet, luDecompose, pluParts, randomRotation } from '../../src/core/families/flow/linalg.ts';

const maxAbs = (a: tf.Tensor, b: tf.Tensor) => tf.tidy(() => tf.max(tf.abs(tf.sub(a, b))).dataSync()[0]);
const maxOf = (a: tf.Tensor) => tf.tidy(() => tf.max(tf.abs(a)).dataSync()[0]);

/** Add N(0, std^2) noise to every trainable parameter, so zero-initialised layers are not the identity. */
function perturb(ps: ParamStore, seed: number, std = 0.3): void {
  let i = 0;
  for (const v of Object.values(ps.vars))
    v.assign(tf.tidy(() => tf.add(v, tf.randomNormal(v.shape, 0, std, 'float32', seed + i++))));
}

/**
 * The Jacobian J [Dout, Din] of x -> f(x) at one input x [1,h,w,c] (f maps a batch to a batch, images independent):
 * the input repeated Dout times, copy b's output read at entry b, one gradient call gives row b in copy b.
 */
function jacobian(
  f: (x: tf.Tensor4D, copies: number) => tf.Tensor,
  x: tf.Tensor4D,
): { J: Float64Array; rows: number; cols: number } {
  const cols = x.size;
  const rows = tf.tidy(() => f(x, 1).size);
  const g = tf.tidy(() => {
    const sel = tf.eye(rows);
    const F = (xs: tf.Tensor) => tf.sum(tf.mul(tf.reshape(f(xs as tf.Tensor4D, rows), [rows, rows]), sel));
    return tf.grad(F)(tf.tile(x, [rows, 1, 1, 1]));
  });
  const J = Float64Array.from(g.dataSync());
  g.dispose();
  return { J, rows, cols };
}

/** log|det dF/dx| at x, from the autodiff Jacobian (float64 LU). */
function jacobianLogDet(f: (x: tf.Tensor4D, copies: number) => tf.Tensor, x: tf.Tensor4D): number {
  const { J, rows, cols } = jacobian(f, x);
  assert.equal(rows, cols, 'a bijection keeps the dimension');
  return logAbsDet(J, rows);
}

/** Repeat a per-image tensor (condition, context) for the Jacobian's copies. */
const rep = <T extends tf.Tensor>(t: T | null | undefined, copies: number): T | null =>
  t ? (tf.tile(t, [copies, ...t.shape.slice(1).map(() => 1)]) as T) : null;

/** Checks a Bijector: both round trips and, at two points, log-det = log|det J|. */
function checkBijector(
  name: string,
  layer: Bijector,
  shape: [number, number, number],
  ctx: FlowCtx = { cond: null },
  scale = 1,
) {
  const [h, w, c] = shape;
  const x = tf.mul(tf.randomNormal([3, h, w, c], 0, 1, 'float32', 11), scale) as tf.Tensor4D;
  const ctx3: FlowCtx = { cond: rep(ctx.cond, 3), context: rep(ctx.context, 3) };
  // f^-1(f(x)) = x
  const back = tf.tidy(() => layer.inverse(layer.forward(x, ctx3).y, ctx3));
  assert.ok(maxAbs(back, x) < 1e-4 * Math.max(1, maxOf(x)), `${name}: f^-1(f(x)) != x (max error ${maxAbs(back, x)})`);
  // f(f^-1(z)) = z
  const zt = tf.randomNormal([3, h, w, c], 0, 1, 'float32', 12) as tf.Tensor4D;
  const again = tf.tidy(() => layer.forward(layer.inverse(zt, ctx3), ctx3).y);
  assert.ok(
    maxAbs(again, zt) < 1e-4 * Math.max(1, maxOf(zt)),
    `${name}: f(f^-1(z)) != z (max error ${maxAbs(again, zt)})`,
  );
  // log-det against the Jacobian at two inputs
  for (const i of [0, 1]) {
    const xi = tf.slice(x, i, 1);
    const ld = tf.tidy(() => layer.forward(xi, ctx).logdet.dataSync()[0]);
    const ref = jacobianLogDet(
      (xs, n) => layer.forward(xs, { cond: rep(ctx.cond, n), context: rep(ctx.context, n) }).y,
      xi,
    );
    assert.ok(Math.abs(ld - ref) < 1e-3 * Math.max(1, Math.abs(ref)), `${name}: log-det ${ld} != log|det J| ${ref}`);
    xi.dispose();
  }
  tf.dispose([x, back, zt, again]);
}

test('linalg: LU inverse, log|det|, the PLU parts and a random rotation, in float64', () => {
  const rng = new Rng(3);
  const n = 6;
  const a = Float64Array.from({ length: n * n }, () => rng.normal());
  const inv = inverse(a, n);
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < n; j++) {
      let s = 0;
      for (let k = 0; k < n; k++) s += a[i * n + k] * inv[k * n + j];
      assert.ok(Math.abs(s - (i === j ? 1 : 0)) < 1e-10, `A A^-1 [${i},${j}] = ${s}`);
    }
  }
  // det [[0, 2, 0], [3, 0, 0], [0, 0, -4]] = 24 (needs a row swap)
  assert.ok(Math.abs(logAbsDet([0, 2, 0, 3, 0, 0, 0, 0, -4], 3) - Math.log(24)) < 1e-12);
  assert.equal(luDecompose([0, 2, 0, 3, 0, 0, 0, 0, -4], 3).permSign, -1);
  assert.equal(logAbsDet([1, 2, 2, 4], 2), -Infinity);
  // W = P (L + I) (U + diag s)
  const { p, lower, upper, s } = pluParts(a, n);
  const mm = (x: Float64Array, y: Float64Array) =>
    Float64Array.from({ length: n * n }, (_, ij) => {
      let t = 0;
      for (let k = 0; k < n; k++) t += x[Math.floor(ij / n) * n + k] * y[k * n + (ij % n)];
      return t;
    });
  const L = Float64Array.from(lower, (v, ij) => v + (Math.floor(ij / n) === ij % n ? 1 : 0));
  const U = Float64Array.from(upper, (v, ij) => v + (Math.floor(ij / n) === ij % n ? s[ij % n] : 0));
  const w = mm(p, mm(L, U));
  for (let i = 0; i < n * n; i++) assert.ok(Math.abs(w[i] - a[i]) < 1e-10, `PLU != W at ${i}`);
  const q = randomRotation(5, new Rng(1));
  const qt = Float64Array.from({ length: 25 }, (_, ij) => q[(ij % 5) * 5 + Math.floor(ij / 5)]);
  const qqt = Float64Array.from({ length: 25 }, (_, ij) => {
    let t = 0;
    for (let k = 0; k < 5; k++) t += q[Math.floor(ij / 5) * 5 + k] * qt[k * 5 + (ij % 5)];
    return t;
  });
  qqt.forEach((v, ij) => assert.ok(Math.abs(v - (Math.floor(ij / 5) === ij % 5 ? 1 : 0)) < 1e-12));
  assert.deepEqual(Array.from(randomRotation(5, new Rng(1))), Array.from(q), 'seeded');
});

test('log|det W| op: value from the LU, gradient W^-T (against finite differences in float64)', () => {
  const n = 4;
  const rng = new Rng(9);
  const a = Float64Array.from({ length: n * n }, () => rng.normal());
  const w = tf.tensor2d(Float32Array.from(a), [n, n]);
  const a32 = Float64Array.from(w.dataSync());
  const value = tf.tidy(() => logAbsDetOp(w).dataSync()[0]);
  assert.ok(Math.abs(value - logAbsDet(a32, n)) < 1e-5);
  const g = tf.tidy(() =>
    tf
      .grad((t: tf.Tensor) => tf.mul(logAbsDetOp(t as tf.Tensor2D), 3))(w)
      .dataSync(),
  );
  const eps = 1e-6;
  for (let i = 0; i < n * n; i++) {
    const plus = Float64Array.from(a32),
      minus = Float64Array.from(a32);
    plus[i] += eps;
    minus[i] -= eps;
    const fd = (3 * (logAbsDet(plus, n) - logAbsDet(minus, n))) / (2 * eps);
    assert.ok(Math.abs(g[i] - fd) < 1e-4 * Math.max(1, Math.abs(fd)), `d/dW[${i}]: ${g[i]} vs ${fd}`);
  }
  w.dispose();
});

test("the coupling networks' conv: value and gradients (x, W, b) equal TensorFlow.js's own conv2d (the cpu backend's filter gradient is a matMul)", () => {
  for (const [k, cin, cout] of [
    [3, 4, 5],
    [1, 3, 2],
  ]) {
    const x = tf.randomNormal([2, 5, 6, cin], 0, 1, 'float32', 1) as tf.Tensor4D;
    const w = tf.randomNormal([k, k, cin, cout], 0, 1, 'float32', 2) as tf.Tensor4D;
    const b = tf.randomNormal([cout], 0, 1, 'float32', 3) as tf.Tensor1D;
    const r = tf.randomNormal([2, 5, 6, cout], 0, 1, 'float32', 4);
    const ours = tf.grads((xi: tf.Tensor, wi: tf.Tensor, bi: tf.Tensor) =>
      tf.sum(tf.mul(conv(xi as tf.Tensor4D, wi as tf.Tensor4D, bi as tf.Tensor1D), r)),
    )([x, w, b]);
    const ref = tf.grads((xi: tf.Tensor, wi: tf.Tensor, bi: tf.Tensor) =>
      tf.sum(tf.mul(tf.add(tf.conv2d(xi as tf.Tensor4D, wi as tf.Tensor4D, 1, 'same'), bi), r)),
    )([x, w, b]);
    assert.ok(
      maxAbs(
        tf.tidy(() => conv(x, w, b)),
        tf.tidy(() => tf.add(tf.conv2d(x, w, 1, 'same'), b)),
      ) < 1e-4,
    );
    ours.forEach((g, i) =>
      assert.ok(maxAbs(g, ref[i]) < 1e-3, `k=${k} gradient ${['x', 'W', 'b'][i]}: ${maxAbs(g, ref[i])}`),
    );
    tf.dispose([x, w, b, r, ...ours, ...ref]);
  }
});

test('squeeze: x[b, 2i+di, 2j+dj, c] lands at [b, i, j, (2 di + dj) C + c]; unsqueeze undoes it; a permutation (log-det 0)', () => {
  const [B, H, W, C] = [2, 4, 6, 3];
  const x = tf.tensor4d(
    Float32Array.from({ length: B * H * W * C }, (_, i) => i),
    [B, H, W, C],
  );
  const y = squeeze(x);
  assert.deepEqual(y.shape, [B, H / 2, W / 2, 4 * C]);
  const xd = x.dataSync(),
    yd = y.dataSync();
  for (let b = 0; b < B; b++)
    for (let i = 0; i < H / 2; i++)
      for (let j = 0; j < W / 2; j++)
        for (let di = 0; di < 2; di++)
          for (let dj = 0; dj < 2; dj++)
            for (let c = 0; c < C; c++) {
              const from = ((b * H + 2 * i + di) * W + 2 * j + dj) * C + c;
              const to = ((b * (H / 2) + i) * (W / 2) + j) * 4 * C + (2 * di + dj) * C + c;
              assert.equal(yd[to], xd[from]);
            }
  const back = unsqueeze(y);
  assert.deepEqual(Array.from(back.dataSync()), Array.from(xd));
  tf.dispose([x, y, back]);
  // as a layer: logdet 0 = log|det J| of the permutation (the shape changes, the size does not)
  const x1 = tf.randomNormal([1, 4, 4, 2], 0, 1, 'float32', 1) as tf.Tensor4D;
  assert.ok(Math.abs(jacobianLogDet((xs) => squeezeLayer.forward(xs, { cond: null }).y, x1)) < 1e-6);
  assert.equal(
    tf.tidy(() => squeezeLayer.forward(x1, { cond: null }).logdet.dataSync()[0]),
    0,
  );
  x1.dispose();
});

test('actnorm: inverse and log-det h w sum(logs) match the Jacobian; data-dependent init gives zero mean, unit variance', () => {
  const ps = new ParamStore(1);
  const a = new ActNorm(ps, 'a', 3);
  perturb(ps, 5);
  checkBijector('actnorm', a, [4, 4, 3]);
  // init on a batch with other means and scales per channel
  const x = tf.tidy(() =>
    tf.add(
      tf.mul(tf.randomNormal([8, 4, 4, 3], 0, 1, 'float32', 2), tf.tensor1d([0.1, 3, 20])),
      tf.tensor1d([-2, 0.5, 40]),
    ),
  ) as tf.Tensor4D;
  const y = tf.tidy(() => a.forward(x, { cond: null, initActnorm: true }).y);
  const { mean, variance } = tf.moments(y, [0, 1, 2]);
  for (const m of mean.dataSync()) assert.ok(Math.abs(m) < 1e-4, `mean ${m}`);
  for (const v of variance.dataSync()) assert.ok(Math.abs(v - 1) < 1e-3, `variance ${v}`);
  // later batches do not re-initialise
  const before = Array.from(a.logScale.dataSync());
  tf.dispose(tf.tidy(() => a.forward(tf.mul(x, 2) as tf.Tensor4D, { cond: null }).y));
  assert.deepEqual(Array.from(a.logScale.dataSync()), before);
  tf.dispose([x, y, mean, variance]);
  ps.dispose();
});

for (const c of [2, 8]) {
  test(`invertible 1x1 conv (c = ${c}), plain and LU-parameterised: round trips and h w log|det W| against the Jacobian`, () => {
    const ps = new ParamStore(2);
    const plain = new InvConv1x1(ps, 'w', c, new Rng(4));
    const lu = new InvConv1x1Lu(ps, 'lu', c, new Rng(4));
    // both start as the same rotation (|det| = 1)
    assert.ok(
      maxAbs(
        plain.weight,
        tf.tidy(() => lu.weight()),
      ) < 1e-5,
    );
    assert.ok(Math.abs(logAbsDet(plain.weight.dataSync(), c)) < 1e-5);
    perturb(ps, 7);
    checkBijector(`conv1x1 c=${c}`, plain, [4, 4, c]);
    checkBijector(`conv1x1-lu c=${c}`, lu, [4, 4, c]);
    // the inverse's W, computed in JS from the parameters, is the W the forward pass builds with tensor ops
    const w = tf.tidy(() => lu.weight().dataSync());
    assert.ok(
      lu.weightValues().every((v, i) => Math.abs(v - w[i]) < 1e-5),
      'weightValues() equals weight()',
    );
    // the LU form's log-det is sum logs, the log|det| of the W it builds
    const ld = tf.tidy(() => lu.forward(tf.ones([1, 1, 1, c]) as tf.Tensor4D).logdet.dataSync()[0]);
    assert.ok(
      Math.abs(
        ld -
          logAbsDet(
            tf.tidy(() => lu.weight().dataSync()),
            c,
          ),
      ) < 1e-4,
    );
    ps.dispose();
  });
}

test('channel reversal: its own inverse, log-det 0', () => {
  checkBijector('reverse', reverseLayer, [4, 4, 3]);
});

const couplingCases: { name: string; o: Partial<CouplingOptions>; shape: [number, number, number] }[] = [
  { name: 'channel mask, parity 0, conv, tanh', o: { mask: 'channel', parity: 0 }, shape: [4, 4, 2] },
  {
    name: 'channel mask, parity 1, conv, sigmoid, odd channels',
    o: { mask: 'channel', parity: 1, scaleFn: 'sigmoid' },
    shape: [4, 4, 3],
  },
  { name: 'checkerboard, parity 0, conv, tanh', o: { mask: 'checkerboard', parity: 0 }, shape: [4, 4, 2] },
  {
    name: 'checkerboard, parity 1, mlp, sigmoid',
    o: { mask: 'checkerboard', parity: 1, arch: 'mlp', scaleFn: 'sigmoid' },
    shape: [4, 4, 1],
  },
  {
    name: 'channel mask, mlp, label condition',
    o: { mask: 'channel', parity: 1, arch: 'mlp', condDim: 5 },
    shape: [4, 4, 2],
  },
  { name: 'channel mask, conv, condition', o: { mask: 'channel', parity: 0, condDim: 5 }, shape: [4, 4, 4] },
  {
    name: 'checkerboard, conv, context image (dequantizer)',
    o: { mask: 'checkerboard', parity: 1, contextChannels: 2 },
    shape: [4, 4, 2],
  },
];

for (const cc of couplingCases) {
  test(`affine coupling (${cc.name}): round trips, log-det = sum log s matches the Jacobian`, () => {
    const ps = new ParamStore(3);
    const o: CouplingOptions = {
      mask: 'channel',
      parity: 0,
      arch: 'conv',
      hidden: 6,
      scaleFn: 'tanh',
      condDim: 0,
      contextChannels: 0,
      ...cc.o,
    };
    const layer = new AffineCoupling(ps, 'c', cc.shape, o);
    // zero-initialised last layer: the identity (tanh) before any training
    const x = tf.randomNormal([2, ...cc.shape], 0, 1, 'float32', 1) as tf.Tensor4D;
    const cond = o.condDim ? (tf.randomNormal([1, o.condDim], 0, 1, 'float32', 2) as tf.Tensor2D) : null;
    const context = o.contextChannels
      ? (tf.randomNormal([1, cc.shape[0], cc.shape[1], o.contextChannels], 0, 1, 'float32', 3) as tf.Tensor4D)
      : null;
    const ctx: FlowCtx = { cond, context };
    if (o.scaleFn === 'tanh')
      assert.ok(
        maxAbs(
          tf.tidy(() => layer.forward(x, { cond: rep(cond, 2), context: rep(context, 2) }).y),
          x,
        ) === 0,
        'identity at init',
      );
    perturb(ps, 9, 0.4);
    checkBijector(cc.name, layer, cc.shape, ctx);
    // x_a is unchanged and x_b really changes
    const y = tf.tidy(() => layer.forward(x, { cond: rep(cond, 2), context: rep(context, 2) }).y);
    const changed = tf.tidy(() => tf.notEqual(y, x).dataSync());
    const [h, w, c] = cc.shape;
    let kept = 0,
      moved = 0;
    changed.forEach((ch, idx) => {
      const ci = idx % c,
        pos = Math.floor(idx / c) % (h * w),
        i = Math.floor(pos / w),
        j = pos % w;
      const isKept =
        o.mask === 'checkerboard'
          ? (i + j + o.parity) % 2 === 0
          : o.parity === 0
            ? ci < Math.floor(c / 2)
            : ci >= Math.floor(c / 2);
      if (isKept) assert.equal(ch, 0, 'a conditioning entry changed');
      else if (ch) moved++;
      kept += isKept ? 1 : 0;
    });
    assert.ok(kept > 0 && moved > 0);
    tf.dispose([x, y, cond, context].filter((t) => t !== null) as tf.Tensor[]);
    ps.dispose();
  });
}

test('data transform: logit (with its log-det) and centring, both round trips and log-dets against the Jacobian', () => {
  for (const t of [new DataTransform('logit', 0.05), new DataTransform('center', 0.05)]) {
    const y = tf.randomUniform([2, 4, 4, 2], 0, 1, 'float32', 4) as tf.Tensor4D;
    const back = tf.tidy(() => t.inverse(t.forward(y).y));
    assert.ok(maxAbs(back, y) < 1e-5, `${t.kind} round trip`);
    for (const i of [0, 1]) {
      const yi = tf.slice(y, i, 1);
      const ld = tf.tidy(() => t.forward(yi).logdet.dataSync()[0]);
      const ref = jacobianLogDet((ys) => t.forward(ys).y, yi);
      assert.ok(Math.abs(ld - ref) < 1e-3 * Math.max(1, Math.abs(ref)), `${t.kind}: ${ld} vs ${ref}`);
      yi.dispose();
    }
    tf.dispose([y, back]);
  }
});

const cfgOf = (over: Record<string, unknown>): FlowModelConfig =>
  flowModelSchema.parse({ hidden: 6, steps: 2, ...over });

for (const over of [
  { name: 'conv, channel mask, conv1x1, 2 scales', cfg: { scales: 2 } },
  {
    name: 'conv, checkerboard, LU 1x1, sigmoid, 1 scale',
    cfg: { scales: 1, mask: 'checkerboard', permutation: 'conv1x1-lu', scaleFn: 'sigmoid' },
  },
  {
    name: 'mlp, channel mask, reverse, 2 scales, conditional',
    cfg: { scales: 2, arch: 'mlp', permutation: 'reverse' },
    condDim: 4,
  },
]) {
  test(`multi-scale flow (${over.name}): f^-1(f(x)) = x, f(f^-1(z)) = z, total log-det = log|det J| of v -> (z_0, z_1)`, () => {
    const ps = new ParamStore(4);
    const condDim = over.condDim ?? 0;
    const flow = new MultiScaleFlow(cfgOf(over.cfg), 4, 4, 2, ps, condDim, new Rng(1));
    perturb(ps, 13, 0.2);
    const cond = condDim ? (tf.randomNormal([1, condDim], 0, 1, 'float32', 2) as tf.Tensor2D) : null;
    const v = tf.randomNormal([1, 4, 4, 2], 0, 1, 'float32', 5) as tf.Tensor4D;
    const fwd = tf.tidy(() => {
      const o = flow.forward(v, { cond });
      return { z: MultiScaleFlow.flatten(o.zs), logdet: o.logdet };
    });
    const zs = flow.unflatten(fwd.z);
    assert.deepEqual(
      zs.map((z) => z.shape.slice(1)),
      flow.latentShapes,
    );
    assert.equal(
      flow.latentShapes.reduce((s, [h, w, c]) => s + h * w * c, 0),
      32,
    );
    const back = tf.tidy(() => flow.inverse(zs, { cond }));
    assert.ok(maxAbs(back, v) < 1e-4, `f^-1(f(x)) error ${maxAbs(back, v)}`);
    const z = tf.randomNormal([1, 32], 0, 1, 'float32', 6) as tf.Tensor2D;
    const again = tf.tidy(() =>
      MultiScaleFlow.flatten(flow.forward(flow.inverse(flow.unflatten(z), { cond }), { cond }).zs),
    );
    assert.ok(maxAbs(again, z) < 1e-4 * Math.max(1, maxOf(z)), `f(f^-1(z)) error ${maxAbs(again, z)}`);
    const ref = jacobianLogDet((xs, n) => MultiScaleFlow.flatten(flow.forward(xs, { cond: rep(cond, n) }).zs), v);
    const ld = fwd.logdet.dataSync()[0];
    assert.ok(Math.abs(ld - ref) < 2e-3 * Math.max(1, Math.abs(ref)), `log-det ${ld} vs log|det J| ${ref}`);
    assert.ok(Math.abs(ref) > 0.5, 'a non-trivial flow');
    tf.dispose([v, back, z, again, fwd.z, fwd.logdet, ...zs, ...(cond ? [cond] : [])]);
    ps.dispose();
  });
}

test('variational dequantizer: g is invertible, its log-det and log q(u|x) = log N(eps) - log|det du/deps| match the Jacobian', () => {
  for (const arch of ['conv', 'mlp'] as const) {
    const ps = new ParamStore(6);
    const dq = new VariationalDequantizer(
      cfgOf({ arch, dequant: { kind: 'variational', steps: 3, hidden: 5 } }),
      [4, 4, 2],
      ps,
    );
    perturb(ps, 21, 0.3);
    const k = tf.tidy(() => tf.floor(tf.randomUniform([1, 4, 4, 2], 0, 256, 'float32', 8))) as tf.Tensor4D;
    const context = VariationalDequantizer.context(k);
    const eps = tf.randomNormal([1, 4, 4, 2], 0, 1, 'float32', 9) as tf.Tensor4D;
    const h = tf.tidy(() => dq.g(eps, context).h);
    assert.ok(
      maxAbs(
        tf.tidy(() => dq.gInverse(h, context)),
        eps,
      ) < 1e-4,
    );
    const ld = tf.tidy(() => dq.g(eps, context).logdet.dataSync()[0]);
    const ref = jacobianLogDet((xs, n) => dq.g(xs, rep(context, n)!).h, eps);
    assert.ok(Math.abs(ld - ref) < 1e-3 * Math.max(1, Math.abs(ref)), `${arch}: ${ld} vs ${ref}`);
    const { u, logq } = dq.fromNoise(eps, k);
    const ud = u.dataSync();
    assert.ok(ud.every((x) => x > 0 && x < 1));
    const logN = tf.tidy(() => tf.sum(tf.mul(-0.5, tf.add(tf.square(eps), Math.log(2 * Math.PI)))).dataSync()[0]);
    const refQ = logN - jacobianLogDet((xs, n) => dq.fromNoise(xs, rep(k, n)!).u, eps);
    assert.ok(
      Math.abs(logq.dataSync()[0] - refQ) < 1e-3 * Math.max(1, Math.abs(refQ)),
      `${arch}: log q ${logq.dataSync()[0]} vs ${refQ}`,
    );
    tf.dispose([k, context, eps, h, u, logq]);
    ps.dispose();
  }
});
