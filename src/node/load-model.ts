// loadModel for Node: a run folder on disk (read and checked by the checkpoint store) or a URL (the core loader),
// on an initialised backend. Writes nothing to stdout or stderr unless given a warn function.
import { fileURLToPath } from 'node:url';
import { modelFromCheckpoint } from '../core/checkpoint/load-model.ts';
import { UserError } from '../core/errors.ts';
import { loadModel as loadModelFromUrl } from '../core/api/load.ts';
import { Model } from '../core/api/model.ts';
import { initBackend, type BackendName } from './backend.ts';
import { hasCheckpoint, loadCheckpoint } from './checkpoint-store.ts';

/** Options of the Node loadModel. */
export interface NodeLoadModelOptions {
  /** Use the EMA weights when the run kept them (default true). */
  useEma?: boolean;
  /** The compute backend (default 'auto': native, then wasm, then cpu). */
  backend?: BackendName;
  /** Called with a one-line warning, e.g. when an interrupted save left the previous checkpoint to load. */
  warn?: (line: string) => void;
}

/**
 * A trained model from a run folder written by `deepgen train` (config.json, model.safetensors, optional
 * ema.safetensors), or from an http(s) URL of such a folder.
 *
 * @example
 * const model = await loadModel('runs/vae');
 * const { images } = await model.sample({ n: 16, seed: 1 });
 * model.dispose();
 */
export async function loadModel(pathOrUrl: string | URL, opts: NodeLoadModelOptions = {}): Promise<Model> {
  await initBackend(opts.backend ?? 'auto');
  const text = String(pathOrUrl);
  if (/^https?:\/\//i.test(text)) return loadModelFromUrl(text, { useEma: opts.useEma });
  const dir = pathOrUrl instanceof URL || /^file:/i.test(text) ? fileURLToPath(pathOrUrl) : text;
  if (!hasCheckpoint(dir))
    throw new UserError(`No checkpoint at ${dir}: config.json not found; pass a run folder written by deepgen train`);
  const ck = loadCheckpoint(dir, { warn: opts.warn ?? (() => {}) });
  return new Model(modelFromCheckpoint(ck.config, ck.weights, ck.ema, dir, opts.useEma ?? true));
}
