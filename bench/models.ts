// The benchmark's reference models, written standalone with tfjs ops (the families in src/core are still changing):
// an MLP VAE 784-512-256-20 and a conv VAE (two stride-2 convs 32/64, latent 20, transposed-conv decoder),
// both with a Bernoulli decoder (BCE on logits) + Gaussian KL, trained with Adam.
import * as tf from '@tensorflow/tfjs-core';

export interface BenchModel {
  name: string;
  /** One Adam step on x ([B, 28, 28, 1] in [0, 1]); returns the loss. */
  step(x: tf.Tensor4D): number;
  dispose(): void;
}

let seed = 1;
function weight(shape: number[], fanIn: number): tf.Variable {
  return tf.variable(tf.randomNormal(shape, 0, Math.sqrt(2 / fanIn), 'float32', seed++));
}
const bias = (n: number) => tf.variable(tf.zeros([n]));

/** -log p(x|logits) for a Bernoulli per pixel, summed per image: max(l,0) - l*x + log(1 + exp(-|l|)). */
function bce(logits: tf.Tensor2D, x: tf.Tensor2D): tf.Tensor1D {
  return tf.sum(tf.add(tf.sub(tf.relu(logits), tf.mul(logits, x)), tf.log1p(tf.exp(tf.neg(tf.abs(logits))))), 1);
}

/** KL(N(mu, exp(logVar)) || N(0, 1)) = -1/2 sum(1 + logVar - mu^2 - exp(logVar)), per image. */
function kl(mu: tf.Tensor2D, logVar: tf.Tensor2D): tf.Tensor1D {
  return tf.mul(-0.5, tf.sum(tf.sub(tf.sub(tf.add(1, logVar), tf.square(mu)), tf.exp(logVar)), 1));
}

function vaeStep(
  optimizer: tf.Optimizer,
  encode: (x: tf.Tensor4D) => tf.Tensor2D,
  decode: (z: tf.Tensor2D) => tf.Tensor2D,
  latent: number,
) {
  let eSeed = 1000;
  return (x: tf.Tensor4D): number => {
    const cost = optimizer.minimize(() => {
      const B = x.shape[0];
      const h = encode(x); // [B, 2 * latent]
      const mu = tf.slice(h, [0, 0], [B, latent]) as tf.Tensor2D;
      const logVar = tf.slice(h, [0, latent], [B, latent]) as tf.Tensor2D;
      const eps = tf.randomNormal([B, latent], 0, 1, 'float32', eSeed++);
      const z = tf.add(mu, tf.mul(tf.exp(tf.mul(0.5, logVar)), eps)) as tf.Tensor2D;
      const logits = decode(z); // [B, 784]
      return tf.mean(tf.add(bce(logits, tf.reshape(x, [B, 784])), kl(mu, logVar))) as tf.Scalar;
    }, true);
    const v = cost!.dataSync()[0];
    cost!.dispose();
    return v;
  };
}

export function mlpVae(): BenchModel {
  const sizes = [784, 512, 256];
  const enc = [
    weight([784, 512], 784),
    bias(512),
    weight([512, 256], 512),
    bias(256),
    weight([256, 40], 256),
    bias(40),
  ];
  const dec = [
    weight([20, 256], 20),
    bias(256),
    weight([256, 512], 256),
    bias(512),
    weight([512, 784], 512),
    bias(784),
  ];
  const dense = (x: tf.Tensor2D, w: tf.Variable, b: tf.Variable, activation: 'relu' | 'linear') =>
    tf.fused.matMul({ a: x, b: w as tf.Tensor2D, bias: b, activation }) as tf.Tensor2D;
  const encode = (x: tf.Tensor4D) => {
    let h = tf.reshape(x, [x.shape[0], sizes[0]]) as tf.Tensor2D;
    h = dense(h, enc[0], enc[1], 'relu');
    h = dense(h, enc[2], enc[3], 'relu');
    return dense(h, enc[4], enc[5], 'linear');
  };
  const decode = (z: tf.Tensor2D) =>
    dense(dense(dense(z, dec[0], dec[1], 'relu'), dec[2], dec[3], 'relu'), dec[4], dec[5], 'linear');
  const optimizer = tf.train.adam(1e-3);
  return {
    name: 'mlp-vae',
    step: vaeStep(optimizer, encode, decode, 20),
    dispose: () => {
      tf.dispose([...enc, ...dec]);
      optimizer.dispose();
    },
  };
}

export function convVae(): BenchModel {
  const v = {
    c1: weight([3, 3, 1, 32], 9),
    c1b: bias(32), // 28 -> 14
    c2: weight([3, 3, 32, 64], 288),
    c2b: bias(64), // 14 -> 7
    e: weight([7 * 7 * 64, 40], 3136),
    eb: bias(40),
    d: weight([20, 7 * 7 * 64], 20),
    db: bias(7 * 7 * 64),
    t1: weight([3, 3, 32, 64], 576),
    t1b: bias(32), // convT 7 -> 14, filter [h, w, out, in]
    t2: weight([3, 3, 1, 32], 288),
    t2b: bias(1), // convT 14 -> 28
  };
  const encode = (x: tf.Tensor4D) => {
    const B = x.shape[0];
    let h = tf.fused.conv2d({
      x,
      filter: v.c1 as tf.Tensor4D,
      strides: 2,
      pad: 'same',
      bias: v.c1b,
      activation: 'relu',
    });
    h = tf.fused.conv2d({
      x: h,
      filter: v.c2 as tf.Tensor4D,
      strides: 2,
      pad: 'same',
      bias: v.c2b,
      activation: 'relu',
    }); // [B, 7, 7, 64]
    return tf.fused.matMul({
      a: tf.reshape(h, [B, 3136]) as tf.Tensor2D,
      b: v.e as tf.Tensor2D,
      bias: v.eb,
    }) as tf.Tensor2D;
  };
  const decode = (z: tf.Tensor2D) => {
    const B = z.shape[0];
    const h = tf.reshape(tf.fused.matMul({ a: z, b: v.d as tf.Tensor2D, bias: v.db, activation: 'relu' }), [
      B,
      7,
      7,
      64,
    ]) as tf.Tensor4D;
    const h1 = tf.relu(
      tf.add(tf.conv2dTranspose(h, v.t1 as tf.Tensor4D, [B, 14, 14, 32], 2, 'same'), v.t1b),
    ) as tf.Tensor4D;
    const logits = tf.add(tf.conv2dTranspose(h1, v.t2 as tf.Tensor4D, [B, 28, 28, 1], 2, 'same'), v.t2b);
    return tf.reshape(logits, [B, 784]) as tf.Tensor2D;
  };
  const optimizer = tf.train.adam(1e-3);
  return {
    name: 'conv-vae',
    step: vaeStep(optimizer, encode, decode, 20),
    dispose: () => {
      tf.dispose(Object.values(v));
      optimizer.dispose();
    },
  };
}
