// The playground on WebGPU, in headless Chromium on SwiftShader (a CPU emulation of a GPU: this proves the path, not
// its speed): every family's outputs on WebGPU against the cpu backend's in float32 (loss on a seeded batch, seeded
// samples, an autoregressive model's first distribution), the page on WebGPU, and what auto and the menu choose.
import '../helpers/backend.ts';
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Browser, Page } from 'playwright-core';
import type { Outputs } from '../../src/web/protocol.ts';
import {
  CHROMIUM,
  act,
  buildPlayground,
  canvasImage,
  errorText,
  launchChromium,
  openView,
  startServe,
  workerAsset,
} from '../helpers/browser.ts';
import { FIXTURES, makeFixtures } from './fixtures.ts';

const ROOT = path.join(import.meta.dirname, '..', '..');
const TMP = fs.mkdtempSync(path.join(os.tmpdir(), 'deepgen-webgpu-'));
const RUNS = path.join(TMP, 'runs');

/** Stated tolerances, WebGPU against cpu (float32 both): relative for the loss, absolute for images in [0, 1] and
 *  for probabilities. Measured worst cases on the tiny fixtures are logged by the test. */
const LOSS_REL = 1e-4;
const SAMPLE_ABS = 1e-3;
const PROBS_ABS = 1e-5;

let server: ChildProcess | null = null;
let browser: Browser | null = null;
let base = '';

before(async () => {
  buildPlayground(ROOT);
  assert.ok(fs.existsSync(CHROMIUM), `${CHROMIUM} not found: apt-get install chromium (.ci/run does it)`);
  await makeFixtures(RUNS);
  ({ server, base } = await startServe(FIXTURES.map((f) => path.join(RUNS, f.id))));
  browser = await launchChromium({ webgpu: true });
});

after(async () => {
  await browser?.close();
  server?.kill();
  fs.rmSync(TMP, { recursive: true, force: true });
});

/** In the page: a playground worker on `backend`, the run loaded, and its outputs (protocol.ts Outputs). */
async function outputsOn(
  page: Page,
  backend: string,
  run: string,
  settings: Record<string, unknown>,
): Promise<{ backend: string; out: Outputs }> {
  const files = FIXTURES.find((f) => f.id === run)
    ? [`/runs/${run}/config.json`, `/runs/${run}/model.safetensors`]
    : [];
  // a string, not a function: tsx would wrap a function's inner arrows in its __name helper, unknown to the page
  const r = (await page.evaluate(`(async (a) => {
    const w = new Worker(a.script, { type: 'module' });
    const ask = (m) => new Promise((resolve, reject) => {
      w.onmessage = (e) => (e.data.type === 'error' ? reject(new Error(e.data.message)) : resolve(e.data));
      w.onerror = (e) => reject(new Error(e.message));
      w.postMessage(m);
    });
    try {
      const loaded = await ask({ id: 1, type: 'load', run: a.run, files: a.files, backend: a.backend });
      const out = await ask({ id: 2, type: 'outputs', run: a.run, n: 4, seed: 3, settings: a.settings });
      return {
        backend: loaded.model.backend,
        loss: out.loss,
        samples: out.samples ? Array.from(out.samples) : null,
        shape: out.shape,
        firstProbs: out.firstProbs ? Array.from(out.firstProbs) : null,
      };
    } finally {
      w.terminate();
    }
  })(${JSON.stringify({ script: workerAsset(ROOT), backend, run, files, settings })})`)) as {
    backend: string;
    loss: Record<string, number>;
    samples: number[] | null;
    shape: number[];
    firstProbs: number[] | null;
  };
  return {
    backend: r.backend,
    out: {
      loss: r.loss,
      samples: r.samples ? Float32Array.from(r.samples) : null,
      shape: r.shape,
      firstProbs: r.firstProbs ? Float32Array.from(r.firstProbs) : null,
    },
  };
}

function maxAbsDiff(a: Float32Array, b: Float32Array): number {
  assert.equal(a.length, b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

describe('e2e: WebGPU in headless Chromium (SwiftShader)', { timeout: 900_000 }, () => {
  const worst: Record<string, Record<string, number>> = {};
  after(() => console.log(`WebGPU vs cpu, worst differences per family: ${JSON.stringify(worst)}`));

  for (const f of FIXTURES) {
    test(`e2e: ${f.family} (${f.id}) - WebGPU outputs equal the cpu backend's within tolerance`, async () => {
      const page = await browser!.newPage();
      await page.goto(`${base}/`);
      // diffusion with DDIM (eta 0): deterministic given the seed's starting noise
      const settings: Record<string, unknown> = f.family === 'diffusion' ? { sampler: 'ddim', steps: 4 } : {};
      if (f.model?.cond) settings.prompts = ['red circle'];
      const cpu = await outputsOn(page, 'cpu', f.id, settings);
      const gpu = await outputsOn(page, 'webgpu', f.id, settings);
      await page.close();
      assert.equal(cpu.backend, 'cpu');
      assert.match(gpu.backend, /^webgpu \(.*swiftshader/i, 'the worker ran on the SwiftShader WebGPU adapter');
      const w: Record<string, number> = {};
      assert.deepEqual(Object.keys(gpu.out.loss).sort(), Object.keys(cpu.out.loss).sort());
      for (const [k, v] of Object.entries(cpu.out.loss)) {
        const rel = Math.abs(gpu.out.loss[k] - v) / Math.max(Math.abs(v), 1e-3);
        assert.ok(Number.isFinite(gpu.out.loss[k]), `${f.id}: ${k} is ${gpu.out.loss[k]} on WebGPU`);
        assert.ok(rel <= LOSS_REL, `${f.id}: ${k} ${gpu.out.loss[k]} on WebGPU, ${v} on cpu (relative ${rel})`);
        w[`loss ${k}`] = Math.max(w[`loss ${k}`] ?? 0, rel);
      }
      if (f.family === 'pixelcnn' || f.family === 'igpt') {
        assert.ok(cpu.out.firstProbs && gpu.out.firstProbs, `${f.id}: no first distribution`);
        const sum = gpu.out.firstProbs.reduce((s, p) => s + p, 0);
        assert.ok(Math.abs(sum - 1) < 1e-4, `${f.id}: p(x_1) sums to ${sum} on WebGPU`);
        w.probs = maxAbsDiff(cpu.out.firstProbs, gpu.out.firstProbs);
        assert.ok(w.probs <= PROBS_ABS, `${f.id}: p(x_1) differs by ${w.probs} (tolerance ${PROBS_ABS})`);
      } else {
        assert.ok(cpu.out.samples && gpu.out.samples, `${f.id}: no samples`);
        assert.deepEqual(gpu.out.shape, cpu.out.shape);
        w.samples = maxAbsDiff(cpu.out.samples, gpu.out.samples);
        assert.ok(w.samples <= SAMPLE_ABS, `${f.id}: samples differ by ${w.samples} (tolerance ${SAMPLE_ABS})`);
      }
      worst[f.id] = w;
    });
  }

  test('e2e: the page on ?backend=webgpu says so and draws the samples the cpu page draws', async () => {
    const grid = async (query: string) => {
      const { page, errors } = await openView(browser!, base, 'vae', query);
      await page.fill('#seed', '3');
      await page.fill('#n', '16');
      const st = await act(page, '#generate');
      assert.equal(st.status, 'done', await errorText(page));
      const r = { label: (await page.textContent('#backend')) ?? '', image: await canvasImage(page, 'samples') };
      assert.deepEqual(errors, []);
      await page.close();
      return r;
    };
    const gpu = await grid('?backend=webgpu');
    const cpu = await grid('?backend=cpu');
    assert.match(gpu.label, /backend: webgpu \(.*swiftshader/i);
    assert.match(cpu.label, /backend: cpu/);
    let worst = 0;
    for (let i = 0; i < cpu.image.data.length; i++)
      worst = Math.max(worst, Math.abs(cpu.image.data[i] - gpu.image.data[i]));
    assert.ok(worst <= 1, `the grids differ by ${worst} of 255`);
  });

  test('e2e: live views on WebGPU - diffusion frames step by step, pixels with their distribution', async () => {
    const { page, errors } = await openView(browser!, base, 'diffusion-text', '?backend=webgpu');
    await page.fill('#seed', '3');
    await page.fill('#n', '4');
    await page.fill('#prompt', 'red circle');
    const st = await act(page, '#generate');
    assert.equal(st.status, 'done', await errorText(page));
    assert.equal(Number(await page.getAttribute('#samples', 'data-updates')), 4, 'one frame per DDIM step');
    assert.ok(Number(st.firstMs) < Number(st.totalMs), 'the first frame came before the end');
    await page.close();
    const ar = await openView(browser!, base, 'pixelcnn', '?backend=webgpu');
    await ar.page.fill('#n', '2');
    const st2 = await act(ar.page, '#generate');
    assert.equal(st2.status, 'done', await errorText(ar.page));
    assert.ok(Number(await ar.page.getAttribute('#samples', 'data-updates')) >= 3, 'the pixels show as they are drawn');
    assert.match((await ar.page.textContent('#distribution-caption')) ?? '', /p\(x_i \| x_<i\) over \d+ values/);
    await ar.page.close();
    assert.deepEqual([...errors, ...ar.errors], []);
  });

  test('e2e: auto skips a CPU-emulated GPU for wasm and says why; the menu switches to WebGPU', async () => {
    const { page, errors } = await openView(browser!, base, 'gan');
    const label = (await page.textContent('#backend')) ?? '';
    assert.match(label, /backend: wasm \(\d+ threads?, SIMD\); auto: WebGPU is .*swiftshader.*, a CPU emulation/i);
    assert.equal(await page.inputValue('#backend-choice'), 'auto');
    await Promise.all([page.waitForURL(/backend=webgpu/), page.selectOption('#backend-choice', 'webgpu')]);
    await page.waitForFunction(() => document.getElementById('view')!.dataset.status === 'ready', null, {
      timeout: 120_000,
    });
    assert.match((await page.textContent('#backend')) ?? '', /backend: webgpu/);
    assert.equal(await page.inputValue('#backend-choice'), 'webgpu');
    assert.match(page.url(), /#run=gan$/, 'the same model stays open');
    assert.deepEqual(errors, []);
    await page.close();
  });
});
