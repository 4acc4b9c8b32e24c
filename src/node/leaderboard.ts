// The leaderboard of run folders: one row per run (size, training cost, likelihood, sample quality, conditional
// accuracy) from config.json, state.json, model.safetensors' header, eval.json and cond-eval.json, and one row per
// score file of `deepgen score` (images from outside, marked external); markdown and JSON.
// Pure row extraction and formatting first, then the few fs readers that feed them.
import fs from 'node:fs';
import path from 'node:path';
import { isDtype, isShape, numel, safetensorsHeader } from '../core/checkpoint/safetensors.ts';
import { CHECKPOINT_FILES, parseCheckpointState, type CheckpointConfigFile } from '../core/checkpoint/format.ts';
import { UserError } from '../core/errors.ts';
import { readCheckpointConfig, readSafetensorsHead } from './checkpoint-store.ts';
import { formatDuration } from './progress.ts';

type Json = Record<string, unknown>;

export type LikelihoodKind = 'exact' | 'bound' | 'n/a';

/** Test-set bits/dim of a run, which figure it is, and whether it is exact, a bound, or absent (and why). */
export interface Likelihood {
  bitsPerDim: number | null;
  kind: LikelihoodKind;
  /** The figure's name from eval.json (e.g. "IWAE k=8", "-ELBO", "VLB", "exact"), or null. */
  name: string | null;
  /** Test images evaluated. */
  n: number | null;
  /** Why bitsPerDim is null, or what the bound is. */
  reason: string;
}

export interface SampleQualityCells {
  fid: number | null;
  kid: number | null;
  kidStd: number | null;
  precision: number | null;
  recall: number | null;
  n: number | null;
  sampleSecondsPerImage: number | null;
}

/** The real-vs-real figures of sampleQuality.reference: what a perfect model would reach with n images. */
export interface Floor {
  dataset: string;
  size: string | null;
  n: number;
  fid: number | null;
  kid: number | null;
  kidStd: number | null;
  precision: number | null;
  recall: number | null;
}

export interface CondAccuracy {
  kind: 'label' | 'text';
  /** Label models: the share of samples classified as the asked class; text on shapes: colour and shape both right, on
   *  pairs seen in training; text on emoji: the category right, on names seen in training. */
  overall: number;
  /** Text on shapes: the same on the colour+shape pairs held out of training; on emoji, on the held-out names. */
  heldOut: number | null;
  /** 'names' for emoji captions (the category judged on seen and held-out names); absent for shapes' pairs. */
  heldOutUnit?: 'names';
  n: number | null;
  guidance: number | null;
}

export interface LeaderboardRow {
  run: string;
  family: string;
  dataset: string;
  /** HxWxC from config.json's dataInfo. */
  size: string | null;
  conditioning: string;
  params: number | null;
  steps: number | null;
  trainSeconds: number | null;
  /** steps * batchSize / trainSeconds. */
  imagesPerSec: number | null;
  likelihood: Likelihood;
  sampleQuality: SampleQualityCells | null;
  condAccuracy: CondAccuracy | null;
  notes: string[];
  /** Rows of `deepgen score` files only: the images scored, from outside deepgen. */
  source?: ExternalSource;
}

/** "dpm++2m, 20 steps, guidance 3" from the sampler settings an eval.json or cond-eval.json records, or null. */
function samplingNote(o: Record<string, unknown> | null | undefined): string | null {
  if (!o) return null;
  const parts = [
    typeof o.sampler === 'string' ? o.sampler : null,
    typeof o.steps === 'number' ? `${o.steps} steps` : null,
    typeof o.guidance === 'number' ? `guidance ${o.guidance}` : null,
  ].filter((p): p is string => p !== null);
  return parts.length ? parts.join(', ') : null;
}

/** What an external row scored: its name and notes, the images' path and sha256, the score file. */
export interface ExternalSource {
  kind: 'external';
  name: string;
  notes: string | null;
  images: string | null;
  sha256: string | null;
  file: string;
}

/** The `format` of the JSON files `deepgen score --out` writes. */
export const SCORE_FORMAT = 'deepgen-score';

/** A score file of `deepgen score --out`, parsed: where it is and its JSON. */
export interface ScoreFile {
  file: string;
  score: Json;
}

export interface Leaderboard {
  rows: LeaderboardRow[];
  floors: Floor[];
  notes: string[];
}

/** What one run folder holds, already parsed; null where a file is absent (problems says why, when it is damaged). */
export interface RunFiles {
  run: string;
  config: CheckpointConfigFile;
  state: Json | null;
  evalJson: Json | null;
  condEval: Json | null;
  params: number | null;
  problems: string[];
}

export const TABLE_NOTES: readonly string[] = [
  "bits/dim: -log2 P(x) per dimension of the 8-bit test images, lower is better. exact: the model's own likelihood (pixelcnn, igpt); " +
    'bound: an upper bound on it (flow: dequantization, IWAE when evaluated with --iwae; vae with a discretized decoder: IWAE if evaluated with --iwae, else -ELBO; diffusion: the variational bound); ' +
    'n/a: no probability of 8-bit data (gan, ae, vae with a bernoulli or gaussian decoder) or not evaluated.',
  "train time: state.json elapsedSeconds (all sessions of a resumed run); img/s = steps x batch size / train time, the whole run's average including checkpoint saves (not the windowed rate of metrics.jsonl). gan: a step is one generator update.",
  "FID, KID (+- its standard deviation over 100 subsets), precision and recall (k-NN, k = 3) compare n samples with n test images on the features of deepgen's own classifier for the dataset, not Inception: comparable between runs of one dataset at the same n, not with published figures. ms/sample: sampling time per image.",
  'cond acc: label models, the share of samples the classifier puts in the class asked for; text models on shapes, the share with both colour and shape right, on pairs seen in training (and on held-out pairs); on emoji, the share in the category of the emoji asked for, on names seen in training (and on held-out names).',
];

/** Under a table with external rows. */
export const EXTERNAL_NOTE =
  "external: images from outside deepgen (another tool's samples, or a real set) scored by `deepgen score` with the same classifier features and the same test images; they have no training figures or likelihood here, and their FID/KID compare with runs evaluated at the same n.";

const num = (o: Json | null | undefined, key: string): number | null => {
  const v = o?.[key];
  return typeof v === 'number' && Number.isFinite(v) ? v : null;
};
const obj = (v: unknown): Json | null =>
  v !== null && typeof v === 'object' && !Array.isArray(v) ? (v as Json) : null;

/** A likelihood figure as eval.json holds it: EvalResult.likelihood (core/eval/result.ts), checked field by field. */
function figureOf(v: unknown): { bitsPerDim: number; kind: 'exact' | 'bound'; name: string; discrete: boolean } | null {
  const f = obj(v);
  const bitsPerDim = num(f, 'bitsPerDim');
  if (!f || bitsPerDim === null || (f.kind !== 'exact' && f.kind !== 'bound')) return null;
  return {
    bitsPerDim,
    kind: f.kind,
    name: typeof f.name === 'string' ? f.name : f.kind,
    discrete: f.discrete !== false,
  };
}

/**
 * The likelihood figure of an eval.json written before evaluation results were typed (flat, family-specific keys),
 * read by its keys: iwaeBitsPerDim (IWAE bound), nelboBitsPerDim (-ELBO), bitsPerDim with the VLB terms (diffusion's
 * bound), with roundTripMaxAbs (a flow's dequantization bound), else exact (autoregressive). The VAE's -ELBO and IWAE
 * are of 8-bit data only with its logistic decoder (`model.likelihood`, bernoulli by default).
 */
function legacyFigure(e: Json, model: Json | null): ReturnType<typeof figureOf> {
  const vae = num(e, 'nelboBitsPerDim') !== null;
  const discrete = !vae || model?.likelihood === 'logistic';
  const iwae = num(e, 'iwaeBitsPerDim');
  if (iwae !== null)
    return {
      bitsPerDim: iwae,
      kind: 'bound',
      name: `IWAE${num(e, 'iwaeK') !== null ? ` k=${num(e, 'iwaeK')}` : ''}`,
      discrete,
    };
  if (vae) return { bitsPerDim: num(e, 'nelboBitsPerDim')!, kind: 'bound', name: '-ELBO', discrete };
  const bpd = num(e, 'bitsPerDim');
  if (bpd === null) return null;
  if (num(e, 'vlbPriorNats') !== null) return { bitsPerDim: bpd, kind: 'bound', name: 'VLB', discrete };
  if (num(e, 'roundTripMaxAbs') !== null) return { bitsPerDim: bpd, kind: 'bound', name: 'dequantization', discrete };
  return { bitsPerDim: bpd, kind: 'exact', name: 'exact', discrete };
}

/**
 * The likelihood of a run from its eval.json, chosen by what the figure is (never by family): exact or a bound, as
 * the model reported it; n/a when the figure is a density of continuous or binarized values (not comparable in
 * bits/dim of 8-bit data), when the model has none, or when the run was not evaluated. `model` is config.json's model
 * section (read only for eval.json files of the old flat shape).
 */
export function likelihoodOf(model: Json | null, evalJson: Json | null, run: string): Likelihood {
  const none = (reason: string): Likelihood => ({ bitsPerDim: null, kind: 'n/a', name: null, n: null, reason });
  const notEvaluated = none(`not evaluated (run deepgen eval ${run})`);
  if (!evalJson) return notEvaluated;
  const typed = evalJson.likelihood !== undefined || obj(evalJson.terms) !== null;
  const f = typed ? figureOf(evalJson.likelihood) : legacyFigure(evalJson, model);
  if (!f) {
    if (obj(evalJson.terms)) return none('no likelihood (the model reports other figures)');
    return evalJson.sampleQuality !== undefined ? none('no likelihood figure in eval.json') : notEvaluated;
  }
  if (!f.discrete) {
    const decoder = typeof model?.likelihood === 'string' ? `${model.likelihood} decoder: ` : '';
    return none(`${decoder}a density on continuous values, not a probability of 8-bit data`);
  }
  const reason = f.kind === 'exact' ? 'exact -log2 P(x) of the model' : `${f.name} bound`;
  return { bitsPerDim: f.bitsPerDim, kind: f.kind, name: f.name, n: num(evalJson, 'n'), reason };
}

/** The parameter count from the bytes of a safetensors file (at least its 8-byte length and JSON header): the sum over tensors of the product of the shape. */
export function paramsFromSafetensorsHeader(bytes: Uint8Array, source: string): number {
  const { header } = safetensorsHeader(bytes, source);
  let total = 0;
  for (const [name, v] of Object.entries(header)) {
    if (name === '__metadata__') continue;
    const t = obj(v);
    if (!t || !isDtype(t.dtype) || !isShape(t.shape)) {
      throw new UserError(
        `${source} is not a valid safetensors file: tensor ${JSON.stringify(name)} has no valid dtype and shape; re-save it or point to the right file`,
      );
    }
    total += numel(t.shape);
  }
  return total;
}

/** One row from a run's parsed files. */
export function leaderboardRow(f: RunFiles): LeaderboardRow {
  const cfg = obj(f.config.config);
  const model = obj(cfg?.model);
  const data = obj(cfg?.data);
  const train = obj(cfg?.train);
  const info = obj(f.config.dataInfo);
  const family = f.config.family;
  const conditioning = typeof obj(model?.cond)?.kind === 'string' ? (obj(model?.cond)!.kind as string) : 'none';
  const notes = [...f.problems];
  const steps = num(f.state, 'step');
  const trainSeconds = num(f.state, 'elapsedSeconds');
  const batchSize = num(train, 'batchSize');
  const imagesPerSec =
    steps !== null && batchSize !== null && trainSeconds !== null && trainSeconds > 0
      ? (steps * batchSize) / trainSeconds
      : null;
  const likelihood = likelihoodOf(model, f.evalJson, f.run);
  const notEvaluated = likelihood.reason.startsWith('not evaluated');
  if (likelihood.kind === 'n/a' && !notEvaluated) notes.push(`bits/dim: ${likelihood.reason}`);
  if (!f.evalJson) notes.push(`not evaluated (run deepgen eval ${f.run})`);
  else {
    if (likelihood.kind === 'n/a' && notEvaluated) notes.push(`bits/dim ${likelihood.reason}`);
    const evalStep = num(f.evalJson, 'step');
    if (evalStep !== null && steps !== null && evalStep !== steps)
      notes.push(
        `eval.json is from step ${evalStep}, the weights from step ${steps} (run deepgen eval ${f.run} again)`,
      );
    if (likelihood.n !== null && typeof f.evalJson.note === 'string' && f.evalJson.run === undefined)
      notes.push(`bits/dim from the end-of-training quick eval on ${likelihood.n} test images`);
  }
  const q = obj(f.evalJson?.sampleQuality);
  const sampleQuality = qualityCellsOf(q);
  if (f.evalJson && !q) notes.push(`no FID/KID yet (deepgen eval ${f.run} --metrics fid,kid,pr)`);
  const sampledWith = samplingNote(obj(q?.sampling));
  if (sampledWith) notes.push(`FID samples: ${sampledWith}`);
  const condAccuracy = condAccuracyOf(f.condEval);
  const condWith = f.condEval ? samplingNote(f.condEval) : null;
  if (condWith) notes.push(`cond acc samples: ${condWith}`);
  if (f.condEval) {
    const s = num(f.condEval, 'step');
    if (s !== null && steps !== null && s !== steps)
      notes.push(
        `cond-eval.json is from step ${s}, the weights from step ${steps} (run deepgen cond-eval ${f.run} again)`,
      );
  } else if (conditioning === 'label' || conditioning === 'text')
    notes.push(`no cond acc yet (deepgen cond-eval ${f.run})`);
  return {
    run: f.run,
    family,
    dataset: typeof data?.dataset === 'string' ? data.dataset : '?',
    size: info && num(info, 'height') !== null ? `${info.height}x${info.width}x${info.channels}` : null,
    conditioning,
    params: f.params,
    steps,
    trainSeconds,
    imagesPerSec,
    likelihood,
    sampleQuality,
    condAccuracy,
    notes,
  };
}

/** The sample-quality cells of an eval.json's (or a score file's) sampleQuality, or null. */
function qualityCellsOf(q: Json | null): SampleQualityCells | null {
  return q
    ? {
        fid: num(q, 'fid'),
        kid: num(q, 'kid'),
        kidStd: num(q, 'kidStd'),
        precision: num(q, 'precision'),
        recall: num(q, 'recall'),
        n: num(q, 'n'),
        sampleSecondsPerImage: num(q, 'sampleSecondsPerImage'),
      }
    : null;
}

const str = (o: Json | null | undefined, key: string): string | null =>
  typeof o?.[key] === 'string' ? (o[key] as string) : null;

/**
 * The row of a `deepgen score` file: its figures (FID/KID/precision/recall, accuracy) beside the runs', no training
 * figures or likelihood (images from outside carry none), and a note marking it external with its name and notes.
 */
export function externalRow(s: ScoreFile): LeaderboardRow {
  const j = s.score;
  const images = obj(j.images);
  const name = str(j, 'name') ?? path.basename(s.file, '.json');
  const notes = str(j, 'notes');
  const condAccuracy = condAccuracyOf(j);
  const sha256 = str(images, 'sha256');
  return {
    run: s.file,
    family: str(j, 'family') ?? 'external',
    dataset: str(j, 'dataset') ?? '?',
    size: str(j, 'size'),
    conditioning: condAccuracy?.kind ?? 'none',
    params: null,
    steps: null,
    trainSeconds: null,
    imagesPerSec: null,
    likelihood: { bitsPerDim: null, kind: 'n/a', name: null, n: null, reason: 'external images: no likelihood' },
    sampleQuality: qualityCellsOf(obj(j.sampleQuality)),
    condAccuracy,
    notes: [
      `external: ${name}${notes ? ` (${notes})` : ''}`,
      ...(images ? [`images ${str(images, 'path')}${sha256 ? ` sha256 ${sha256.slice(0, 12)}` : ''}`] : []),
    ],
    source: { kind: 'external', name, notes, images: str(images, 'path'), sha256, file: s.file },
  };
}

/** Class (or colour+shape, or emoji category) accuracy from cond-eval.json: labels.overall, seen.both and heldOut.both
 *  (shapes), or seen.overall and heldOut.overall (emoji). */
export function condAccuracyOf(c: Json | null): CondAccuracy | null {
  if (!c) return null;
  const labels = obj(c.labels),
    seen = obj(c.seen),
    held = obj(c.heldOut);
  const guidance = num(c, 'guidance');
  if (labels && num(labels, 'overall') !== null)
    return {
      kind: c.kind === 'text' ? 'text' : 'label',
      overall: num(labels, 'overall')!,
      heldOut: null,
      n: num(labels, 'n'),
      guidance,
    };
  if (seen && num(seen, 'both') !== null)
    return { kind: 'text', overall: num(seen, 'both')!, heldOut: num(held, 'both'), n: num(seen, 'n'), guidance };
  // emoji captions: the category head's overall on seen names, and on held-out names
  if (seen && num(seen, 'overall') !== null)
    return {
      kind: 'text',
      overall: num(seen, 'overall')!,
      heldOut: num(held, 'overall'),
      n: num(seen, 'n'),
      guidance,
      heldOutUnit: 'names',
    };
  return null;
}

/** The real-vs-real reference of each dataset (and image size and n), once; figures one eval left out come from another.
 *  `qualities[i]` is the sampleQuality of rows[i] (eval.json's, or a score file's). */
function floorsOf(qualities: (Json | null)[], rows: LeaderboardRow[]): Floor[] {
  const seen = new Map<string, Floor>();
  rows.forEach((r, i) => {
    const q = qualities[i];
    const ref = obj(q?.reference);
    const n = num(q, 'n');
    if (!ref || n === null) return;
    const key = `${r.dataset} ${r.size} ${n}`;
    const f = seen.get(key) ?? {
      dataset: r.dataset,
      size: r.size,
      n,
      fid: null,
      kid: null,
      kidStd: null,
      precision: null,
      recall: null,
    };
    for (const k of ['fid', 'kid', 'kidStd', 'precision', 'recall'] as const) f[k] ??= num(ref, k);
    seen.set(key, f);
  });
  return [...seen.values()].sort((a, b) => cmp(a.dataset, b.dataset) || cmp(a.size ?? '', b.size ?? '') || b.n - a.n);
}

const cmp = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);

/** Rows (runs, then external score files) sorted by dataset, family, run; the floors; the table notes. */
export function buildLeaderboard(files: RunFiles[], external: readonly ScoreFile[] = []): Leaderboard {
  const rows = [...files.map(leaderboardRow), ...external.map(externalRow)];
  const qualities = [
    ...files.map((f) => obj(f.evalJson?.sampleQuality)),
    ...external.map((e) => obj(e.score.sampleQuality)),
  ];
  const floors = floorsOf(qualities, rows);
  rows.sort((a, b) => cmp(a.dataset, b.dataset) || cmp(a.family, b.family) || cmp(a.run, b.run));
  return { rows, floors, notes: [...TABLE_NOTES, ...(external.length ? [EXTERNAL_NOTE] : [])] };
}

const NA = 'n/a';
const fix = (v: number | null, d: number): string => (v === null ? NA : v.toFixed(d));

export function formatParams(n: number | null): string {
  if (n === null) return NA;
  if (n >= 1e6) return `${(n / 1e6).toFixed(2)}M`;
  if (n >= 1e3) return `${(n / 1e3).toFixed(1)}k`;
  return String(n);
}

function kindCell(l: Likelihood): string {
  return l.kind === 'bound' && l.name ? `bound (${l.name})` : l.kind;
}

function condCell(c: CondAccuracy | null): string {
  if (!c) return NA;
  const pct = (v: number) => `${(v * 100).toFixed(1)}%`;
  return c.heldOut !== null ? `${pct(c.overall)} seen, ${pct(c.heldOut)} held-out` : pct(c.overall);
}

const escapeCell = (s: string): string => s.replace(/\|/g, '\\|').replace(/\n/g, ' ');

export const COLUMNS: readonly { title: string; right: boolean; cell: (r: LeaderboardRow) => string }[] = [
  { title: 'run', right: false, cell: (r) => r.run },
  { title: 'family', right: false, cell: (r) => r.family },
  { title: 'dataset', right: false, cell: (r) => r.dataset },
  { title: 'cond', right: false, cell: (r) => r.conditioning },
  { title: 'params', right: true, cell: (r) => formatParams(r.params) },
  { title: 'steps', right: true, cell: (r) => (r.steps === null ? NA : String(r.steps)) },
  { title: 'train time', right: true, cell: (r) => (r.trainSeconds === null ? NA : formatDuration(r.trainSeconds)) },
  { title: 'img/s', right: true, cell: (r) => fix(r.imagesPerSec, 1) },
  { title: 'bits/dim', right: true, cell: (r) => fix(r.likelihood.bitsPerDim, 4) },
  { title: 'kind', right: false, cell: (r) => kindCell(r.likelihood) },
  { title: 'FID', right: true, cell: (r) => fix(r.sampleQuality?.fid ?? null, 2) },
  {
    title: 'KID',
    right: true,
    cell: (r) =>
      r.sampleQuality?.kid == null
        ? NA
        : `${r.sampleQuality.kid.toFixed(3)}${r.sampleQuality.kidStd !== null ? ` ± ${r.sampleQuality.kidStd.toFixed(3)}` : ''}`,
  },
  { title: 'precision', right: true, cell: (r) => fix(r.sampleQuality?.precision ?? null, 3) },
  { title: 'recall', right: true, cell: (r) => fix(r.sampleQuality?.recall ?? null, 3) },
  { title: 'n', right: true, cell: (r) => (r.sampleQuality?.n == null ? NA : String(r.sampleQuality.n)) },
  {
    title: 'ms/sample',
    right: true,
    cell: (r) =>
      r.sampleQuality?.sampleSecondsPerImage == null ? NA : (r.sampleQuality.sampleSecondsPerImage * 1000).toFixed(2),
  },
  { title: 'cond acc', right: true, cell: (r) => condCell(r.condAccuracy) },
  { title: 'notes', right: false, cell: (r) => r.notes.join('; ') },
];

export function floorLine(f: Floor): string {
  const parts: string[] = [];
  if (f.fid !== null) parts.push(`FID ${f.fid.toFixed(2)}`);
  if (f.kid !== null) parts.push(`KID ${f.kid.toFixed(3)}${f.kidStd !== null ? ` ± ${f.kidStd.toFixed(3)}` : ''}`);
  if (f.precision !== null) parts.push(`precision ${f.precision.toFixed(3)}`);
  if (f.recall !== null) parts.push(`recall ${f.recall.toFixed(3)}`);
  return `Floor for ${f.dataset}${f.size ? ` ${f.size}` : ''} (n = ${f.n} real training images against the test images): ${parts.join(', ') || NA}`;
}

/** The markdown table, then the floors of each dataset, then the table notes. */
export function leaderboardMarkdown(b: Leaderboard): string {
  const line = (cells: string[]) => `| ${cells.map(escapeCell).join(' | ')} |`;
  const out = [
    line(COLUMNS.map((c) => c.title)),
    `|${COLUMNS.map((c) => (c.right ? '---:' : ':---')).join('|')}|`,
    ...b.rows.map((r) => line(COLUMNS.map((c) => c.cell(r)))),
  ];
  if (b.floors.length) out.push('', ...b.floors.map((f) => `${floorLine(f)}  `));
  out.push('', ...b.notes.map((n) => `- ${n}`));
  return out.join('\n') + '\n';
}

export function leaderboardJson(b: Leaderboard): string {
  return JSON.stringify(b, null, 2) + '\n';
}

// ---------------------------------------------------------------------------------------------
// Reading run folders

/** The parameter count of a safetensors file, reading only its header. */
export function readSafetensorsParams(file: string): number {
  return paramsFromSafetensorsHeader(readSafetensorsHead(file), `${path.basename(file)} in ${path.dirname(file)}`);
}

/** An optional JSON file of a run: null when absent; a problem note when damaged. */
function readJson(file: string, problems: string[]): Json | null {
  if (!fs.existsSync(file)) return null;
  try {
    const v = obj(JSON.parse(fs.readFileSync(file, 'utf8')));
    if (!v) throw new Error('not a JSON object');
    return v;
  } catch (e) {
    problems.push(`${path.basename(file)} unreadable (${(e as Error).message.split('\n')[0]})`);
    return null;
  }
}

export function isRunFolder(dir: string): boolean {
  return fs.existsSync(path.join(dir, CHECKPOINT_FILES.config));
}

/** Everything the leaderboard needs from one run folder; only a bad config.json is an error, other damage becomes a note. */
export function readRunFiles(dir: string): RunFiles {
  const run = dir.replace(/[\\/]+$/, '') || dir;
  const config = readCheckpointConfig(dir);
  const problems: string[] = [];
  let state: Json | null = null;
  const stateFile = path.join(dir, CHECKPOINT_FILES.state);
  if (!fs.existsSync(stateFile)) problems.push('no state.json (not saved yet)');
  else {
    try {
      state = parseCheckpointState(fs.readFileSync(stateFile, 'utf8'), `state.json in ${run}`) as Json;
    } catch (e) {
      problems.push((e as Error).message.split(';')[0]);
    }
  }
  let params: number | null = null;
  const model = path.join(dir, CHECKPOINT_FILES.model);
  if (!fs.existsSync(model)) problems.push('no model.safetensors');
  else {
    try {
      params = readSafetensorsParams(model);
    } catch (e) {
      problems.push((e as Error).message.split(';')[0]);
    }
  }
  const evalJson = readJson(path.join(dir, 'eval.json'), problems);
  const condEval = readJson(path.join(dir, 'cond-eval.json'), problems);
  return { run, config, state, evalJson, condEval, params, problems };
}

/** A path with * or ? in its last part that the shell left unexpanded (quoted, or no match): its matches, sorted. */
function expandPattern(arg: string): string[] {
  const dir = path.dirname(arg),
    base = path.basename(arg);
  if (/[*?]/.test(dir))
    throw new UserError(
      `Only the last part of a run pattern may hold * or ?, got "${arg}"; let the shell expand it (runs/*)`,
    );
  const re = new RegExp(
    `^${base
      .replace(/[.+^${}()|[\]\\]/g, '\\$&')
      .replace(/\*/g, '.*')
      .replace(/\?/g, '.')}$`,
  );
  if (!fs.existsSync(dir) || !fs.statSync(dir).isDirectory()) return [];
  return fs
    .readdirSync(dir)
    .filter((e) => re.test(e) && (base.startsWith('.') || !e.startsWith('.')))
    .sort()
    .map((e) => (dir === '.' && !arg.startsWith('./') ? e : path.join(dir, e)));
}

/** A `deepgen score --out` file, parsed; null when `file` is not one (not .json, unreadable, another format). */
export function readScoreFile(file: string): ScoreFile | null {
  if (!/\.json$/i.test(file)) return null;
  try {
    const score = obj(JSON.parse(fs.readFileSync(file, 'utf8')));
    return score?.format === SCORE_FORMAT ? { file, score } : null;
  } catch {
    return null;
  }
}

/**
 * The run folders of the command line, each with whether it came from several paths or a pattern (`globbed`); with
 * `scores`, `deepgen score` files among them too (`score` set).
 */
function runCandidates(
  args: readonly string[],
  warn: (line: string) => void,
  scores = false,
): { dir: string; globbed: boolean; score?: ScoreFile }[] {
  const list = args.length ? args : ['runs/*'];
  const several = list.length > 1;
  const out: { dir: string; globbed: boolean; score?: ScoreFile }[] = [];
  for (const arg of list) {
    let paths = [arg];
    let globbed = several;
    if (/[*?]/.test(arg) && !fs.existsSync(arg)) {
      paths = expandPattern(arg);
      globbed = true;
      if (!paths.length)
        throw new UserError(
          `No files match ${arg}; train a run with \`deepgen train FAMILY --out runs/NAME\` or pass run folders`,
        );
    }
    for (const p of paths) {
      if (!fs.existsSync(p))
        throw new UserError(`${p} does not exist; pass run folders written by deepgen train (e.g. runs/*)`);
      if (isRunFolder(p)) {
        if (!out.some((c) => c.dir === p)) out.push({ dir: p, globbed });
        continue;
      }
      const isDir = fs.statSync(p).isDirectory();
      const score = scores && !isDir ? readScoreFile(p) : null;
      if (score) {
        if (!out.some((c) => c.dir === p)) out.push({ dir: p, globbed, score });
        continue;
      }
      const what = isDir
        ? 'not a run folder (no config.json)'
        : `a file, not a run folder${scores ? ' or a score file of deepgen score --out' : ''}`;
      if (!globbed) throw new UserError(`${p} is ${what}; pass a folder written by deepgen train`);
      warn(`deepgen: warning: skipped ${p}: ${what}`);
    }
  }
  if (!out.length)
    throw new UserError(
      `No run folders among ${list.join(' ')}; pass folders written by deepgen train (they hold config.json)`,
    );
  return out;
}

/**
 * The run folders of the command line. One path that is not a run (no config.json) is an error; among several paths
 * (what a shell glob such as runs/* expands to) or the matches of a pattern, non-runs are skipped with a warning.
 */
export function collectRunDirs(args: readonly string[], warn: (line: string) => void): string[] {
  return runCandidates(args, warn).map((c) => c.dir);
}

/**
 * The runs of the command line, read. As with collectRunDirs, a damaged run (config.json unreadable or not deepgen's)
 * given alone is an error, and among several or a pattern's matches it is skipped with a warning naming the damage:
 * one bad folder in runs/* does not stop the command.
 */
export function readRuns(args: readonly string[], warn: (line: string) => void): RunFiles[] {
  const out = readCandidates(runCandidates(args, warn), warn);
  if (!out.length) throw noReadableRuns(args);
  return out;
}

/** The runs among the candidates, read; damaged ones from several paths or a pattern skipped with a warning. */
function readCandidates(candidates: { dir: string; globbed: boolean }[], warn: (line: string) => void): RunFiles[] {
  const out: RunFiles[] = [];
  for (const { dir, globbed } of candidates) {
    try {
      out.push(readRunFiles(dir));
    } catch (e) {
      if (!globbed) throw e;
      warn(`deepgen: warning: skipped ${dir}: ${String((e as Error)?.message ?? e).split('\n')[0]}`);
    }
  }
  return out;
}

const noReadableRuns = (args: readonly string[]) =>
  new UserError(
    `No readable run folders among ${(args.length ? args : ['runs/*']).join(' ')}; the warnings above say what is wrong with each`,
  );

/**
 * The leaderboard of the command line's run folders and `deepgen score --out` files (external rows). As with readRuns,
 * a damaged run given alone is an error, and among several or a pattern's matches it is skipped with a warning.
 */
export function leaderboardOf(
  args: readonly string[],
  warn: (line: string) => void = (l) => process.stderr.write(l + '\n'),
): Leaderboard {
  const candidates = runCandidates(args, warn, true);
  const external = candidates.flatMap((c) => (c.score ? [c.score] : []));
  const runs = readCandidates(
    candidates.filter((c) => !c.score),
    warn,
  );
  if (!runs.length && !external.length) throw noReadableRuns(args);
  return buildLeaderboard(runs, external);
}
