// Conditional sample quality judged by the project's own classifiers: generate samples for every class (label models),
// for colour+shape prompts (text models on `shapes`, seen and held-out pairs apart) or for emoji captions (names seen in
// training and held-out names apart) and measure how often the classifier sees what was asked for.
import * as tf from '@tensorflow/tfjs-core';
import { EMOJI_CATEGORIES, vendorShares, type EmojiDataset, type EmojiRecord } from '../core/data/emoji.ts';
import { COLORS, POSITIONS, SHAPE_KINDS, SIZES, parseShapePairs, type ShapePair } from '../core/data/shapes.ts';
import { UserError } from '../core/errors.ts';
import {
  labelAccuracy,
  shapeAccuracy,
  type LabelAccuracy,
  type ShapeAccuracy,
} from '../core/eval/conditional-accuracy.ts';
import type { SampleOptions } from '../core/family.ts';
import { Rng } from '../core/tensor/rng.ts';
import { DEFAULT_SAMPLE_CHUNK, sampleChunks } from '../core/sample-chunks.ts';
import { getClassifier, parseClassifierDataset, type GetClassifierOptions } from './classifier-store.ts';
import { emojiVendorsOf, readEmojiIndex } from './data/emoji.ts';
import { loadSplit, type LoadedRun } from './run.ts';
import { condKindOf } from '../core/conditioning/config.ts';

export interface CondEvalOptions {
  /** Samples per set (the held-out pairs get a second set of this size). */
  n: number;
  seed: number;
  guidance?: number;
  steps?: number;
  /** A diffusion sampler's registry name (default: the model's). */
  sampler?: string;
  /** Noise scale T of the families that take one (flow, GAN; default: the model's). */
  temperature?: number;
  batchSize?: number;
  onProgress?: (done: number, total: number) => void;
  /** Passed to getClassifier (tests use a tiny one in a temporary cache). */
  classifier?: GetClassifierOptions;
}

export interface CondEvalResult {
  kind: 'label' | 'text';
  classifier: { dataset: string; testAccuracy: Record<string, number>; dir: string };
  guidance: number | undefined;
  steps: number | undefined;
  sampler: string | undefined;
  temperature?: number;
  /** Label models, and text models on class-name captions (emoji label models: with the vendor shares too). */
  labels?: LabelAccuracy & { classNames: string[]; vendors?: Record<string, number> };
  /** Text models on shapes: pairs seen in training, and pairs held out of it; on emoji: names seen in training, and
   *  names held out of it. */
  seen?: ShapeAccuracy | EmojiAccuracy;
  heldOut?: (ShapeAccuracy & { pairs: string[] }) | (EmojiAccuracy & { heldOutNames: string[] });
  seconds: number;
  /** A few of the generated images [k,H,W,C] in [0,1] for a picture (caller disposes). */
  preview: tf.Tensor4D;
}

/** Emoji captions judged by the category head: LabelAccuracy over EMOJI_CATEGORIES, and the vendor head's shares. */
export interface EmojiAccuracy extends LabelAccuracy {
  classNames: string[];
  /** Share of the samples the vendor head gives to each vendor's drawing style (a model that draws both vendors for
   *  one prompt shows about half each; one that blurs them into one style does not). */
  vendors: Record<string, number>;
  /** Distinct names prompted. */
  names: number;
}

/** Whether an accuracy of seen/heldOut is an emoji one (else shapes'). */
export function isEmojiAccuracy(a: ShapeAccuracy | EmojiAccuracy): a is EmojiAccuracy {
  return 'vendors' in a;
}

/**
 * The prompt sets of an emoji text model, one base-emoji record (caption, category) per distinct name, sorted by name:
 * `seen` = the names of the train split (only those in `trained`, when given: a run on the first n images), `heldOut`
 * = the names held out of training (split 'heldout'), both among the records of the given vendors.
 */
export function emojiPromptSets(
  records: readonly EmojiRecord[],
  vendors: readonly string[],
  trained?: ReadonlySet<string>,
): { seen: EmojiRecord[]; heldOut: EmojiRecord[] } {
  const sets = { seen: new Map<string, EmojiRecord>(), heldOut: new Map<string, EmojiRecord>() };
  for (const r of records) {
    if (r.tone || !vendors.includes(r.vendor)) continue;
    const seen = r.split === 'train' && (!trained || trained.has(r.name));
    const set = seen ? sets.seen : r.split === 'heldout' ? sets.heldOut : null;
    if (set && !set.has(r.name)) set.set(r.name, r);
  }
  const sorted = (m: Map<string, EmojiRecord>) => [...m.values()].sort((a, b) => (a.name < b.name ? -1 : 1));
  return { seen: sorted(sets.seen), heldOut: sorted(sets.heldOut) };
}

/** `total` samples with the given options (labels or prompts: one per sample) drawn in chunks of `batch`; predictions
 *  of the given classifier heads. The first chunk's first 40 images are kept in `keep` for a preview. */
function generateAndClassify(
  run: LoadedRun,
  total: number,
  seed: number,
  opts: SampleOptions,
  classify: (x: tf.Tensor4D) => Record<string, Int32Array>,
  batch: number,
  keep: tf.Tensor4D[],
  onDone: (k: number) => void,
): Record<string, number[]> {
  const preds: Record<string, number[]> = {};
  for (const { first, images } of sampleChunks(run.model, total, seed, opts, batch)) {
    const k = images.shape[0];
    const p = classify(images);
    for (const [h, v] of Object.entries(p)) (preds[h] ??= []).push(...v);
    if (keep.length === 0) keep.push(tf.slice(images, [0, 0, 0, 0], [Math.min(k, 40), -1, -1, -1]));
    onDone(first + k);
  }
  return preds;
}

/** The prompt for a colour+shape pair, with a random size and position (the form of the training captions). */
export function shapePrompt(p: ShapePair, rng: Rng): string {
  const pos = POSITIONS[rng.int(POSITIONS.length)];
  return `a ${SIZES[rng.int(SIZES.length)]} ${p.color} ${p.kind} ${pos === 'center' ? 'in the center' : `at the ${pos}`}`;
}

export async function conditionalEval(run: LoadedRun, o: CondEvalOptions): Promise<CondEvalResult> {
  const cond = condKindOf(run.cfg);
  if (cond !== 'label' && cond !== 'text')
    throw new UserError(
      `${run.dir} is not a conditional model (model.cond.kind is ${cond}); conditional evaluation needs --cond label or text`,
    );
  const dataset = run.cfg.data.dataset;
  const clfDataset = parseClassifierDataset(dataset, 'Conditional evaluation');
  // emoji text models: the prompt sets, from the index (a missing data set fails here, before any classifier training)
  const emojiSets =
    clfDataset === 'emoji' && cond === 'text'
      ? emojiPromptSets(
          readEmojiIndex(run.cfg.data.dataDir).records,
          emojiVendorsOf(dataset),
          run.cfg.data.trainN > 0
            ? new Set((loadSplit(run.cfg, 'train') as EmojiDataset).records.map((r) => r.name))
            : undefined,
        )
      : null;
  const clf = await getClassifier(clfDataset, {
    size: run.info.height,
    dataDir: run.cfg.data.dataDir,
    ...o.classifier,
  });
  const batch = o.batchSize ?? DEFAULT_SAMPLE_CHUNK;
  const t0 = performance.now();
  const keep: tf.Tensor4D[] = [];
  const base = { guidance: o.guidance, steps: o.steps, sampler: o.sampler, temperature: o.temperature };
  const classify = (x: tf.Tensor4D) => clf.classifier.predict(x);
  const result: Omit<CondEvalResult, 'seconds' | 'preview'> = {
    kind: cond,
    guidance: o.guidance,
    steps: o.steps,
    sampler: o.sampler,
    ...(o.temperature !== undefined ? { temperature: o.temperature } : {}),
    classifier: { dataset, testAccuracy: clf.info.testAccuracy as unknown as Record<string, number>, dir: clf.dir },
  };
  try {
    if (emojiSets) {
      // emoji text: captions of the names seen in training and (apart) of the held-out names, each set in a seeded
      // order cycled to n prompts; judged by the category head, the vendor head's shares beside
      const sets = [
        ['seen', emojiSets.seen],
        ['heldOut', emojiSets.heldOut],
      ] as const;
      const used = sets.filter(([, recs]) => recs.length > 0);
      const total = o.n * used.length;
      let offset = 0;
      for (const [name, recs] of used) {
        const order = new Rng(o.seed + (name === 'seen' ? 1 : 2)).shuffle(recs.map((_, i) => i));
        const intended = Array.from({ length: o.n }, (_, i) => recs[order[i % recs.length]]);
        const prompts = intended.map((r) => r.caption);
        const preds = generateAndClassify(run, o.n, o.seed + offset, { ...base, prompts }, classify, batch, keep, (d) =>
          o.onProgress?.(offset + d, total),
        );
        const acc: EmojiAccuracy = {
          ...labelAccuracy(
            preds.category,
            intended.map((r) => r.category),
            EMOJI_CATEGORIES.length,
          ),
          classNames: [...EMOJI_CATEGORIES],
          vendors: vendorShares(preds.vendor),
          names: Math.min(o.n, recs.length),
        };
        if (name === 'seen') result.seen = acc;
        else result.heldOut = { ...acc, heldOutNames: recs.map((r) => r.name) };
        offset += o.n;
      }
    } else if (dataset === 'fashion-mnist' || cond === 'label') {
      // one label (or class-name prompt) per sample, every class in turn
      const names = run.info.classNames ?? [];
      const C = run.info.numClasses;
      const intended = Int32Array.from({ length: o.n }, (_, i) => i % C);
      const head = dataset === 'shapes' ? 'kind' : clf.classifier.config.heads[0].name;
      const ys = Array.from(intended);
      const opts =
        cond === 'label' ? { ...base, labels: ys } : { ...base, prompts: ys.map((y) => names[y].toLowerCase()) };
      const preds = generateAndClassify(run, o.n, o.seed, opts, classify, batch, keep, (d) => o.onProgress?.(d, o.n));
      result.labels = {
        ...labelAccuracy(preds[head], intended, C),
        classNames: names,
        ...(preds.vendor ? { vendors: vendorShares(preds.vendor) } : {}),
      };
    } else {
      // shapes text: prompts naming a colour and a kind, over the pairs seen in training and (apart) the held-out ones
      const heldOut = parseShapePairs(run.cfg.data.holdOut ?? []);
      const key = (p: ShapePair) => `${p.color} ${p.kind}`;
      const held = new Set(heldOut.map(key));
      const seenPairs: ShapePair[] = [];
      for (const color of COLORS)
        for (const kind of SHAPE_KINDS) if (!held.has(`${color} ${kind}`)) seenPairs.push({ color, kind });
      const sets: [string, ShapePair[]][] = [
        ['seen', seenPairs],
        ...(heldOut.length ? [['heldOut', heldOut] as [string, ShapePair[]]] : []),
      ];
      const total = o.n * sets.length;
      let offset = 0;
      for (const [name, pairs] of sets) {
        const rng = new Rng(o.seed + (name === 'seen' ? 1 : 2));
        const intended = Array.from({ length: o.n }, (_, i) => pairs[i % pairs.length]);
        const prompts = intended.map((p) => shapePrompt(p, rng));
        const preds = generateAndClassify(run, o.n, o.seed + offset, { ...base, prompts }, classify, batch, keep, (d) =>
          o.onProgress?.(offset + d, total),
        );
        const acc = shapeAccuracy({ kind: preds.kind, color: preds.color }, intended);
        if (name === 'seen') result.seen = acc;
        else result.heldOut = { ...acc, pairs: heldOut.map(key) };
        offset += o.n;
      }
    }
  } finally {
    clf.classifier.dispose();
  }
  return { ...result, seconds: (performance.now() - t0) / 1000, preview: keep[0] };
}
