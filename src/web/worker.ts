// The playground's Web Worker: fetches a checkpoint (config.json + safetensors) from `deepgen serve`, rebuilds the
// model with src/core exactly as the CLI does, and runs sampling, encoding and decoding on a TensorFlow.js backend.
// Every failure is posted back as a one-line message for the page to show.
import * as tf from '@tensorflow/tfjs-core';
import { keepReadable, startBackend } from './backends.ts';
import type { ModelFromCheckpoint } from '../core/checkpoint/load-model.ts';
import { examplePrompts } from '../core/data/example-prompts.ts';
import { modelFromFiles } from '../core/api/load.ts';
import { preprocessBatch, toUint8ImagesAsync, type Preprocess } from '../core/data/preprocess.ts';
import { UserError } from '../core/errors.ts';
import type { GenerativeModel, PixelStep, SampleOptions } from '../core/family.ts';
import { getFamily } from '../core/registry.ts';
import { sampleChunks, sampleChunksAsync } from '../core/sample-chunks.ts';
import { floatsToUint8 } from '../core/viz/grid.ts';
import type { Envelope, Images, ModelInfo, Outputs, Reply, Request } from './protocol.ts';
import { Rng } from '../core/tensor/rng.ts';
import { condKindOf, condTokenizerOfModel } from '../core/conditioning/config.ts';
import { setupWasm, startWasm, wasmLabel } from './wasm-setup.ts';

setupWasm();

const scope = self as unknown as {
  postMessage(m: Reply, transfer?: Transferable[]): void;
  onmessage: ((e: MessageEvent<Envelope>) => void) | null;
};
/** The loaded models by run id (the compare view holds several). */
const loaded = new Map<string, ModelFromCheckpoint>();

function post(m: Reply): void {
  const t: Transferable[] = [];
  for (const v of Object.values(m)) if (ArrayBuffer.isView(v)) t.push(v.buffer as ArrayBuffer);
  scope.postMessage(m, t);
}

/** WebGPU reads results back only asynchronously (backends.ts refuses synchronous reads of GPU data). */
const asyncReads = (): boolean => tf.getBackend() === 'webgpu';

/** The backend: `auto` picks by what the browser has (backends.ts); a named one is used or reported as missing;
 *  `threads` for wasm (default: every core). */
function useBackend(name: string, threads?: number): Promise<string> {
  return startBackend(name, { start: () => startWasm(threads ?? 'auto'), label: wasmLabel });
}

async function fetchFile(url: string, what: string): Promise<Response> {
  let r: Response;
  try {
    r = await fetch(url);
  } catch (e) {
    throw new UserError(`cannot fetch ${what} (${(e as Error).message}); is \`deepgen serve\` still running?`);
  }
  if (!r.ok) throw new UserError(`cannot fetch ${what}: HTTP ${r.status}; is \`deepgen serve\` still running?`);
  return r;
}

async function load(run: string, files: string[], backend: string, threads?: number): Promise<ModelInfo> {
  const t0 = performance.now();
  const used = await useBackend(backend, threads);
  const url = (name: string) => files.find((f) => f.endsWith(`/${name}`));
  const cfgUrl = url('config.json'),
    modelUrl = url('model.safetensors'),
    emaUrl = url('ema.safetensors');
  if (!cfgUrl || !modelUrl)
    throw new UserError(
      `run ${run} has no ${cfgUrl ? 'model.safetensors' : 'config.json'}; it is not a complete checkpoint, train it again`,
    );
  const bytes = async (u: string, name: string) =>
    new Uint8Array(await (await fetchFile(u, `${name} of ${run}`)).arrayBuffer());
  const contents = {
    config: await bytes(cfgUrl, 'config.json'),
    model: await bytes(modelUrl, 'model.safetensors'),
    ...(emaUrl ? { ema: await bytes(emaUrl, 'ema.safetensors') } : {}),
  };
  loaded.get(run)?.model.dispose();
  loaded.delete(run);
  const m = modelFromFiles(contents, run);
  loaded.set(run, m);
  // on WebGPU, the weights stay readable on the CPU too (backends.ts keepReadable)
  if (asyncReads()) await keepReadable(Object.values(m.model.params.all()));
  const fam = getFamily(m.cfg.family);
  const ls = m.model.latentSpace?.();
  const cond = condKindOf(m.cfg);
  return {
    run,
    family: m.cfg.family,
    height: m.info.height,
    width: m.info.width,
    channels: m.info.channels,
    classNames: m.info.classNames ?? Array.from({ length: m.info.numClasses }, (_, i) => String(i)),
    vocabulary: m.info.vocabulary ?? [],
    examplePrompts: cond === 'text' ? examplePrompts(m.cfg.data.dataset, m.info.vocabulary) : [],
    tokenizer: condTokenizerOfModel(m.cfg.model).tokenizer,
    merges: m.info.merges ?? [],
    cond,
    samplingOptions: [...(fam.samplingOptions ?? [])],
    model: m.cfg.model,
    latent: ls ? { dim: ls.dim, description: ls.description, encode: !!ls.encode } : null,
    deterministic: !!fam.deterministic,
    generation: fam.generation ?? 'one-pass',
    backend: used,
    usedEma: m.usedEma,
    params: m.model.params.numParams(),
    loadMs: performance.now() - t0,
  };
}

function need(run: string): ModelFromCheckpoint {
  const m = loaded.get(run);
  if (!m) throw new UserError(`the model ${run} is not loaded; pick it from the list`);
  return m;
}

function latent(run: string) {
  const ls = need(run).model.latentSpace?.();
  if (!ls) throw new UserError(`a ${need(run).cfg.family} model has no latent space to explore`);
  return ls;
}

/** Posts x [n,H,W,C] in [0,1] as 8-bit images, rounded as `deepgen sample` rounds them, and disposes it. */
async function postImages(id: number, x: tf.Tensor4D, t0: number): Promise<void> {
  try {
    const images: Images = { images: await toUint8ImagesAsync(x), shape: x.shape as Images['shape'] };
    post({ id, type: 'images', ms: performance.now() - t0, ...images });
  } finally {
    x.dispose();
  }
}

/** Posts codes z [n, dim] and disposes them. */
async function postCodes(id: number, z: tf.Tensor2D): Promise<void> {
  const [n, dim] = z.shape;
  try {
    const d = ((await z.data()) as Float32Array).slice(); // a copy: the backend may keep the array it returns
    post({ id, type: 'codes', z: d, n, dim });
  } finally {
    z.dispose();
  }
}

/** At most one live update per animation frame (the page cannot show more), and always the last one. */
function throttle(): (last: boolean) => boolean {
  let t = 0;
  return (last) => {
    const now = performance.now();
    if (!last && now - t < 15) return false;
    t = now;
    return true;
  };
}

async function handle(id: number, r: Request): Promise<void> {
  switch (r.type) {
    case 'load':
      return post({ id, type: 'loaded', model: await load(r.run, r.files, r.backend, r.threads) });
    case 'sample': {
      const { model, info } = need(r.run);
      const t0 = performance.now();
      const shape: Images['shape'] = [r.n, info.height, info.width, info.channels];
      const per = info.height * info.width * info.channels;
      const all = new Uint8Array(r.n * per); // the finished chunks, and the current chunk as it is drawn
      const due = throttle();
      // WebGPU: the frames are read back asynchronously, in order, between the sampler's steps (sampleAsync)
      let frames: Promise<void> = Promise.resolve();
      // in chunks, as deepgen sample draws them (the same images for a seed); live views follow the current chunk
      const live = (first: number, count: number): SampleOptions => {
        const opts: SampleOptions = { ...r.settings };
        if (!r.live) return opts;
        let pixels = false; // autoregressive models stream pixels; their per-row frames would repeat them
        opts.onFrame = (x, step, total, more) => {
          if (pixels) return;
          // the strip follows sample 1: x0hat only for the first chunk, computed only then
          const x0 = first === 0 ? more?.x0?.() : undefined;
          const send = (xv: ArrayLike<number>, x0v?: ArrayLike<number>) => {
            all.set(floatsToUint8(xv), first * per);
            post({
              id,
              type: 'frame',
              step,
              total,
              first,
              count,
              images: all.slice(),
              shape,
              ...(x0v ? { x0: floatsToUint8(x0v) } : {}),
            });
          };
          if (!asyncReads()) return send(x.dataSync(), x0?.dataSync());
          const kept = [tf.clone(x), ...(x0 ? [tf.clone(x0)] : [])]; // the sampler frees its own after this call
          frames = frames.then(async () => {
            try {
              const [xv, x0v] = await Promise.all(kept.map((t) => t.data()));
              send(xv, x0v);
            } finally {
              tf.dispose(kept);
            }
          });
        };
        // sample 1's distribution is the one shown: the first chunk streams pixels, later ones their rows
        if (first === 0) {
          opts.onPixel = (p: PixelStep) => {
            pixels = true;
            const last =
              p.row === info.height - 1 &&
              p.col === info.width - 1 &&
              (p.channel === -1 || p.channel === info.channels - 1);
            if (!due(last)) return;
            all.set(floatsToUint8(p.images), 0);
            post({
              id,
              type: 'pixel',
              row: p.row,
              col: p.col,
              channel: p.channel,
              probs: p.probs.slice(),
              colors: p.colors.slice(),
              drawn: p.drawn,
              images: all.slice(),
              shape,
            });
          };
        }
        return opts;
      };
      const chunks = asyncReads()
        ? sampleChunksAsync(model, r.n, r.seed, live)
        : sampleChunks(model, r.n, r.seed, live);
      for await (const { first, images } of chunks) {
        await frames;
        all.set(await toUint8ImagesAsync(images), first * per);
      }
      return post({ id, type: 'images', ms: performance.now() - t0, images: all, shape });
    }
    case 'prior':
      return postCodes(id, latent(r.run).prior(r.n, r.seed, r.temperature));
    case 'decode': {
      const ls = latent(r.run);
      const t0 = performance.now();
      if (r.z.length !== r.n * ls.dim)
        throw new UserError(`decode needs ${r.n} codes of ${ls.dim} numbers, got ${r.z.length} numbers`);
      return postImages(
        id,
        tf.tidy(() => ls.decode(tf.tensor2d(r.z, [r.n, ls.dim]), r.settings)),
        t0,
      );
    }
    case 'encode': {
      const { cfg, info } = need(r.run);
      const ls = latent(r.run);
      if (!ls.encode) throw new UserError(`a ${cfg.family} has no encoder: it cannot map an image to its code`);
      const { height: H, width: W, channels: C } = info;
      if (r.images.length !== r.n * H * W * C)
        throw new UserError(`encode needs ${r.n} images of ${H}x${W}x${C}, got ${r.images.length} values`);
      return postCodes(
        id,
        tf.tidy(() =>
          ls.encode!(
            preprocessBatch(tf.tensor4d(r.images, [r.n, H, W, C], 'int32'), cfg.data.preprocess as Preprocess, 0),
            r.settings,
          ),
        ),
      );
    }
    case 'outputs':
      return post({ id, type: 'outputs', ...(await outputs(r)) });
  }
}

/** model.sample, or on WebGPU sampleAsync where the family has it (step-wise samplers read and pause as they go). */
async function sampleOnce(model: GenerativeModel, n: number, seed: number, opts: SampleOptions): Promise<tf.Tensor4D> {
  return asyncReads() && model.sampleAsync ? model.sampleAsync(n, seed, opts) : model.sample(n, seed, opts);
}

/** Stops a sample once its first value's distribution is known (outputs()). */
class FirstValuesSeen extends Error {}

/** The model's float outputs on this backend (protocol.ts Outputs): loss on a seeded batch, samples or p(x_1).
 *  Values are read asynchronously, as WebGPU reads them best. */
async function outputs(r: Extract<Request, { type: 'outputs' }>): Promise<Outputs> {
  const { model, cfg, info } = need(r.run);
  const { height: H, width: W, channels: C } = info;
  const rng = new Rng(r.seed);
  const u8 = Int32Array.from({ length: r.n * H * W * C }, () => rng.nextUint32() % 256);
  const classes = Array.from({ length: r.n }, (_, i) => i % Math.max(1, info.numClasses));
  const words = examplePrompts(cfg.data.dataset, info.vocabulary);
  const prompts = Array.from({ length: r.n }, (_, i) => words[i % Math.max(1, words.length)] ?? '');
  const fam = getFamily(cfg.family);
  const names: string[] = [];
  const terms = tf.tidy(() => {
    const x = preprocessBatch(tf.tensor4d(u8, [r.n, H, W, C], 'int32'), cfg.data.preprocess as Preprocess, r.seed);
    const y = fam.needsLabels(cfg.model) ? tf.tensor1d(classes, 'int32') : null;
    const out = model.loss(x, y, r.seed, fam.needsCaptions?.(cfg.model) ? prompts : null);
    names.push('loss', ...Object.keys(out.terms));
    return tf.stack([out.loss, ...Object.values(out.terms)]);
  });
  const values = await terms.data();
  terms.dispose();
  const loss = Object.fromEntries(names.map((k, i) => [k, values[i]]));
  if ((fam.generation ?? 'one-pass') === 'pixels') {
    const firstProbs: number[] = [];
    const opts: SampleOptions = {
      ...r.settings,
      onPixel: (p) => {
        firstProbs.push(...p.probs); // sample 0's p(x_1 | y)
        throw new FirstValuesSeen();
      },
    };
    try {
      (await sampleOnce(model, r.n, r.seed, opts)).dispose();
    } catch (e) {
      if (!(e instanceof FirstValuesSeen)) throw e;
    }
    return { loss, samples: null, shape: [], firstProbs: Float32Array.from(firstProbs) };
  }
  const x = await sampleOnce(model, r.n, r.seed, r.settings);
  try {
    return { loss, samples: (await x.data()) as Float32Array, shape: x.shape, firstProbs: null };
  } finally {
    x.dispose();
  }
}

// one request at a time, in order: a sample must not start while a load is still fetching
let queue: Promise<void> = Promise.resolve();
scope.onmessage = (e) => {
  const { id } = e.data;
  queue = queue.then(() =>
    handle(id, e.data).catch((err: unknown) => {
      const message =
        err instanceof UserError
          ? err.message
          : `unexpected error in the model worker: ${(err as Error)?.message ?? String(err)}`;
      post({ id, type: 'error', message });
    }),
  );
};
