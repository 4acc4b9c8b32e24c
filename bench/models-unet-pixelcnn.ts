// Bench models: a DDPM UNet (and DDIM sampling) and a PixelCNN (and sampling), written standalone with tfjs ops.
// bench/reference/torch_unet_pixelcnn.py is the same in PyTorch (architecture, loss, batch, optimiser, sampling).
//
// UNet (28x28x1, channels 32/64/128 at 28/14/7): sinusoidal time embedding (32) -> dense 128 SiLU -> dense 128;
// in conv 3x3 1->32; down: res(32) at 28, stride-2 conv 32->64, res(64) at 14, stride-2 conv 64->128, res(128) at 7;
// up: nearest x2 + conv 128->64, concat skip -> res(128->64) at 14, nearest x2 + conv 64->32, concat skip ->
// res(64->32) at 28; out: GroupNorm, SiLU, conv 32->1. res(cin->cout): GN(8) SiLU conv3x3, + dense(temb), GN(8) SiLU
// conv3x3, + (x or 1x1 conv x). Epsilon-prediction MSE, t ~ U{0..999}, linear betas 1e-4..0.02, Adam 2e-4.
// DDIM: 64 images, 50 steps (t = 980, 960, ..., 0), eta 0.
// Stride-2 convs use tfjs 'same' padding (bottom/right), PyTorch padding=1 (both sides): same shapes and FLOPs.
// PixelCNN: 7x7 mask-A conv 1->64 (ReLU), 5 x [h + ReLU(3x3 mask-B conv 64->64)], 1x1 conv 64->256 logits; 256-way
// softmax cross-entropy on 8-bit pixels (input scaled to [-1, 1]); Adam 1e-3. Masks multiply the weights.
// Sampling 16 images: 784 forward passes of the whole net on [16, 28, 28, 1], a categorical draw per pass.
import * as tf from '@tensorflow/tfjs-core';
import type { BenchEntry } from './run.ts';
import { groupNorm } from '../src/core/nn/group-norm.ts';
import { benchOptions } from './options.ts';

type TimeFn = Parameters<BenchEntry['run']>[1];
type V = tf.Variable;

let seed = 101;
// tf.tidy disposes the initial values (a variable keeps its own reference to the data).
const weight = (shape: number[], fanIn: number): V =>
  tf.tidy(() => tf.variable(tf.randomNormal(shape, 0, Math.sqrt(1 / fanIn), 'float32', seed++)));
const zeros = (n: number): V => tf.tidy(() => tf.variable(tf.zeros([n])));
const ones = (n: number): V => tf.tidy(() => tf.variable(tf.ones([n])));
const canTrainConv = (backend: string) => !!tf.getKernel('Conv2DBackpropFilter', backend);
const CPU_TRAIN_NOTE =
  'skipped: the pure-JS cpu conv filter gradient (~0.02 GFLOPS) makes one step take tens of minutes';

// ---------------------------------------------------------------- UNet / DDPM

const T = 1000;
const GROUPS = 8;
const silu = (x: tf.Tensor) => tf.mul(x, tf.sigmoid(x));

interface Conv {
  w: V;
  b: V;
}
const conv = (k: number, cin: number, cout: number): Conv => ({
  w: weight([k, k, cin, cout], k * k * cin),
  b: zeros(cout),
});
const applyConv = (c: Conv, x: tf.Tensor4D, strides = 1) =>
  tf.fused.conv2d({ x, filter: c.w as tf.Tensor4D, strides, pad: 'same', bias: c.b });
interface Dense {
  w: V;
  b: V;
}
const dense = (cin: number, cout: number): Dense => ({ w: weight([cin, cout], cin), b: zeros(cout) });
const applyDense = (d: Dense, x: tf.Tensor2D) =>
  tf.fused.matMul({ a: x, b: d.w as tf.Tensor2D, bias: d.b }) as tf.Tensor2D;

interface Res {
  g1: V;
  b1: V;
  c1: Conv;
  t: Dense;
  g2: V;
  b2: V;
  c2: Conv;
  skip?: Conv;
}
const res = (cin: number, cout: number): Res => ({
  g1: ones(cin),
  b1: zeros(cin),
  c1: conv(3, cin, cout),
  t: dense(128, cout),
  g2: ones(cout),
  b2: zeros(cout),
  c2: conv(3, cout, cout),
  skip: cin !== cout ? conv(1, cin, cout) : undefined,
});
function applyRes(r: Res, x: tf.Tensor4D, temb: tf.Tensor2D): tf.Tensor4D {
  const cout = r.c1.b.shape[0];
  let h = applyConv(r.c1, groupNorm(x, r.g1, r.b1, true, GROUPS));
  h = tf.add(h, tf.reshape(applyDense(r.t, temb), [x.shape[0], 1, 1, cout]));
  h = applyConv(r.c2, groupNorm(h, r.g2, r.b2, true, GROUPS));
  return tf.add(h, r.skip ? applyConv(r.skip, x) : x);
}

function timeEmbedding(t: tf.Tensor1D, dim = 32): tf.Tensor2D {
  const half = dim / 2;
  const freqs = tf.exp(tf.mul(-Math.log(10000) / half, tf.range(0, half, 1, 'float32')));
  const a = tf.mul(tf.reshape(tf.cast(t, 'float32'), [-1, 1]), tf.reshape(freqs, [1, half]));
  return tf.concat([tf.sin(a), tf.cos(a)], 1) as tf.Tensor2D;
}

function makeUnet() {
  const p = {
    t1: dense(32, 128),
    t2: dense(128, 128),
    inc: conv(3, 1, 32),
    r1: res(32, 32),
    d1: conv(3, 32, 64),
    r2: res(64, 64),
    d2: conv(3, 64, 128),
    r3: res(128, 128),
    u2: conv(3, 128, 64),
    r4: res(128, 64),
    u1: conv(3, 64, 32),
    r5: res(64, 32),
    gout: ones(32),
    bout: zeros(32),
    out: conv(3, 32, 1),
  };
  const up = (x: tf.Tensor4D) => tf.image.resizeNearestNeighbor(x, [x.shape[1] * 2, x.shape[2] * 2]);
  const forward = (x: tf.Tensor4D, t: tf.Tensor1D): tf.Tensor4D => {
    const temb = applyDense(p.t2, silu(applyDense(p.t1, timeEmbedding(t))) as tf.Tensor2D);
    const s1 = applyRes(p.r1, applyConv(p.inc, x), temb);
    const s2 = applyRes(p.r2, applyConv(p.d1, s1, 2), temb);
    let h = applyRes(p.r3, applyConv(p.d2, s2, 2), temb);
    h = applyConv(p.u2, up(h));
    h = applyRes(p.r4, tf.concat([h, s2], 3), temb);
    h = applyConv(p.u1, up(h));
    h = applyRes(p.r5, tf.concat([h, s1], 3), temb);
    return applyConv(p.out, groupNorm(h, p.gout, p.bout, true, GROUPS));
  };
  const variables = (): V[] => {
    const out: V[] = [];
    const walk = (o: unknown) => {
      if (o instanceof tf.Variable) out.push(o);
      else if (o && typeof o === 'object') for (const v of Object.values(o)) walk(v);
    };
    walk(p);
    return out;
  };
  return { forward, variables };
}

/** alpha-bar_t for the linear beta schedule 1e-4 .. 0.02, as numbers. */
function alphaBars(): Float32Array {
  const ab = new Float32Array(T);
  let prod = 1;
  for (let i = 0; i < T; i++) {
    prod *= 1 - (1e-4 + ((0.02 - 1e-4) * i) / (T - 1));
    ab[i] = prod;
  }
  return ab;
}

function trainUnet(backend: string, time: TimeFn) {
  if (!canTrainConv(backend))
    return { value: null, runs: 0, seconds: 0, note: 'cannot train conv nets (no Conv2DBackpropFilter)' };
  if (backend === 'cpu') return { value: null, runs: 0, seconds: 0, note: CPU_TRAIN_NOTE };
  const batch = 128;
  const unet = makeUnet();
  const ab = tf.tensor1d(alphaBars());
  const x0 = tf.tidy(() =>
    tf.sub(tf.mul(tf.cast(tf.greater(tf.randomUniform([batch, 28, 28, 1], 0, 1, 'float32', 7), 0.7), 'float32'), 2), 1),
  ) as tf.Tensor4D;
  const optimizer = tf.train.adam(2e-4);
  let step = 0,
    loss = NaN;
  const t = time(() => {
    step++;
    const cost = optimizer.minimize(
      () => {
        const ts = tf.randomUniform([batch], 0, T, 'int32', 1000 + step) as tf.Tensor1D;
        const eps = tf.randomNormal([batch, 28, 28, 1], 0, 1, 'float32', 2000 + step);
        const a = tf.reshape(tf.gather(ab, ts), [batch, 1, 1, 1]);
        const xt = tf.add(tf.mul(tf.sqrt(a), x0), tf.mul(tf.sqrt(tf.sub(1, a)), eps)) as tf.Tensor4D;
        return tf.mean(tf.squaredDifference(unet.forward(xt, ts), eps)) as tf.Scalar;
      },
      true,
      unet.variables(),
    )!;
    loss = cost.dataSync()[0];
    cost.dispose();
  });
  tf.dispose([...unet.variables(), ab, x0]);
  optimizer.dispose();
  if (!Number.isFinite(loss)) throw new Error(`non-finite loss ${loss}`);
  return { value: batch / t.perRun, runs: t.runs, seconds: t.seconds };
}

function ddimSample(backend: string, time: TimeFn) {
  const n = 64,
    steps = 50;
  // The pure-JS and wasm conv kernels are slow (and --short wants a quick figure): time the first steps, extrapolate to 50.
  const timedSteps = backend === 'cpu' || benchOptions.short ? 1 : backend === 'wasm' ? 5 : steps;
  const unet = makeUnet();
  const ab = alphaBars();
  const ts = Array.from({ length: steps }, (_, i) => T - (T / steps) * (i + 1)); // 980, 960, ..., 0
  let check = 0;
  const t = time(() => {
    let x = tf.randomNormal([n, 28, 28, 1], 0, 1, 'float32', 5) as tf.Tensor4D;
    for (let i = 0; i < timedSteps; i++) {
      const a = ab[ts[i]],
        aPrev = i + 1 < steps ? ab[ts[i + 1]] : 1;
      const next = tf.tidy(() => {
        const eps = unet.forward(x, tf.fill([n], ts[i], 'int32') as tf.Tensor1D);
        const x0 = tf.div(tf.sub(x, tf.mul(Math.sqrt(1 - a), eps)), Math.sqrt(a));
        return tf.add(tf.mul(Math.sqrt(aPrev), x0), tf.mul(Math.sqrt(1 - aPrev), eps)) as tf.Tensor4D;
      });
      x.dispose();
      x = next;
    }
    const s = tf.sum(x);
    check = s.dataSync()[0];
    tf.dispose([s, x]);
  });
  tf.dispose(unet.variables());
  if (!Number.isFinite(check)) throw new Error('non-finite samples');
  const perRun = (t.perRun * steps) / timedSteps;
  return {
    value: n / perRun,
    runs: t.runs,
    seconds: t.seconds,
    note:
      timedSteps < steps
        ? `timed ${timedSteps} of ${steps} DDIM steps (untrained net), extrapolated to ${steps}`
        : undefined,
  };
}

// ---------------------------------------------------------------- PixelCNN

/** Autoregressive mask for a k x k kernel [k, k, 1, 1]: rows above the centre, and left of it (A) or up to it (B). */
function mask(k: number, type: 'A' | 'B'): tf.Tensor4D {
  const m = new Float32Array(k * k);
  const c = Math.floor(k / 2);
  for (let i = 0; i < k; i++)
    for (let j = 0; j < k; j++) m[i * k + j] = i < c || (i === c && (j < c || (type === 'B' && j === c))) ? 1 : 0;
  return tf.tensor4d(m, [k, k, 1, 1]);
}

function makePixelCnn() {
  const mA = mask(7, 'A'),
    mB = mask(3, 'B');
  const a = conv(7, 1, 64),
    bs = Array.from({ length: 5 }, () => conv(3, 64, 64)),
    out = conv(1, 64, 256);
  // Training: ReLU outside the fused conv (under a gradient tape tfjs un-fuses conv + bias + relu into a broadcast Add,
  // while conv + bias alone stays one FusedConv2D). Sampling (no tape): the ReLU fused in, applied in place.
  const masked = (c: Conv, m: tf.Tensor4D, x: tf.Tensor4D, activation: 'relu' | 'linear', fuse: boolean) => {
    const y = tf.fused.conv2d({
      x,
      filter: tf.mul(c.w, m) as tf.Tensor4D,
      strides: 1,
      pad: 'same',
      bias: c.b,
      activation: fuse ? activation : 'linear',
    });
    return activation === 'relu' && !fuse ? tf.relu(y) : y;
  };
  /** x: [B, 28, 28, 1] in [-1, 1] -> logits [B, 28, 28, 256]; sampling = no gradient needed */
  const forward = (x: tf.Tensor4D, sampling = false): tf.Tensor4D => {
    let h = masked(a, mA, x, 'relu', sampling);
    for (const b of bs) h = tf.add(h, masked(b, mB, h, 'relu', sampling));
    return applyConv(out, h);
  };
  const variables = (): V[] => [a, ...bs, out].flatMap((c) => [c.w, c.b]);
  return { forward, variables, dispose: () => tf.dispose([mA, mB, ...variables()]) };
}

/** mean over rows of -log softmax(logits)[label], with the gradient (softmax - onehot) / rows written out: tfjs's
 *  own gradient of logSumExp goes through Max's gradient (an Equal over all logits), which dominated the step. The
 *  softmax is wasm's one (XNNPACK) Softmax kernel, ~3x faster than max/sub/exp/sum/div; the picked probabilities are
 *  gathered, clamped at 1e-30 (a per-pixel loss of at most 69) before the log; 1/rows is folded into p and onehot. */
function softmaxCrossEntropy(logits: tf.Tensor2D, labels: tf.Tensor1D): tf.Scalar {
  const [rows, classes] = logits.shape;
  const f = tf.customGrad(((logits: tf.Tensor, labels: tf.Tensor, save: tf.GradSaveFunc) => {
    const p = tf.softmax(logits);
    const flat = tf.add(tf.range(0, rows * classes, classes, 'int32'), labels);
    const picked = tf.gather(tf.reshape(p, [-1]), flat);
    save([tf.mul(p, 1 / rows), tf.oneHot(labels, classes, 1 / rows, 0, 'float32')]);
    return {
      value: tf.div(tf.neg(tf.sum(tf.log(tf.maximum(picked, 1e-30)))), rows) as tf.Scalar,
      gradFunc: (dy: tf.Tensor, [pScaled, ohScaled]: tf.Tensor[]) => {
        const g = tf.sub(pScaled, ohScaled);
        const d = dy.dataSync()[0]; // the loss being minimised: dy is 1
        return [d === 1 ? g : tf.mul(g, d), tf.zerosLike(labels)];
      },
    };
  }) as unknown as Parameters<typeof tf.customGrad>[0]);
  return f(logits, labels) as tf.Scalar;
}

function trainPixelCnn(backend: string, time: TimeFn) {
  if (!canTrainConv(backend))
    return { value: null, runs: 0, seconds: 0, note: 'cannot train conv nets (no Conv2DBackpropFilter)' };
  if (backend === 'cpu') return { value: null, runs: 0, seconds: 0, note: CPU_TRAIN_NOTE };
  const batch = 128;
  const net = makePixelCnn();
  const data = tf.tidy(() => tf.floor(tf.randomUniform([batch, 28, 28], 0, 256, 'float32', 9)));
  const labels = tf.tidy(() => tf.cast(tf.reshape(data, [-1]), 'int32'));
  const x = tf.tidy(() => tf.sub(tf.div(tf.reshape(data, [batch, 28, 28, 1]), 127.5), 1)) as tf.Tensor4D;
  const optimizer = tf.train.adam(1e-3);
  let loss = NaN;
  const t = time(() => {
    const cost = optimizer.minimize(
      () => {
        const logits = tf.reshape(net.forward(x), [batch * 784, 256]) as tf.Tensor2D;
        return softmaxCrossEntropy(logits, labels as tf.Tensor1D);
      },
      true,
      net.variables(),
    )!;
    loss = cost.dataSync()[0];
    cost.dispose();
  });
  net.dispose();
  tf.dispose([data, labels, x]);
  optimizer.dispose();
  if (!Number.isFinite(loss)) throw new Error(`non-finite loss ${loss}`);
  return { value: batch / t.perRun, runs: t.runs, seconds: t.seconds };
}

function samplePixelCnn(backend: string, time: TimeFn) {
  const n = 16,
    pixels = 784;
  const timedPixels = backend === 'cpu' ? 2 : backend === 'wasm' ? 16 : pixels;
  const net = makePixelCnn();
  let check = 0;
  const t = time(() => {
    const img = new Float32Array(n * pixels); // 8-bit values
    for (let p = 0; p < timedPixels; p++) {
      const draw = tf.tidy(() => {
        const x = tf.sub(tf.div(tf.tensor4d(img, [n, 28, 28, 1]), 127.5), 1) as tf.Tensor4D;
        const logits = tf.reshape(tf.slice(net.forward(x, true), [0, Math.floor(p / 28), p % 28, 0], [n, 1, 1, 256]), [
          n,
          256,
        ]) as tf.Tensor2D;
        return tf.multinomial(logits, 1, 1000 + p);
      });
      const v = draw.dataSync();
      draw.dispose();
      for (let i = 0; i < n; i++) img[i * pixels + p] = v[i];
    }
    check = img.reduce((s, v) => s + v, 0);
  });
  net.dispose();
  if (!Number.isFinite(check)) throw new Error('non-finite samples');
  const perRun = (t.perRun * pixels) / timedPixels;
  return {
    value: n / perRun,
    runs: t.runs,
    seconds: t.seconds,
    note:
      timedPixels < pixels
        ? `timed ${timedPixels} of ${pixels} pixels (forward passes), extrapolated to ${pixels}`
        : undefined,
  };
}

export const entries: BenchEntry[] = [
  { name: 'train unet-ddpm b128', unit: 'images/s', run: trainUnet },
  { name: 'ddim sample 64x50', unit: 'images/s', run: ddimSample },
  { name: 'train pixelcnn b128', unit: 'images/s', run: trainPixelCnn },
  { name: 'pixelcnn sample 16', unit: 'images/s', run: samplePixelCnn },
];
