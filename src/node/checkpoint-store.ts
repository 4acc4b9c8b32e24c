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
  type CheckpointState,
} from '../core/checkpoint/format.ts';
import { readFileOrUserError, readTextOrUserError, writeFileAtomic } from './fs-atomic.ts';

const OPTIONAL = ['optimizer', 'ema'] as const;

/**
 * Writes config.json, model.safetensors, optimizer.safetensors and ema.safetensors (when given), then
 * state.json, each atomically; optional files from an earlier save that this one lacks are removed so
 * they cannot be mistaken for part of it. Creates `dir` if needed.
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

  writeFileAtomic(file(CHECKPOINT_FILES.config), `${JSON.stringify(ck.config, null, 2)}\n`);
  writeFileAtomic(file(CHECKPOINT_FILES.model), encodeSafetensors(ck.weights, meta));
  for (const key of OPTIONAL) {
    const recs = ck[key];
    if (recs) writeFileAtomic(file(CHECKPOINT_FILES[key]), encodeSafetensors(recs, meta));
    else fs.rmSync(file(CHECKPOINT_FILES[key]), { force: true });
  }
  writeFileAtomic(file(CHECKPOINT_FILES.state), `${JSON.stringify(ck.state, null, 2)}\n`);
}

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

/** Reads and validates a checkpoint folder; every problem is a one-line UserError. */
export function loadCheckpoint(dir: string): Checkpoint {
  const file = (name: string) => path.join(dir, name);
  if (!fs.existsSync(file(CHECKPOINT_FILES.config))) {
    if (fs.existsSync(dir) && fs.statSync(dir).isFile()) {
      throw new UserError(`No checkpoint at ${dir}: it is a file, not a run folder; pass the folder that contains config.json`);
    }
    throw new UserError(`No checkpoint at ${dir}: config.json not found; train one with \`deepgen train ...\` or pass a run folder`);
  }
  const config = parseCheckpointConfig(
    readTextOrUserError(file(CHECKPOINT_FILES.config), 'checkpoint config'),
    `${CHECKPOINT_FILES.config} in ${dir}`,
  );
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
