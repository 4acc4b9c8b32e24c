// End-to-end test of the playground (slow, ~1 min): tiny checkpoints of every family, `deepgen serve` on a free port,
// and headless Chromium (Debian's chromium driven by playwright-core) generating in each view. The samples must equal
// what `deepgen sample` writes for the same seed (browser wasm vs CLI native, to a small tolerance), the live views
// must update as they sample, and bad checkpoints and prompts must show a message in the page. Screenshots of every
// view go to test-output/playground/ (or $DEEPGEN_SCREENSHOTS) for a reviewer.
import '../helpers/backend.ts';
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { decodePng } from '../../src/node/png.ts';
import type { ImageU8 } from '../../src/core/viz/grid.ts';
import { runCli } from '../helpers/cli.ts';
import {
  CHROMIUM,
  act,
  buildPlayground,
  canvasImage,
  settled,
  drawStroke,
  errorText,
  launchChromium,
  openView,
  startServe,
} from '../helpers/browser.ts';
import { FIXTURES, makeFixtures } from './fixtures.ts';

const ROOT = path.join(import.meta.dirname, '..', '..');
const SHOTS = process.env.DEEPGEN_SCREENSHOTS ?? path.join(ROOT, 'test-output', 'playground');
const TMP = fs.mkdtempSync(path.join(os.tmpdir(), 'deepgen-web-'));
const RUNS = path.join(TMP, 'runs');

let server: ChildProcess | null = null;
let browser: Browser | null = null;
let base = '';
const firstImageMs: Record<string, number> = {};

before(async () => {
  // the page under test is built from the current sources (2 s), never a stale dist/web
  buildPlayground(ROOT);
  assert.ok(fs.existsSync(CHROMIUM), `${CHROMIUM} not found: apt-get install chromium (.ci/run does it)`);
  fs.mkdirSync(SHOTS, { recursive: true });
  await makeFixtures(RUNS);
  ({ server, base } = await startServe(
    fs
      .readdirSync(RUNS)
      .sort()
      .map((d) => path.join(RUNS, d)),
  ));
  browser = await launchChromium();
});

after(async () => {
  await browser?.close();
  server?.kill();
  fs.rmSync(TMP, { recursive: true, force: true });
  if (Object.keys(firstImageMs).length)
    console.log(`time to first image (ms, tiny checkpoints, headless chromium): ${JSON.stringify(firstImageMs)}`);
});

const open = (id: string, query = '') => openView(browser!, base, id, query);

/** Not blank: drawn at some size, with more values than a border on one colour. */
function assertNotBlank(im: ImageU8, what: string): void {
  assert.ok(im.width > 4 && im.height > 4, `${what}: canvas is ${im.width}x${im.height}`);
  assert.ok(new Set(im.data).size > 2, `${what}: canvas is blank (${new Set(im.data).size} distinct values)`);
}

/** Any 8-bit image as RGB (grey repeated, alpha dropped). */
function rgb(im: ImageU8): ImageU8 {
  if (im.channels === 3) return im;
  const data = new Uint8Array(im.width * im.height * 3);
  for (let i = 0; i < im.width * im.height; i++)
    for (let k = 0; k < 3; k++) data[i * 3 + k] = im.data[i * im.channels + (im.channels === 1 ? 0 : k)];
  return { data, width: im.width, height: im.height, channels: 3 };
}

/** The CLI's PNG against the page's canvas: same size, pixels equal to within `tol` (8-bit) on all but 0.5%. */
function assertSameImage(cliIn: ImageU8, webIn: ImageU8, what: string, tol = 2): void {
  const cli = rgb(cliIn),
    web = rgb(webIn);
  assert.deepEqual([web.width, web.height], [cli.width, cli.height], `${what}: size`);
  let off = 0,
    worst = 0;
  for (let i = 0; i < cli.width * cli.height; i++) {
    for (let k = 0; k < 3; k++) {
      const d = Math.abs(cli.data[i * 3 + k] - web.data[i * 3 + k]);
      worst = Math.max(worst, d);
      if (d > tol) off++;
    }
  }
  assert.ok(
    off <= 0.005 * cli.width * cli.height * 3,
    `${what}: ${off} values differ by more than ${tol} (worst ${worst}) from \`deepgen sample\``,
  );
}

async function cliSample(id: string, n: number, extra: string[] = []): Promise<ImageU8> {
  const out = path.join(TMP, `${id}-${n}-${extra.join('_').replace(/\W+/g, '-')}.png`);
  const r = await runCli(['sample', path.join(RUNS, id), '--seed', '3', '--n', String(n), '--out', out, ...extra], {
    cwd: TMP,
  });
  assert.equal(r.code, 0, r.stderr);
  return decodePng(fs.readFileSync(out));
}

async function shot(page: Page, name: string): Promise<void> {
  await page.screenshot({ path: path.join(SHOTS, `${name}.png`), fullPage: true });
}

/** Generate with seed 3 and n samples (plus settings already typed into the page); compare with the CLI. */
async function generateLikeCli(
  page: Page,
  id: string,
  n: number,
  cliExtra: string[] = [],
  label = id,
): Promise<Record<string, string>> {
  await page.fill('#seed', '3');
  await page.fill('#n', String(n));
  const [cli, state] = await Promise.all([cliSample(id, n, cliExtra), act(page, '#generate')]);
  assert.equal(state.status, 'done', `${id}: ${await errorText(page)}`);
  const web = await canvasImage(page, 'samples');
  assertNotBlank(web, `${id} samples`);
  assertSameImage(cli, web, `${id} samples`);
  // the page names the command that writes the same grid
  const caption = (await page.textContent('#samples + figcaption')) ?? '';
  assert.ok(
    caption.includes(
      `deepgen sample ${path.relative(process.cwd(), path.join(RUNS, id))} --seed 3 --n ${n}${cliExtra.length ? ' ' : ''}${cliExtra.map((a) => (/\s/.test(a) ? `"${a}"` : a)).join(' ')}\``,
    ),
    `${id}: caption "${caption}"`,
  );
  firstImageMs[label] = Number(state.firstMs);
  return state;
}

describe('e2e: playground in headless Chromium', { timeout: 600_000 }, () => {
  test('e2e: the page lists every served model with its family', async () => {
    const { page, errors } = await open('vae');
    const rows = await page.$$eval('#models tr[data-run]', (trs) =>
      trs.map((tr) => [(tr as HTMLElement).dataset.run, tr.children[1].textContent]),
    );
    assert.deepEqual(Object.fromEntries(rows), {
      ...Object.fromEntries(FIXTURES.map((f) => [f.id, f.family])),
      broken: 'vae',
    });
    assert.deepEqual(errors, []);
    await page.close();
  });

  for (const id of ['vae', 'ae']) {
    test(`e2e: ${id} view - samples as the CLI's, sliders, reconstruction of a drawing, interpolation`, async () => {
      const { page, errors } = await open(id);
      await generateLikeCli(page, id, 16);
      // sliders decode as they move
      await act(page, '#latent-from-seed');
      await page.waitForFunction(() => (document.getElementById('latent-image') as HTMLCanvasElement).width > 4);
      const before = await canvasImage(page, 'latent-image');
      await page.evaluate(
        () =>
          ((window as unknown as { before: string }).before = (
            document.getElementById('latent-image') as HTMLCanvasElement
          ).toDataURL()),
      );
      await page.locator('#slider-0').fill('3.5');
      await page.waitForFunction(
        () =>
          (document.getElementById('latent-image') as HTMLCanvasElement).toDataURL() !==
          (window as unknown as { before: string }).before,
        null,
        { timeout: 10_000 },
      );
      const moved = await canvasImage(page, 'latent-image');
      assertNotBlank(moved, `${id} slider image`);
      assert.notDeepEqual(moved.data, before.data, `${id}: moving z0 did not change the decoded image`);
      // draw a stroke on pad A, reconstruct it
      await drawStroke(page, '#pad-a');
      assert.equal((await act(page, '#reconstruct')).status, 'done', await errorText(page));
      assertNotBlank(await canvasImage(page, 'reconstruction'), `${id} reconstruction`);
      if (id === 'ae') {
        // a 2-d code is picked with the mouse in its plane
        const plane = (await page.locator('#latent-2d').boundingBox())!;
        await page.evaluate(
          () =>
            ((window as unknown as { before: string }).before = (
              document.getElementById('latent-image') as HTMLCanvasElement
            ).toDataURL()),
        );
        await page.mouse.click(plane.x + plane.width * 0.9, plane.y + plane.height * 0.1);
        await page.waitForFunction(
          () =>
            (document.getElementById('latent-image') as HTMLCanvasElement).toDataURL() !==
            (window as unknown as { before: string }).before,
          null,
          { timeout: 10_000 },
        );
        assert.equal(
          Number(await page.locator('#slider-0').inputValue()),
          3.2,
          'the click at 90% across sets z0 = 3.2',
        );
      }
      // an image file loaded into pad B is resized to the model's size
      const before2 = (await canvasImage(page, 'pad-b')).data;
      await page.setInputFiles('#pad-b-file', path.join(ROOT, 'docs', 'images', 'cgan-fmnist.png'));
      await page.waitForFunction(
        () => {
          const c = document.getElementById('pad-b') as HTMLCanvasElement;
          return Array.from(c.getContext('2d')!.getImageData(0, 0, c.width, c.height).data).some(
            (v, i) => i % 4 !== 3 && v > 0,
          );
        },
        null,
        { timeout: 10_000 },
      );
      assert.notDeepEqual((await canvasImage(page, 'pad-b')).data, before2, 'the loaded file shows on pad B');
      // interpolate between two samples
      await page.click('#pads-from-samples');
      const st = await act(page, '#interpolate');
      assert.equal(st.status, 'done', await errorText(page));
      const strip = await canvasImage(page, 'interpolation');
      assertNotBlank(strip, `${id} interpolation`);
      assert.equal(strip.width, 8 * 16 + 9 * 2, 'eight 16-pixel images with borders');
      await shot(page, `${id}-view`);
      assert.deepEqual(errors, []);
      await page.close();
    });
  }

  for (const id of ['pixelcnn', 'igpt']) {
    test(`e2e: ${id} view - fills in pixel by pixel with the current pixel's distribution; page stays responsive`, async () => {
      const { page, errors } = await open(id);
      await page.fill('#seed', '3');
      await page.fill('#n', '2');
      const cli = cliSample(id, 2);
      await page.click('#generate');
      // while the worker samples, the page answers within a frame or two
      const lag = await page.evaluate(async () => {
        const t = performance.now();
        await new Promise((r) => requestAnimationFrame(() => r(null)));
        return { lag: performance.now() - t, busy: document.getElementById('view')!.dataset.status === 'busy' };
      });
      const state = await settled(page);
      assert.equal(state.status, 'done', await errorText(page));
      if (lag.busy) assert.ok(lag.lag < 250, `the page froze for ${lag.lag.toFixed(0)} ms while sampling`);
      const web = await canvasImage(page, 'samples');
      assertNotBlank(web, `${id} samples`);
      assertSameImage(await cli, web, `${id} samples`);
      firstImageMs[id] = Number(state.firstMs);
      const updates = Number(await page.getAttribute('#samples', 'data-updates'));
      assert.ok(updates >= 3, `${id}: only ${updates} live updates while filling 256 pixels`);
      assert.match(
        (await page.textContent('#distribution-caption')) ?? '',
        /p\(x_i \| x_<i\) over \d+ values; drawn \d+/,
      );
      assertNotBlank(await canvasImage(page, 'distribution'), `${id} distribution chart`);
      await shot(page, `${id}-view`);
      assert.deepEqual(errors, []);
      await page.close();
    });
  }

  test('e2e: flow view - temperature as the CLI, image -> latent -> image round trip', async () => {
    const { page, errors } = await open('flow');
    await page.locator('#temperature').fill('0.5');
    await generateLikeCli(page, 'flow', 16, ['--temperature', '0.5']);
    await page.click('#pads-from-samples');
    assert.equal((await act(page, '#roundtrip')).status, 'done', await errorText(page));
    const caption = (await page.textContent('#roundtrip-image + figcaption')) ?? '';
    const worst = Number(/largest pixel difference (\d+) of 255/.exec(caption)?.[1]);
    assert.ok(worst <= 1, `round trip changed a pixel by ${worst}/255: ${caption}`);
    assertNotBlank(await canvasImage(page, 'roundtrip-image'), 'flow round trip');
    assert.equal((await act(page, '#interpolate')).status, 'done', await errorText(page));
    assertNotBlank(await canvasImage(page, 'interpolation'), 'flow interpolation');
    await shot(page, 'flow-view');
    assert.deepEqual(errors, []);
    await page.close();
  });

  test('e2e: gan view - grid as the CLI, noise interpolation, download', async () => {
    const { page, errors } = await open('gan');
    await generateLikeCli(page, 'gan', 16);
    assert.equal((await act(page, '#interpolate')).status, 'done', await errorText(page));
    assertNotBlank(await canvasImage(page, 'interpolation'), 'gan interpolation');
    const [download] = await Promise.all([page.waitForEvent('download'), page.click('#samples-download')]);
    assert.equal(download.suggestedFilename(), 'gan-samples-seed3.png');
    const file = path.join(TMP, 'downloaded.png');
    await download.saveAs(file);
    assertSameImage(await cliSample('gan', 16), decodePng(fs.readFileSync(file)), 'downloaded PNG', 0);
    await shot(page, 'gan-view');
    assert.deepEqual(errors, []);
    await page.close();
  });

  test('e2e: diffusion view - denoises step by step with a prompt and guidance as the CLI; an unknown word is a message', async () => {
    const { page, errors } = await open('diffusion-text');
    await page.fill('#prompt', 'red circle');
    await page.locator('#guidance').fill('3');
    const state = await generateLikeCli(page, 'diffusion-text', 4, ['--prompt', 'red circle', '--guidance', '3']);
    assert.equal(state.status, 'done');
    assert.equal(
      Number(await page.getAttribute('#samples', 'data-updates')),
      4,
      'one frame per denoising step (4 DDIM steps)',
    );
    const strip = await canvasImage(page, 'denoising');
    assert.equal(strip.width, 4 * 16 + 5 * 2, 'sample 1 at each of the 4 steps');
    assert.equal(strip.height, 2 * 16 + 3 * 2, 'two rows: x_t and the predicted x_0');
    assertNotBlank(strip, 'denoising strip');
    // the tile of row r, column c (16x16 with a 2-pixel border), as RGB bytes
    const tile = (r: number, c: number) => {
      const out: number[] = [];
      for (let y = 0; y < 16; y++)
        for (let x = 0; x < 16; x++) {
          const i = ((2 + r * 18 + y) * strip.width + 2 + c * 18 + x) * strip.channels;
          out.push(strip.data[i], strip.data[i + 1], strip.data[i + 2]);
        }
      return out;
    };
    // DDIM eta 0 ends on the last step's x0hat; before that the prediction is not the noisy x_t
    assert.deepEqual(tile(1, 3), tile(0, 3), 'the last predicted x_0 is the sample');
    assert.notDeepEqual(tile(1, 0), tile(0, 0), 'the first predicted x_0 differs from x_t');
    assert.deepEqual(
      await page.$$eval('#denoising-labels span', (s) => s.map((e) => [e.textContent, (e as HTMLElement).hidden])),
      [
        ['x_t', false],
        ['predicted x_0', false],
      ],
    );
    assert.match((await page.textContent('#denoising-caption')) ?? '', /x0hat = \(x_t - sqrt\(1 - alphaBar_t\) eps\)/);
    await shot(page, 'diffusion-view');
    await page.fill('#prompt', 'red elephant');
    const bad = await act(page, '#generate');
    assert.equal(bad.status, 'error');
    assert.match(await errorText(page), /"elephant" is not in this model's vocabulary; known words: .*circle/);
    await shot(page, 'diffusion-unknown-word');
    assert.deepEqual(errors, []);
    await page.close();
  });

  test('e2e: one-shot view - its output as the CLI, and side by side with the diffusion model for a typed prompt', async () => {
    const { page, errors } = await open('oneshot-text');
    await page.fill('#prompt', 'red circle');
    await generateLikeCli(page, 'oneshot-text', 4, ['--prompt', 'red circle']);
    await page.fill('#n', '6');
    assert.equal((await act(page, '#side-by-side')).status, 'done', await errorText(page));
    const grid = await canvasImage(page, 'side-by-side-image');
    assertNotBlank(grid, 'side by side');
    assert.equal(grid.height, 2 * 16 + 3 * 2, 'one row per model: the one-shot model and the diffusion model');
    const variance = async (id: string) =>
      Number(await page.textContent(`#side-by-side-table tr[data-run="${id}"] td.variance`));
    assert.equal(await variance('oneshot-text'), 0, 'a one-shot model draws one image, whatever the seed');
    assert.ok((await variance('diffusion-text')) > 0, 'a generative model draws different images');
    await shot(page, 'oneshot-side-by-side');
    assert.deepEqual(errors, []);
    await page.close();
  });

  test('e2e: a damaged checkpoint shows what is wrong, not a blank page', async () => {
    const { page, errors } = await open('broken');
    assert.equal(await page.evaluate(() => document.getElementById('view')!.dataset.status), 'error');
    assert.match(await errorText(page), /model\.safetensors of broken is not a valid safetensors file/);
    await shot(page, 'broken-checkpoint');
    assert.deepEqual(errors, []);
    await page.close();
  });

  test('e2e: the cpu backend in the browser gives the same pixels too', async () => {
    const { page } = await open('pixelcnn', '?backend=cpu');
    assert.match((await page.textContent('#backend')) ?? '', /cpu/);
    await generateLikeCli(page, 'pixelcnn', 2, [], 'pixelcnn (cpu backend)');
    await page.close();
  });
});
