// The causal transformer of image GPT (GPT-2 style, pre-LN): token + learned position embeddings, blocks of masked
// multi-head self-attention and a GELU MLP, a final layer norm and a linear head to the vocabulary. A full forward
// pass for training and evaluation, and a one-position step with a key/value cache for sampling.
import * as tf from '@tensorflow/tfjs-core';
import { UserError } from '../../errors.ts';
import type { ParamStore } from '../../nn/params.ts';
import type { IgptModelConfig } from './config.ts';

type V = tf.Variable;
interface Dense {
  w: V;
  b: V;
}
interface Norm {
  g: V;
  b: V;
}
interface Block {
  ln1: Norm;
  qkv: Dense;
  proj: Dense;
  ln2: Norm;
  fc1: Dense;
  fc2: Dense;
}

/**
 * One layer's cache of the keys and values of the positions so far, in two blocks so that a step copies only the
 * short recent block: `k`/`v` [B, heads, t0, dh] (older positions, null at first) and `kRecent`/`vRecent`
 * [B, heads, t1, dh] (null right after it moved). The recent block is appended to the old one (one copy of the cache) every `cacheBlock` steps.
 */
export interface LayerCache {
  k: tf.Tensor4D | null;
  v: tf.Tensor4D | null;
  kRecent: tf.Tensor4D | null;
  vRecent: tf.Tensor4D | null;
}

/** Disposes every tensor of a cache. */
export function disposeCache(cache: LayerCache[]): void {
  for (const c of cache) tf.dispose([c.k, c.v, c.kRecent, c.vRecent].filter((t): t is tf.Tensor4D => t !== null));
}

/** LN(x) = g (x - mean) / sqrt(var + 1e-5) + b over the last axis. */
function layerNorm(n: Norm, x: tf.Tensor): tf.Tensor {
  const mu = tf.mean(x, -1, true);
  const xc = tf.sub(x, mu);
  const variance = tf.mean(tf.square(xc), -1, true);
  return tf.add(tf.mul(tf.mul(xc, tf.rsqrt(tf.add(variance, 1e-5))), n.g), n.b);
}

/** GELU in its sigmoid form, x sigma(1.702 x) (Hendrycks & Gimpel 2016): three kernels instead of the tanh form's eight. */
function gelu(x: tf.Tensor): tf.Tensor {
  return tf.mul(x, tf.sigmoid(tf.mul(x, 1.702)));
}

const applyDense = (d: Dense, x: tf.Tensor2D) =>
  tf.fused.matMul({ a: x, b: d.w as tf.Tensor2D, bias: d.b }) as tf.Tensor2D;

/** Additive causal mask [T, T]: 0 where key j <= query i, -1e9 after it (exp(-1e9 - max) is exactly 0 in float32). */
const maskCache = new Map<number, Float32Array>();
function causalBias(T: number): tf.Tensor2D {
  let m = maskCache.get(T);
  if (!m) {
    m = new Float32Array(T * T);
    for (let i = 0; i < T; i++) for (let j = i + 1; j < T; j++) m[i * T + j] = -1e9;
    if (maskCache.size > 8) maskCache.clear();
    maskCache.set(T, m);
  }
  return tf.tensor2d(m, [T, T]);
}

/**
 * Masked attention O = softmax(S) V, S = Q K^T + mask (Q already scaled by 1/sqrt(d_h)), with a hand-written gradient
 * that keeps one [B, heads, T, T] map (P = softmax(S)) per layer instead of every intermediate of the autodiff tape:
 *   dV = P^T dO,  dP = dO V^T,  dS = P (dP - D) with D_i = sum_j P_ij dP_ij = dO_i . O_i,  dQ = dS K,  dK = dS^T Q.
 * Masked entries have P = 0 exactly, so their dS is exactly 0 too (the gradient stays causal).
 */
function maskedAttention(bias: tf.Tensor2D) {
  return tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const [q, k, v] = args as tf.Tensor[];
    const save = args[3] as tf.GradSaveFunc;
    const P = tf.tidy(() => tf.softmax(tf.add(tf.matMul(q, k, false, true), bias))); // [B, heads, T, T]
    const O = tf.matMul(P, v); // [B, heads, T, dh]
    save([q, k, v, P, O]);
    return {
      value: O,
      gradFunc: (dO: tf.Tensor, saved: tf.Tensor[]) => {
        const [sq, sk, sv, sP, sO] = saved;
        return tf.tidy(() => {
          const dV = tf.matMul(sP, dO, true, false); // [B, heads, T, dh]
          const D = tf.sum(tf.mul(dO, sO), -1, true); // [B, heads, T, 1]
          const dS = tf.mul(sP, tf.sub(tf.matMul(dO, sv, false, true), D)); // [B, heads, T, T]
          return [tf.matMul(dS, sk), tf.matMul(dS, sq, true, false), dV];
        });
      },
    };
  });
}

export class Transformer {
  readonly heads: number;
  readonly dh: number;
  private readonly tok: V; // [vocab, d]
  private readonly pos: V; // [seqLen, d]
  private readonly start: V | null; // [1, d] (unconditional models)
  private readonly condProj: Dense | null; // condDim -> d (conditional models)
  private readonly blocks: Block[] = [];
  private readonly lnF: Norm;
  private readonly head: Dense; // d -> vocab

  /** seqLen N: tokens per image; the input is [s, t_1 .. t_{N-1}] and the output predicts [t_1 .. t_N]. */
  constructor(
    readonly cfg: IgptModelConfig,
    readonly vocab: number,
    readonly seqLen: number,
    ps: ParamStore,
    condDim: number,
  ) {
    const d = cfg.dim,
      L = cfg.layers;
    if (d % cfg.heads !== 0)
      throw new UserError(`model.heads=${cfg.heads} must divide model.dim=${d}`, {
        kind: 'setting',
        key: 'model.heads',
        value: d % 4 === 0 ? 4 : 1,
      });
    this.heads = cfg.heads;
    this.dh = d / cfg.heads;
    // GPT-2 init: N(0, 0.02) weights, zero biases, residual projections N(0, 0.02 / sqrt(2 L))
    const dense = (name: string, cin: number, cout: number, std = 0.02): Dense => ({
      w: ps.param(`${name}.weight`, [cin, cout], { normal: std }),
      b: ps.param(`${name}.bias`, [cout], 'zeros'),
    });
    const norm = (name: string): Norm => ({
      g: ps.param(`${name}.weight`, [d], 'ones'),
      b: ps.param(`${name}.bias`, [d], 'zeros'),
    });
    this.tok = ps.param('tok', [vocab, d], { normal: 0.02 });
    this.pos = ps.param('pos', [seqLen, d], { normal: 0.02 });
    this.start = condDim > 0 ? null : ps.param('start', [1, d], { normal: 0.02 });
    this.condProj = condDim > 0 ? dense('cond.proj', condDim, d) : null;
    const h = cfg.mlpRatio * d,
      resStd = 0.02 / Math.sqrt(2 * L);
    for (let i = 0; i < L; i++) {
      const n = `block${i}`;
      this.blocks.push({
        ln1: norm(`${n}.ln1`),
        qkv: dense(`${n}.attn.qkv`, d, 3 * d),
        proj: dense(`${n}.attn.proj`, d, d, resStd),
        ln2: norm(`${n}.ln2`),
        fc1: dense(`${n}.mlp.fc1`, d, h),
        fc2: dense(`${n}.mlp.fc2`, h, d, resStd),
      });
    }
    this.lnF = norm('lnf');
    this.head = dense('head', d, vocab);
  }

  /** The prefix s [B, d]: the learned start embedding (unconditional) or W c + b of the condition c [B, condDim]. */
  startVector(c: tf.Tensor2D | null, B: number): tf.Tensor2D {
    return tf.tidy(() => {
      if (this.condProj) {
        if (!c) throw new Error('a conditional image GPT needs the condition embedding for its start token');
        return applyDense(this.condProj, c);
      }
      return tf.tile(this.start!, [B, 1]) as tf.Tensor2D;
    });
  }

  /** Full causal pass: inputs t_1..t_{T-1} (ids [B, T-1] int32, or one-hot [B, T-1, vocab]) after s [B, d] -> logits [B, T, vocab]. */
  forward(inputs: tf.Tensor2D | tf.Tensor3D, s: tf.Tensor2D): tf.Tensor3D {
    return tf.tidy(() => {
      const [B, T1] = inputs.shape;
      const T = T1 + 1,
        d = this.cfg.dim;
      if (T > this.seqLen) throw new Error(`image GPT: ${T} positions > seqLen ${this.seqLen}`);
      // h_0 = [s; E[t_1]; ...; E[t_{T-1}]] + P[0..T-1], the lookup E[t] written as onehot(t) E (no scatter in its gradient)
      let h = tf.reshape(s, [B, 1, d]) as tf.Tensor3D;
      if (T1 > 0) {
        const oh =
          inputs.rank === 3
            ? inputs
            : tf.oneHot(tf.cast(tf.reshape(inputs, [B * T1]), 'int32') as tf.Tensor1D, this.vocab);
        const e = tf.matMul(tf.reshape(tf.cast(oh, 'float32'), [B * T1, this.vocab]) as tf.Tensor2D, this.tok); // [B*(T-1), d]
        h = tf.concat([h, tf.reshape(e, [B, T1, d]) as tf.Tensor3D], 1); // [B, T, d]
      }
      h = tf.add(h, tf.slice(this.pos, [0, 0], [T, d])) as tf.Tensor3D;
      let x = tf.reshape(h, [B * T, d]) as tf.Tensor2D; // [B*T, d]
      const attend = maskedAttention(causalBias(T)); // bias [T, T]
      for (const blk of this.blocks) {
        // x = x + W_o softmax(Q K^T / sqrt(d_h) + mask) V,   [Q K V] = W_qkv LN1(x)
        const qkv = applyDense(blk.qkv, layerNorm(blk.ln1, x) as tf.Tensor2D); // [B*T, 3d]
        const [q, k, v] = tf.split(qkv, 3, 1).map((u) => this.splitHeads(u as tf.Tensor2D, B, T)); // [B, heads, T, dh]
        const att = attend(tf.mul(q, 1 / Math.sqrt(this.dh)), k, v) as tf.Tensor4D; // [B, heads, T, dh]
        x = tf.add(x, applyDense(blk.proj, this.mergeHeads(att))) as tf.Tensor2D;
        // x = x + W_2 GELU(W_1 LN2(x))
        x = tf.add(x, this.mlp(blk, x)) as tf.Tensor2D;
      }
      return tf.reshape(applyDense(this.head, layerNorm(this.lnF, x) as tf.Tensor2D), [
        B,
        T,
        this.vocab,
      ]) as tf.Tensor3D;
    });
  }

  /** The input at position p for the step: s + P[0] (p = 0, token null) or E[t_p] + P[p]; token ids [B]. */
  stepInput(p: number, token: Int32Array | null, s: tf.Tensor2D): tf.Tensor2D {
    return tf.tidy(() => {
      const d = this.cfg.dim;
      const e = p === 0 ? s : tf.gather(this.tok, tf.tensor1d(token!, 'int32')); // [B, d]
      return tf.add(e, tf.slice(this.pos, [p, 0], [1, d])) as tf.Tensor2D;
    });
  }

  /** Positions in a cache's recent block before it joins the old one: ~sqrt(N) copies of the cache per image. */
  get cacheBlock(): number {
    return Math.max(16, Math.ceil(Math.sqrt(this.seqLen)));
  }

  /**
   * One position through the network with the key/value cache: x [B, d] at position t = cache length -> logits of
   * the next token [B, vocab] and the caches with this position's keys and values appended. The old cache tensors
   * are disposed or moved into the new cache (the caller must not keep them); pass [] for the first position.
   */
  step(x: tf.Tensor2D, cache: LayerCache[]): { logits: tf.Tensor2D; cache: LayerCache[] } {
    const B = x.shape[0];
    const next: LayerCache[] = [];
    const logits = tf.tidy(() => {
      let h = x; // [B, d]
      this.blocks.forEach((blk, i) => {
        const c = cache[i] as LayerCache | undefined;
        const qkv = applyDense(blk.qkv, layerNorm(blk.ln1, h) as tf.Tensor2D); // [B, 3d]
        const [q, k, v] = tf.split(qkv, 3, 1).map((u) => this.splitHeads(u as tf.Tensor2D, B, 1)); // [B, heads, 1, dh]
        const kR = c?.kRecent ? (tf.concat([c.kRecent, k], 2) as tf.Tensor4D) : k; // [B, heads, t1, dh]
        const vR = c?.vRecent ? (tf.concat([c.vRecent, v], 2) as tf.Tensor4D) : v;
        const qs = tf.mul(q, 1 / Math.sqrt(this.dh));
        // every cached position precedes this one, so no mask; softmax over [old | recent] scores [B, heads, 1, t0 + t1]
        let att: tf.Tensor4D;
        if (c?.k) {
          const t0 = c.k.shape[2],
            t1 = kR.shape[2];
          const a = tf.softmax(tf.concat([tf.matMul(qs, c.k, false, true), tf.matMul(qs, kR, false, true)], 3));
          const [a0, a1] = tf.split(a, [t0, t1], 3);
          att = tf.add(tf.matMul(a0, c.v!), tf.matMul(a1, vR)) as tf.Tensor4D; // [B, heads, 1, dh]
        } else {
          att = tf.matMul(tf.softmax(tf.matMul(qs, kR, false, true)), vR) as tf.Tensor4D;
        }
        if (kR.shape[2] >= this.cacheBlock) {
          // the recent block joins the old one
          next.push({
            k: tf.keep(c?.k ? (tf.concat([c.k, kR], 2) as tf.Tensor4D) : kR),
            v: tf.keep(c?.v ? (tf.concat([c.v!, vR], 2) as tf.Tensor4D) : vR),
            kRecent: null,
            vRecent: null,
          });
        } else {
          next.push({
            k: c?.k ? tf.keep(tf.clone(c.k)) : null,
            v: c?.v ? tf.keep(tf.clone(c.v)) : null,
            kRecent: tf.keep(kR),
            vRecent: tf.keep(vR),
          });
        }
        h = tf.add(h, applyDense(blk.proj, this.mergeHeads(att))) as tf.Tensor2D;
        h = tf.add(h, this.mlp(blk, h)) as tf.Tensor2D;
      });
      return applyDense(this.head, layerNorm(this.lnF, h) as tf.Tensor2D); // [B, vocab]
    });
    disposeCache(cache);
    return { logits, cache: next };
  }

  private mlp(blk: Block, x: tf.Tensor2D): tf.Tensor2D {
    return applyDense(blk.fc2, gelu(applyDense(blk.fc1, layerNorm(blk.ln2, x) as tf.Tensor2D)) as tf.Tensor2D);
  }

  /** [B*T, d] -> [B, heads, T, dh]. */
  private splitHeads(x: tf.Tensor2D, B: number, T: number): tf.Tensor4D {
    return tf.transpose(tf.reshape(x, [B, T, this.heads, this.dh]), [0, 2, 1, 3]) as tf.Tensor4D;
  }

  /** [B, heads, T, dh] -> [B*T, d]. */
  private mergeHeads(x: tf.Tensor4D): tf.Tensor2D {
    const [B, , T] = x.shape;
    return tf.reshape(tf.transpose(x, [0, 2, 1, 3]), [B * T, this.cfg.dim]) as tf.Tensor2D;
  }
}
