// A small text encoder: token + position embeddings, pre-norm transformer blocks with a padding mask; gives the
// per-token features (for cross-attention) and their masked mean (one vector per prompt). Lookups are one-hot matmuls so gradients need no scatter kernel (wasm has none).
import * as tf from '@tensorflow/tfjs-core';
import { dense, type Layer } from '../nn/layers.ts';
import type { ParamStore } from '../nn/params.ts';

export interface TextEncoderOptions {
  /** Number of token ids (vocabulary + <pad> + <unk>). */
  vocabSize: number;
  dim: number;
  /** Transformer blocks; 0 = masked mean of token embeddings followed by a 2-layer MLP. */
  layers: number;
  heads: number;
  maxTokens: number;
}

/** LN(x) = g * (x - mean) / sqrt(var + eps) + b over the last axis, with learned gain g and bias b. */
function layerNorm(ps: ParamStore, name: string, dim: number): Layer<tf.Tensor, tf.Tensor> {
  const g = ps.param(`${name}.gain`, [dim], 'ones');
  const b = ps.param(`${name}.bias`, [dim], 'zeros');
  return {
    apply: (x) => {
      const mu = tf.mean(x, -1, true);
      const xc = tf.sub(x, mu);
      const variance = tf.mean(tf.square(xc), -1, true);
      return tf.add(tf.mul(tf.mul(xc, tf.rsqrt(tf.add(variance, 1e-5))), g), b);
    },
  };
}

/** GELU, tanh form: 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))) (Hendrycks & Gimpel 2016). */
function gelu(x: tf.Tensor): tf.Tensor {
  const inner = tf.mul(tf.add(x, tf.mul(tf.mul(tf.square(x), x), 0.044715)), Math.sqrt(2 / Math.PI));
  return tf.mul(tf.mul(x, 0.5), tf.add(tf.tanh(inner), 1));
}

/** A dense layer over the last axis of [B, T, d]. */
function dense3(ps: ParamStore, name: string, inDim: number, outDim: number): Layer<tf.Tensor3D, tf.Tensor3D> {
  const l = dense(ps, name, inDim, outDim);
  return {
    apply: (x) => {
      const [B, T] = x.shape;
      return tf.reshape(l.apply(tf.reshape(x, [B * T, inDim]) as tf.Tensor2D), [B, T, outDim]) as tf.Tensor3D;
    },
  };
}

interface Block {
  ln1: Layer<tf.Tensor, tf.Tensor>;
  q: Layer<tf.Tensor3D, tf.Tensor3D>;
  k: Layer<tf.Tensor3D, tf.Tensor3D>;
  v: Layer<tf.Tensor3D, tf.Tensor3D>;
  o: Layer<tf.Tensor3D, tf.Tensor3D>;
  ln2: Layer<tf.Tensor, tf.Tensor>;
  fc1: Layer<tf.Tensor3D, tf.Tensor3D>;
  fc2: Layer<tf.Tensor3D, tf.Tensor3D>;
}

export class TextEncoder {
  private readonly tok: tf.Variable; // [V, dim]
  private readonly pos: tf.Variable | null; // [maxTokens, dim]
  private readonly blocks: Block[] = [];
  private readonly lnF: Layer<tf.Tensor, tf.Tensor> | null = null;
  private readonly mlp: Layer<tf.Tensor2D, tf.Tensor2D>[] = [];

  constructor(
    ps: ParamStore,
    readonly prefix: string,
    readonly opts: TextEncoderOptions,
  ) {
    const { vocabSize: V, dim: d, layers, maxTokens } = opts;
    this.tok = ps.param(`${prefix}.tok`, [V, d], { normal: 0.02 });
    if (layers === 0) {
      this.pos = null;
      this.mlp = [dense(ps, `${prefix}.mlp.fc1`, d, d), dense(ps, `${prefix}.mlp.fc2`, d, d)];
      return;
    }
    this.pos = ps.param(`${prefix}.pos`, [maxTokens, d], { normal: 0.02 });
    for (let i = 0; i < layers; i++) {
      const n = `${prefix}.block${i}`;
      this.blocks.push({
        ln1: layerNorm(ps, `${n}.ln1`, d),
        q: dense3(ps, `${n}.attn.q`, d, d),
        k: dense3(ps, `${n}.attn.k`, d, d),
        v: dense3(ps, `${n}.attn.v`, d, d),
        o: dense3(ps, `${n}.attn.o`, d, d),
        ln2: layerNorm(ps, `${n}.ln2`, d),
        fc1: dense3(ps, `${n}.mlp.fc1`, d, 4 * d),
        fc2: dense3(ps, `${n}.mlp.fc2`, 4 * d, d),
      });
    }
    this.lnF = layerNorm(ps, `${prefix}.lnf`, d);
  }

  /** ids [B, T] int32 and mask [B, T] (1 = word, 0 = pad), T <= maxTokens -> pooled embedding [B, dim]. */
  encode(ids: tf.Tensor2D, mask: tf.Tensor2D): tf.Tensor2D {
    return tf.tidy(() => this.encodeSeq(ids, mask).pooled);
  }

  /** Per-token features tokens [B, T, dim] (padding rows are not masked out: use the mask) and pooled [B, dim]. */
  encodeSeq(ids: tf.Tensor2D, mask: tf.Tensor2D): { tokens: tf.Tensor3D; pooled: tf.Tensor2D } {
    return tf.tidy(() => {
      const [B, T] = ids.shape;
      const { dim: d, vocabSize: V, heads } = this.opts;
      if (T > this.opts.maxTokens) throw new Error(`text encoder: ${T} tokens > maxTokens ${this.opts.maxTokens}`);
      const oneHot = tf.cast(
        tf.oneHot(tf.reshape(tf.cast(ids, 'int32'), [B * T]) as tf.Tensor1D, V),
        'float32',
      ) as tf.Tensor2D; // [B*T, V]
      let h = tf.reshape(tf.matMul(oneHot, this.tok), [B, T, d]) as tf.Tensor3D; // [B, T, d]
      const m = tf.reshape(tf.cast(mask, 'float32'), [B, T, 1]); // [B, T, 1]
      if (this.pos) h = tf.add(h, tf.slice(this.pos, [0, 0], [T, d])) as tf.Tensor3D;
      // masked mean over words: pooled = sum_t m_t h_t / sum_t m_t
      const pool = (x: tf.Tensor3D) => tf.div(tf.sum(tf.mul(x, m), 1), tf.maximum(tf.sum(m, 1), 1)) as tf.Tensor2D;
      if (this.blocks.length === 0) {
        const [fc1, fc2] = this.mlp;
        return { tokens: h, pooled: fc2.apply(tf.relu(fc1.apply(pool(h))) as tf.Tensor2D) };
      }
      const dh = d / heads;
      // keys at padding positions get -1e9 before the softmax, so no word attends to padding
      const keyBias = tf.reshape(tf.mul(tf.sub(tf.cast(mask, 'float32'), 1), 1e9), [B, 1, 1, T]);
      const split = (x: tf.Tensor3D) => tf.transpose(tf.reshape(x, [B, T, heads, dh]), [0, 2, 1, 3]) as tf.Tensor4D; // [B, heads, T, dh]
      for (const blk of this.blocks) {
        // h = h + W_o softmax(Q K^T / sqrt(d_h) + maskBias) V,   Q, K, V from LN1(h)
        const a = blk.ln1.apply(h) as tf.Tensor3D;
        const q = split(blk.q.apply(a));
        const k = split(blk.k.apply(a));
        const v = split(blk.v.apply(a));
        const scores = tf.add(tf.mul(tf.matMul(q, k, false, true), 1 / Math.sqrt(dh)), keyBias); // [B, heads, T, T]
        const att = tf.matMul(tf.softmax(scores), v); // [B, heads, T, dh]
        const merged = tf.reshape(tf.transpose(att, [0, 2, 1, 3]), [B, T, d]) as tf.Tensor3D;
        h = tf.add(h, blk.o.apply(merged)) as tf.Tensor3D;
        // h = h + W_2 GELU(W_1 LN2(h))
        h = tf.add(
          h,
          blk.fc2.apply(gelu(blk.fc1.apply(blk.ln2.apply(h) as tf.Tensor3D)) as tf.Tensor3D),
        ) as tf.Tensor3D;
      }
      const tokens = this.lnF!.apply(h) as tf.Tensor3D;
      return { tokens, pooled: pool(tokens) };
    }) as { tokens: tf.Tensor3D; pooled: tf.Tensor2D };
  }
}
