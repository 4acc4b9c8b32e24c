// loadModel for Node: a run folder on disk (read and checked by the checkpoint store), zoo:NAME, an https URL or
// hf:OWNER/REPO (downloaded into the cache by model-source.ts), on an initialised backend. Writes nothing to stdout or
// stderr unless given a warn function.
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { modelFromFiles } from '../core/api/load.ts';
import { CHECKPOINT_FILES } from '../core/checkpoint/format.ts';
import { modelFromCheckpoint, type ModelFromCheckpoint } from '../core/checkpoint/load-model.ts';
import { UserError } from '../core/errors.ts';
import { Model } from '../core/api/model.ts';
import { initBackend, type BackendName } from './backend.ts';
import { hasCheckpoint, loadCheckpoint } from './checkpoint-store.ts';
import { resolveModelSource, type ModelSourceOptions } from './model-source.ts';

/** Options of the Node loadModel. */
export interface NodeLoadModelOptions {
  /** Use the EMA weights when the run kept them (default true). */
  useEma?: boolean;
  /** The compute backend (default 'auto': native, then wasm, then cpu). */
  backend?: BackendName;
  /** Called with a one-line warning, e.g. when an interrupted save left the previous checkpoint to load. */
  warn?: (line: string) => void;
  /** Cache root for downloads (default: $DEEPGEN_CACHE, a checkout's .cache, or $XDG_CACHE_HOME/deepgen). */
  cacheDir?: string;
  /** The fetch to download with (default globalThis.fetch). */
  fetch?: typeof fetch;
  /** Download progress per file (bytes so far and the file's size when the server gives it). */
  onProgress?: ModelSourceOptions['onProgress'];
}

/**
 * A trained model from a run folder written by `deepgen train` (config.json, model.safetensors, optional
 * ema.safetensors), a zoo model (`zoo:NAME`), an https URL of such a folder, or a Hugging Face Hub repository
 * (`hf:OWNER/REPO[/SUBFOLDER][@REVISION]`); remote folders are downloaded once into the cache.
 *
 * @example
 * const model = await loadModel('runs/vae'); // or 'zoo:vae', 'https://example.org/vae/', 'hf:someone/deepgen-vae'
 * const { images } = await model.sample({ n: 16, seed: 1 });
 * model.dispose();
 */
export async function loadModel(pathOrUrl: string | URL, opts: NodeLoadModelOptions = {}): Promise<Model> {
  await initBackend(opts.backend ?? 'auto');
  const text = String(pathOrUrl);
  const spec = pathOrUrl instanceof URL && pathOrUrl.protocol === 'file:' ? fileURLToPath(pathOrUrl) : text;
  const dir = await resolveModelSource(spec, {
    cacheDir: opts.cacheDir,
    fetch: opts.fetch,
    onProgress: opts.onProgress,
  });
  return new Model(readModelFolder(dir, opts.useEma ?? true, opts.warn ?? (() => {})).built);
}

/**
 * The model of a local folder: a run folder written by deepgen train (checked as one whole save by the checkpoint
 * store), or a model-only folder without state.json (config.json and weights, as a hub repository or a zoo model may
 * hold them), whose step is then unknown (0).
 */
export function readModelFolder(
  dir: string,
  useEma: boolean,
  warn: (line: string) => void,
): { built: ModelFromCheckpoint; step: number } {
  if (!hasCheckpoint(dir))
    throw new UserError(`No checkpoint at ${dir}: config.json not found; pass a run folder written by deepgen train`);
  if (!fs.existsSync(path.join(dir, CHECKPOINT_FILES.state))) {
    const read = (name: string) => new Uint8Array(fs.readFileSync(path.join(dir, name)));
    const has = (name: string) => fs.existsSync(path.join(dir, name));
    if (!has(CHECKPOINT_FILES.model))
      throw new UserError(`No weights in ${dir}: model.safetensors not found; pass a complete run folder`);
    const files = {
      config: read(CHECKPOINT_FILES.config),
      model: read(CHECKPOINT_FILES.model),
      ...(useEma && has(CHECKPOINT_FILES.ema) ? { ema: read(CHECKPOINT_FILES.ema) } : {}),
    };
    return { built: modelFromFiles(files, dir, useEma), step: 0 };
  }
  const ck = loadCheckpoint(dir, { warn });
  return { built: modelFromCheckpoint(ck.config, ck.weights, ck.ema, dir, useEma), step: ck.state.step };
}
