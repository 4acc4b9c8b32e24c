// The oneshot family: a deterministic conditional network x = f(y) trained with a pixel loss, the baseline that shows
// why generative models need noise (it learns the conditional mean E[x|y], a blurry average). Used via the registry.
import * as tf from '@tensorflow/tfjs-core';
import type {
  DataInfo,
  EvalBatch,
  EvalOptions,
  Family,
  GenerativeModel,
  Picture,
  SampleOptions,
} from '../../family.ts';
import { defineFamily } from '../../family.ts';
import { embedCycled, embedOrNull, sampleConds, type CondValue } from '../../conditioning/conditioner.ts';
import { words } from '../../conditioning/tokenizer.ts';
import { UserError } from '../../errors.ts';
import type { EvalResult } from '../../eval/result.ts';
import type { LossOutput } from '../../train/trainer.ts';
import { mixSeed } from '../../tensor/rng.ts';
import { oneshotModelSchema, type OneshotModelConfig } from './config.ts';
import { crossEntropy, oneshotLoss, squaredError } from './loss.ts';
import { OneshotNetwork } from './model.ts';

/** Real test images shown beside each output in pictures(). */
const PICTURE_REAL = 7;

export class OneshotModel implements GenerativeModel {
  readonly net: OneshotNetwork;

  constructor(
    readonly cfg: OneshotModelConfig,
    readonly info: DataInfo,
    seed: number,
  ) {
    this.net = new OneshotNetwork(cfg, info, seed);
  }

  get params() {
    return this.net.params;
  }

  /** L = mean over the batch of the pixel loss of x against f(y) (see loss.ts); rows with drop[i] (probability
   *  cond.dropProb) train the null embedding. Training always needs y: a missing label or caption is an error. */
  loss(x: tf.Tensor4D, y: tf.Tensor1D | null, seed: number, captions?: string[] | null): LossOutput {
    const B = x.shape[0];
    const cond = this.net.cond;
    return tf.tidy(() => {
      const c = cond
        ? cond.embed({ labels: y, prompts: captions ?? null }, B, cond.dropMask(B, mixSeed(seed, 17)))
        : null;
      return oneshotLoss(this.cfg.loss, x, this.net.logits(c, B)) as unknown as tf.TensorContainer;
    }) as unknown as LossOutput;
  }

  /**
   * n outputs f(y) [n,H,W,C] in [0,1]. Label models: opts.labels cycled (default every class in turn); text models:
   * opts.prompts cycled (default the null embedding, the unconditional mean); unconditional: the one learned image.
   * The seed is ignored: there is no noise, so the same condition always gives the same image.
   */
  sample(n: number, seed: number, opts: SampleOptions = {}): tf.Tensor4D {
    if (!(Number.isInteger(n) && n > 0))
      throw new UserError(`the number of samples must be a positive integer, got ${n}`);
    const ys = sampleConds(this.net.cond, opts, 'this oneshot'); // checked before any work
    void seed;
    return this.outputs(ys, n);
  }

  /** f(y) for conditions ys cycled over n rows (none: the null embedding, or the unconditional model's one image). */
  private outputs(ys: readonly CondValue[] | undefined, n: number): tf.Tensor4D {
    return tf.tidy(() => this.net.forward(embedCycled(this.net.cond, ys, n), n));
  }

  /**
   * Test-set error of f(y) against x, per image: mse = sum_i (x_i - f(y)_i)^2, msePerPixel = mse / (H W C), and
   * bce (nats per image) when the model trains on it. Conditional models use each batch's labels or captions;
   * without them, the null embedding (the error of the unconditional mean).
   */
  evaluate(batches: Iterable<EvalBatch>, opts: EvalOptions): EvalResult {
    let n = 0,
      se = 0,
      ce = 0;
    for (const { x, y, captions } of batches) {
      const B = x.shape[0];
      const [s, b] = tf.tidy(() => {
        const logits = this.net.logits(embedOrNull(this.net.cond, { labels: y, prompts: captions ?? null }, B), B);
        const bce = this.cfg.loss === 'bce' ? tf.sum(crossEntropy(x, logits)) : tf.scalar(0);
        return tf.stack([tf.sum(squaredError(x, logits)), bce]).dataSync();
      });
      se += s;
      ce += b;
      n += B;
      opts.onBatch?.(n);
    }
    const N = Math.max(1, n);
    // a deterministic regression x = f(y): errors, no likelihood
    const terms: Record<string, number> = { mse: se / N, msePerPixel: se / N / this.net.D };
    if (this.cfg.loss === 'bce') terms.bce = ce / N;
    return { n, terms };
  }

  /**
   * One row per condition: the output f(y) (left), then real test images with that condition. Label models: every
   * class (real images need `labels`); text models: up to 8 distinct test captions (without captions: one row of the
   * outputs for the class names that are prompts and for no prompt); unconditional: the one image beside test images.
   */
  pictures(x: tf.Tensor4D, labels: number[] | undefined, seed: number, captions?: string[]): Picture[] {
    void seed;
    const kind = this.net.cond?.kind ?? 'none';
    const N = x.shape[0];
    const idx = Array.from({ length: N }, (_, i) => i);
    const distinct =
      kind === 'text' && captions ? [...new Set(captions.slice(0, N))].filter((p) => this.isPrompt(p)).slice(0, 8) : [];
    let rows: { y: CondValue | undefined; real: number[] }[];
    let what: string;
    if (kind === 'label') {
      rows = Array.from({ length: this.info.numClasses }, (_, k) => ({
        y: k,
        real: labels ? idx.filter((i) => labels[i] === k) : [],
      }));
      what = 'one row per class';
    } else if (distinct.length) {
      rows = distinct.map((p) => ({ y: p, real: idx.filter((i) => captions![i] === p) }));
      what = 'one row per test caption';
    } else if (kind === 'text') {
      // no captions to match test images with: the outputs alone, for the class names that are prompts and no prompt
      const ys = [...(this.info.classNames ?? []).filter((c) => this.isPrompt(c)), undefined];
      const images = tf.tidy(
        () =>
          tf.concat(
            ys.map((y) => this.outputs(y === undefined ? undefined : [y], 1)),
            0,
          ) as tf.Tensor4D,
      );
      const names = ys
        .slice(0, -1)
        .map((y) => `"${y}"`)
        .join(', ');
      return [
        {
          name: 'conditional-means',
          images,
          cols: ys.length,
          caption: `the output f(y) for the prompts ${names || '(no class name is a prompt)'} and, last, for no prompt (the null embedding, the mean image)`,
        },
      ];
    } else {
      rows = [{ y: undefined, real: idx }];
      what = 'of the unconditional model (the mean image)';
    }
    const m = Math.min(PICTURE_REAL, Math.max(0, ...rows.map((r) => r.real.length)));
    const { height: H, width: W, channels: C } = this.info;
    const images = tf.tidy(() => {
      const tiles: tf.Tensor4D[] = [];
      for (const r of rows) {
        tiles.push(this.outputs(r.y === undefined ? undefined : [r.y], 1));
        for (let j = 0; j < m; j++)
          tiles.push(
            j < r.real.length ? (tf.slice(x, r.real[j], 1) as tf.Tensor4D) : (tf.zeros([1, H, W, C]) as tf.Tensor4D),
          );
      }
      return tf.concat(tiles, 0) as tf.Tensor4D;
    });
    const caption =
      m > 0
        ? `left: the output f(y), ${what}; then real test images with the same condition (black: none among the test images shown). f(y) is close to their pixel average E[x|y], not to any one of them`
        : `the output f(y), ${what}`;
    return [{ name: 'conditional-means', images, cols: 1 + m, caption }];
  }

  /** Whether a text model takes p as a prompt (its tokenizer's check: not too long; a word model knows every word). */
  private isPrompt(p: string): boolean {
    if (words(p).length === 0) return false;
    try {
      this.net.cond!.checkPrompts([p]);
      return true;
    } catch {
      return false;
    }
  }

  dispose(): void {
    this.net.dispose();
  }
}

export const oneshotFamily: Family<OneshotModelConfig> = defineFamily({
  name: 'oneshot',
  summary:
    'One-shot baseline, not a generative model: a deterministic network x = f(y) from the label or prompt alone, trained with a pixel loss (MSE or cross-entropy); it learns the conditional mean E[x|y], a blurry average of the plausible images, which is why generative models need noise',
  modelSchema: oneshotModelSchema,
  defaults: {
    data: { dataset: 'fashion-mnist', preprocess: 'scale01' },
    train: { epochs: 5, batchSize: 128, lr: 1e-3 },
  },
  tinyPreset: { hidden: [32], convChannels: [4, 8], convHidden: 16, cond: { dim: 16, textHeads: 2 } },
  requiredPreprocess: 'scale01',
  deterministic: true,
  lossUnit: 'loss per image: sum of squared errors (mse) or nats (bce)',
  create: (m, info, seed) => new OneshotModel(m, info, seed),
});
