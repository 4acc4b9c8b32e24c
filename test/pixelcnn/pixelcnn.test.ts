// The gated PixelCNN beyond the contract suite: causality (no gradient from any value at or after the one predicted,
// in raster and R, G, B order), the exact receptive field (no blind spot), the cropped sampler's logits against the
// full network, the NLL against a hand computation, sampling determinism, frames, guidance and completions, evaluation.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs-core';
import '../helpers/backend.ts';
import { userError } from '../helpers/assert.ts';
import type { DataInfo } from '../../src/core/family.ts';
import { registry } from '../../src/core/registry.ts';
import { PixelCnnModel } from '../../src/core/families/pixelcnn/index.ts';
import { receptiveReach, type PixelCnnModelConfig } from '../../src/core/families/pixelcnn/config.ts';
import { colourMask } from '../../src/core/families/pixelcnn/model.ts';
import { bernoulliNll, categoricalNll } from '../../src/core/families/pixelcnn/loss.ts';
import { CroppedPixelCnn, sampleCategorical, sampleLoop } from '../../src/core/families/pixelcnn/sample.ts';
import { Rng } from '../../src/core/tensor/rng.ts';

const fam = registry.pixelcnn;
const cfgOf = (over: Record<string, unknown>): PixelCnnModelConfig =>
  fam.modelSchema.parse({
    ...fam.defaults.model,
    ...fam.tinyPreset,
    ...over,
    cond: { dim: 8, ...((over.cond as object) ?? {}) },
  });
const infoOf = (H: number, C: number): DataInfo => ({
  height: H,
  width: H,
  channels: C,
  numClasses: 4,
  classNames: ['a', 'b', 'c', 'd'],
  vocabulary: ['a', 'b', 'red', 'square'],
});
const maxAbs = (a: tf.Tensor, b: tf.Tensor) => tf.tidy(() => tf.max(tf.abs(tf.sub(a, b))).dataSync()[0]);

/**
 * For outputs p = (r, c, ch) of one image, d(w . logits[r, c, ch, :]) / dx for a random w: one row [H W C] per output.
 * All in one pass: the image is repeated once per output and copy b's loss reads output p_b only (the images of a
 * batch never mix). x is the network input [1,H,W,C] (random values: the network is tested as a function).
 */
function inputGradients(
  m: PixelCnnModel,
  x: tf.Tensor4D,
  cond: tf.Tensor2D | null,
  outputs: [number, number, number][],
  seed: number,
): Float32Array[] {
  const [, H, W, C] = x.shape;
  const N = outputs.length,
    K = m.net.K,
    D = H * W * C;
  const g = tf.tidy(() => {
    const w = tf.randomNormal([K, 1], 0, 1, 'float32', seed);
    const sel = tf.reshape(
      tf.cast(
        tf.oneHot(
          outputs.map(([r, c, ch]) => (r * W + c) * C + ch),
          D,
        ),
        'float32',
      ),
      [N * D],
    );
    const cN = cond ? (tf.tile(cond, [N, 1]) as tf.Tensor2D) : null;
    // sum_b w . logits_b[p_b]: w . logits for every output as one matMul, then keep output p_b of copy b
    const f = (xi: tf.Tensor) =>
      tf.sum(
        tf.mul(tf.reshape(tf.matMul(tf.reshape(m.net.forward(xi as tf.Tensor4D, cN), [N * D, K]), w), [N * D]), sel),
      );
    return tf.grad(f)(tf.tile(x, [N, 1, 1, 1]));
  });
  const d = g.dataSync() as Float32Array;
  g.dispose();
  return outputs.map((_, b) => d.slice(b * D, (b + 1) * D));
}

/** Raster + colour order index of (r, c, ch). */
const order = (W: number, C: number, r: number, c: number, ch: number) => (r * W + c) * C + ch;

for (const setup of [
  { name: 'RGB 8x8x3, unconditional', H: 8, C: 3, over: { channels: 6, layers: 2 } },
  { name: 'RGB 8x8x3, label-conditional', H: 8, C: 3, over: { channels: 6, layers: 2, cond: { kind: 'label' } } },
  { name: 'grayscale 7x7x1', H: 7, C: 1, over: { layers: 2, firstKernel: 5 } },
  {
    name: 'grayscale 7x7x1, text-conditional, bernoulli',
    H: 7,
    C: 1,
    over: { output: 'bernoulli', cond: { kind: 'text', textHeads: 2 } },
  },
]) {
  test(`causality (${setup.name}): the gradient of the prediction of x_i w.r.t. every x_j, j >= i in raster and R, G, B order, is exactly 0`, () => {
    const { H, C } = setup;
    const m = new PixelCnnModel(cfgOf(setup.over), infoOf(H, C), 3);
    const x = tf.randomNormal([1, H, H, C], 0, 1, 'float32', 5) as tf.Tensor4D;
    const kind = m.cond?.kind;
    const cond =
      kind === 'label'
        ? m.cond!.embed({ labels: [2] }, 1)
        : kind === 'text'
          ? m.cond!.embed({ prompts: ['a red square'] }, 1)
          : null;
    const outputs: [number, number, number][] = [];
    for (let r = 0; r < H; r++) for (let c = 0; c < H; c++) for (let ch = 0; ch < C; ch++) outputs.push([r, c, ch]);
    const grads = inputGradients(m, x, cond, outputs, 7);
    let nonZeroBefore = 0;
    outputs.forEach(([r, c, ch], n) => {
      const g = grads[n],
        i = order(H, C, r, c, ch);
      for (let j = 0; j < g.length; j++) {
        if (j >= i) assert.equal(g[j], 0, `d logits(${r},${c},${ch}) / d x_${j} = ${g[j]}`);
        else if (g[j] !== 0) nonZeroBefore++;
      }
    });
    assert.equal(outputs.length, H * H * C);
    assert.ok(nonZeroBefore > 0, 'the predictions depend on earlier values');
    tf.dispose([x, cond].filter((t) => t !== null) as tf.Tensor[]);
    m.dispose();
  });
}

for (const setup of [
  {
    name: 'grayscale 12x12, 4 layers of 3x3',
    H: 12,
    C: 1,
    over: { layers: 4, firstKernel: 3, kernel: 3 },
    at: [10, 6],
  },
  {
    name: 'RGB 11x11, first kernel 5, 3 layers',
    H: 11,
    C: 3,
    over: { layers: 3, firstKernel: 5, kernel: 3, channels: 30 },
    at: [9, 5],
  },
]) {
  test(`no blind spot (${setup.name}): the prediction of x_(r,c) depends on every value in the R rows above (c - R .. c + R), the R pixels to the left and the colours before, and nothing else`, () => {
    const { H, C } = setup;
    const cfg = cfgOf({ channels: 16, ...setup.over });
    const R = receptiveReach(cfg);
    const m = new PixelCnnModel(cfg, infoOf(H, C), 11);
    const x = tf.randomNormal([1, H, H, C], 0, 1, 'float32', 6) as tf.Tensor4D;
    const [r, c] = setup.at;
    assert.ok(r - R >= 0 && c - R >= 0 && c + R < H, 'the field fits in the image, so its edges are tested');
    const grads = inputGradients(
      m,
      x,
      null,
      Array.from({ length: C }, (_, ch) => [r, c, ch] as [number, number, number]),
      13,
    );
    for (let ch = 0; ch < C; ch++) {
      const g = grads[ch];
      for (let rr = 0; rr < H; rr++) {
        for (let cc = 0; cc < H; cc++) {
          for (let k = 0; k < C; k++) {
            const inField =
              (rr < r && rr >= r - R && Math.abs(cc - c) <= R) ||
              (rr === r && cc < c && cc >= c - R) ||
              (rr === r && cc === c && k < ch);
            const v = g[order(H, C, rr, cc, k)];
            if (inField)
              assert.notEqual(v, 0, `x(${rr},${cc},${k}) is in the field of (${r},${c},${ch}) but its gradient is 0`);
            else
              assert.equal(
                v,
                0,
                `x(${rr},${cc},${k}) is outside the field of (${r},${c},${ch}) but its gradient is ${v}`,
              );
          }
        }
      }
    }
    // the pixel up and to the right, which a stack of plain masked convs never sees (the blind spot), is in the field
    assert.notEqual(grads[0][order(H, C, r - 1, c + R, 0)], 0);
    x.dispose();
    m.dispose();
  });
}

test('colour masks: A lets colour c read colours < c, B colours <= c (R, G, B order)', () => {
  const a = colourMask(
    3,
    3,
    (i) => i,
    (o) => o,
    'A',
  );
  const b = colourMask(
    3,
    3,
    (i) => i,
    (o) => o,
    'B',
  );
  // rows: input colour, columns: output colour
  assert.deepEqual(Array.from(a), [0, 1, 1, 0, 0, 1, 0, 0, 0]);
  assert.deepEqual(Array.from(b), [1, 1, 1, 0, 1, 1, 0, 0, 1]);
});

test("the cropped sampler (R rows above, R pixels to the left) gives the full network's logits, with and without guidance batches", () => {
  for (const [H, C, over] of [
    [10, 3, { layers: 3, firstKernel: 5, kernel: 3 }],
    [9, 1, { layers: 2, firstKernel: 3, kernel: 5, cond: { kind: 'label' } }],
  ] as const) {
    const cfg = cfgOf(over);
    const R = receptiveReach(cfg);
    assert.ok(R < H - 2, 'the crops cut real rows and columns');
    const m = new PixelCnnModel(cfg, infoOf(H, C), 4);
    const n = 2;
    const img = new Float32Array(n * H * H * C);
    const rng = new Rng(3);
    for (let i = 0; i < img.length; i++) img[i] = rng.uniform();
    const labelled = m.cond !== null;
    const cond = labelled
      ? (tf.concat([m.cond!.embed({ labels: [1, 3] }, n), m.cond!.nullEmbed(n)]) as tf.Tensor2D)
      : null;
    const rep = labelled ? 2 : 1;
    const x = tf.tidy(
      () => tf.tile(tf.sub(tf.mul(tf.tensor4d(img, [n, H, H, C]), 2), 1), [rep, 1, 1, 1]) as tf.Tensor4D,
    );
    const full = m.net.forward(x, cond); // [rep n, H, W, C, K]
    const cropped = new CroppedPixelCnn(m.net, [n, H, H, C], R, cond, rep);
    let worst = 0;
    for (let r = 0; r < H; r++) {
      cropped.startRow(img, r);
      for (let c = 0; c < H; c++) {
        const a = cropped.logits(img, c);
        const b = tf.tidy(() => tf.reshape(tf.slice(full, [0, r, c, 0, 0], [-1, 1, 1, -1, -1]), a.shape));
        worst = Math.max(worst, maxAbs(a, b));
        tf.dispose([a, b]);
      }
    }
    assert.ok(worst < 1e-5, `cropped vs full logits differ by ${worst}`);
    cropped.dispose();
    tf.dispose([x, full, cond].filter((t) => t !== null) as tf.Tensor[]);
    m.dispose();
  }
});

test('categorical NLL equals a hand computation (logsumexp - picked logit, summed per image); its written-out gradient matches autodiff', () => {
  const K = 256,
    B = 2,
    H = 1,
    W = 2,
    C = 3;
  const logits = tf.randomNormal([B, H, W, C, K], 0, 3, 'float32', 1) as tf.Tensor5D;
  const kArr = Int32Array.from({ length: B * H * W * C }, (_, i) => (i * 97 + 13) % K);
  const k = tf.tensor4d(kArr, [B, H, W, C], 'int32');
  const nll = categoricalNll(logits, k).dataSync();
  const l = logits.dataSync();
  for (let b = 0; b < B; b++) {
    let want = 0;
    for (let p = 0; p < H * W * C; p++) {
      const at = (b * H * W * C + p) * K;
      let mx = -Infinity;
      for (let j = 0; j < K; j++) mx = Math.max(mx, l[at + j]);
      let s = 0;
      for (let j = 0; j < K; j++) s += Math.exp(l[at + j] - mx);
      want += Math.log(s) + mx - l[at + kArr[b * H * W * C + p]];
    }
    assert.ok(Math.abs(nll[b] - want) < 1e-3, `image ${b}: ${nll[b]} vs ${want}`);
  }
  // d/dl of sum_b v_b nll_b = v_b (softmax(l) - onehot(k))
  const v = tf.tensor1d([0.3, -1.7]);
  const g1 = tf.grad((t: tf.Tensor) => tf.sum(tf.mul(categoricalNll(t as tf.Tensor5D, k), v)))(logits);
  const g2 = tf.grad((t: tf.Tensor) =>
    tf.sum(
      tf.mul(
        tf.sum(tf.sub(tf.logSumExp(t, 4), tf.sum(tf.mul(t, tf.cast(tf.oneHot(k, K), 'float32')), 4)), [1, 2, 3]),
        v,
      ),
    ),
  )(logits);
  assert.ok(maxAbs(g1, g2) < 1e-5, `gradient differs by ${maxAbs(g1, g2)}`);
  // uniform logits: log 256 nats per value
  const u = categoricalNll(tf.zeros([1, 2, 2, 3, K]) as tf.Tensor5D, tf.zeros([1, 2, 2, 3], 'int32') as tf.Tensor4D);
  assert.ok(Math.abs(u.dataSync()[0] - 12 * Math.log(256)) < 1e-3);
  // bernoulli: -[b log sigmoid(l) + (1 - b) log(1 - sigmoid(l))]
  const bl = tf.tensor5d([2, -1, 0.5, 0], [1, 2, 2, 1, 1]);
  const bb = tf.tensor4d([1, 0, 0, 1], [1, 2, 2, 1]);
  const sig = (z: number) => 1 / (1 + Math.exp(-z));
  const want = -(Math.log(sig(2)) + Math.log(1 - sig(-1)) + Math.log(1 - sig(0.5)) + Math.log(sig(0)));
  assert.ok(Math.abs(bernoulliNll(bl, bb).dataSync()[0] - want) < 1e-5);
  tf.dispose([logits, k, v, g1, g2, u, bl, bb]);
});

test('the loss is the mean NLL in nats per image, with bits/dim = nll / (H W C ln 2); evaluate gives the same exact NLL', () => {
  const H = 6,
    C = 3;
  const m = new PixelCnnModel(cfgOf({}), infoOf(H, C), 2);
  const x = tf.randomUniform([3, H, H, C], 0, 1, 'float32', 8) as tf.Tensor4D;
  // by hand from the network's logits: x -> k = round(255 x), input 2 k / 255 - 1
  const k = Array.from(tf.tidy(() => tf.round(tf.mul(x, 255))).dataSync());
  const logits = tf.tidy(() =>
    m.net.forward(tf.sub(tf.mul(tf.div(tf.round(tf.mul(x, 255)), 255), 2), 1) as tf.Tensor4D, null),
  );
  const l = logits.dataSync();
  let total = 0;
  for (let i = 0; i < k.length; i++) {
    let s = 0,
      mx = -Infinity;
    for (let j = 0; j < 256; j++) mx = Math.max(mx, l[i * 256 + j]);
    for (let j = 0; j < 256; j++) s += Math.exp(l[i * 256 + j] - mx);
    total += Math.log(s) + mx - l[i * 256 + k[i]];
  }
  const want = total / 3;
  const out = m.loss(x, null, 1);
  const [loss, nll, bpd] = [out.loss.dataSync()[0], out.terms.nll.dataSync()[0], out.terms.bitsPerDim.dataSync()[0]];
  assert.ok(Math.abs(loss - want) < 1e-2 && Math.abs(nll - want) < 1e-2, `${loss} vs ${want}`);
  assert.ok(Math.abs(bpd - want / (H * H * C * Math.LN2)) < 1e-4);
  // an untrained model is near uniform: about log 256 nats per value (8 bits/dim)
  assert.ok(bpd > 7 && bpd < 9, `bits/dim ${bpd}`);
  const ev = m.evaluate(
    [
      { x: tf.slice(x, 0, 2), y: null },
      { x: tf.slice(x, 2, 1), y: null },
    ],
    { iwaeK: 0, seed: 0 },
  );
  assert.equal(ev.n, 3);
  assert.deepEqual([ev.likelihood!.kind, ev.likelihood!.discrete], ['exact', true]);
  assert.ok(
    Math.abs(ev.likelihood!.nats - want) < 1e-2 &&
      Math.abs(ev.likelihood!.bitsPerDim - want / (H * H * C * Math.LN2)) < 1e-4,
    JSON.stringify(ev),
  );
  tf.dispose([x, logits, out.loss, ...Object.values(out.terms)]);
  m.dispose();
});

test('sampling: same seed, same samples; a frame after every row with the rows below still empty; values on the 8-bit grid', () => {
  const H = 6,
    C = 3;
  const m = new PixelCnnModel(cfgOf({}), infoOf(H, C), 5);
  const frames: Float32Array[] = [];
  const steps: string[] = [];
  const a = m.sample(3, 9, {
    onFrame: (img, step, total) => {
      frames.push(img.dataSync() as Float32Array);
      steps.push(`${step}/${total}`);
    },
  });
  const b = m.sample(3, 9);
  const c = m.sample(3, 10);
  const av = a.dataSync();
  assert.deepEqual(Array.from(av), Array.from(b.dataSync()));
  assert.notDeepEqual(Array.from(av), Array.from(c.dataSync()));
  assert.deepEqual(steps, ['1/6', '2/6', '3/6', '4/6', '5/6', '6/6']);
  const per = H * H * C;
  frames.forEach((f, r) => {
    for (let n = 0; n < 3; n++) {
      for (let i = 0; i < per; i++) {
        const row = Math.floor(i / (H * C));
        const v = f[n * per + i];
        if (row <= r) assert.equal(v, av[n * per + i]);
        else assert.equal(v, 0, `frame ${r + 1}: row ${row} is not sampled yet`);
      }
    }
  });
  for (const v of av) assert.ok(Math.abs(v * 255 - Math.round(v * 255)) < 1e-4 && v >= 0 && v <= 1);
  tf.dispose([a, b, c]);
  userError(() => m.sample(2, 1, { labels: [1] }), /not label-conditional/);
  userError(() => m.sample(0, 1), /positive integer/);
  m.dispose();
});

test('bernoulli samples are 0/1; completions keep the given rows', () => {
  const H = 6;
  const m = new PixelCnnModel(cfgOf({ output: 'bernoulli' }), infoOf(H, 1), 5);
  const s = m.sample(4, 1);
  assert.ok(s.dataSync().every((v) => v === 0 || v === 1));
  const given = new Float32Array(4 * H * H).map((_, i) => (i % 3 === 0 ? 1 : 0));
  const d = m.draw(4, 2, {}, { images: given, fromRow: 3 }).dataSync();
  for (let n = 0; n < 4; n++) for (let i = 0; i < 3 * H; i++) assert.equal(d[n * H * H + i], given[n * H * H + i]);
  s.dispose();
  m.dispose();
});

test('guidance on the logits: w = 1 is the conditional model, w = 0 the unconditional one (the null condition)', () => {
  const H = 5,
    C = 1,
    n = 4;
  const m = new PixelCnnModel(cfgOf({ cond: { kind: 'label' } }), infoOf(H, C), 6);
  // make the condition matter
  for (const v of Object.values(m.params.vars))
    v.assign(tf.tidy(() => tf.add(v, tf.randomNormal(v.shape, 0, 0.3, 'float32', 4))));
  const labels = [0, 1, 2, 3];
  const reach = receptiveReach(m.cfg);
  const run = (w: number, cond: tf.Tensor2D | null, nullCond: tf.Tensor2D | null) =>
    sampleLoop(m.net, [n, H, H, C], 3, { output: 'categorical', reach, cond, nullCond, guidance: w });
  const cond = m.cond!.embed({ labels }, n),
    nul = m.cond!.nullEmbed(n);
  const w1 = m.sample(n, 3, { labels, guidance: 1 }),
    condOnly = run(1, cond, null);
  const w0 = run(0, cond, nul),
    uncond = run(1, nul, null),
    w3 = m.sample(n, 3, { labels, guidance: 3 });
  assert.deepEqual(Array.from(w1.dataSync()), Array.from(condOnly.dataSync()));
  assert.deepEqual(Array.from(w0.dataSync()), Array.from(uncond.dataSync()));
  assert.ok(maxAbs(w3, w1) > 0.02, 'w = 3 changes the samples');
  userError(() => m.sample(2, 1, { labels, guidance: -1 }), /guidance/);
  userError(() => m.sample(2, 1, { prompts: ['a'] }), /label-conditional/);
  tf.dispose([w1, condOnly, w0, uncond, w3, cond, nul]);
  m.dispose();
});

test('inverse-CDF categorical draws follow softmax(l)', () => {
  const l = Float32Array.from([0, Math.log(3), -Infinity, Math.log(6)]); // p = 0.1, 0.3, 0, 0.6
  const rng = new Rng(1);
  const counts = [0, 0, 0, 0];
  for (let i = 0; i < 20000; i++) counts[sampleCategorical(l, 0, 4, rng.uniform())]++;
  assert.equal(counts[2], 0);
  for (const [i, p] of [
    [0, 0.1],
    [1, 0.3],
    [3, 0.6],
  ])
    assert.ok(Math.abs(counts[i] / 20000 - p) < 0.015, `${i}: ${counts[i]}`);
});

test('pictures: completions and the sampling order; config errors are one line', () => {
  const m = new PixelCnnModel(cfgOf({ cond: { kind: 'label' } }), infoOf(8, 3), 1);
  const x = tf.randomUniform([5, 8, 8, 3], 0, 1, 'float32', 1) as tf.Tensor4D;
  const pics = m.pictures(x, [0, 1, 2, 3, 0], 0);
  assert.deepEqual(
    pics.map((p) => [p.name, p.images.shape[0], p.cols]),
    [
      ['completions', 4 * 7, 7],
      ['sampling-order', 4 * 8, 8],
    ],
  );
  for (const p of pics) p.images.dispose();
  x.dispose();
  m.dispose();
  userError(() => new PixelCnnModel(cfgOf({ channels: 2 }), infoOf(8, 3), 1), /model.channels=2/);
  assert.equal(fam.modelSchema.safeParse({ ...fam.defaults.model, kernel: 4 }).success, false);
  assert.equal(fam.modelSchema.safeParse({ ...fam.defaults.model, masks: 'A' }).success, false);
});
