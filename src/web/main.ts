// The playground page: the models `deepgen serve` lists, and for the chosen one its family's view (views.ts) with the
// controls every view shares: seed (same seed, same images as `deepgen sample`), count, condition, guidance.
// All model work happens in the Web Worker; the page shows progress, the time to the first image, and errors.
import { ModelWorker, PlaygroundError } from './client.ts';
import type { ModelInfo, RunListing, SampleSettings } from './protocol.ts';
import { buildView } from './views.ts';
import { el } from './widgets.ts';

const params = new URLSearchParams(location.search);
const backend = params.get('backend') ?? 'auto';
const threads = Number(params.get('threads')) || undefined; // wasm threads; absent: chosen per model (wasmThreadsFor)

/**
 * The wasm thread count for a model when the URL does not say: one for a model that draws a value at a time (each
 * step is a handful of tiny kernels, which threads only slow down: PixelCNN's 4 samples took 10.0 s on 2 threads
 * against 1.5 s on one, `npm run bench:playground`), else every core (undefined).
 */
function wasmThreadsFor(listing: RunListing): number | undefined {
  return threads ?? (listing.generation === 'pixels' ? 1 : undefined);
}
/** The thread setting the worker's wasm backend started with (it cannot change without a new worker), if it runs wasm. */
let workerWasm: { threads: number | undefined } | null = null;
const worker = new ModelWorker();
const $ = <T extends HTMLElement>(id: string) => document.getElementById(id) as T;
const view = $('view');
const errorBox = $('error');
const status = $('status');
const progress = $<HTMLProgressElement>('progress');

/** Show a one-line problem in the page (never a blank screen). */
function showError(message: string): void {
  errorBox.textContent = message;
  errorBox.hidden = false;
  view.dataset.status = 'error';
}

/** The one line to show for an error: the worker's message as it is, anything else marked unexpected. */
function messageOf(e: unknown): string {
  return e instanceof PlaygroundError
    ? e.message
    : `unexpected error in the page: ${(e as Error)?.message ?? String(e)}`;
}

function clearError(): void {
  errorBox.hidden = true;
  errorBox.textContent = '';
}

/** Controls every view has. */
export interface Common {
  seed(): number;
  n(): number;
  /** The condition and guidance as `deepgen sample` would take them from the same choices. */
  settings(): SampleSettings;
  /** Grid columns as `deepgen sample` picks them: one per condition when several, else ceil(sqrt(n)). */
  cols(n: number): number;
  fileName(what: string): string;
}

export interface ViewContext {
  info: ModelInfo;
  listing: RunListing;
  /** Every served model (the side-by-side panel offers those of the same data and conditioning). */
  runs: RunListing[];
  worker: ModelWorker;
  controls: HTMLElement;
  stage: HTMLElement;
  common: Common;
  /**
   * Runs one action with the page's busy state: buttons disabled, progress shown, errors in the page, and the time to
   * the first image (`first()` when one appears; else the end) in the status line and in data-first-ms.
   */
  act(
    name: string,
    fn: (first: () => void, progress: (done: number, total: number) => void) => Promise<void>,
  ): Promise<void>;
  /** Show the error of work done outside act() (e.g. a slider's decode) in the page. */
  fail(e: unknown): void;
}

let busy = false;

async function act(
  name: string,
  fn: (first: () => void, progress: (done: number, total: number) => void) => Promise<void>,
): Promise<void> {
  if (busy) return;
  busy = true;
  clearError();
  view.dataset.status = 'busy';
  view.dataset.action = name;
  delete view.dataset.firstMs;
  delete view.dataset.totalMs;
  for (const b of view.querySelectorAll<HTMLButtonElement>('button.action')) b.disabled = true;
  $('stop').hidden = false;
  progress.hidden = false;
  progress.removeAttribute('value');
  status.textContent = `${name}...`;
  const t0 = performance.now();
  let firstMs: number | null = null;
  const first = () => {
    if (firstMs === null) {
      firstMs = performance.now() - t0;
      view.dataset.firstMs = firstMs.toFixed(0);
    }
  };
  try {
    await fn(first, (done, total) => {
      progress.max = total;
      progress.value = done;
      status.textContent = `${name}: ${done} / ${total}`;
    });
    first();
    const total = performance.now() - t0;
    view.dataset.totalMs = total.toFixed(0);
    status.textContent = `${name}: first image after ${firstMs!.toFixed(0)} ms, done in ${total.toFixed(0)} ms (${currentBackend})`;
    view.dataset.status = 'done';
  } catch (e) {
    status.textContent = '';
    if ((e as Error).message === 'stopped') {
      view.dataset.status = 'idle';
      status.textContent = `${name}: stopped`;
    } else showError(messageOf(e));
  } finally {
    busy = false;
    progress.hidden = true;
    $('stop').hidden = true;
    for (const b of view.querySelectorAll<HTMLButtonElement>('button.action')) b.disabled = false;
  }
}

let currentBackend = '';
/** The models `deepgen serve` lists. */
let runs: RunListing[] = [];

function fmt(v: number | null | undefined, d: number): string {
  return v === null || v === undefined ? 'n/a' : v.toFixed(d);
}

function commonControls(info: ModelInfo, controls: HTMLElement, run: string): Common {
  // a slow sampler starts with fewer images: a value at a time (4), an iterative sampler (16), one pass (64)
  const defaultN = info.generation === 'pixels' ? 4 : info.generation === 'steps' ? 16 : 64;
  const seed = el('input', {
    id: 'seed',
    type: 'number',
    value: '0',
    min: '0',
    step: '1',
    title: 'same seed, same images as `deepgen sample --seed`',
  });
  const n = el('input', {
    id: 'n',
    type: 'number',
    value: String(defaultN),
    min: '1',
    max: '256',
    step: '1',
    title: 'number of samples (`deepgen sample --n`)',
  });
  controls.append(el('label', {}, 'seed ', seed), el('label', {}, 'samples ', n));
  let label: HTMLSelectElement | null = null;
  let prompt: HTMLInputElement | null = null;
  let guidance: HTMLInputElement | null = null;
  if (info.cond === 'label') {
    label = el(
      'select',
      { id: 'label' },
      el('option', { value: '' }, 'every class in turn'),
      ...info.classNames.map((c, i) => el('option', { value: String(i) }, `${i}: ${c}`)),
    );
    controls.append(el('label', {}, 'class ', label));
  } else if (info.cond === 'text') {
    prompt = el('input', {
      id: 'prompt',
      type: 'text',
      placeholder: 'a prompt, e.g. ' + (info.examplePrompts[0] ?? info.vocabulary.slice(0, 3).join(' ')),
      size: '28',
      list: 'prompt-examples',
      title:
        info.tokenizer === 'bpe'
          ? `a subword (bpe) model: an unseen word is split into known pieces; its training words: ${info.vocabulary.join(' ')}`
          : `words this model knows: ${info.vocabulary.join(' ')}`,
    });
    // the data set's example prompts as suggestions (emoji: seen names and names never seen in training)
    const examples = el(
      'datalist',
      { id: 'prompt-examples' },
      ...info.examplePrompts.map((p) => el('option', { value: p })),
    );
    controls.append(el('label', {}, 'prompt ', prompt), examples);
  }
  if (info.cond !== 'none' && info.samplingOptions.includes('guidance')) {
    const w0 = Number(info.model.guidance ?? 1);
    guidance = el('input', { id: 'guidance', type: 'range', min: '0', max: '8', step: '0.5', value: String(w0) });
    const shown = el('span', { class: 'value' }, String(w0));
    guidance.addEventListener('input', () => (shown.textContent = guidance!.value));
    controls.append(
      el(
        'label',
        {
          title:
            'classifier-free guidance w: eps_uncond + w (eps_cond - eps_uncond); 0 = unconditional, 1 = plain conditional',
        },
        'guidance ',
        guidance,
        shown,
      ),
    );
  }
  const int = (e: HTMLInputElement, name: string, lo: number, hi: number) => {
    const v = Number(e.value);
    if (!Number.isInteger(v) || v < lo || v > hi)
      throw new PlaygroundError(`${name} must be a whole number from ${lo} to ${hi}, got "${e.value}"`);
    return v;
  };
  const settings = (): SampleSettings => {
    const s: SampleSettings = {};
    if (label) s.labels = label.value === '' ? info.classNames.map((_, i) => i) : [Number(label.value)];
    if (prompt && prompt.value.trim() !== '') s.prompts = [prompt.value.trim()];
    if (guidance) s.guidance = Number(guidance.value);
    return s;
  };
  return {
    seed: () => int(seed, 'the seed', 0, 2 ** 31 - 1),
    n: () => int(n, 'the number of samples', 1, 256),
    settings,
    cols: (count) => {
      const s = settings();
      const conds = s.labels?.length ?? s.prompts?.length ?? 0;
      return conds > 1 ? conds : Math.ceil(Math.sqrt(count));
    },
    fileName: (what) => `${run}-${what}-seed${seed.value}.png`,
  };
}

async function select(listing: RunListing): Promise<void> {
  for (const tr of document.querySelectorAll('#models tr[data-run]'))
    tr.classList.toggle('selected', (tr as HTMLElement).dataset.run === listing.id);
  clearError();
  const controls = $('controls'),
    stage = $('stage');
  controls.replaceChildren();
  stage.replaceChildren();
  $('title').textContent = `${listing.id}: ${listing.family}`;
  $('about').textContent = '';
  view.dataset.run = listing.id;
  view.dataset.status = 'loading';
  status.textContent = `loading ${listing.id}...`;
  progress.hidden = false;
  progress.removeAttribute('value');
  try {
    const wanted = wasmThreadsFor(listing);
    if (workerWasm && workerWasm.threads !== wanted) {
      worker.restart(); // a wasm backend keeps its threads for the worker's life
      workerWasm = null;
    }
    const { model: info } = await worker.request(
      { type: 'load', run: listing.id, files: listing.files, backend, threads: wanted },
      'loaded',
    );
    if (info.backend.startsWith('wasm')) workerWasm = { threads: wanted };
    currentBackend = info.backend;
    $('backend').textContent =
      `backend: ${info.backend}` +
      (threads === undefined && wanted === 1 && info.backend.startsWith('wasm')
        ? ' (one thread: this model draws a value at a time, which threads slow down)'
        : '');
    const L = listing.likelihood;
    $('about').textContent =
      `${info.family} on ${listing.dataset ?? 'unknown data'}, ${info.height}x${info.width}x${info.channels}, ${(info.params / 1e6).toFixed(2)}M parameters` +
      `${info.usedEma ? ' (EMA weights)' : ''}, condition: ${info.cond}; bits/dim ${L.bitsPerDim === null ? 'n/a' : `${fmt(L.bitsPerDim, 3)} (${L.kind})`}, ` +
      `FID ${fmt(listing.sampleQuality?.fid, 1)}; loaded in ${info.loadMs.toFixed(0)} ms`;
    const common = commonControls(info, controls, listing.id);
    buildView({ info, listing, runs, worker, controls, stage, common, act, fail: (e) => showError(messageOf(e)) });
    view.dataset.status = 'ready';
    status.textContent = 'ready';
  } catch (e) {
    status.textContent = '';
    showError(messageOf(e));
  } finally {
    progress.hidden = true;
  }
}

/** The header's backend menu: shows the page's choice; choosing another reloads the page with it (the same model). */
function backendMenu(): void {
  const menu = $<HTMLSelectElement>('backend-choice');
  menu.value = backend === 'wasm' && threads === 1 ? 'wasm-1' : backend;
  if (menu.value === '') menu.value = 'auto';
  if (!('gpu' in navigator)) {
    const o = menu.querySelector<HTMLOptionElement>('option[value="webgpu"]')!;
    o.disabled = true;
    o.textContent = 'WebGPU (not in this browser)';
  }
  menu.addEventListener('change', () => {
    const q = new URLSearchParams(location.search);
    q.set('backend', menu.value === 'wasm-1' ? 'wasm' : menu.value);
    if (menu.value === 'wasm-1') q.set('threads', '1');
    else q.delete('threads');
    location.search = q.toString(); // keeps the #run= hash
  });
}

async function main(): Promise<void> {
  backendMenu();
  $('stop').addEventListener('click', () => {
    worker.restart();
    workerWasm = null;
    const id = view.dataset.run;
    const listing = runs.find((r) => r.id === id);
    if (listing) void select(listing);
  });
  try {
    const r = await fetch('/api/runs');
    if (!r.ok) throw new Error(`HTTP ${r.status}`);
    runs = ((await r.json()) as { runs: RunListing[] }).runs;
  } catch (e) {
    return showError(
      `cannot read the model list from /api/runs (${(e as Error).message}); is \`deepgen serve\` running?`,
    );
  }
  const body = $('models').querySelector('tbody')!;
  if (runs.length === 0) {
    showError('no models to show: start `deepgen serve RUN...` with run folders written by `deepgen train`');
    return;
  }
  for (const r of runs) {
    const tr = el(
      'tr',
      { 'data-run': r.id, tabindex: '0' },
      el('td', {}, r.id),
      el('td', {}, r.family),
      el('td', {}, r.dataset ?? ''),
      el('td', {}, r.conditioning ?? 'none'),
      el('td', {}, r.likelihood.bitsPerDim === null ? 'n/a' : fmt(r.likelihood.bitsPerDim, 3)),
      el('td', {}, fmt(r.sampleQuality?.fid, 1)),
    );
    tr.addEventListener('click', () => {
      location.hash = `run=${encodeURIComponent(r.id)}`;
    });
    body.append(tr);
  }
  const fromHash = () => {
    const id = decodeURIComponent(/run=([^&]+)/.exec(location.hash)?.[1] ?? '');
    const listing = runs.find((r) => r.id === id);
    if (id && !listing) return showError(`no model "${id}" is served; pick one from the list`);
    void select(listing ?? runs[0]);
  };
  window.addEventListener('hashchange', fromHash);
  fromHash();
}

void main();
