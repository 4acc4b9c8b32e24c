// `deepgen pack`: a trained run as a model folder to share (the zoo's layout, and what a web server or a Hugging Face
// repository serves): config.json, model.safetensors with the sampling weights (float16 by default), state.json, the
// run's eval.json / cond-eval.json, a model card README.md and manifest.json with every file's size and sha256.
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { UserError } from '../core/errors.ts';
import { CHECKPOINT_FILES } from '../core/checkpoint/format.ts';
import { numel, recordToF16, safetensorsHeader, type TensorRecord } from '../core/checkpoint/safetensors.ts';
import { hasCheckpoint, loadCheckpoint, saveCheckpoint } from './checkpoint-store.ts';
import { writeFileAtomic } from './fs-atomic.ts';

/** The figure files a packed folder carries from its run (or keeps, when they were measured on the same weights). */
export const FIGURE_FILES = ['eval.json', 'cond-eval.json'] as const;

/** Every file of a packed folder, as manifest.json lists them. */
export const PACKED_FILES = [
  CHECKPOINT_FILES.config,
  CHECKPOINT_FILES.state,
  CHECKPOINT_FILES.model,
  ...FIGURE_FILES,
  'README.md',
] as const;

export interface PackOptions {
  /** Store float weights as F16 (half the bytes; loaded back as float32). Default true. */
  float16?: boolean;
  /** Pack the EMA weights when the run kept them (what sampling uses). Default true. */
  useEma?: boolean;
  /** The model card's hand-written part (markdown: the command that trained it, its budget, its limits). */
  notes?: string;
  /** The model's name in its card's title (default: the output folder's name). */
  name?: string;
  log?: (line: string) => void;
}

export interface PackResult {
  dir: string;
  params: number;
  /** Bytes of every file in the folder. */
  bytes: number;
  weights: 'ema' | 'model';
  /** Tensors kept in float32 because a value lies beyond float16's range. */
  keptFloat32: string[];
  /** Whether eval.json / cond-eval.json were kept from an earlier pack of the same weights (else copied from the run). */
  keptFigures: boolean;
}

/** The emoji data sets' licence line (both vendors and each alone). */
const EMOJI_LICENCE =
  "Emoji of the npm packages emoji-datasource-google and emoji-datasource-twitter 16.0.0 (`deepgen datasets get emoji`): Google's Noto Emoji images under the Apache License 2.0 and Twitter's Twemoji images under CC-BY-4.0 (attribution: Twemoji by Twitter, Inc. and contributors), composited on white; captions from the emoji names, the 9 categories as labels; 115 of the 1,905 names are held out of training (docs/emoji.md).";

/** Licence lines of the built-in data sets, for model cards. */
export const DATASET_LICENCES: Record<string, string> = {
  'fashion-mnist':
    "Fashion-MNIST (Xiao, Rasul and Vollgraf 2017, Zalando Research), MIT licence; 60,000 training and 10,000 test images, 28x28 grey, 10 classes. deepgen reads it from Debian's `dataset-fashion-mnist` package.",
  mnist: 'MNIST (LeCun, Cortes and Burges), CC BY-SA 3.0; 28x28 grey digits.',
  shapes:
    "deepgen's own `shapes` data: coloured circles, squares, triangles and crosses drawn by `src/core/data/shapes.ts` from a seed, with captions naming size, colour, shape and position; part of deepgen, MIT licence.",
  emoji: EMOJI_LICENCE,
  'emoji-google': EMOJI_LICENCE,
  'emoji-twitter': EMOJI_LICENCE,
};

/** sha256 of a file, hex. */
export function sha256Hex(bytes: Uint8Array): string {
  return crypto.createHash('sha256').update(bytes).digest('hex');
}

/**
 * Pack the run folder `run` into `out` (created or replaced). Weights: the EMA when the run kept one (useEma), else the
 * raw ones, as F16 unless float16 is false or a value is beyond its range. Figures measured on the packed folder
 * itself (deepgen eval OUT) are kept when the weights are unchanged; otherwise the run's are copied.
 */
export function packModel(run: string, out: string, opts: PackOptions = {}): PackResult {
  if (!hasCheckpoint(run))
    throw new UserError(`No checkpoint at ${run}: config.json not found; pass a run folder written by deepgen train`);
  if (path.resolve(run) === path.resolve(out))
    throw new UserError(`deepgen pack writes a new folder: pass an output folder other than the run folder ${run}`);
  const ck = loadCheckpoint(run, { warn: opts.log });
  const useEma = (opts.useEma ?? true) && ck.ema !== undefined;
  // the EMA may cover only part of the model (a GAN averages G, not D): it is laid over the raw weights
  const source = useEma ? { ...ck.weights, ...ck.ema! } : ck.weights;
  const keptFloat32: string[] = [];
  const weights: Record<string, TensorRecord> = {};
  let params = 0;
  for (const [name, rec] of Object.entries(source)) {
    params += numel(rec.shape);
    const half = opts.float16 === false || !/^(F32|F64)$/.test(rec.dtype) ? null : recordToF16(rec);
    if (opts.float16 !== false && /^(F32|F64)$/.test(rec.dtype) && !half) keptFloat32.push(name);
    weights[name] = half ?? rec;
  }
  const { elapsedSeconds, step, epoch, rng } = ck.state;
  const config = {
    ...ck.config,
    packed: {
      from: path.basename(path.resolve(run)),
      weights: useEma ? 'ema' : 'model',
      dtype: opts.float16 === false ? 'as trained' : 'F16',
    },
  };

  // earlier figures of the same weights survive a re-pack (e.g. to update the card after deepgen eval OUT)
  const oldModel = path.join(out, CHECKPOINT_FILES.model);
  const figures = new Map<string, Buffer>();
  const staged = path.join(path.dirname(path.resolve(out)), `.${path.basename(out)}.pack-${process.pid}`);
  fs.rmSync(staged, { recursive: true, force: true });
  saveCheckpoint(staged, { config, weights, state: { step, epoch, rng, elapsedSeconds } });
  const newModelBytes = fs.readFileSync(path.join(staged, CHECKPOINT_FILES.model));
  const sameWeights = fs.existsSync(oldModel) && sameTensors(fs.readFileSync(oldModel), newModelBytes);
  for (const f of FIGURE_FILES) {
    const from = sameWeights && fs.existsSync(path.join(out, f)) ? path.join(out, f) : path.join(run, f);
    if (fs.existsSync(from)) figures.set(f, fs.readFileSync(from));
  }
  const keptFigures = sameWeights && FIGURE_FILES.some((f) => fs.existsSync(path.join(out, f)));
  if (sameWeights) {
    // the same tensors: keep the old file's bytes (its save id matches the kept state.json); the card and the config
    // change (e.g. a run whose default sampler was switched after training), config.json keeping the old save id
    const oldConfigFile = path.join(out, CHECKPOINT_FILES.config);
    const old = JSON.parse(fs.readFileSync(oldConfigFile, 'utf8')) as Record<string, unknown>;
    const now = JSON.parse(fs.readFileSync(path.join(staged, CHECKPOINT_FILES.config), 'utf8')) as Record<
      string,
      unknown
    >;
    writeFileAtomic(oldConfigFile, `${JSON.stringify({ ...now, saveId: old.saveId }, null, 2)}\n`);
    fs.rmSync(staged, { recursive: true, force: true });
  } else {
    for (const [f, bytes] of figures) fs.writeFileSync(path.join(staged, f), bytes);
    fs.rmSync(out, { recursive: true, force: true });
    fs.mkdirSync(path.dirname(path.resolve(out)), { recursive: true });
    fs.renameSync(staged, out);
  }
  const name = opts.name ?? path.basename(path.resolve(out));
  writeFileAtomic(
    path.join(out, 'README.md'),
    modelCard({ name, config: ck.config, state: ck.state, params, out, useEma, opts, keptFloat32 }),
  );
  writeManifest(out);
  const bytes = fs.readdirSync(out).reduce((s, f) => s + fs.statSync(path.join(out, f)).size, 0);
  return { dir: out, params, bytes, weights: useEma ? 'ema' : 'model', keptFloat32, keptFigures };
}

/** True when two safetensors files hold the same tensors (dtypes, shapes and data), whatever their metadata. */
function sameTensors(a: Uint8Array, b: Uint8Array): boolean {
  const body = (x: Uint8Array) => {
    const { header, n } = safetensorsHeader(x);
    const { __metadata__: _meta, ...tensors } = header;
    return { tensors: JSON.stringify(tensors), data: x.subarray(8 + n) };
  };
  try {
    const p = body(a);
    const q = body(b);
    return p.tensors === q.tensors && Buffer.compare(p.data, q.data) === 0;
  } catch {
    return false;
  }
}

/** Writes manifest.json: { files: { NAME: { size, sha256 } } } for every packed file present. */
export function writeManifest(dir: string): void {
  const files: Record<string, { size: number; sha256: string }> = {};
  for (const f of PACKED_FILES) {
    const p = path.join(dir, f);
    if (!fs.existsSync(p)) continue;
    const bytes = fs.readFileSync(p);
    files[f] = { size: bytes.length, sha256: sha256Hex(bytes) };
  }
  writeFileAtomic(path.join(dir, 'manifest.json'), JSON.stringify({ files }, null, 2) + '\n');
}

/** 479.6 -> "8m00s", 42.2 -> "42 s" (rounded to whole seconds first, so never "7m60s"). */
export function fmtSeconds(seconds: number): string {
  const t = Math.round(seconds);
  return t >= 60 ? `${Math.floor(t / 60)}m${String(t % 60).padStart(2, '0')}s` : `${t} s`;
}
const pct = (v: unknown) => (typeof v === 'number' ? `${(v * 100).toFixed(1)}%` : 'n/a');

/** "Fine-tuned from SPEC (step N): " when the run started from another model's weights (train --init). */
function initLine(config: { init?: unknown }): string {
  const init = config.init as { spec?: unknown; step?: unknown } | undefined;
  if (!init || typeof init.spec !== 'string') return '';
  return `Started from the weights of \`${init.spec}\`${typeof init.step === 'number' ? ` (step ${init.step})` : ''} (\`deepgen train --init\`), then `;
}

/** The model card: what the model is, its data and licence, how it was trained, its figures, and the notes. */
function modelCard(a: {
  name: string;
  config: { family: string; config: unknown; dataInfo?: unknown; init?: unknown };
  state: { step: number; elapsedSeconds?: number; epoch: number };
  params: number;
  out: string;
  useEma: boolean;
  opts: PackOptions;
  keptFloat32: string[];
}): string {
  const cfg = a.config.config as {
    model: { cond?: { kind?: string } };
    data: { dataset: string; size?: number; holdOut?: string[] };
    train: { batchSize: number; lr: number; lrSchedule: string; ema: number; seed: number };
  };
  const info = (a.config.dataInfo ?? {}) as { height?: number; width?: number; channels?: number };
  const cond = cfg.model.cond?.kind ?? 'none';
  const dataset = cfg.data.dataset;
  const read = (f: string) => {
    try {
      return JSON.parse(fs.readFileSync(path.join(a.out, f), 'utf8')) as Record<string, unknown>;
    } catch {
      return null;
    }
  };
  const lines: string[] = [
    `# ${a.name}`,
    '',
    `A ${cond === 'none' ? '' : `${cond}-conditional `}**${a.config.family}** model of deepgen, trained on \`${dataset}\` at ${info.height}x${info.width}x${info.channels}: ${a.params.toLocaleString('en-US')} parameters, weights in ${a.opts.float16 === false ? 'their trained precision' : 'float16 (loaded as float32)'}${a.keptFloat32.length ? ` except ${a.keptFloat32.join(', ')} (float32: values beyond float16's range)` : ''}${a.useEma ? ', the EMA of the weights (what sampling uses)' : ''}.`,
    '',
    '```sh',
    `npx deepgen sample zoo:${a.name} --n 16         # or a path to this folder, its URL, or hf:OWNER/REPO`,
    '```',
    '',
    '## Data',
    '',
    DATASET_LICENCES[dataset] ??
      (dataset.startsWith('folder:') ? 'A folder of images supplied by whoever trained it.' : `\`${dataset}\``),
    ...(cfg.data.holdOut?.length
      ? ['', `Colour+shape pairs held out of training (never seen): ${cfg.data.holdOut.join(', ')}.`]
      : []),
    '',
    '## Training',
    '',
    `${initLine(a.config)}${a.state.step.toLocaleString('en-US')} steps of batch ${cfg.train.batchSize} (${a.state.epoch.toFixed(1)} epochs), Adam at ${cfg.train.lr} with ${cfg.train.lrSchedule} decay${cfg.train.ema ? `, EMA ${cfg.train.ema}` : ''}, seed ${cfg.train.seed}${a.state.elapsedSeconds ? `: ${fmtSeconds(a.state.elapsedSeconds)} of training` : ''}. The full configuration is in \`config.json\`.`,
    '',
  ];
  const ev = read('eval.json');
  const ce = read('cond-eval.json');
  const figs: string[] = [];
  const lik = ev?.likelihood as { bitsPerDim?: number; kind?: string; name?: string } | undefined;
  if (lik && typeof lik.bitsPerDim === 'number')
    figs.push(
      `- test -log p(x): **${lik.bitsPerDim.toFixed(3)} bits/dim** (${lik.kind === 'exact' ? 'exact' : `${lik.name ?? 'a'} bound`}) on ${ev?.n ?? '?'} test images (\`deepgen eval\`)`,
    );
  const q = ev?.sampleQuality as
    | {
        fid?: number;
        kid?: number;
        kidStd?: number;
        precision?: number;
        recall?: number;
        n?: number;
        reference?: { fid?: number; precision?: number; recall?: number };
      }
    | undefined;
  if (q && typeof q.fid === 'number')
    figs.push(
      `- sample quality on ${q.n} samples against ${q.n} test images, on deepgen's own classifier features (not Inception): FID **${q.fid.toFixed(1)}**${typeof q.kid === 'number' ? `, KID ${q.kid.toFixed(2)} +- ${(q.kidStd ?? 0).toFixed(2)}` : ''}${typeof q.precision === 'number' ? `, precision ${q.precision.toFixed(3)}, recall ${(q.recall ?? 0).toFixed(3)}` : ''}${typeof q.reference?.fid === 'number' ? `; real training images score FID ${q.reference.fid.toFixed(1)}, precision ${(q.reference.precision ?? 0).toFixed(3)}, recall ${(q.reference.recall ?? 0).toFixed(3)} on the same test (the floor)` : ''}`,
    );
  if (ce) {
    const labels = ce.labels as { overall?: number; n?: number } | undefined;
    const seen = ce.seen as { both?: number; n?: number } | undefined;
    const held = ce.heldOut as { both?: number; n?: number } | undefined;
    const how = `${ce.guidance !== undefined ? `guidance ${ce.guidance}` : ''}${ce.steps !== undefined ? `, ${ce.steps} steps` : ''}`;
    if (labels?.overall !== undefined)
      figs.push(
        `- the intended class recognised by deepgen's Fashion-MNIST classifier in **${pct(labels.overall)}** of ${labels.n ?? ce.n} samples${how ? ` (${how})` : ''} (\`deepgen cond-eval\`)`,
      );
    const seenE = ce.seen as { overall?: number; n?: number; vendors?: Record<string, number> } | undefined;
    const heldE = ce.heldOut as { overall?: number; n?: number; heldOutNames?: string[] } | undefined;
    if (seen?.both === undefined && seenE?.overall !== undefined)
      figs.push(
        `- category right (deepgen's emoji classifier): **${pct(seenE.overall)}** on ${seenE.n ?? ce.n} prompts of names seen in training, **${pct(heldE?.overall)}** on ${heldE?.n ?? ce.n} prompts of the ${heldE?.heldOutNames?.length ?? ''} names held out${how ? ` (${how})` : ''} (\`deepgen cond-eval\`)`,
      );
    if (seen?.both !== undefined)
      figs.push(
        `- colour and shape both right (deepgen's shapes checker): **${pct(seen.both)}** on ${seen.n ?? ce.n} prompts of pairs seen in training, **${pct(held?.both)}** on ${held?.n ?? ce.n} held-out pairs${how ? ` (${how})` : ''} (\`deepgen cond-eval\`)`,
      );
  }
  lines.push('## Figures', '', ...(figs.length ? figs : ['Not evaluated yet (`deepgen eval`).']), '');
  if (a.opts.notes?.trim()) lines.push(a.opts.notes.trim(), '');
  lines.push(
    '## Files',
    '',
    '`config.json` (family and full config), `model.safetensors` (weights), `state.json` (step, training time), `eval.json` / `cond-eval.json` (figures), `manifest.json` (size and sha256 of each file, checked when deepgen downloads the folder). Written by `deepgen pack`.',
    '',
  );
  return lines.join('\n');
}
