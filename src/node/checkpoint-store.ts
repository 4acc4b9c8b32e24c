// Saves and loads deepgen checkpoint folders on disk (format in src/core/checkpoint/format.ts), crash-safe: after a
// crash at any point of any save, including the first save after a resume, the folder loads at the last completed save
// or at the one being written, whole. The checkpoint files stay at the top of the run folder, where every reader looks.

import fs from 'node:fs';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { UserError } from '../core/errors.ts';
import {
  MAX_HEADER_BYTES,
  decodeSafetensors,
  encodeSafetensors,
  safetensorsHeader,
  type TensorRecord,
} from '../core/checkpoint/safetensors.ts';
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
import {
  fsyncDir,
  readFileOrUserError,
  readTextOrUserError,
  removeFolder,
  removeStaleTemps,
  writeDurableTemp,
} from './fs-atomic.ts';

const OPTIONAL = ['optimizer', 'ema'] as const;

/** Backup of the last complete checkpoint (hard links), present while a save is replacing the top-level files. */
export const PREVIOUS = '.previous';

/**
 * A random id written into every file of one save (config.json, state.json, each safetensors' metadata), so a load
 * tells files of two saves apart even when they have the same step. Folders saved before it existed have none.
 */
const SAVE_ID = 'saveId';

/**
 * Writes the checkpoint files into `dir`. The protocol, so that a crash anywhere leaves a loadable folder:
 *  1. every new file is written and fsynced under a temp name;
 *  2. when the top-level files are one whole save, they are hard-linked into a fresh folder that then replaces
 *     DIR/.previous; when they are not (an earlier save was interrupted), .previous already holds the last whole save
 *     and is kept: the only complete copy is never removed;
 *  3. the temp files are renamed into place: model.safetensors first (so any mix of two saves includes a new model,
 *     which its save id exposes), state.json, then config.json, the commit point (a first save that dies earlier leaves
 *     no config.json, so no checkpoint, and a new run can start there);
 *  4. once the folder is fsynced, the backup is removed.
 * Each step is made durable (folder fsync) before the next one relies on it.
 */
export function saveCheckpoint(dir: string, ck: Checkpoint): void {
  const { step } = ck.state;
  if (!Number.isSafeInteger(step) || step < 0)
    throw new Error(`checkpoint step must be a non-negative integer, got ${step}`);
  try {
    fs.mkdirSync(dir, { recursive: true });
  } catch (e) {
    throw new UserError(
      `Cannot create checkpoint folder ${dir}: ${(e as Error).message}; choose another output folder`,
    );
  }
  removeStaleTemps(dir); // files and staged backups of killed saves
  const saveId = randomBytes(8).toString('hex');
  const meta = { ...checkpointFileMetadata(step, ck.config.family), [SAVE_ID]: saveId };
  const json = (v: object) => `${JSON.stringify({ ...v, [SAVE_ID]: saveId }, null, 2)}\n`;
  const contents: [string, Uint8Array | string | null][] = [
    [CHECKPOINT_FILES.model, encodeSafetensors(ck.weights, meta)],
    ...OPTIONAL.map((key): [string, Uint8Array | null] => [
      CHECKPOINT_FILES[key],
      ck[key] ? encodeSafetensors(ck[key]!, meta) : null,
    ]),
    [CHECKPOINT_FILES.state, json(ck.state)],
    [CHECKPOINT_FILES.config, json(ck.config)],
  ];
  const file = (name: string) => path.join(dir, name);
  // 1. new files under temp names, durable before anything is replaced
  const temps = new Map<string, string>();
  try {
    for (const [name, data] of contents) if (data !== null) temps.set(name, writeDurableTemp(file(name), data));
  } catch (e) {
    for (const t of temps.values()) fs.rmSync(t, { force: true });
    throw new UserError(
      `Cannot write checkpoint in ${dir}: ${(e as Error).message}; free disk space or choose another --out (the previous checkpoint is intact)`,
    );
  }
  // 2. a complete copy outside the top level
  if (isWholeSave(dir)) backUpTopLevel(dir);
  // 3. the new files into place, config.json last
  for (const [name, data] of contents) {
    if (data === null) fs.rmSync(file(name), { force: true });
    else fs.renameSync(temps.get(name)!, file(name));
  }
  fsyncDir(dir);
  // 4. the new checkpoint is durable; the backup is not needed
  removeFolder(path.join(dir, PREVIOUS));
  fsyncDir(dir);
}

/** Hard-links the top-level checkpoint files into a staged folder, made durable, which then replaces DIR/.previous. */
function backUpTopLevel(dir: string): void {
  const staged = path.join(dir, `${PREVIOUS}.tmp-${process.pid}-${randomBytes(6).toString('hex')}`);
  fs.mkdirSync(staged);
  for (const name of Object.values(CHECKPOINT_FILES)) {
    if (fs.existsSync(path.join(dir, name))) fs.linkSync(path.join(dir, name), path.join(staged, name));
  }
  fsyncDir(staged);
  removeFolder(path.join(dir, PREVIOUS)); // the top level is whole meanwhile
  fs.renameSync(staged, path.join(dir, PREVIOUS));
  fsyncDir(dir);
}

/**
 * True when the checkpoint files in `dir` are one whole save: config.json, state.json and model.safetensors present,
 * and every file from the same save. Reads only the JSON files and the safetensors headers.
 */
function isWholeSave(dir: string): boolean {
  try {
    const config = readConfigFile(dir);
    const state = readStateFile(dir);
    if (config[SAVE_ID] !== state[SAVE_ID]) return false;
    const names = [
      CHECKPOINT_FILES.model,
      ...OPTIONAL.map((k) => CHECKPOINT_FILES[k]).filter((n) => fs.existsSync(path.join(dir, n))),
    ];
    for (const name of names) checkSameSave(safetensorsMetadata(path.join(dir, name)), state, name, dir);
    return true;
  } catch {
    return false;
  }
}

/** The __metadata__ of a safetensors file, from its header only. */
function safetensorsMetadata(file: string): Record<string, string> {
  const { header } = safetensorsHeader(readSafetensorsHead(file), file);
  return (header.__metadata__ ?? {}) as Record<string, string>;
}

/** The first bytes of a safetensors file: its 8-byte length and JSON header (no more than MAX_HEADER_BYTES, nor than
 *  the file holds), for safetensorsHeader to parse without reading the tensors. */
export function readSafetensorsHead(file: string): Uint8Array {
  const fd = fs.openSync(file, 'r');
  try {
    const size = fs.fstatSync(fd).size;
    const head = new Uint8Array(Math.min(8, size));
    fs.readSync(fd, head, 0, head.length, 0);
    if (size < 8) return head;
    const n = Math.min(new DataView(head.buffer).getUint32(0, true), MAX_HEADER_BYTES, size - 8);
    const bytes = new Uint8Array(8 + n);
    bytes.set(head);
    fs.readSync(fd, bytes, 8, n, 8);
    return bytes;
  } finally {
    fs.closeSync(fd);
  }
}

/** checkFileStep, and the file's save id against state.json's (both absent in folders saved before save ids). */
function checkSameSave(metadata: Record<string, string>, state: CheckpointState, name: string, dir: string): void {
  checkFileStep(metadata, state, name, dir);
  if (metadata[SAVE_ID] !== state[SAVE_ID]) throw mixedSaves(name, dir);
}

function mixedSaves(name: string, dir: string): UserError {
  return new UserError(
    `Checkpoint in ${dir} is inconsistent: ${name} and state.json are from different saves (a save was interrupted); restore the folder from a backup or train again`,
  );
}

/** True when `dir` holds a checkpoint, complete or not (loadCheckpoint explains what is wrong). */
export function hasCheckpoint(dir: string): boolean {
  return fs.existsSync(path.join(dir, CHECKPOINT_FILES.config));
}

/**
 * Reads and validates a checkpoint folder; every problem is a one-line UserError. When the top-level files are not one
 * whole save (a save was interrupted while replacing them), the backup in DIR/.previous is loaded, with a warning.
 */
export function loadCheckpoint(dir: string, opts: { warn?: (line: string) => void } = {}): Checkpoint {
  try {
    return loadCheckpointFiles(dir);
  } catch (e) {
    const prev = path.join(dir, PREVIOUS);
    if (!(e instanceof UserError) || !fs.existsSync(path.join(prev, CHECKPOINT_FILES.state))) throw e;
    let ck: Checkpoint;
    try {
      ck = loadCheckpointFiles(prev);
    } catch {
      return loadCheckpointFiles(dir); // a save running meanwhile may have completed and dropped its backup
    }
    (opts.warn ?? ((l: string) => process.stderr.write(l + '\n')))(
      `deepgen: warning: ${e.message.split(';')[0]}; loaded the previous checkpoint (step ${ck.state.step}) from ${prev}`,
    );
    return ck;
  }
}

/** Only config.json of a checkpoint (family and config), without reading the weights. */
export function readCheckpointConfig(dir: string): CheckpointConfigFile {
  return withoutSaveId(readConfigFile(dir));
}

function readConfigFile(dir: string): CheckpointConfigFile {
  const file = path.join(dir, CHECKPOINT_FILES.config);
  return parseCheckpointConfig(readTextOrUserError(file, 'checkpoint config'), `${CHECKPOINT_FILES.config} in ${dir}`);
}

function readStateFile(dir: string): CheckpointState {
  const file = path.join(dir, CHECKPOINT_FILES.state);
  return parseCheckpointState(readTextOrUserError(file, 'checkpoint state'), `${CHECKPOINT_FILES.state} in ${dir}`);
}

/** The save id is the store's business: callers get config and state as they were given to saveCheckpoint. */
function withoutSaveId<T extends object>(v: T): T {
  const { [SAVE_ID]: _id, ...rest } = v as Record<string, unknown>;
  return rest as T;
}

function loadCheckpointFiles(dir: string): Checkpoint {
  const file = (name: string) => path.join(dir, name);
  if (!fs.existsSync(file(CHECKPOINT_FILES.config))) {
    if (fs.existsSync(dir) && fs.statSync(dir).isFile()) {
      throw new UserError(
        `No checkpoint at ${dir}: it is a file, not a run folder; pass the folder that contains config.json`,
      );
    }
    throw new UserError(
      `No checkpoint at ${dir}: config.json not found; train one with \`deepgen train ...\` or pass a run folder`,
    );
  }
  const config = readConfigFile(dir);
  const incomplete = (name: string) =>
    new UserError(
      `Checkpoint in ${dir} is incomplete: ${name} not found (a save was interrupted?); restore the folder from a backup or train again`,
    );

  if (!fs.existsSync(file(CHECKPOINT_FILES.state))) throw incomplete(CHECKPOINT_FILES.state);
  const state = readStateFile(dir);
  if (config[SAVE_ID] !== state[SAVE_ID]) throw mixedSaves(CHECKPOINT_FILES.config, dir);

  if (!fs.existsSync(file(CHECKPOINT_FILES.model))) throw incomplete(CHECKPOINT_FILES.model);
  const weights = readTensors(dir, CHECKPOINT_FILES.model, state);
  const ck: Checkpoint = { config: withoutSaveId(config), weights, state: withoutSaveId(state) };
  for (const key of OPTIONAL) {
    if (fs.existsSync(file(CHECKPOINT_FILES[key]))) ck[key] = readTensors(dir, CHECKPOINT_FILES[key], state);
  }
  return ck;
}

function readTensors(dir: string, name: string, state: CheckpointState): Record<string, TensorRecord> {
  const bytes = readFileOrUserError(path.join(dir, name), 'checkpoint file');
  const { tensors, metadata } = decodeSafetensors(bytes, `${name} in ${dir}`);
  checkSameSave(metadata, state, name, dir);
  return tensors;
}
