// `deepgen compare`: the one-shot baseline beside generative models, condition by condition (issue 10). For each class
// label or prompt: n samples of every run, the real test images of that condition, and per run the per-pixel variance
// across samples, the sharpness against the real images', the distance to the real class-mean image, FID/KID against
// the real images on the project's classifier features, and how often that classifier sees the asked-for condition.
// On emoji the real images of a prompt are its name's drawings by each vendor, and the vendor head says whose style.
import * as tf from '@tensorflow/tfjs-core';
import {
  COLORS,
  POSITIONS,
  SHAPE_KINDS,
  SIZES,
  type ShapePair,
  type ShapePosition,
  type ShapeSize,
  type ShapesDataset,
} from '../core/data/shapes.ts';
import type { ImageDataset } from '../core/data/types.ts';
import { vendorShares, type EmojiDataset } from '../core/data/emoji.ts';
import { UserError } from '../core/errors.ts';
import {
  classConditionalAccuracy,
  parseShapePrompt,
  textConditionalAccuracy,
} from '../core/eval/conditional-accuracy.ts';
import { frechetDistance, gaussianStats, kernelDistance } from '../core/eval/fid.ts';
import { meanImage, pixelVariance, rmsDistance, sharpness } from '../core/eval/sample-stats.ts';
import type { SampleOptions } from '../core/family.ts';
import { getFamily } from '../core/registry.ts';
import { sampleChunks } from '../core/sample-chunks.ts';
import { mixSeed } from '../core/tensor/rng.ts';
import { floatsToUint8, makeGrid, type ImageU8 } from '../core/viz/grid.ts';
import { getClassifier, parseClassifierDataset, type GetClassifierOptions } from './classifier-store.ts';
import type { LoadedRun } from './run.ts';
import { condKindOf } from '../core/conditioning/config.ts';

/** One condition: a class label (label models) or a prompt (text models), with a name for tables. */
export interface Condition {
  name: string;
  label?: number;
  prompt?: string;
}

export interface CompareOptions {
  /** Samples per run and condition (and real images, when the test set has that many). */
  n: number;
  seed: number;
  /** Sampling settings passed to every run that takes them (guidance, steps). */
  sampling?: Pick<SampleOptions, 'guidance' | 'steps'>;
  /** Samples shown per run and condition in the picture. */
  show?: number;
  classifier?: GetClassifierOptions;
  onProgress?: (line: string) => void;
}

export interface RunFigures {
  run: string;
  family: string;
  /** The family's sample() ignores the seed (the one-shot baseline). */
  deterministic: boolean;
  /** Mean over pixels of the variance across the n samples (0 for a deterministic model). */
  pixelVariance: number;
  /** Edge sharpness of the samples: the mean of each image's strongest 5% gradient magnitudes (the real images' is in the condition's row). */
  sharpness: number;
  /** Mean RMS distance of the samples to the real class-mean image. */
  distanceToClassMean: number;
  /** FID and KID (with the std over subsets) of the samples against the real images, on the classifier's features (as `deepgen eval` reports them). */
  fid: number;
  kid: number;
  kidStd: number;
  /** Fraction of samples the classifier recognises as the condition (shapes: colour and kind both right). */
  accuracy: number;
  /** emoji: the share of samples the vendor head takes for each vendor's style (google, twitter). */
  vendorShare?: Record<string, number>;
  seconds: number;
}

export interface ConditionFigures {
  condition: Condition;
  /** Real test images of the condition used (up to n). */
  nReal: number;
  real: {
    pixelVariance: number;
    sharpness: number;
    distanceToClassMean: number;
    accuracy: number;
    vendorShare?: Record<string, number>;
  };
  runs: RunFigures[];
}

export interface CompareResult {
  dataset: string;
  n: number;
  features: string;
  conditions: ConditionFigures[];
  /** Per condition: a row of real images then one row per run (`show` samples each), the mean image last. */
  picture: ImageU8;
}

/** The kind of conditioning every run shares (label or text); one-line errors when they differ or are unconditional. */
export function sharedConditioning(runs: readonly LoadedRun[]): 'label' | 'text' {
  const kinds = runs.map((r) => condKindOf(r.cfg));
  const bad = runs.findIndex((_, i) => kinds[i] !== 'label' && kinds[i] !== 'text');
  if (bad >= 0)
    throw new UserError(
      `${runs[bad].dir} is not conditional (model.cond.kind is ${kinds[bad]}); compare needs label- or text-conditional runs`,
    );
  if (new Set(kinds).size > 1)
    throw new UserError(
      `the runs mix label- and text-conditional models (${runs.map((r, i) => `${r.dir}: ${kinds[i]}`).join(', ')}); compare runs of one kind`,
    );
  const first = runs[0];
  for (const r of runs) {
    if (
      r.cfg.data.dataset !== first.cfg.data.dataset ||
      r.info.height !== first.info.height ||
      r.info.width !== first.info.width ||
      r.info.channels !== first.info.channels
    )
      throw new UserError(
        `${r.dir} was trained on ${r.cfg.data.dataset} ${r.info.height}x${r.info.width}x${r.info.channels}, ${first.dir} on ${first.cfg.data.dataset} ${first.info.height}x${first.info.width}x${first.info.channels}; compare runs of the same data`,
      );
  }
  return kinds[0] as 'label' | 'text';
}

/** Indices of the test images that show the condition: its label, or (shapes) the colour and kind the prompt names and
 *  its size and position when it names them. */
export function realIndices(test: ImageDataset, c: Condition): number[] {
  const out: number[] = [];
  if (c.label !== undefined) {
    if (!test.labels)
      throw new UserError(`the test images of ${test.name} have no labels to compare class ${c.name} against`);
    for (let i = 0; i < test.n; i++) if (test.labels[i] === c.label) out.push(i);
    return out;
  }
  const records = (test as EmojiDataset).records;
  if (records) {
    const want = emojiPromptKey(c.prompt!);
    records.forEach((r, i) => {
      if (r.name === want || emojiPromptKey(r.caption) === want) out.push(i);
    });
    return out;
  }
  const pair = promptPair(c.prompt!);
  const fields = (test as ShapesDataset).fields;
  if (!fields)
    throw new UserError(
      `real images for the prompt "${c.prompt}" are found by colour and shape, which only the shapes dataset records; ${test.name} does not`,
    );
  const { size, position } = promptPlacement(c.prompt!);
  for (let i = 0; i < test.n; i++) {
    const f = fields[i];
    if (
      f.color === pair.color &&
      f.shape === pair.kind &&
      (size === null || f.size === size) &&
      (position === null || f.position === position)
    )
      out.push(i);
  }
  return out;
}

/** A prompt or caption as the emoji names are written: lower case, single spaces. */
function emojiPromptKey(text: string): string {
  return text.toLowerCase().replace(/\s+/g, ' ').trim();
}

/** The size and position a shapes prompt names, if any ("a large red circle at the top left" -> large, top left). */
export function promptPlacement(prompt: string): { size: ShapeSize | null; position: ShapePosition | null } {
  const words = prompt
    .toLowerCase()
    .split(/[^a-z]+/)
    .filter(Boolean);
  const text = ` ${words.join(' ')} `;
  const size = SIZES.find((s) => words.includes(s)) ?? null;
  // the longest position phrase the prompt contains ("top left" before "top" and "left")
  const position = [...POSITIONS].sort((a, b) => b.length - a.length).find((p) => text.includes(` ${p} `)) ?? null;
  return { size, position };
}

function promptPair(prompt: string): ShapePair {
  const a = parseShapePrompt(prompt);
  if (!a?.kind || !a.color)
    throw new UserError(
      `the prompt "${prompt}" must name a colour (${COLORS.join(', ')}) and a shape (${SHAPE_KINDS.join(', ')}) so its real images can be found`,
    );
  return { color: a.color, kind: a.kind };
}

/** Test images at the given indices, [k, H, W, C] in [0, 1]. */
function imagesAt(test: ImageDataset, idx: number[]): Float32Array {
  const D = test.height * test.width * test.channels;
  const out = new Float32Array(idx.length * D);
  idx.forEach((j, i) => {
    for (let d = 0; d < D; d++) out[i * D + d] = test.images[j * D + d] / 255;
  });
  return out;
}

export async function compareRuns(
  runs: LoadedRun[],
  conditions: Condition[],
  test: ImageDataset,
  o: CompareOptions,
): Promise<CompareResult> {
  if (runs.length === 0) throw new UserError('compare needs at least one run folder');
  const kind = sharedConditioning(runs);
  const dataset = runs[0].cfg.data.dataset;
  const clfDataset = parseClassifierDataset(dataset, 'Comparing runs (FID/KID and accuracy per condition)');
  if (!(Number.isInteger(o.n) && o.n >= 4))
    throw new UserError(`--n must be a whole number >= 4 (samples per run and condition), got ${o.n}`);
  const { height: H, width: W, channels: C } = runs[0].info;
  const D = H * W * C;
  // emoji: each name has one real drawing per vendor, too few for a per-prompt FID (`deepgen eval` has it, on all)
  const emoji = clfDataset === 'emoji';
  const show = Math.min(o.show ?? 8, o.n);
  // every condition is checked before the classifier loads (or trains, the first time)
  const realIdx = conditions.map((c) => {
    if ((kind === 'label') !== (c.label !== undefined))
      throw new UserError(
        `condition ${c.name} is a ${c.label !== undefined ? 'label' : 'prompt'} but the runs are ${kind}-conditional; use ${kind === 'label' ? '--label' : '--prompt'}`,
      );
    const idx = realIndices(test, c).slice(0, o.n);
    if (emoji && idx.length === 0)
      throw new UserError(
        `no emoji is named ${c.name}; prompt with an emoji's name (e.g. "red apple", "cat face"; the names are in \`deepgen datasets get emoji\`'s index)`,
      );
    if (!emoji && idx.length < 4)
      throw new UserError(
        `the test set has ${idx.length} images of ${c.name}; compare needs at least 4 (pick another condition or a larger --test-n)`,
      );
    return idx;
  });
  o.onProgress?.(
    `Comparing ${runs.length} runs on ${conditions.length} conditions, ${o.n} samples each, on the features of the project's ${dataset} classifier`,
  );
  const clf = await getClassifier(clfDataset, {
    size: H,
    dataDir: runs[0].cfg.data.dataDir,
    ...o.classifier,
  });
  const cells: Float32Array[] = [];
  const out: ConditionFigures[] = [];
  /** Images x [k, H, W, C] through the classifier: their features, and how often it sees condition c in them. */
  const judge = (
    x: Float32Array,
    k: number,
    c: Condition,
    ci: number,
  ): { features: tf.Tensor2D; accuracy: number; vendorShare?: Record<string, number> } => {
    const t = tf.tensor4d(x, [k, H, W, C]);
    try {
      if (emoji) {
        // the category of the emoji the prompt names, and whose style the vendor head sees in each image
        const p = clf.classifier.predict(t);
        const want = (test as EmojiDataset).records[realIdx[ci][0]].category;
        const vendorShare = vendorShares(p.vendor);
        const accuracy = p.category.filter((y) => y === want).length / k;
        return { features: clf.classifier.featuresBatched(t, 500), accuracy, vendorShare };
      }
      const accuracy =
        c.label !== undefined
          ? classConditionalAccuracy(
              clf.classifier,
              t,
              new Array<number>(k).fill(c.label),
              dataset === 'shapes' ? 'kind' : undefined,
            ).overall
          : textConditionalAccuracy(clf.classifier, t, new Array<ShapePair>(k).fill(promptPair(c.prompt!))).both;
      return { features: clf.classifier.featuresBatched(t, 500), accuracy };
    } finally {
      t.dispose();
    }
  };
  try {
    for (const [ci, c] of conditions.entries()) {
      const idx = realIdx[ci];
      const real = imagesAt(test, idx);
      const classMean = meanImage(real, idx.length);
      const { features: realF, accuracy: realAccuracy, vendorShare: realVendors } = judge(real, idx.length, c, ci);
      const realStats = emoji ? undefined : gaussianStats(realF);
      const row: ConditionFigures = {
        condition: c,
        nReal: idx.length,
        real: {
          pixelVariance: pixelVariance(real, idx.length),
          sharpness: sharpness(real, idx.length, H, W, C),
          distanceToClassMean: rmsDistance(real, idx.length, classMean),
          accuracy: realAccuracy,
          ...(realVendors ? { vendorShare: realVendors } : {}),
        },
        runs: [],
      };
      cells.push(
        real.subarray(0, Math.min(show, idx.length) * D),
        ...Array.from({ length: show - Math.min(show, idx.length) }, () => new Float32Array(D).fill(1)),
        classMean,
      );
      for (const r of runs) {
        const t0 = performance.now();
        const opts: SampleOptions = {
          ...o.sampling,
          ...(c.label !== undefined ? { labels: [c.label] } : { prompts: [c.prompt!] }),
        };
        const applies = getFamily(r.family).samplingOptions ?? [];
        if (!applies.includes('guidance')) delete opts.guidance;
        if (!applies.includes('steps')) delete opts.steps;
        const x = new Float32Array(o.n * D); // the samples' pixels, drawn a chunk at a time
        for (const { first, images } of sampleChunks(r.model, o.n, mixSeed(o.seed, ci), opts))
          x.set((await images.data()) as Float32Array, first * D);
        const { features: f, accuracy, vendorShare } = judge(x, o.n, c, ci);
        const fid = realStats ? frechetDistance(gaussianStats(f), realStats) : NaN;
        const kid = realStats ? kernelDistance(realF, f, { subsets: 100, seed: o.seed }) : { kid: NaN, stderr: NaN };
        f.dispose();
        row.runs.push({
          run: r.dir,
          family: r.family,
          deterministic: !!getFamily(r.family).deterministic,
          pixelVariance: pixelVariance(x, o.n),
          sharpness: sharpness(x, o.n, H, W, C),
          distanceToClassMean: rmsDistance(x, o.n, classMean),
          fid,
          kid: kid.kid,
          kidStd: kid.stderr,
          accuracy,
          ...(vendorShare ? { vendorShare } : {}),
          seconds: (performance.now() - t0) / 1000,
        });
        cells.push(x.subarray(0, show * D), meanImage(x, o.n));
        o.onProgress?.(`  ${c.name}: ${r.dir} (${((performance.now() - t0) / 1000).toFixed(1)} s)`);
      }
      realF.dispose();
      out.push(row);
    }
  } finally {
    clf.classifier.dispose();
  }
  const all = new Float32Array(cells.reduce((s, a) => s + a.length, 0));
  let at = 0;
  for (const a of cells) {
    all.set(a, at);
    at += a.length;
  }
  const picture = makeGrid(floatsToUint8(all), all.length / D, H, W, C, { cols: show + 1 });
  const features_ = `the ${clf.classifier.config.features}-d feature layer of deepgen's own ${dataset} classifier (not Inception)`;
  return { dataset, n: o.n, features: features_, conditions: out, picture };
}

/** The figures as markdown: the means over the conditions, then one table per condition, the real images first
 *  (emoji: a last column, the share of images the vendor head takes for Google's style). */
export function compareMarkdown(r: CompareResult): string {
  const f = (v: number, d: number) => (Number.isFinite(v) ? v.toFixed(d) : 'n/a');
  const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
  type Stats = Pick<RunFigures, 'pixelVariance' | 'sharpness' | 'distanceToClassMean' | 'accuracy' | 'vendorShare'>;
  const C = r.conditions;
  const vendors = C.some((c) => c.real.vendorShare);
  const header = [
    `| images | per-pixel variance | edge sharpness | distance to class mean | FID | KID | recognised |${vendors ? ' Google style |' : ''}`,
    `| --- | ---: | ---: | ---: | ---: | ---: | ---: |${vendors ? ' ---: |' : ''}`,
  ];
  const pct = (v: number | undefined) => (v === undefined ? 'n/a' : `${(v * 100).toFixed(0)}%`);
  const row = (name: string, s: Stats, fid: string, kid: string) =>
    `| ${name} | ${f(s.pixelVariance, 4)} | ${f(s.sharpness, 4)} | ${f(s.distanceToClassMean, 3)} | ${fid} | ${kid} | ${pct(s.accuracy)} |${vendors ? ` ${pct(s.vendorShare?.google)} |` : ''}`;
  const runName = (x: RunFigures) => `${x.run} (${x.family}${x.deterministic ? ', one-shot' : ''})`;
  /** Each numeric field averaged over the rows (the vendor shares too). */
  const means = <T extends Stats>(rows: T[]): T => {
    const m = Object.fromEntries(
      Object.entries(rows[0]).map(([k, v]) => [
        k,
        typeof v === 'number' ? mean(rows.map((x) => (x as unknown as Record<string, number>)[k])) : v,
      ]),
    ) as T;
    if (rows.every((x) => x.vendorShare))
      m.vendorShare = Object.fromEntries(
        Object.keys(rows[0].vendorShare!).map((v) => [v, mean(rows.map((x) => x.vendorShare![v]))]),
      );
    return m;
  };
  const realName = vendors ? 'real drawings (each vendor)' : 'real test images';
  const lines: string[] = [
    `**Mean over the ${C.length} conditions** (${r.n} samples per run and condition)`,
    '',
    ...header,
  ];
  lines.push(row(realName, means(C.map((c) => c.real)), '-', '-'));
  (C[0]?.runs ?? []).forEach((_, i) => {
    const m = means(C.map((c) => c.runs[i]));
    lines.push(row(runName(m), m, f(m.fid, 1), f(m.kid, 2)));
  });
  lines.push('');
  for (const c of C) {
    lines.push(`**${c.condition.name}** (${r.n} samples per run; ${c.nReal} ${realName})`, '', ...header);
    lines.push(row(realName, c.real, '-', '-'));
    for (const x of c.runs)
      lines.push(
        row(runName(x), x, f(x.fid, 1), Number.isFinite(x.kid) ? `${f(x.kid, 2)} +- ${f(x.kidStd, 2)}` : 'n/a'),
      );
    lines.push('');
  }
  return lines.join('\n');
}
