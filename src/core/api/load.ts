// loadModel for any platform: a checkpoint from its files' bytes, or from a folder URL fetched with fetch (the same
// files `deepgen serve` and any static host serve). The model is rebuilt by modelFromCheckpoint, as the CLI does.
import { parseCheckpointConfig, CHECKPOINT_FILES } from '../checkpoint/format.ts';
import { modelFromCheckpoint, type ModelFromCheckpoint } from '../checkpoint/load-model.ts';
import { decodeSafetensors } from '../checkpoint/safetensors.ts';
import { oneLine, UserError } from '../errors.ts';
import { Model } from './model.ts';

/** A checkpoint's files in memory: config.json (parsed, text or bytes), model.safetensors and, optionally,
 *  ema.safetensors. */
export interface ModelFiles {
  config: object | string | Uint8Array;
  model: Uint8Array;
  ema?: Uint8Array;
}

/** Options of loadModel. */
export interface LoadModelOptions {
  /** Use the EMA weights when the checkpoint has them (default true). */
  useEma?: boolean;
  /** The fetch to use for URLs (default globalThis.fetch). */
  fetch?: typeof fetch;
}

/**
 * The model of a checkpoint held in memory, rebuilt with the weights (and EMA weights) decoded and checked; `where`
 * names it in messages. Platform-free: the browser playground's worker loads fetched files through here too.
 */
export function modelFromFiles(files: ModelFiles, where: string, useEma = true): ModelFromCheckpoint {
  const text =
    typeof files.config === 'string'
      ? files.config
      : files.config instanceof Uint8Array
        ? new TextDecoder().decode(files.config)
        : JSON.stringify(files.config);
  const config = parseCheckpointConfig(text, `${CHECKPOINT_FILES.config} of ${where}`);
  if (!(files.model instanceof Uint8Array))
    throw new UserError(`${CHECKPOINT_FILES.model} of ${where} must be given as bytes (a Uint8Array)`);
  const weights = decodeSafetensors(files.model, `${CHECKPOINT_FILES.model} of ${where}`).tensors;
  const ema =
    files.ema && useEma ? decodeSafetensors(files.ema, `${CHECKPOINT_FILES.ema} of ${where}`).tensors : undefined;
  return modelFromCheckpoint(config, weights, ema, where, useEma);
}

/** The bytes at a URL, or null when it answers 404 and the file is optional; one-line errors otherwise. */
async function fetchBytes(fetchFn: typeof fetch, url: URL, optional: boolean): Promise<Uint8Array | null> {
  let r: Response;
  try {
    r = await fetchFn(url);
  } catch (e) {
    throw new UserError(
      `cannot fetch ${url.href} (${oneLine(String((e as Error)?.message ?? e))}); check the URL and that the server is up`,
    );
  }
  if (optional && r.status === 404) return null;
  if (!r.ok)
    throw new UserError(
      `cannot fetch ${url.href}: HTTP ${r.status}; check that the URL is a checkpoint folder (config.json, model.safetensors)`,
    );
  return new Uint8Array(await r.arrayBuffer());
}

/** The files of a checkpoint folder at a URL (ema.safetensors only when wanted, and optional). */
export async function fetchModelFiles(folder: string | URL, opts: LoadModelOptions = {}): Promise<ModelFiles> {
  const fetchFn = opts.fetch ?? globalThis.fetch;
  if (typeof fetchFn !== 'function')
    throw new UserError('no fetch in this environment; pass one as the fetch option, or load the files as bytes');
  let base: URL;
  try {
    base = new URL(String(folder));
  } catch {
    throw new UserError(
      `${oneLine(String(folder))} is not a URL; give a checkpoint folder's URL (http://host/runs/vae/), or on Node a folder path through deepgen/node`,
    );
  }
  if (!base.pathname.endsWith('/')) base.pathname += '/';
  const [config, model, ema] = await Promise.all([
    fetchBytes(fetchFn, new URL(CHECKPOINT_FILES.config, base), false),
    fetchBytes(fetchFn, new URL(CHECKPOINT_FILES.model, base), false),
    opts.useEma === false ? null : fetchBytes(fetchFn, new URL(CHECKPOINT_FILES.ema, base), true),
  ]);
  return { config: config!, model: model!, ...(ema ? { ema } : {}) };
}

/**
 * A trained model from a checkpoint folder's URL (config.json, model.safetensors, optional ema.safetensors), fetched,
 * or from the files' bytes. Uses the current TensorFlow.js backend.
 *
 * @example
 * const model = await loadModel('https://example.org/runs/vae/');
 * const { images } = await model.sample({ n: 16, seed: 1 });
 */
export async function loadModel(source: string | URL | ModelFiles, opts: LoadModelOptions = {}): Promise<Model> {
  if (typeof source === 'string' || source instanceof URL) {
    const files = await fetchModelFiles(source, opts);
    return new Model(modelFromFiles(files, String(source), opts.useEma ?? true));
  }
  if (!source || typeof source !== 'object' || !('model' in source))
    throw new UserError("loadModel takes a folder URL or { config, model, ema? } with the files' contents");
  return new Model(modelFromFiles(source, 'the given files', opts.useEma ?? true));
}
