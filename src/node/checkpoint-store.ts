// Saves and loads deepgen checkpoint folders on disk (format in src/core/checkpoint/format.ts).
// Each file is replaced atomically and state.json goes last, so an interrupted save is detected on load.

import fs from 'node:fs';
import path from 'node:path';
import { UserError } from '../core/errors.ts';
import { decodeSafetensors, encodeSafetensors, type TensorRecord } from '../core/checkpoint/safetensors.ts';
import {
  CHECKPOINT_FILES,
  checkFileStep,
  checkpointFileMetadata,
  parseCheckpointConfig,
  parseCheckpointState,
  type Checkpoint,
  type CheckpointConfigFile,
  type CheckpointState,
} from '../core/checkpoint/format.ts';
import { readFileOrUserError, readTextOrUserError } from './fs-atomic.ts';

const OPTIONAL = ['optimizer', 'ema'] as const;

/**
 * Writes config.json, model.safetensors, optimizer.safetensors and ema.safetensors (when given), then
 * state.json. Two phases so no crash loses the last good checkpoint: (1) every new file is written and
 * fsynced under a temp name, and the current files are hard-linked into DIR/.previous/; (2) the temp
 * files are renamed into place, state.json last, and .previous is removed. A crash in phase 2 leaves
 * .previous complete, and loadCheckpoint falls back to it.
 */
export function saveCheckpoint(dir: string, ck: Checkpoint): void {
  const { step } = ck.state;
  if (!Number.isSafeInteger(step) || step < 0) throw new Error(`checkpoint step must be a non-negative integer, got ${step}`);
  try {
    fs.mkdirSync(dir, { recursive: true });
  } catch (e) {
    throw new UserError(`Cannot create checkpoint folder ${dir}: ${(e as Error).message}; choose another output folder`);
  }
  removeStaleTemps(dir);
  const meta = checkpointFileMetadata(step, ck.config.family);
  const file = (name: string) => path.join(dir, name);
  const contents: [string, Uint8Array | string | null][] = [
    [CHECKPOINT_FILES.config, `${JSON.stringify(ck.config, null, 2)}\n`],
    [CHECKPOINT_FILES.model, encodeSafetensors(ck.weights, meta)],
    ...OPTIONAL.map((key): [string, Uint8Array | null] => [CHECKPOINT_FILES[key], ck[key] ? encodeSafetensors(ck[key]!, meta) : null]),
    [CHECKPOINT_FILES.state, `${JSON.stringify(ck.state, null, 2)}\n`],
  ];
  // phase 1: new files under temp names, durable before anything is replaced
  const temps = new Map<string, string>();
  try {
    for (const [name, data] of contents) {
      if (data === null) continue;
      const tmp = `${file(name)}.tmp-${process.pid}-${Math.random().toString(16).slice(2, 10)}`;
      temps.set(name, tmp);
      const fd = fs.openSync(tmp, 'w');
      try {
        fs.writeSync(fd, typeof data === 'string' ? Buffer.from(data, 'utf8') : data);
        fs.fsyncSync(fd);
      } finally {
        fs.closeSync(fd);
      }
    }
  } catch (e) {
    for (const t of temps.values()) fs.rmSync(t, { force: true });
    throw new UserError(`Cannot write checkpoint in ${dir}: ${(e as Error).message}; free disk space or choose another --out (the previous checkpoint is intact)`);
  }
  const prev = path.join(dir, PREVIOUS);
  fs.rmSync(prev, { recursive: true, force: true });
  if (fs.existsSync(file(CHECKPOINT_FILES.state))) {
    fs.mkdirSync(prev);
    for (const name of Object.values(CHECKPOINT_FILES)) if (fs.existsSync(file(name))) fs.linkSync(file(name), path.join(prev, name));
  }
  // phase 2: renames (state.json last), then drop the backup
  for (const [name, data] of contents) {
    if (data === null) fs.rmSync(file(name), { force: true });
    else fs.renameSync(temps.get(name)!, file(name));
  }
  fs.rmSync(prev, { recursive: true, force: true });
}

/** Backup of the last complete checkpoint, present only while a save is replacing it. */
export const PREVIOUS = '.previous';

/** Temp files left by a process killed mid-write (see writeFileAtomic's naming). */
function removeStaleTemps(dir: string): void {
  const names = new Set<string>(Object.values(CHECKPOINT_FILES));
  for (const entry of fs.readdirSync(dir)) {
    const m = /^(.*)\.tmp-\d+-[0-9a-f]+$/.exec(entry);
    if (m && names.has(m[1])) fs.rmSync(path.join(dir, entry), { force: true });
  }
}

/** True when `dir` holds a checkpoint, complete or not (loadCheckpoint explains what is wrong). */
export function hasCheckpoint(dir: string): boolean {
  return fs.existsSync(path.join(dir, CHECKPOINT_FILES.config));
}

/**
 * Reads and validates a checkpoint folder; every problem is a one-line UserError. When a save was
 * interrupted mid-replace, the intact previous checkpoint in DIR/.previous is loaded instead.
 */
export function loadCheckpoint(dir: string, opts: { warn?: (line: string) => void } = {}): Checkpoint {
  try {
    return loadCheckpointFiles(dir);
  } catch (e) {
    const prev = path.join(dir, PREVIOUS);
    if (e instanceof UserError && fs.existsSync(path.join(prev, CHECKPOINT_FILES.state))) {
      const ck = loadCheckpointFiles(prev);
      (opts.warn ?? ((l: string) => process.stderr.write(l + '\n')))(`deepgen: warning: ${e.message.split(';')[0]}; loaded the previous checkpoint (step ${ck.state.step}) from ${prev}`);
      return ck;
    }
    throw e;
  }
}

/** Only config.json of a checkpoint (family and config), without reading the weights. */
export function readCheckpointConfig(dir: string): CheckpointConfigFile {
  const file = path.join(dir, CHECKPOINT_FILES.config);
  return parseCheckpointConfig(readTextOrUserError(file, 'checkpoint config'), `${CHECKPOINT_FILES.config} in ${dir}`);
}

function loadCheckpointFiles(dir: string): Checkpoint {
  const file = (name: string) => path.join(dir, name);
  if (!fs.existsSync(file(CHECKPOINT_FILES.config))) {
    if (fs.existsSync(dir) && fs.statSync(dir).isFile()) {
      throw new UserError(`No checkpoint at ${dir}: it is a file, not a run folder; pass the folder that contains config.json`);
    }
    throw new UserError(`No checkpoint at ${dir}: config.json not found; train one with \`deepgen train ...\` or pass a run folder`);
  }
  const config = readCheckpointConfig(dir);
  const incomplete = (name: string) =>
    new UserError(`Checkpoint in ${dir} is incomplete: ${name} not found (a save was interrupted?); restore the folder from a backup or train again`);

  if (!fs.existsSync(file(CHECKPOINT_FILES.state))) throw incomplete(CHECKPOINT_FILES.state);
  const state = parseCheckpointState(
    readTextOrUserError(file(CHECKPOINT_FILES.state), 'checkpoint state'),
    `${CHECKPOINT_FILES.state} in ${dir}`,
  );

  if (!fs.existsSync(file(CHECKPOINT_FILES.model))) throw incomplete(CHECKPOINT_FILES.model);
  const weights = readTensors(dir, CHECKPOINT_FILES.model, state);
  const ck: Checkpoint = { config, weights, state };
  for (const key of OPTIONAL) {
    if (fs.existsSync(file(CHECKPOINT_FILES[key]))) ck[key] = readTensors(dir, CHECKPOINT_FILES[key], state);
  }
  return ck;
}

function readTensors(dir: string, name: string, state: CheckpointState): Record<string, TensorRecord> {
  const bytes = readFileOrUserError(path.join(dir, name), 'checkpoint file');
  const { tensors, metadata } = decodeSafetensors(bytes, `${name} in ${dir}`);
  checkFileStep(metadata, state, name, dir);
  return tensors;
}
