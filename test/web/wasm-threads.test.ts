// The playground's threaded wasm backend in headless Chromium (~40 s): `deepgen serve` isolates the page (COOP/COEP), so
// the model worker runs TF.js's threaded SIMD build on every core; its samples must equal the one-thread build's
// (?threads=1) byte for byte and `deepgen sample`'s to the playground test's tolerance, with no page error.
import '../helpers/backend.ts';
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Browser, Page, Worker } from 'playwright-core';
import { decodePng } from '../../src/node/png.ts';
import type { ImageU8 } from '../../src/core/viz/grid.ts';
import { runCli } from '../helpers/cli.ts';
import {
  CHROMIUM,
  act,
  buildPlayground,
  canvasImage,
  errorText,
  launchChromium,
  openView,
  startServe,
} from '../helpers/browser.ts';
import { trainTinyRun } from '../helpers/tiny-run.ts';

const ROOT = path.join(import.meta.dirname, '..', '..');
const TMP = fs.mkdtempSync(path.join(os.tmpdir(), 'deepgen-threads-'));
const RUN = path.join(TMP, 'runs', 'vae');
const PIXELS = path.join(TMP, 'runs', 'pixelcnn');
const N = 16;

let server: ChildProcess | null = null;
let browser: Browser | null = null;
let base = '';

before(async () => {
  buildPlayground(ROOT);
  assert.ok(fs.existsSync(CHROMIUM), `${CHROMIUM} not found: apt-get install chromium (.ci/run does it)`);
  await trainTinyRun('vae', RUN); // conv layers: the kernels XNNPACK spreads over its threads
  await trainTinyRun('pixelcnn', PIXELS);
  ({ server, base } = await startServe([RUN, PIXELS]));
  browser = await launchChromium();
});

after(async () => {
  await browser?.close();
  server?.kill();
  fs.rmSync(TMP, { recursive: true, force: true });
});

/** The page's model worker (a module worker from /assets/) and the pthread workers (blob: URLs) it started. */
function workers(page: Page): { model: Worker; pthreads: Worker[] } {
  const all = page.workers();
  const model = all.find((w) => /\/assets\/worker-[\w-]+\.js$/.test(w.url()));
  assert.ok(model, `no model worker among ${all.map((w) => w.url()).join(', ')}`);
  return { model, pthreads: all.filter((w) => w.url().startsWith('blob:')) };
}

/** `samples` images of the tiny vae, seed 3, as the page draws them (the grid canvas). */
async function pageSamples(query: string): Promise<{ label: string; image: ImageU8; page: Page; errors: string[] }> {
  const { page, errors } = await openView(browser!, base, 'vae', query);
  assert.equal(
    await page.evaluate(() => document.getElementById('view')!.dataset.status),
    'ready',
    await errorText(page),
  );
  await page.fill('#seed', '3');
  await page.fill('#n', String(N));
  const st = await act(page, '#generate');
  assert.equal(st.status, 'done', await errorText(page));
  const label = ((await page.textContent('#backend')) ?? '').replace('backend: ', '');
  return { label, image: await canvasImage(page, 'samples'), page, errors };
}

/** An 8-bit image as RGB (grey repeated). */
function rgb(im: ImageU8): Uint8Array {
  if (im.channels === 3) return im.data;
  const out = new Uint8Array(im.width * im.height * 3);
  for (let i = 0; i < im.width * im.height; i++) out.fill(im.data[i * im.channels], i * 3, i * 3 + 3);
  return out;
}

describe('e2e: the threaded wasm backend in headless Chromium', { timeout: 300_000 }, () => {
  let threaded: Awaited<ReturnType<typeof pageSamples>>;
  let single: Awaited<ReturnType<typeof pageSamples>>;

  test('e2e: the page and its model worker are cross-origin isolated (COOP and COEP on every response)', async () => {
    const r = await fetch(`${base}/`);
    assert.equal(r.headers.get('cross-origin-opener-policy'), 'same-origin');
    assert.equal(r.headers.get('cross-origin-embedder-policy'), 'require-corp');
    threaded = await pageSamples('?backend=wasm');
    assert.equal(await threaded.page.evaluate(() => self.crossOriginIsolated), true, 'page');
    const { model } = workers(threaded.page);
    assert.equal(await model.evaluate(() => self.crossOriginIsolated), true, 'model worker');
    assert.equal(await model.evaluate(() => typeof SharedArrayBuffer), 'function', 'model worker');
  });

  test('e2e: wasm runs on every core (navigator.hardwareConcurrency threads, at most the build pool of 8)', async () => {
    const cores = await threaded.page.evaluate(() => navigator.hardwareConcurrency);
    const n = Math.min(cores, 8);
    assert.equal(threaded.label, `wasm (${n} thread${n === 1 ? '' : 's'}, SIMD)`);
    if (n > 1) assert.ok(workers(threaded.page).pthreads.length >= n - 1, 'pthread workers running');
    // the worker's navigator is its own again once the backend started (wasm-setup.ts reports twice the count meanwhile)
    assert.equal(await workers(threaded.page).model.evaluate(() => navigator.hardwareConcurrency), cores);
    assert.deepEqual(threaded.errors, []);
  });

  test('e2e: ?threads=1 runs the one-thread build, with the same samples byte for byte', async () => {
    single = await pageSamples('?backend=wasm&threads=1');
    assert.equal(single.label, 'wasm (1 thread, SIMD)');
    assert.deepEqual(workers(single.page).pthreads, [], 'no pthread workers');
    assert.deepEqual(single.errors, []);
    assert.deepEqual([threaded.image.width, threaded.image.height], [single.image.width, single.image.height]);
    assert.ok(Buffer.from(threaded.image.data).equals(Buffer.from(single.image.data)), 'threaded samples differ');
  });

  test('e2e: and both equal `deepgen sample` (to the playground test tolerance: 2 of 255 on all but 0.5%)', async () => {
    const out = path.join(TMP, 'cli.png');
    const r = await runCli(['sample', RUN, '--seed', '3', '--n', String(N), '--out', out], { cwd: TMP });
    assert.equal(r.code, 0, r.stderr);
    const cli = decodePng(fs.readFileSync(out));
    assert.deepEqual([threaded.image.width, threaded.image.height], [cli.width, cli.height]);
    const a = rgb(cli),
      b = rgb(threaded.image);
    let off = 0;
    for (let i = 0; i < a.length; i++) if (Math.abs(a[i] - b[i]) > 2) off++;
    assert.ok(off <= 0.005 * a.length, `${off} of ${a.length} values differ by more than 2 from the CLI's`);
    assert.ok(new Set(b).size > 2, 'the samples are not blank');
  });

  test('e2e: a model that draws a value at a time gets one thread (unless ?threads= says), in a new worker', async () => {
    // the threaded vae page opens the pixelcnn: its worker's wasm has 2 threads, so the page starts a new worker
    const page = threaded.page;
    await page.evaluate(() => (location.hash = 'run=pixelcnn'));
    await page.waitForFunction(
      () =>
        document.getElementById('view')!.dataset.run === 'pixelcnn' &&
        ['ready', 'error'].includes(document.getElementById('view')!.dataset.status ?? ''),
      null,
      { timeout: 60_000 },
    );
    assert.equal(await errorText(page), '');
    assert.match(
      (await page.textContent('#backend')) ?? '',
      /^backend: wasm \(1 thread, SIMD\) \(one thread: this model draws a value at a time/,
    );
    await page.fill('#n', '2');
    assert.equal((await act(page, '#generate')).status, 'done', await errorText(page));
    const forced = await openView(browser!, base, 'pixelcnn', '?backend=wasm&threads=2');
    assert.match((await forced.page.textContent('#backend')) ?? '', /^backend: wasm \(2 threads, SIMD\)$/);
    assert.deepEqual([...threaded.errors, ...forced.errors], []);
    await forced.page.close();
  });
});
