// `deepgen export RUN --to pytorch OUT` and `deepgen import PT_DIR --out RUN`: a run as a self-contained PyTorch
// package (model.py traced from the run's networks, weights in PyTorch layouts, config, train.py, sample.py, data),
// and a PyTorch-trained package back as a deepgen run folder.
import fs from 'node:fs';
import path from 'node:path';
import { UserError } from '../core/errors.ts';
import { parseCheckpointConfig, variablesToRecords, type CheckpointConfigFile } from '../core/checkpoint/format.ts';
import { decodeSafetensors, encodeSafetensors, type TensorRecord } from '../core/checkpoint/safetensors.ts';
import { resolveCheckpointConfig } from '../core/checkpoint/load-model.ts';
import { condKindOf } from '../core/conditioning/config.ts';
import { getFamily } from '../core/registry.ts';
import { mixSeed, Rng } from '../core/tensor/rng.ts';
import { emaVarsOf } from '../core/train/model-step.ts';
import {
  fromTorchOptimizer,
  fromTorchRecords,
  toTorchOptimizer,
  toTorchRecords,
  torchPackage,
} from '../core/export/export.ts';
import { TRAIN_PY } from '../core/export/python-train.ts';
import { SAMPLE_PY } from '../core/export/python-sample.ts';
import type { GenerativeModel } from '../core/family.ts';
import { hasCheckpoint, loadCheckpoint, readCheckpointConfig, saveCheckpoint } from './checkpoint-store.ts';
import { readFileOrUserError, readTextOrUserError, writeFileAtomic } from './fs-atomic.ts';
import { initBackend } from './backend.ts';
import { loadRun } from './run.ts';
import { loadSplit } from './train/prepare.ts';

export const TORCH_FILES = {
  model: 'model.py',
  weights: 'weights.safetensors',
  ema: 'ema.safetensors',
  optimizer: 'optimizer.safetensors',
  constants: 'constants.safetensors',
  config: 'config.json',
  train: 'train.py',
  sample: 'sample.py',
  data: 'data.safetensors',
  readme: 'README.md',
} as const;

export interface ExportOptions {
  /** Also write the training split as data.safetensors (uint8 images, labels, token ids). */
  data?: boolean;
  /** Use only the first n training images for data.safetensors (0 = all). */
  dataN?: number;
  /** Export the EMA weights when the run kept them (default false: the raw weights train.py continues from). */
  useEma?: boolean;
  log?: (line: string) => void;
}

export interface ExportResult {
  /** The package folder. */
  dir: string;
  family: string;
  /** Each network of model.py: its method name, the TF.js kernels traced into it, its inputs and outputs. */
  networks: { name: string; kernels: number; inputs: string[]; outputs: string[] }[];
  /** Trainable parameters. */
  params: number;
  /** The files written, relative to dir. */
  files: string[];
}

/** What train.py and sample.py read beside the deepgen config: shapes, classes, the networks and what each adds. */
function exportSection(
  model: GenerativeModel,
  info: { height: number; width: number; channels: number; numClasses: number },
  programs: ReturnType<typeof torchPackage>['programs'],
  step: number,
  run: string,
) {
  const specs = model.networks!();
  return {
    from: { run, step },
    shape: [info.height, info.width, info.channels],
    numClasses: info.numClasses,
    networks: programs.map((p) => ({
      name: p.name,
      doc: p.doc,
      inputs: p.inputs.map((i) => ({ name: i.name, dtype: i.dtype === 'int32' ? 'int64' : i.dtype })),
      outputs: p.outputs.map((o) => o.name),
    })),
    ...Object.assign({}, ...specs.map((s) => s.info ?? {})),
  };
}

/**
 * `deepgen export RUN --to pytorch OUT`: writes a self-contained PyTorch package for the run `spec` (a run folder,
 * zoo:NAME, a URL or hf:OWNER/REPO) into `out`: model.py traced from the run's networks, weights.safetensors in
 * PyTorch layouts, the run's EMA and Adam state, config.json, train.py (DistributedDataParallel), sample.py and, with
 * `data`, the training split. Refuses a folder holding a checkpoint train.py wrote (import it first).
 */
export async function exportTorch(spec: string, out: string, opts: ExportOptions = {}): Promise<ExportResult> {
  const log = opts.log ?? (() => {});
  const trained = path.join(out, 'checkpoint', 'state.json');
  if (fs.existsSync(trained))
    throw new UserError(
      `${out} holds a checkpoint train.py wrote (${trained}), which a new export would leave behind for train.py to resume; import it first (deepgen import ${out} --out RUN) or export into another folder`,
    );
  const run = await loadRun(spec, { backend: 'cpu', useEma: opts.useEma ?? false });
  try {
    const config = readCheckpointConfig(run.dir) as CheckpointConfigFile;
    const header = [
      `# model.py: ${run.family} model exported from ${spec} (step ${run.step}) by deepgen export --to pytorch.`,
      '# Generated from the TF.js kernels deepgen runs for each network: edit the deepgen model and export again.',
    ].join('\n');
    log(`tracing the ${run.family} networks...`);
    const pkg = torchPackage(run.model, run.family, header);
    fs.mkdirSync(out, { recursive: true });
    const files: string[] = [];
    const write = (name: string, data: Uint8Array | string) => {
      writeFileAtomic(path.join(out, name), data);
      files.push(name);
    };
    const weights = toTorchRecords(await variablesToRecords(run.model.params.all()));
    write(TORCH_FILES.model, pkg.modelPy);
    write(TORCH_FILES.weights, encodeSafetensors(weights, { step: String(run.step), family: run.family }));
    if (Object.keys(pkg.constants).length) write(TORCH_FILES.constants, encodeSafetensors(pkg.constants));
    // the run's EMA and Adam state, so that train.py continues the run rather than starting it again
    if (fs.existsSync(path.join(run.dir, 'state.json'))) {
      const ck = loadCheckpoint(run.dir);
      const meta = { step: String(run.step), family: run.family };
      if (ck.ema) write(TORCH_FILES.ema, encodeSafetensors(toTorchRecords(ck.ema), meta));
      if (ck.optimizer)
        write(
          TORCH_FILES.optimizer,
          encodeSafetensors(toTorchOptimizer(ck.optimizer, ck.state.optimizerStep ?? run.step), meta),
        );
    }
    const section = exportSection(run.model, run.info, pkg.programs, run.step, spec);
    write(TORCH_FILES.config, `${JSON.stringify({ ...config, export: section }, null, 2)}\n`);
    write(TORCH_FILES.train, TRAIN_PY);
    write(TORCH_FILES.sample, SAMPLE_PY);
    if (opts.data) {
      log('writing the training split to data.safetensors...');
      write(TORCH_FILES.data, encodeSafetensors(trainingData(run.model, run.cfg, opts.dataN ?? 0)));
    }
    write(TORCH_FILES.readme, readme(run.family, spec, run.step, section.networks, Boolean(opts.data)));
    return {
      dir: out,
      family: run.family,
      networks: pkg.programs.map((p) => ({
        name: p.name,
        kernels: p.nodes.length,
        inputs: p.inputs.map((i) => i.name),
        outputs: p.outputs.map((o) => o.name),
      })),
      params: run.model.params.numParams(),
      files,
    };
  } finally {
    run.model.dispose();
  }
}

/** The training split as records: images uint8 [N, H, W, C], labels [N] and, for text models, token ids and mask. */
function trainingData(
  model: GenerativeModel,
  cfg: Parameters<typeof loadSplit>[0],
  n: number,
): Record<string, TensorRecord> {
  const ds = loadSplit(cfg, 'train');
  const N = n > 0 ? Math.min(n, ds.n) : ds.n;
  const D = ds.height * ds.width * ds.channels;
  const out: Record<string, TensorRecord> = {
    images: { dtype: 'U8', shape: [N, ds.height, ds.width, ds.channels], data: ds.images.slice(0, N * D) },
  };
  const kind = condKindOf(cfg);
  if (kind === 'label' && ds.labels)
    out.labels = { dtype: 'I64', shape: [N], data: BigInt64Array.from(ds.labels.subarray(0, N), (v) => BigInt(v)) };
  if (kind === 'text') {
    const tok = model.networks?.().find((s) => s.tokenize)?.tokenize;
    if (!tok || !ds.captions)
      throw new UserError(`the text model's training data has no captions to tokenize; export without --data`);
    const { ids, mask, T } = tok(ds.captions.slice(0, N));
    out.ids = { dtype: 'I64', shape: [N, T], data: BigInt64Array.from(ids, (v) => BigInt(v)) };
    out.mask = { dtype: 'F32', shape: [N, T], data: mask };
  }
  return out;
}

function readme(
  family: string,
  spec: string,
  step: number,
  nets: { name: string; doc: string }[],
  data: boolean,
): string {
  return `# ${family} model exported from deepgen

Exported from \`${spec}\` at step ${step} by \`deepgen export --to pytorch\`. Needs PyTorch (>= 1.13) and numpy.

| file | what |
| --- | --- |
| model.py | \`Model(folder)\`: every parameter under its deepgen name, one method per network (NHWC tensors) |
| weights.safetensors | the weights in PyTorch layouts (Linear [out, in], Conv2d [out, in, k, k]) |
| config.json | deepgen's config of the run, and \`export\`: shapes, networks, the noise schedule |
| train.py | the family's loss, Adam, lr schedule, EMA, DistributedDataParallel, checkpoints |
| sample.py | a grid of samples as PNG |
${data ? '| data.safetensors | the training images (uint8), labels and token ids |\n' : ''}
Networks: ${nets.map((n) => `\`${n.name}\` (${n.doc})`).join('; ')}

    python3 train.py --steps 1000 --nproc 2       # DistributedDataParallel on 2 processes (gloo on CPU)
    python3 sample.py --weights checkpoint/ema.safetensors
    deepgen import . --out runs/from-pytorch      # back to deepgen: sample, eval, compare, serve
`;
}

export interface ImportOptions {
  /** The weights to import: default checkpoint/weights.safetensors when train.py wrote one, else the exported ones. */
  weights?: string;
  log?: (line: string) => void;
}

function readRecords(
  file: string,
  what: string,
): { tensors: Record<string, TensorRecord>; metadata: Record<string, string> } {
  return decodeSafetensors(readFileOrUserError(file, what, 'pass the package folder deepgen export wrote'), file);
}

/**
 * `deepgen import PT_DIR --out RUN`: reads a package written by exportTorch (and what its train.py wrote in
 * checkpoint/: weights, EMA, Adam state) into the deepgen run folder `out`, layouts converted and every name and shape
 * checked against the model its config.json describes; a mismatch is one UserError and nothing is written.
 */
export async function importTorch(
  ptDir: string,
  out: string,
  opts: ImportOptions = {},
): Promise<{ dir: string; step: number; weights: string; ema: boolean }> {
  const cfgFile = path.join(ptDir, TORCH_FILES.config);
  if (!fs.existsSync(cfgFile))
    throw new UserError(
      `No ${TORCH_FILES.config} in ${ptDir}: pass a folder written by \`deepgen export RUN --to pytorch ${ptDir}\``,
    );
  const parsed = parseCheckpointConfig(readTextOrUserError(cfgFile, 'the package config'), cfgFile);
  if (!parsed.export)
    throw new UserError(`${cfgFile} is not a deepgen export's config (no "export" section); export the run again`);
  const { export: _section, ...config } = parsed;
  const trained = path.join(ptDir, 'checkpoint', TORCH_FILES.weights);
  const weightsFile = opts.weights ?? (fs.existsSync(trained) ? trained : path.join(ptDir, TORCH_FILES.weights));
  const { tensors, metadata } = readRecords(weightsFile, 'weights');
  const emaFile = path.join(path.dirname(weightsFile), 'ema.safetensors');
  const ema =
    opts.weights === undefined && weightsFile === trained && fs.existsSync(emaFile)
      ? readRecords(emaFile, 'EMA weights').tensors
      : null;
  // the model the config describes, only for its names and shapes
  const { cfg, info } = resolveCheckpointConfig(config as CheckpointConfigFile, cfgFile);
  await initBackend('cpu', {});
  const model = getFamily(cfg.family).create(cfg.model, info, mixSeed(cfg.train.seed, 1));
  let weights: Record<string, TensorRecord>;
  let emaRecords: Record<string, TensorRecord> | undefined;
  try {
    weights = fromTorchRecords(tensors, model.params.all(), weightsFile);
    if (ema) emaRecords = fromTorchRecords(ema, emaVarsOf(model), emaFile);
  } finally {
    model.dispose();
  }
  const optFile = path.join(path.dirname(weightsFile), TORCH_FILES.optimizer);
  let optimizer: ReturnType<typeof fromTorchOptimizer> | null = null;
  if (fs.existsSync(optFile)) {
    const shapes = Object.fromEntries(Object.entries(weights).map(([k, r]) => [k, { shape: r.shape }]));
    optimizer = fromTorchOptimizer(readRecords(optFile, 'optimizer state').tensors, shapes);
  }
  const step = Number.parseInt(metadata.step ?? '0', 10);
  if (!Number.isSafeInteger(step) || step < 0)
    throw new UserError(
      `${weightsFile} has step "${metadata.step}" in its metadata; save it with train.py (model.save(path, {'step': n}))`,
    );
  if (hasCheckpoint(out) && path.resolve(out) !== path.resolve(ptDir)) opts.log?.(`replacing the checkpoint in ${out}`);
  saveCheckpoint(out, {
    config: {
      ...(config as CheckpointConfigFile),
      importedFrom: { folder: ptDir, weights: path.basename(weightsFile), step },
    },
    weights,
    ...(emaRecords ? { ema: emaRecords } : {}),
    ...(optimizer && Object.keys(optimizer.records).length ? { optimizer: optimizer.records } : {}),
    state: {
      step,
      epoch: 0,
      rng: new Rng(mixSeed(cfg.train.seed, step)).getState(),
      ...(optimizer && Object.keys(optimizer.records).length ? { optimizerStep: optimizer.steps } : {}),
    },
  });
  return { dir: out, step, weights: weightsFile, ema: Boolean(emaRecords) };
}
