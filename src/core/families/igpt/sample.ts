// Sequential sampling of image GPT, pixel by pixel: t_{p+1} ~ softmax(logits_p) with classifier-free guidance
// logits = l_uncond + w (l_cond - l_uncond). The cached sampler runs one position per step through the network,
// keeping every layer's keys and values; the reference sampler re-runs the full causal pass over the prefix each step.
import * as tf from '@tensorflow/tfjs-core';
import { softmaxAt } from '../../math/categorical.ts';
import { runSync, type Steps } from '../../tensor/steps.ts';
import { SampleStreams } from '../../tensor/sample-streams.ts';
import { disposeCache, type LayerCache, type Transformer } from './model.ts';

export interface TokenSampleOptions {
  /** Samples n. */
  n: number;
  /** Start vectors s [n, d], or [2n, d] with the null condition's rows after the conditional ones when guided. */
  start: tf.Tensor2D;
  /** Guidance weight w (used when start has 2n rows). */
  guidance: number;
  /** Image width: onRow is called after every W tokens. */
  width: number;
  /** Tokens fixed in advance (teacher-forced, not sampled): the first `count` tokens of each of the n rows of `tokens` [n * N]. */
  given?: { tokens: Int32Array; count: number };
  /** Stop after this many positions (benchmarks time a prefix of the image); the rest stays 0. Default: all N. */
  limit?: number;
  /** Called after each completed row with all tokens [n * N] (positions >= filled not yet sampled) and rows done. */
  onRow?: (tokens: Int32Array, filled: number, rowsDone: number) => void;
  /** Called after token p is drawn for every sample (given tokens are not drawn) with sample 0's distribution
   *  softmax(l) [V] after guidance and all tokens [n * N] (positions > p not yet sampled). */
  onToken?: (p: number, probs: Float32Array, tokens: Int32Array) => void;
  /** Index of the first sample in the request: row i's draws come from sample first + i's stream. */
  first?: number;
}

/** t ~ Categorical(softmax(l)) by inverse CDF with a uniform u in [0, 1); l = row r of logits [rows, V]. */
export function drawCategorical(l: Float32Array, r: number, V: number, u: number): number {
  let m = -Infinity;
  for (let k = 0; k < V; k++) m = Math.max(m, l[r * V + k]);
  let s = 0;
  for (let k = 0; k < V; k++) s += Math.exp(l[r * V + k] - m);
  let acc = u * s,
    last = 0;
  for (let k = 0; k < V; k++) {
    const e = Math.exp(l[r * V + k] - m);
    if (e > 0) last = k;
    acc -= e;
    if (acc < 0) return k;
  }
  return last; // rounding left u s at the top: the last token with non-zero probability
}

/** Guided logits [n, V] from the step's logits [n or 2n, V] (cond rows first). */
function guidedLogits(l: Float32Array, n: number, V: number, w: number, guided: boolean): Float32Array {
  if (!guided) return l;
  const out = new Float32Array(n * V);
  for (let i = 0; i < n * V; i++) out[i] = l[n * V + i] + w * (l[i] - l[n * V + i]); // l_u + w (l_c - l_u)
  return out;
}

type Logits = (p: number, tokens: Int32Array) => tf.Tensor2D;

/** The shared loop: position p's logits (from `logitsAt`) pick t_{p+1} for every sample; returns tokens [n * N].
 *  As steps (tensor/steps.ts): yields the logits to be read, and pauses after every row. */
function* loop(net: Transformer, seed: number, o: TokenSampleOptions, logitsAt: Logits): Steps<Int32Array> {
  const { n, width: W } = o;
  const N = net.seqLen,
    V = net.vocab;
  const guided = o.start.shape[0] === 2 * n;
  if (!guided && o.start.shape[0] !== n) throw new Error(`start has ${o.start.shape[0]} rows for ${n} samples`);
  const streams = new SampleStreams(seed, o.first ?? 0, n);
  const tokens = new Int32Array(n * N);
  const givenCount = o.given ? o.given.count : 0;
  for (let i = 0; i < n; i++) for (let p = 0; p < givenCount; p++) tokens[i * N + p] = o.given!.tokens[i * N + p];
  for (let p = 0; p < Math.min(N, o.limit ?? N); p++) {
    // the logits at position p predict token p + 1 (0-based index p); given tokens are only fed forward
    const needed = p >= givenCount;
    const lt = logitsAt(p, tokens);
    try {
      if (needed) {
        const l = guidedLogits((yield lt) as Float32Array, n, V, o.guidance, guided);
        const us = streams.uniforms();
        for (let i = 0; i < n; i++) tokens[i * N + p] = drawCategorical(l, i, V, us[i]);
        o.onToken?.(p, softmaxAt(l, 0, V), tokens);
      }
    } finally {
      lt.dispose();
    }
    if ((p + 1) % W === 0) {
      o.onRow?.(tokens, p + 1, (p + 1) / W);
      yield null;
    }
  }
  return tokens;
}

/** Column p of tokens [n * N] for the B rows of the batch (the null half repeats the n samples). */
function column(tokens: Int32Array, n: number, N: number, B: number, p: number): Int32Array {
  return Int32Array.from({ length: B }, (_, r) => tokens[(r % n) * N + p]);
}

/** KV-cached sampling: each new token costs one position through the network. Returns tokens [n * N]. */
export function sampleTokensCached(net: Transformer, seed: number, o: TokenSampleOptions): Int32Array {
  return runSync(cachedTokenSteps(net, seed, o));
}

/** sampleTokensCached as steps (tensor/steps.ts). */
export function* cachedTokenSteps(net: Transformer, seed: number, o: TokenSampleOptions): Steps<Int32Array> {
  const N = net.seqLen,
    B = o.start.shape[0];
  let cache: LayerCache[] = [];
  try {
    return yield* loop(net, seed, o, (p, tokens) => {
      // input at position p: s (p = 0) or the token t_p just drawn (tokens index p - 1)
      const x = net.stepInput(p, p === 0 ? null : column(tokens, o.n, N, B, p - 1), o.start); // [B, d]
      const out = net.step(x, cache); // disposes the old cache
      x.dispose();
      cache = out.cache;
      return out.logits; // [B, V]
    });
  } finally {
    disposeCache(cache);
  }
}

/** The reference: the full causal pass over [s, t_1 .. t_p] at every step, keeping the last position's logits. */
export function sampleTokensUncached(net: Transformer, seed: number, o: TokenSampleOptions): Int32Array {
  return runSync(uncachedTokenSteps(net, seed, o));
}

/** sampleTokensUncached as steps (tensor/steps.ts). */
export function* uncachedTokenSteps(net: Transformer, seed: number, o: TokenSampleOptions): Steps<Int32Array> {
  const N = net.seqLen,
    B = o.start.shape[0],
    V = net.vocab;
  return yield* loop(net, seed, o, (p, tokens) =>
    tf.tidy(() => {
      const prefix = new Int32Array(B * p); // [B, p]: t_1 .. t_p of each row
      for (let r = 0; r < B; r++) prefix.set(tokens.subarray((r % o.n) * N, (r % o.n) * N + p), r * p);
      const logits = net.forward(tf.tensor2d(prefix, [B, p], 'int32'), o.start); // [B, p + 1, V]
      return tf.reshape(tf.slice(logits, [0, p, 0], [B, 1, V]), [B, V]) as tf.Tensor2D;
    }),
  );
}
