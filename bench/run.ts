// npm run bench [-- --backends cpu,wasm,native,webgpu --seconds 2 --out bench/results.json --compare-torch --only diffusion,sgemm]
// Throughput on every available backend: sgemm 512x1024x1024 GFLOPS; conv2d 64x28x28x32 * 3x3x32x64 forward and
// backward (input + filter gradient) GFLOPS; training images/s at batch 128 with Adam for an MLP VAE and a conv VAE;
// per family of the registry (bench/models-per-family.ts, --only family), train (b64; igpt b16) and sample images/s, defaults.
// CLI start-up (bench/startup.ts): --version, --help and a 64-image sample as whole processes beside `node -e 0`.
// --compare-torch also runs bench/reference/torch_bench.py (Debian python3-torch, or --python; on --torch-device, by
// default CUDA when torch has it) and reports each backend / torch; --short times one DDIM step and extrapolates
// (webgpu on a software adapter such as SwiftShader). scripts/gpu-bench.sh runs webgpu beside PyTorch on a GPU machine.
// Prints JSON and a table and writes the JSON to bench/results.json. The 1-minute load average is recorded: a
// figure measured while another job keeps a core busy is not comparable.
import * as tf from '@tensorflow/tfjs-core';
import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import os from 'node:os';
import { parseArgs } from 'node:util';
import { initBackend } from '../src/node/backend.ts';
import { loadNativeAddon } from '../src/node/native/addon.ts';
import { convVae, mlpVae, type BenchModel } from './models.ts';
import { entries as ganFlowEntries } from './models-gan-flow.ts';
import { entries as unetPixelEntries } from './models-unet-pixelcnn.ts';
import { entries as familyEntries } from './models-families.ts';
import { entries as autoregressiveEntries } from './models-autoregressive.ts';
import { entries as perFamilyEntries, perFamilySettings } from './models-per-family.ts';
import { startupFigures, startupTable, type StartupFigure } from './startup.ts';
import { benchOptions } from './options.ts';
import { webgpuAdapter } from '../src/node/webgpu.ts';

/** A figure contributed by a bench model file: name (e.g. 'train dcgan b128'), and how to measure it on a backend. */
export interface BenchEntry {
  name: string;
  unit: string;
  /** Returns the figure, or null with a note when the backend cannot run it. */
  run: (
    backend: string,
    time: (fn: () => void) => { perRun: number; runs: number; seconds: number },
  ) => { value: number | null; runs: number; seconds: number; note?: string };
}
const EXTRA: BenchEntry[] = [
  ...ganFlowEntries,
  ...unetPixelEntries,
  ...familyEntries,
  ...autoregressiveEntries,
  ...perFamilyEntries,
];

const { values: opts } = parseArgs({
  options: {
    backends: { type: 'string', default: 'cpu,wasm,native' },
    seconds: { type: 'string', default: '2' },
    out: { type: 'string', default: new URL('./results.json', import.meta.url).pathname },
    'compare-torch': { type: 'boolean', default: false },
    'torch-device': { type: 'string', default: 'auto' },
    python: { type: 'string', default: process.env.DEEPGEN_PYTHON ?? '/usr/bin/python3' },
    short: { type: 'boolean', default: false },
    only: { type: 'string' },
  },
});
benchOptions.short = opts.short!;
const minSeconds = Number(opts.seconds);
/**
 * --only a,b: run just the figures whose names contain one of these (kernel figures: 'sgemm', 'conv2d'); a group name
 * ('family': the per-family figures) matches only the names it starts, not e.g. 'diffusion family ddim 64x50'.
 */
const only = opts.only
  ?.split(',')
  .map((s) => s.trim())
  .filter(Boolean);
const GROUPS = ['family'];
const want = (figure: string) =>
  !only || only.some((o) => (GROUPS.includes(o) ? figure.startsWith(`${o} `) : figure.includes(o)));
/** Above this the pure-JS cpu backend is measured on one run only (its conv gradients take ~a minute each at full size). */
const SLOW_SECONDS = 4;

type Figure = { value: number | null; unit: string; runs: number; seconds: number; note?: string };

/** Times fn (after one warm-up run) until minSeconds have passed; a slow warm-up counts as the only run. */
function time(fn: () => void): { perRun: number; runs: number; seconds: number } {
  let t0 = performance.now();
  fn();
  const warm = (performance.now() - t0) / 1000;
  if (warm > SLOW_SECONDS) return { perRun: warm, runs: 1, seconds: warm };
  let runs = 0;
  t0 = performance.now();
  do {
    fn();
    runs++;
  } while ((performance.now() - t0) / 1000 < minSeconds || runs < 2);
  const seconds = (performance.now() - t0) / 1000;
  return { perRun: seconds / runs, runs, seconds };
}

function gflops(flops: number, fn: () => void): Figure {
  const t = time(fn);
  return { value: flops / t.perRun / 1e9, unit: 'GFLOPS', runs: t.runs, seconds: t.seconds };
}

function kernel(name: string, inputs: Record<string, tf.Tensor>, attrs: Record<string, unknown>): () => void {
  return () =>
    tf.dispose(tf.engine().runKernel(name, inputs as tf.NamedTensorMap, attrs as tf.NamedAttrMap) as tf.Tensor);
}

function benchKernels(backend: string): Record<string, Figure> {
  const r: Record<string, Figure> = {};
  const [M, K, N] = [512, 1024, 1024];
  const a = tf.randomNormal([M, K], 0, 1, 'float32', 1),
    b = tf.randomNormal([K, N], 0, 1, 'float32', 2);
  r['sgemm 512x1024x1024'] = gflops(2 * M * N * K, () => tf.dispose(tf.matMul(a, b)));
  tf.dispose([a, b]);

  const [B, H, W, C, OC] = [64, 28, 28, 32, 64];
  const x = tf.randomNormal([B, H, W, C], 0, 1, 'float32', 3),
    f = tf.randomNormal([3, 3, C, OC], 0, 1, 'float32', 4);
  const dy = tf.randomNormal([B, H, W, OC], 0, 1, 'float32', 5);
  const flops = 2 * B * H * W * OC * 9 * C;
  const conv = { strides: 1, pad: 'same', dataFormat: 'NHWC', dilations: 1, dimRoundingMode: undefined };
  r['conv2d fwd'] = gflops(flops, kernel('Conv2D', { x, filter: f }, conv));
  const dx = tf.getKernel('Conv2DBackpropInput', backend)
    ? gflops(flops, kernel('Conv2DBackpropInput', { dy, filter: f }, { ...conv, inputShape: x.shape }))
    : null;
  const dw = tf.getKernel('Conv2DBackpropFilter', backend)
    ? gflops(flops, kernel('Conv2DBackpropFilter', { x, dy }, { ...conv, filterShape: f.shape }))
    : null;
  const none: Figure = { value: null, unit: 'GFLOPS', runs: 0, seconds: 0, note: 'no kernel on this backend' };
  r['conv2d bwd input'] = dx ?? none;
  r['conv2d bwd filter'] = dw ?? none;
  r['conv2d bwd (input+filter)'] =
    dx && dw
      ? {
          value: 2 / (1 / dx.value! + 1 / dw.value!),
          unit: 'GFLOPS',
          runs: Math.min(dx.runs, dw.runs),
          seconds: dx.seconds + dw.seconds,
        }
      : none;
  tf.dispose([x, f, dy]);
  return r;
}

function benchTraining(backend: string, make: () => BenchModel): Figure {
  if (make === convVae && !tf.getKernel('Conv2DBackpropFilter', backend))
    return {
      value: null,
      unit: 'images/s',
      runs: 0,
      seconds: 0,
      note: 'cannot train conv nets (no Conv2DBackpropFilter)',
    };
  const batch = 128;
  const x = tf.tidy(() =>
    tf.cast(tf.greater(tf.randomUniform([batch, 28, 28, 1], 0, 1, 'float32', 7), 0.7), 'float32'),
  ) as tf.Tensor4D;
  const model = make();
  let loss = NaN;
  const t = time(() => {
    loss = model.step(x);
  });
  model.dispose();
  x.dispose();
  if (!Number.isFinite(loss)) throw new Error(`${backend}: non-finite loss ${loss}`);
  return { value: batch / t.perRun, unit: 'images/s', runs: t.runs, seconds: t.seconds };
}

const started = new Date().toISOString();
const loadAvg1 = os.loadavg()[0];
const native = loadNativeAddon();
const results: Record<string, Record<string, Figure> | { unavailable: string }> = {};
for (const name of opts.backends!.split(',')) {
  try {
    await initBackend(name);
  } catch (e) {
    results[name] = { unavailable: (e as Error).message };
    continue;
  }
  const figures: Record<string, Figure> = {};
  if (want('sgemm') || want('conv2d')) Object.assign(figures, benchKernels(name));
  if (want('train mlp-vae b128')) figures['train mlp-vae b128'] = benchTraining(name, mlpVae);
  if (want('train conv-vae b128')) figures['train conv-vae b128'] = benchTraining(name, convVae);
  for (const e of EXTRA) {
    if (!want(e.name)) continue;
    try {
      figures[e.name] = { unit: e.unit, ...e.run(name, time) };
    } catch (err) {
      figures[e.name] = {
        value: null,
        unit: e.unit,
        runs: 0,
        seconds: 0,
        note: `failed: ${(err as Error).message.split('\n')[0]}`,
      };
    }
  }
  results[name] = figures;
  console.error(`bench: ${name} done`);
}

let torch: unknown;
if (opts['compare-torch']) {
  const script = new URL('./reference/torch_bench.py', import.meta.url).pathname;
  const r = spawnSync(
    opts.python!,
    [
      script,
      '--seconds',
      String(minSeconds),
      '--device',
      opts['torch-device']!,
      // the torch side matches figures by substring: a group name ('family') has no torch figure anyway
      ...(only ? ['--only', only.join(',')] : []),
    ],
    { encoding: 'utf8' },
  );
  if (r.status === 0) {
    const parsed = JSON.parse(r.stdout.trim().split('\n').pop()!) as Record<string, Figure> & { _torch?: unknown };
    torch = parsed._torch;
    delete parsed._torch;
    results.torch = parsed;
  } else {
    results.torch = { unavailable: (r.stderr || String(r.error)).trim().split('\n').pop() ?? 'failed' };
  }
  console.error('bench: torch done');
}
/** backend / torch for every figure both have, per backend (nativeOverTorch: the native row, as before). */
const overTorch: Record<string, Record<string, number>> = {};
const tor = results.torch as Record<string, Figure> | undefined;
for (const [b, r] of Object.entries(results)) {
  if (b === 'torch' || !tor || 'unavailable' in r || 'unavailable' in tor) continue;
  const f = r as Record<string, Figure>;
  for (const k of Object.keys(f))
    if (f[k]?.value && tor[k]?.value) (overTorch[b] ??= {})[k] = Number((f[k].value! / tor[k].value!).toFixed(3));
}
const ratios = overTorch.native ?? {};

/** igpt: images/s with the key/value cache over images/s re-running the prefix, per backend (issue target: >= 10). */
const kvCacheSpeedup: Record<string, number> = {};
for (const [b, r] of Object.entries(results)) {
  if ('unavailable' in r) continue;
  const f = r as Record<string, Figure>,
    on = f['igpt sample kv-cache']?.value,
    off = f['igpt sample no-cache']?.value;
  if (on && off) kvCacheSpeedup[b] = Number((on / off).toFixed(2));
}

/** Per-family figures by family and backend: 'family vae train b64' -> perFamily.vae.native.train. */
const perFamily: Record<
  string,
  Record<string, Record<string, { figure: string; value: number | null; note?: string }>>
> = {};
for (const [b, r] of Object.entries(results)) {
  if ('unavailable' in r) continue;
  for (const [k, f] of Object.entries(r as Record<string, Figure>)) {
    const m = /^family (\S+) (train|sample) /.exec(k);
    if (!m) continue;
    ((perFamily[m[1]] ??= {})[b] ??= {})[m[2]] = { figure: k, value: f.value, ...(f.note ? { note: f.note } : {}) };
  }
}

// whole processes of the built CLI, timed after the in-process figures (this process idle meanwhile)
let startup: Record<string, StartupFigure> | undefined;
if (want('startup')) {
  startup = startupFigures();
  console.error('bench: startup done');
}

const report = {
  started,
  machine: {
    cpu: os.cpus()[0]?.model,
    cores: os.cpus().length,
    node: process.version,
    loadAvg1AtStart: Number(loadAvg1.toFixed(2)),
    loadAvg1AtEnd: Number(os.loadavg()[0].toFixed(2)),
  },
  native: native.addon ? native.addon.info() : { unavailable: native.reason },
  // the GPU adapter when webgpu ran: software (SwiftShader, llvmpipe) means CPU speed, not GPU speed
  webgpu: webgpuAdapter(),
  settings: {
    minSecondsPerFigure: minSeconds,
    short: opts.short,
    batch: 128,
    sgemm: [512, 1024, 1024],
    conv: { x: [64, 28, 28, 32], filter: [3, 3, 32, 64], strides: 1, pad: 'same' },
    perFamily: perFamilySettings,
  },
  torch,
  results,
  nativeOverTorch: ratios,
  overTorch,
  kvCacheSpeedup,
  perFamily,
  startup,
};
console.log(JSON.stringify(report, null, 2));
writeFileSync(opts.out!, JSON.stringify(report, null, 2) + '\n');

// Table: one row per figure, one column per backend.
const backends = Object.keys(results);
const rows = new Set<string>();
for (const b of backends) for (const k of Object.keys(results[b])) if (k !== 'unavailable') rows.add(k);
const cell = (b: string, k: string) => {
  const r = results[b] as Record<string, Figure>;
  if ('unavailable' in results[b]) return 'unavailable';
  const f = r[k];
  return f?.value == null ? 'n/a' : `${f.value.toFixed(f.value < 10 ? 2 : 1)}${f.runs === 1 ? '*' : ''}`;
};
const head = ['figure', ...backends];
const lines = [
  head,
  ...[...rows].map((k) => [
    `${k} (${(Object.values(results).find((r) => !('unavailable' in r)) as Record<string, Figure>)[k]?.unit ?? ''})`,
    ...backends.map((b) => cell(b, k)),
  ]),
];
/** Rows of cells as aligned text: the first column left-aligned, the others right-aligned, two spaces apart. */
const formatTable = (t: string[][]) => {
  const w = t[0].map((_, i) => Math.max(...t.map((l) => l[i].length)));
  return t.map((l) => l.map((c, i) => (i === 0 ? c.padEnd(w[i]) : c.padStart(w[i]))).join('  ')).join('\n');
};
if (rows.size) console.log(formatTable(lines)); // none with --only startup
// Per family: train and sample images/s side by side, one row per family, and why a figure is missing or extrapolated.
const famRows = Object.keys(perFamily);
if (famRows.length) {
  const live = backends.filter((b) => !('unavailable' in results[b]));
  const size = (fam: string, kind: string) =>
    Object.values(perFamily[fam])
      .find((x) => x[kind])
      ?.[kind].figure.split(' ')
      .pop() ?? '';
  const fmtV = (b: string, x?: { figure: string; value: number | null; note?: string }) =>
    x ? `${cell(b, x.figure)}${x.value != null && x.note ? '~' : ''}` : '';
  const t = [
    ['family (images/s)', ...live.flatMap((b) => [`${b} train`, `${b} sample`])],
    ...famRows.map((f) => [
      `${f} (${['train', 'sample']
        .filter((k) => size(f, k))
        .map((k) => `${k} ${size(f, k)}`)
        .join(', ')})`,
      ...live.flatMap((b) => [fmtV(b, perFamily[f][b]?.train), fmtV(b, perFamily[f][b]?.sample)]),
    ]),
  ];
  console.log('\n' + formatTable(t));
  for (const f of famRows) {
    for (const kind of ['train', 'sample']) {
      const notes = live.map((b) => [b, perFamily[f][b]?.[kind]?.note] as const).filter(([, n]) => n);
      if (notes.length) console.log(`  ${f} ${kind}: ${notes.map(([b, n]) => `${b}: ${n}`).join('; ')}`);
    }
  }
  console.log('  n/a: not run (see the note); ~: extrapolated (see the note); *: one run only');
}
if (startup)
  console.log(
    `\nCLI start-up (median wall time of ${Object.values(startup)[0].runs} processes each, the demo ${startup["deepgen demo (the zoo's pictures)"]?.runs ?? '-'}):\n${startupTable(startup)}`,
  );
for (const [b, r] of Object.entries(overTorch))
  console.log(
    `${b} / torch (${(torch as { device?: string } | undefined)?.device ?? 'cpu'}): ${Object.entries(r)
      .map(([k, v]) => `${k} ${v.toFixed(2)}`)
      .join('; ')}`,
  );
const adapter = webgpuAdapter();
if (adapter && 'webgpu' in results)
  console.log(
    `webgpu adapter: ${[adapter.vendor, adapter.architecture, adapter.description].filter(Boolean).join(', ')}` +
      (adapter.software ? ' -- a software implementation on the CPU: these webgpu figures are NOT GPU speed' : ''),
  );
if (Object.keys(kvCacheSpeedup).length)
  console.log(
    `igpt sampling, kv-cache / no-cache (same model, same seed): ${Object.entries(kvCacheSpeedup)
      .map(([b, v]) => `${b} ${v.toFixed(1)}x`)
      .join('; ')}`,
  );
console.log(
  `* one run only (slow). load average at start ${loadAvg1.toFixed(2)} on ${os.cpus().length} cores${loadAvg1 > 0.5 ? ' (the machine was not idle: figures may be disturbed)' : ''}. BLAS: ${native.addon ? `${native.addon.info().blas} ${native.addon.info().blasPath}` : 'none'}`,
);
