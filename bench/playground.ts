// npm run bench:playground [-- RUN... --shots docs/images/playground --out bench/results-playground.json
//   --backends auto | wasm-1,wasm,webgpu,webgl,cpu --quick --n SAMPLES]
// The playground on real checkpoints in headless Chromium: for each run and backend, the time to load the model into
// the page, and for each action of its view the time to the first image and to the end. Writes a screenshot of every
// view. Several backends run side by side in one browser (wasm-1: wasm on one thread; webgpu: SwiftShader here, a CPU,
// so its figure shows that the path works, not GPU speed); --quick times only the two generations.
// Default runs: the leaderboard's Fashion-MNIST runs plus the text-conditional shapes diffusion, where present.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import type { Page } from 'playwright-core';
import { readCheckpointConfig } from '../src/node/checkpoint-store.ts';
import { act, drawStroke, errorText, launchChromium, openView, settled, startServe } from '../test/helpers/browser.ts';

const { values: opts, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    shots: { type: 'string', default: 'docs/images/playground' },
    out: { type: 'string', default: 'bench/results-playground.json' },
    backends: { type: 'string', default: 'auto' },
    backend: { type: 'string' },
    quick: { type: 'boolean', default: false },
    n: { type: 'string' },
  },
});
const BACKENDS = (opts.backend ?? opts.backends!)
  .split(',')
  .map((b) => b.trim())
  .filter(Boolean);
/** The page's query for a backend of --backends. */
const query = (b: string) => (b === 'auto' ? '' : b === 'wasm-1' ? '?backend=wasm&threads=1' : `?backend=${b}`);
const DEFAULT_RUNS = [
  'vae-fmnist-logistic',
  'ae-fmnist',
  'pixelcnn-fmnist',
  'igpt-fmnist-256',
  'flow-fmnist-big',
  'gan-fmnist',
  'diffusion-fmnist-label',
  'diffusion-shapes-text',
].map((r) => path.join('runs', r));
const runs = (positionals.length ? positionals : DEFAULT_RUNS).filter((r) =>
  fs.existsSync(path.join(r, 'config.json')),
);
if (runs.length === 0) {
  console.error('bench:playground: no run folders with a checkpoint; pass RUN folders written by `deepgen train`');
  process.exit(2);
}

interface Timing {
  action: string;
  firstMs: number;
  totalMs: number;
}
interface ViewResult {
  run: string;
  family: string;
  /** The backend asked for (--backends); `backend` is what the page used. */
  chosen: string;
  backend: string;
  loadMs: number;
  actions: Timing[];
  error?: string;
}

async function time(page: Page, action: string, button: string, into: Timing[]): Promise<void> {
  const st = await act(page, button);
  if (st.status !== 'done') throw new Error(`${action}: ${await errorText(page)}`);
  into.push({ action, firstMs: Number(st.firstMs), totalMs: Number(st.totalMs) });
}

/** The actions of each family's view, in the order a visitor would try them; `shot` names a midway screenshot. */
async function tour(page: Page, family: string, into: Timing[], shot: string): Promise<void> {
  if (opts.n) await page.fill('#n', opts.n); // else the page's default count
  // a text model gets its data set's first example prompt (the page suggests them), else words it knows
  if (await page.$('#prompt'))
    await page.fill(
      '#prompt',
      (await page.$eval('#prompt-examples', (d) => (d as HTMLDataListElement).options[0]?.value ?? '')) || 'red circle',
    );
  if (family === 'pixelcnn' || family === 'igpt' || family === 'diffusion') {
    // sampling in steps: a screenshot halfway (the image filling in, or half denoised)
    await page.click('#generate');
    await page.waitForFunction(
      () => {
        const p = document.getElementById('progress') as HTMLProgressElement;
        return (
          (!p.hidden && p.max > 1 && p.value >= p.max / 2) || document.getElementById('view')!.dataset.status !== 'busy'
        );
      },
      null,
      { timeout: 600_000 },
    );
    await page.screenshot({ path: shot, fullPage: true });
    const st = await settled(page);
    if (st.status !== 'done') throw new Error(`generate: ${await errorText(page)}`);
    into.push({ action: 'generate (cold)', firstMs: Number(st.firstMs), totalMs: Number(st.totalMs) });
  } else await time(page, 'generate (cold)', '#generate', into);
  await page.fill('#seed', '1');
  await time(page, 'generate again, seed 1 (warm)', '#generate', into);
  if (opts.quick) return;
  // the samplers side by side on the same page (issue 22): DDIM at 50 steps against DPM-Solver++ at 20
  if (await page.$('#sampler'))
    for (const [name, steps] of [
      ['ddim', 50],
      ['dpm++2m', 20],
    ] as const) {
      await page.selectOption('#sampler', name);
      await page.fill('#steps', String(steps));
      await time(page, `generate, ${name} ${steps} steps (warm)`, '#generate', into);
    }
  if (family === 'vae' || family === 'ae') {
    await time(page, 'code of the seed', '#latent-from-seed', into);
    await drawStroke(page, '#pad-a');
    await time(page, 'reconstruct a drawing', '#reconstruct', into);
    await page.click('#pads-from-samples');
    await time(page, 'interpolate', '#interpolate', into);
    // a slider move: decode one code (the page redraws as the slider moves)
    const t0 = performance.now();
    await page.evaluate(
      () =>
        ((window as unknown as { before: string }).before = (
          document.getElementById('latent-image') as HTMLCanvasElement
        ).toDataURL()),
    );
    await page.locator('#slider-0').fill('2.5');
    await page.waitForFunction(
      () =>
        (document.getElementById('latent-image') as HTMLCanvasElement).toDataURL() !==
        (window as unknown as { before: string }).before,
    );
    const ms = performance.now() - t0;
    into.push({ action: 'slider move (round trip through the page)', firstMs: ms, totalMs: ms });
  } else if (family === 'flow') {
    await page.click('#pads-from-samples');
    await time(page, 'image -> latent -> image', '#roundtrip', into);
    await time(page, 'interpolate', '#interpolate', into);
  } else if (family === 'gan') {
    await time(page, 'noise interpolation', '#interpolate', into);
  }
  // conditional models beside the other served models of the same data and conditioning (the one-shot baseline's point)
  if (family === 'oneshot' && (await page.$('#side-by-side'))) await time(page, 'side by side', '#side-by-side', into);
}

const { server, base } = await startServe(runs);
const webgpu = BACKENDS.some((b) => b === 'webgpu' || b === 'auto');
const browser = await launchChromium({ webgpu });
fs.mkdirSync(opts.shots!, { recursive: true });
const results: ViewResult[] = [];
try {
  for (const run of runs)
    for (const chosen of BACKENDS) {
      const id = path.basename(path.resolve(run));
      const family = readCheckpointConfig(run).family;
      const { page, errors } = await openView(browser, base, id, query(chosen));
      const r: ViewResult = {
        run,
        family,
        chosen,
        backend: ((await page.textContent('#backend')) ?? '').replace('backend: ', ''),
        loadMs: Number(/loaded in (\d+) ms/.exec((await page.textContent('#about')) ?? '')?.[1] ?? NaN),
        actions: [],
      };
      try {
        if ((await settledState(page)) === 'error') throw new Error(await errorText(page));
        await tour(page, family, r.actions, path.join(opts.shots!, `${family}-${id}-midway.png`));
      } catch (e) {
        r.error = (e as Error).message;
      }
      if (errors.length) r.error = `${r.error ?? ''} page errors: ${errors.join('; ')}`;
      const suffix = BACKENDS.length > 1 ? `-${chosen}` : '';
      await page.screenshot({ path: path.join(opts.shots!, `${family}-${id}${suffix}.png`), fullPage: true });
      results.push(r);
      console.log(
        `${id} (${family}, ${r.backend}): load ${r.loadMs} ms; ${r.actions.map((a) => `${a.action} first ${a.firstMs.toFixed(0)} ms / done ${a.totalMs.toFixed(0)} ms`).join('; ')}${r.error ? `; ERROR ${r.error}` : ''}`,
      );
      await page.close();
    }
} finally {
  await browser.close();
  server.kill();
}
fs.writeFileSync(
  opts.out!,
  `${JSON.stringify({ date: new Date().toISOString(), browser: `chromium (headless, ${webgpu ? 'WebGPU on SwiftShader' : '--disable-gpu'})`, load1: os.loadavg()[0], results }, null, 2)}\n`,
);
console.log(`wrote ${opts.out} and screenshots in ${opts.shots}\n`);
console.log(markdown(results));
if (BACKENDS.length > 1) console.log(`\n${sideBySide(results)}`);
if (results.some((r) => r.error)) process.exit(1);

async function settledState(page: Page): Promise<string> {
  return page.evaluate(() => document.getElementById('view')!.dataset.status ?? '');
}

/** The backends side by side: one row per run, the warm generation's time to the end on each backend. */
function sideBySide(rs: ViewResult[]): string {
  const head = `| run | ${BACKENDS.map((b) => rs.find((r) => r.chosen === b)?.backend ?? b).join(' | ')} |`;
  const lines = [head, `| --- |${BACKENDS.map(() => ' ---: |').join('')}`];
  for (const run of runs) {
    const cells = BACKENDS.map((b) => {
      const r = rs.find((x) => x.run === run && x.chosen === b);
      const a = r?.actions.find((x) => x.action.startsWith('generate again'));
      return r?.error
        ? 'error'
        : a
          ? a.totalMs >= 10_000
            ? `${(a.totalMs / 1000).toFixed(1)} s`
            : `${a.totalMs.toFixed(0)} ms`
          : 'n/a';
    });
    lines.push(`| ${path.basename(run)} | ${cells.join(' | ')} |`);
  }
  return lines.join('\n');
}

/** The figures as a markdown table: one row per view, load time, then first image / done per action. */
function markdown(rs: ViewResult[]): string {
  const ms = (v: number) => (v >= 10_000 ? `${(v / 1000).toFixed(1)} s` : `${v.toFixed(0)} ms`);
  const lines = ['| view (run) | load | action: first image / done |', '| --- | ---: | --- |'];
  for (const r of rs)
    lines.push(
      `| ${r.family} (${path.basename(r.run)}), ${r.backend} | ${ms(r.loadMs)} | ${r.error ? `error: ${r.error}` : r.actions.map((a) => `${a.action}: ${a.firstMs === a.totalMs ? ms(a.totalMs) : `${ms(a.firstMs)} / ${ms(a.totalMs)}`}`).join('; ')} |`,
    );
  return lines.join('\n');
}
