// The image GPT family: pixels as a sequence of palette tokens, a causal transformer trained on next-token
// cross-entropy with the condition as its prefix token, sampled pixel by pixel with a key/value cache; exact
// test log-likelihood in nats per image and bits/dim. The trainer, CLI and tests use it via the registry.
import * as tf from '@tensorflow/tfjs-core';
import type { LossOutput } from '../../train/trainer.ts';
import type {
  DataInfo,
  EvalBatch,
  EvalOptions,
  Family,
  GenerativeModel,
  NetworkSpec,
  Picture,
  SampleOptions,
} from '../../family.ts';
import { defineFamily } from '../../family.ts';
import { Conditioner, sampleCondInput } from '../../conditioning/conditioner.ts';
import { exactNllEvaluation } from '../../eval/chunks.ts';
import type { EvalResult } from '../../eval/result.ts';
import { UserError } from '../../errors.ts';
import { ParamStore } from '../../nn/params.ts';
import { Rng } from '../../tensor/rng.ts';
import { igptModelSchema, type IgptModelConfig } from './config.ts';
import { igptLoss, logBinSum, tokenNll } from './loss.ts';
import { Transformer } from './model.ts';
import { Palette } from './palette.ts';
import { cachedTokenSteps, uncachedTokenSteps, type TokenSampleOptions } from './sample.ts';
import { runAsync, runSync, type Steps } from '../../tensor/steps.ts';

export interface IgptSampleOptions extends SampleOptions {
  /** false: the reference sampler that re-runs the whole prefix each step (for benchmarks and tests). */
  kvCache?: boolean;
}

export class IgptModel implements GenerativeModel {
  readonly params: ParamStore;
  readonly palette: Palette;
  readonly cond: Conditioner | null;
  readonly net: Transformer;
  /** Tokens per image N = H W. */
  readonly seqLen: number;

  constructor(
    readonly cfg: IgptModelConfig,
    readonly info: DataInfo,
    seed: number,
  ) {
    this.params = new ParamStore(seed);
    this.palette = new Palette(info.channels === 3 ? cfg.colorLevels : cfg.levels, info.channels);
    this.seqLen = info.height * info.width;
    if (this.seqLen < 2)
      throw new UserError(`image GPT needs images of at least 2 pixels, got ${info.height}x${info.width}`);
    this.cond = cfg.cond.kind !== 'none' ? new Conditioner(cfg.cond, info, this.params, 'cond') : null;
    this.net = new Transformer(cfg, this.palette.vocab, this.seqLen, this.params, this.cond?.dim ?? 0);
  }

  /** Images x [B,H,W,C] in [0, 1] -> tokens [B, N] int32. */
  tokens(x: tf.Tensor4D): tf.Tensor2D {
    return this.palette.encode(x);
  }

  /** Logits [B, N, V] of every token of t [B, N] given the condition embedding c [B, condDim] (null: unconditional). */
  logits(t: tf.Tensor2D, c: tf.Tensor2D | null): tf.Tensor3D {
    return tf.tidy(() => {
      const B = t.shape[0];
      const inputs = tf.slice(t, [0, 0], [B, this.seqLen - 1]) as tf.Tensor2D; // t_1 .. t_{N-1}
      return this.net.forward(inputs, this.net.startVector(c, B));
    });
  }

  loss(x: tf.Tensor4D, y: tf.Tensor1D | null, seed: number, captions?: string[] | null): LossOutput {
    const rng = new Rng(seed);
    const dropSeed = rng.seed();
    const B = x.shape[0];
    this.checkTrainingMemory(B);
    return tf.tidy(() => {
      const t = this.tokens(x);
      // classifier-free guidance training: the condition is replaced by the null one with probability cond.dropProb
      const c = this.cond
        ? this.cond.embed({ labels: y, prompts: captions ?? null }, B, this.cond.dropMask(B, dropSeed))
        : null;
      const out = igptLoss(this.logits(t, c), t, this.palette, this.dims);
      return { loss: out.loss, terms: out.terms } as unknown as tf.TensorContainer;
    }) as unknown as LossOutput;
  }

  /**
   * The wasm heap (wasm and native backends) holds at most 4 GB, and running out crashes the process; a training step
   * keeps about 4 B N (heads N (layers + 3) + 140 layers dim) bytes (one attention map per layer, a few in the
   * backward pass, and the rest of the tape; measured), so a batch that cannot fit is refused with a suggestion.
   */
  private checkTrainingMemory(B: number): void {
    if (tf.getBackend() !== 'wasm' && tf.getBackend() !== 'native') return;
    const { heads, layers, dim } = this.cfg,
      N = this.seqLen;
    const perImage = 4 * N * (heads * N * (layers + 3) + 140 * layers * dim);
    const limit = 3.2e9;
    if (B * perImage <= limit) return;
    const fits = Math.floor(limit / perImage);
    throw new UserError(
      `image GPT training on ${N}-pixel images needs about ${((B * perImage) / 1e9).toFixed(1)} GB for a batch of ${B}, more than the ${tf.getBackend()} backend's 4 GB; ` +
        (fits >= 1
          ? `use train.batchSize=${fits} or smaller`
          : 'use fewer model.layers or model.heads, a smaller model.dim, or the cpu backend'),
    );
  }

  private get dims(): number {
    return this.info.height * this.info.width * this.info.channels;
  }

  /** Start vectors for n samples: [n, d], or [2n, d] (conditional rows, then null rows) when guided. */
  private starts(n: number, opts: SampleOptions): { start: tf.Tensor2D; guidance: number } {
    const guidance = opts.guidance ?? this.cfg.guidance;
    if (!(guidance >= 0)) throw new UserError(`guidance must be a number >= 0, got ${guidance}`);
    const c = this.cond;
    const y = sampleCondInput(c, n, opts, 'this image GPT');
    if (!c) return { start: this.net.startVector(null, n), guidance };
    const guided = y !== null && guidance !== 1;
    const start = tf.tidy(() => {
      const e = y ? c.embed(y, n) : c.nullEmbed(n); // [n, condDim]
      const both = guided ? (tf.concat([e, c.nullEmbed(n)], 0) as tf.Tensor2D) : e; // [n or 2n, condDim], cond rows first
      return this.net.startVector(both, both.shape[0]);
    });
    return { start, guidance };
  }

  /** Tokens [n * N] of n samples (cached or reference sampler), with an optional given prefix and row callback. */
  sampleTokens(
    n: number,
    seed: number,
    opts: IgptSampleOptions = {},
    extra: Pick<TokenSampleOptions, 'given' | 'onRow' | 'onToken' | 'limit'> = {},
  ): Int32Array {
    return runSync(this.tokenSteps(n, seed, opts, extra));
  }

  /** sampleTokens as steps (tensor/steps.ts). */
  private *tokenSteps(
    n: number,
    seed: number,
    opts: IgptSampleOptions = {},
    extra: Pick<TokenSampleOptions, 'given' | 'onRow' | 'onToken' | 'limit'> = {},
  ): Steps<Int32Array> {
    if (!(Number.isInteger(n) && n >= 1))
      throw new UserError(`the number of samples must be a positive integer, got ${n}`);
    const { start, guidance } = this.starts(n, opts);
    try {
      const o: TokenSampleOptions = { n, start, guidance, width: this.info.width, first: opts.first, ...extra };
      return yield* opts.kvCache === false
        ? uncachedTokenSteps(this.net, seed, o)
        : cachedTokenSteps(this.net, seed, o);
    } finally {
      start.dispose();
    }
  }

  /** Tokens [n * N] -> images [n,H,W,C] in [0, 1], pixels from `filled` on black. */
  private images(tokens: Int32Array, n: number, filled = this.seqLen): tf.Tensor4D {
    const { height: H, width: W, channels: C } = this.info;
    return tf.tensor4d(this.palette.decode(tokens, this.seqLen, filled), [n, H, W, C]);
  }

  /**
   * n samples in [0, 1] (palette colours); opts.onFrame gets the images after every row, opts.onPixel every drawn
   * pixel with sample 0's distribution over the V palette tokens (channel -1: a token is a whole pixel).
   */
  sample(n: number, seed: number, opts: IgptSampleOptions = {}): tf.Tensor4D {
    return runSync(this.drawSteps(n, seed, opts));
  }

  /** sample() on a backend that reads values back asynchronously (WebGPU): the same samples. */
  sampleAsync(n: number, seed: number, opts: IgptSampleOptions = {}): Promise<tf.Tensor4D> {
    return runAsync(this.drawSteps(n, seed, opts));
  }

  private *drawSteps(n: number, seed: number, opts: IgptSampleOptions): Steps<tf.Tensor4D> {
    const { onFrame, onPixel } = opts;
    const { height: H, width: W } = this.info;
    const N = this.seqLen;
    const onRow = onFrame
      ? (tokens: Int32Array, filled: number, rows: number) => {
          const frame = this.images(tokens, n, filled);
          onFrame(frame, rows, H);
          frame.dispose();
        }
      : undefined;
    const colors = onPixel ? this.palette.colors.slice() : null; // [V * C], a copy the callee cannot spoil the palette through
    const onToken = onPixel
      ? (p: number, probs: Float32Array, tokens: Int32Array) =>
          onPixel({
            row: Math.floor(p / W),
            col: p % W,
            channel: -1,
            probs,
            colors: colors!,
            drawn: tokens[p],
            images: this.palette.decode(tokens, N, p + 1),
          })
      : undefined;
    return this.images(yield* this.tokenSteps(n, seed, opts, { onRow, onToken }), n);
  }

  /** x: test images in [0, 1]. Completions: the top half of test images kept, the bottom half sampled. */
  pictures(x: tf.Tensor4D, labels: number[] | undefined, seed: number): Picture[] {
    const out: Picture[] = [];
    const { height: H, width: W } = this.info;
    const N = this.seqLen,
      k = Math.min(6, x.shape[0]),
      tries = 3;
    const rng = new Rng(seed);
    const t = tf.tidy(() => this.tokens(tf.slice(x, [0, 0, 0, 0], [k, -1, -1, -1]) as tf.Tensor4D));
    const orig = t.dataSync() as Int32Array;
    t.dispose();
    // each test image repeated `tries` times: rows [k * tries, N], the first half of the rows given
    const rep = new Int32Array(k * tries * N);
    for (let i = 0; i < k * tries; i++)
      rep.set(orig.subarray(Math.floor(i / tries) * N, (Math.floor(i / tries) + 1) * N), i * N);
    const half = Math.floor(H / 2) * W;
    const repLabels = labels ? Array.from({ length: k * tries }, (_, i) => labels[Math.floor(i / tries)]) : undefined;
    const text = this.cond?.kind === 'text';
    // text models complete without a prompt (unconditional); label models with the image's own class
    const done = this.sampleTokens(k * tries, rng.seed(), text ? {} : { labels: repLabels }, {
      given: { tokens: rep, count: half },
    });
    // per test image: the given half, `tries` completions, the original
    const grid = new Int32Array(k * (tries + 2) * N),
      filled: number[] = [];
    for (let i = 0; i < k; i++) {
      const row = i * (tries + 2);
      grid.set(orig.subarray(i * N, (i + 1) * N), row * N);
      filled.push(half);
      for (let j = 0; j < tries; j++) {
        grid.set(done.subarray((i * tries + j) * N, (i * tries + j + 1) * N), (row + 1 + j) * N);
        filled.push(N);
      }
      grid.set(orig.subarray(i * N, (i + 1) * N), (row + tries + 1) * N);
      filled.push(N);
    }
    const cols = tries + 2,
      C = this.info.channels;
    const pix = new Float32Array(grid.length * C);
    filled.forEach((f, r) => pix.set(this.palette.decode(grid.subarray(r * N, (r + 1) * N), N, f), r * N * C));
    out.push({
      name: 'completions',
      images: tf.tensor4d(pix, [k * cols, H, W, C]),
      cols,
      caption: `completions: the top ${Math.floor(H / 2)} rows of a test image given (first column), ${tries} samples of the rest, the original (last column)`,
    });
    if (this.cond?.kind === 'label') {
      const K = this.info.numClasses;
      const cls = Array.from({ length: K * 8 }, (_, i) => Math.floor(i / 8));
      out.push({
        name: 'classes',
        images: this.sample(K * 8, rng.seed(), { labels: cls }),
        cols: 8,
        caption: `one row per class (${(this.info.classNames ?? []).join(', ')}), guidance ${this.cfg.guidance}`,
      });
    }
    return out;
  }

  /**
   * Exact test negative log-likelihood of the 8-bit images (see loss.ts): nll = -log p(t) + sum_i log |bin(t_i)|
   * nats per image, bitsPerDim = nll / (H W C ln 2). Batches are split so one attention map stays near 32M floats.
   */
  evaluate(batches: Iterable<EvalBatch>, opts: EvalOptions): EvalResult {
    const N = this.seqLen;
    const chunk = Math.max(1, Math.min(256, Math.floor(3.2e7 / (this.cfg.heads * N * N))));
    // palette tokens with each colour's 8-bit bin spread uniformly: the exact -log P(x) of the 8-bit values
    return exactNllEvaluation(batches, chunk, this.dims, opts, ({ x, y, captions }, k) => {
      const c = this.cond ? this.cond.evalEmbed({ labels: y, prompts: captions }, k) : null;
      const t = this.tokens(x);
      return tf.add(tokenNll(this.logits(t, c), t), logBinSum(this.palette, t)) as tf.Tensor1D;
    });
  }

  networks(): NetworkSpec[] {
    const cond = this.cond;
    const N = this.seqLen;
    return [
      ...(cond ? [cond.network()] : []),
      {
        name: 'predict',
        info: {
          palette: {
            levels: this.palette.levels,
            levelOf: Array.from({ length: 256 }, (_, v) => this.palette.level(v)),
            colors: Array.from(this.palette.colors),
          },
        },
        doc: `The logits [B, N, V] of p(t_i | t_<i${cond ? ', c' : ''}) for the N = ${N} tokens of an image (raster order), from its first N - 1 tokens [B, N - 1] (int64)${cond ? ' and c = embed(...).vec (the start token)' : ''}.`,
        example: (B, seed): Record<string, tf.Tensor> => {
          const rng = new Rng(seed);
          const t = Array.from({ length: B * (N - 1) }, () => rng.int(this.palette.vocab));
          return {
            tokens: tf.tensor2d(t, [B, N - 1], 'int32'),
            ...cond?.exampleVec(B, rng.seed()),
          };
        },
        run: (i) => ({
          out: this.net.forward(
            i.tokens as tf.Tensor2D,
            this.net.startVector((i.c as tf.Tensor2D) ?? null, i.tokens.shape[0]),
          ),
        }),
      },
    ];
  }

  dispose(): void {
    this.params.dispose();
  }
}

export const igptFamily: Family<IgptModelConfig> = defineFamily({
  name: 'igpt',
  summary:
    'Image GPT: pixels quantised to palette tokens, a causal transformer predicts each token from the ones before it (condition as the prefix); pixel-by-pixel sampling with a key/value cache, exact log-likelihood',
  modelSchema: igptModelSchema,
  defaults: {
    data: { dataset: 'fashion-mnist', preprocess: 'scale01' },
    train: {
      epochs: 1,
      batchSize: 16,
      lr: 1e-3,
      lrSchedule: 'cosine',
      warmupSteps: 200,
      clipNorm: 1,
      sampleEvery: 1000,
      checkpointEvery: 500,
    },
  },
  tinyPreset: { dim: 16, layers: 1, heads: 2, cond: { dim: 16 } },
  requiredPreprocess: 'scale01',
  generation: 'pixels',
  samplingOptions: ['guidance', 'animate'],
  create: (m, info, seed) => new IgptModel(m, info, seed),
});
