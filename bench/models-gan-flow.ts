// Bench models: DCGAN 28x28 and a RealNVP-style MLP flow, written standalone with tfjs ops. The same models, layer
// for layer, are in bench/reference/torch_gan_flow.py (keep the two in step).
//
// DCGAN (issue 3, model 3). G: z 100 -> dense 6272 (no bias) -> [7, 7, 128] -> batch norm + ReLU -> convT 64 (4x4,
// stride 2, 'same' = PyTorch padding 1; no bias) -> batch norm + ReLU -> convT 1 (4x4, stride 2) + bias -> tanh.
// D: conv 64 (4x4, stride 2, 'same') + bias -> leaky ReLU 0.2 -> conv 128 (4x4, stride 2) + bias -> leaky ReLU 0.2 ->
// dense 1. Batch norm uses the batch statistics (training mode). Non-saturating loss; two Adam optimizers (lr 2e-4,
// beta1 0.5) each updating only its own variables. One step = a D step on the real batch and a detached fake batch
// G(z) (run through D together, concatenated: D has no batch norm, so that equals two calls), then a G step on fresh
// noise (G forward again, with gradients; D's weights get none). images/s = 128 / step time.
//
// RealNVP-style flow (issue 3, model 6) on flattened 784-d data: 4 affine couplings with alternating masks (first /
// second half of the dims), each coupling net an MLP on the masked input 784 -> 512 -> 512 -> 784x2 (ReLU), scale
// s = tanh(.) and shift t on the unmasked half: y = x * exp(s) + t. loss = -log p(x) = -(log N(z; 0, I) + sum s),
// averaged over the batch; Adam 1e-3.
import * as tf from '@tensorflow/tfjs-core';
import type { BenchEntry } from './run.ts';

const BATCH = 128;
type Timer = Parameters<BenchEntry['run']>[1];

let seed = 300;
/** A variable holding `init`, which is disposed (tf.variable keeps its own reference to the data). */
function variable(init: tf.Tensor): tf.Variable {
  const v = tf.variable(init);
  init.dispose();
  return v;
}
const normal = (shape: number[], std: number) => variable(tf.randomNormal(shape, 0, std, 'float32', seed++));
const constant = (n: number, v: number) => variable(tf.fill([n], v));

interface Trainer {
  /** One training step; returns the loss (sum of the losses for the GAN). */
  step(): number;
  dispose(): void;
}

function scalarOf(t: tf.Scalar | null): number {
  const v = t!.dataSync()[0];
  t!.dispose();
  return v;
}

/**
 * Batch norm with the batch's statistics over N, H, W (biased variance, like PyTorch in training mode), with its
 * analytic gradient. The statistics are sums over the leading axes (tf.moments' Mean, tf.batchNorm's gradient (a
 * Tile) and the Sum gradient (a broadcast against ones) are slow on the wasm kernels), so forward and backward are
 * a handful of per-channel broadcasts and leading-axis sums each.
 */
export const batchNorm = tf.customGrad(((x: tf.Tensor, gamma: tf.Tensor, beta: tf.Tensor, save: tf.GradSaveFunc) => {
  const [N, H, W] = x.shape;
  const n = N * H * W;
  const mean = tf.mul(tf.sum(x, [0, 1, 2]), 1 / n);
  const xc = tf.sub(x, mean);
  const inv = tf.rsqrt(tf.add(tf.mul(tf.sum(tf.square(xc), [0, 1, 2]), 1 / n), 1e-5));
  const xHat = tf.mul(xc, inv);
  save([xHat, inv, gamma]);
  return {
    value: tf.add(tf.mul(xHat, gamma), beta),
    gradFunc: (dy: tf.Tensor, [xh, iv, g]: tf.Tensor[]) => {
      const dBeta = tf.sum(dy, [0, 1, 2]);
      const dGamma = tf.sum(tf.mul(dy, xh), [0, 1, 2]);
      // dx = gamma / sigma * (dy - mean(dy) - xHat * mean(dy * xHat))
      const dx = tf.mul(tf.sub(tf.sub(dy, tf.mul(dBeta, 1 / n)), tf.mul(xh, tf.mul(dGamma, 1 / n))), tf.mul(iv, g));
      return [dx, dGamma, dBeta];
    },
  };
}) as unknown as Parameters<typeof tf.customGrad>[0]) as (
  x: tf.Tensor4D,
  gamma: tf.Tensor,
  beta: tf.Tensor,
) => tf.Tensor4D;

/**
 * leakyRelu(x, 0.2) as x * slope with slope = step(x, 0.2) (1 where x > 0, else 0.2), and dx = dy * slope: three fast
 * kernels in all (wasm's LeakyRelu and its gradient's Greater + Select are slow scalar loops).
 */
export const leaky = tf.customGrad(((x: tf.Tensor, save: tf.GradSaveFunc) => {
  const slope = tf.step(x, 0.2);
  save([slope]);
  return { value: tf.mul(x, slope), gradFunc: (dy: tf.Tensor, [s]: tf.Tensor[]) => [tf.mul(dy, s)] };
}) as unknown as Parameters<typeof tf.customGrad>[0]) as (x: tf.Tensor4D) => tf.Tensor4D;

export function dcgan(): Trainer {
  const g = {
    dense: normal([100, 7 * 7 * 128], 0.02),
    bn1g: constant(128, 1),
    bn1b: constant(128, 0),
    t1: normal([4, 4, 64, 128], 0.02), // convT 7 -> 14, filter [h, w, out, in]
    bn2g: constant(64, 1),
    bn2b: constant(64, 0),
    t2: normal([4, 4, 1, 64], 0.02),
    t2b: constant(1, 0), // convT 14 -> 28
  };
  const d = {
    c1: normal([4, 4, 1, 64], 0.02),
    c1b: constant(64, 0), // 28 -> 14
    c2: normal([4, 4, 64, 128], 0.02),
    c2b: constant(128, 0), // 14 -> 7
    dense: normal([7 * 7 * 128, 1], 0.02),
    denseB: constant(1, 0),
  };
  const generate = (z: tf.Tensor2D): tf.Tensor4D => {
    const B = z.shape[0];
    let h = tf.reshape(tf.matMul(z, g.dense), [B, 7, 7, 128]) as tf.Tensor4D;
    h = tf.relu(batchNorm(h, g.bn1g, g.bn1b));
    h = tf.conv2dTranspose(h, g.t1 as tf.Tensor4D, [B, 14, 14, 64], 2, 'same');
    h = tf.relu(batchNorm(h, g.bn2g, g.bn2b));
    return tf.tanh(tf.add(tf.conv2dTranspose(h, g.t2 as tf.Tensor4D, [B, 28, 28, 1], 2, 'same'), g.t2b)) as tf.Tensor4D;
  };
  const discriminate = (x: tf.Tensor4D): tf.Tensor2D => {
    const B = x.shape[0];
    let h = leaky(tf.fused.conv2d({ x, filter: d.c1 as tf.Tensor4D, strides: 2, pad: 'same', bias: d.c1b }));
    h = leaky(tf.fused.conv2d({ x: h, filter: d.c2 as tf.Tensor4D, strides: 2, pad: 'same', bias: d.c2b }));
    return tf.fused.matMul({
      a: tf.reshape(h, [B, 7 * 7 * 128]) as tf.Tensor2D,
      b: d.dense as tf.Tensor2D,
      bias: d.denseB,
    }) as tf.Tensor2D;
  };
  const gVars = Object.values(g),
    dVars = Object.values(d);
  const optG = tf.train.adam(2e-4, 0.5, 0.999),
    optD = tf.train.adam(2e-4, 0.5, 0.999);
  // "real" images in [-1, 1] (the throughput does not depend on the data)
  const real = tf.tidy(() =>
    tf.sub(tf.mul(tf.randomUniform([BATCH, 28, 28, 1], 0, 1, 'float32', 11), 2), 1),
  ) as tf.Tensor4D;
  let zSeed = 5000;
  const noise = () => tf.randomNormal([BATCH, 100], 0, 1, 'float32', zSeed++) as tf.Tensor2D;
  return {
    step() {
      const fake = tf.tidy(() => generate(noise())); // detached: computed outside the gradient scope
      const lossD = scalarOf(
        optD.minimize(
          () => {
            const logits = discriminate(tf.concat([real, fake], 0));
            const lr = tf.slice(logits, [0, 0], [BATCH, 1]),
              lf = tf.slice(logits, [BATCH, 0], [BATCH, 1]);
            // -log sigmoid(l_real) - log(1 - sigmoid(l_fake))
            return tf.add(tf.mean(tf.softplus(tf.neg(lr))), tf.mean(tf.softplus(lf))) as tf.Scalar;
          },
          true,
          dVars,
        ),
      );
      fake.dispose();
      const lossG = scalarOf(
        optG.minimize(
          () => {
            const z = noise();
            return tf.mean(tf.softplus(tf.neg(discriminate(generate(z))))) as tf.Scalar; // non-saturating: -log sigmoid(D(G(z)))
          },
          true,
          gVars,
        ),
      );
      return lossD + lossG;
    },
    dispose() {
      tf.dispose([...gVars, ...dVars, real]);
      optG.dispose();
      optD.dispose();
    },
  };
}

export function realNvp(): Trainer {
  const D = 784,
    H = 512,
    L = 4;
  const nets = Array.from({ length: L }, () => ({
    w1: normal([D, H], Math.sqrt(2 / D)),
    b1: constant(H, 0),
    w2: normal([H, H], Math.sqrt(2 / H)),
    b2: constant(H, 0),
    w3: normal([H, 2 * D], 0.01),
    b3: constant(2 * D, 0), // [scale | shift]
  }));
  // mask i keeps (conditions on) the first half for even i, the second half for odd i
  const masks = Array.from({ length: L }, (_, i) =>
    tf.tensor2d([Array.from({ length: D }, (_, j) => Number(j < D / 2 === (i % 2 === 0)))]),
  );
  const inverse = masks.map((m) => tf.sub(1, m));
  const vars = nets.flatMap((n) => Object.values(n));
  const opt = tf.train.adam(1e-3);
  const x0 = tf.randomUniform([BATCH, D], 0, 1, 'float32', 13) as tf.Tensor2D;
  const logZ = 0.5 * D * Math.log(2 * Math.PI);
  return {
    step() {
      return scalarOf(
        opt.minimize(
          () => {
            let x = x0,
              logDet: tf.Tensor1D | null = null;
            for (let i = 0; i < L; i++) {
              const n = nets[i];
              const xm = tf.mul(x, masks[i]) as tf.Tensor2D;
              let h = tf.fused.matMul({ a: xm, b: n.w1 as tf.Tensor2D, bias: n.b1, activation: 'relu' });
              h = tf.fused.matMul({ a: h, b: n.w2 as tf.Tensor2D, bias: n.b2, activation: 'relu' });
              const o = tf.fused.matMul({ a: h, b: n.w3 as tf.Tensor2D, bias: n.b3 });
              const [sRaw, tRaw] = tf.split(o, 2, 1);
              const s = tf.mul(tf.tanh(sRaw), inverse[i]),
                t = tf.mul(tRaw, inverse[i]);
              x = tf.add(tf.mul(x, tf.exp(s)), t) as tf.Tensor2D; // masked dims: s = t = 0, unchanged
              const ld = tf.sum(s, 1) as tf.Tensor1D;
              logDet = logDet ? (tf.add(logDet, ld) as tf.Tensor1D) : ld;
            }
            // -log p(x) = 1/2 |z|^2 + D/2 log(2 pi) - sum log|scale|
            return tf.mean(tf.sub(tf.add(tf.mul(0.5, tf.sum(tf.square(x), 1)), logZ), logDet!)) as tf.Scalar;
          },
          true,
          vars,
        ),
      );
    },
    dispose() {
      tf.dispose([...vars, ...masks, ...inverse, x0]);
      opt.dispose();
    },
  };
}

function train(make: () => Trainer, time: Timer) {
  const before = tf.memory().numTensors;
  const m = make();
  let loss = NaN;
  const t = time(() => {
    loss = m.step();
  });
  m.dispose();
  const leaked = tf.memory().numTensors - before;
  if (!Number.isFinite(loss)) throw new Error(`non-finite loss ${loss}`);
  if (leaked !== 0) throw new Error(`${leaked} tensors leaked`);
  return { value: BATCH / t.perRun, runs: t.runs, seconds: t.seconds };
}

export const entries: BenchEntry[] = [
  {
    name: 'train dcgan b128',
    unit: 'images/s',
    run: (backend, time) => {
      if (!tf.getKernel('Conv2DBackpropFilter', backend))
        return { value: null, runs: 0, seconds: 0, note: 'cannot train conv nets (no Conv2DBackpropFilter)' };
      // The pure-JS cpu backend's conv weight gradient runs at ~0.02 GFLOPS: one step took 465 s (2026-11-25, while
      // another job shared the machine), i.e. ~0.3 images/s. Opt in to measure it.
      if (backend === 'cpu' && process.env.DEEPGEN_BENCH_CPU_DCGAN !== '1') {
        return {
          value: null,
          runs: 0,
          seconds: 0,
          note: 'skipped on cpu: one step takes ~5-8 minutes (~0.3 images/s); DEEPGEN_BENCH_CPU_DCGAN=1 measures it',
        };
      }
      return train(dcgan, time);
    },
  },
  { name: 'train realnvp-mlp b128', unit: 'images/s', run: (_backend, time) => train(realNvp, time) },
];
