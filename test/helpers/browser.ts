// Headless Chromium (Debian's chromium, driven by playwright-core) against `deepgen serve`: starting the server on a
// free port, opening a model's view, clicking an action and waiting for it, and reading a canvas's pixels.
// Used by the playground's e2e test and by its benchmark (bench/playground.ts).
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';
import type { ImageU8 } from '../../src/core/viz/grid.ts';
import { BIN } from './cli.ts';

export const CHROMIUM = '/usr/bin/chromium';

/** Chromium's flags for WebGPU without a GPU: its SwiftShader Vulkan device (a CPU emulation; the page must be served
 *  from localhost, a secure context). See ../shared/notes/webgpu-on-this-machine.md. */
export const WEBGPU_FLAGS = ['--enable-unsafe-webgpu', '--use-webgpu-adapter=swiftshader', '--enable-features=Vulkan'];

/** Headless Chromium; `webgpu` gives pages a WebGPU adapter on SwiftShader, otherwise the GPU is off. */
export function launchChromium(o: { webgpu?: boolean } = {}): Promise<Browser> {
  return chromium.launch({
    executablePath: CHROMIUM,
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-background-networking',
      ...(o.webgpu ? WEBGPU_FLAGS : ['--disable-gpu']),
    ],
  });
}

/** Builds the playground (dist/web) from the current sources with vite (2 s): tests never use a stale build. */
export function buildPlayground(root: string): void {
  execFileSync(
    process.execPath,
    [
      path.join(root, 'node_modules', 'vite', 'bin', 'vite.js'),
      'build',
      '--config',
      path.join(root, 'src', 'web', 'vite.config.ts'),
    ],
    { cwd: root, stdio: 'pipe' },
  );
}

/** The built playground's worker script, as a path under the server (/assets/worker-HASH.js). */
export function workerAsset(root: string): string {
  const name = fs.readdirSync(path.join(root, 'dist', 'web', 'assets')).find((f) => /^worker-.*\.js$/.test(f));
  if (!name) throw new Error('dist/web has no worker script; build the playground first');
  return `/assets/${name}`;
}

/** `deepgen serve RUN... --port 0` (in `cwd`, with `extra` flags); resolves with the server process, its base URL once
 *  it listens, and everything it has written so far (stdout and stderr). */
export async function startServe(
  runs: string[],
  o: { cwd?: string; extra?: string[] } = {},
): Promise<{ server: ChildProcess; base: string; output: () => string }> {
  const env = { ...process.env };
  delete env.NODE_OPTIONS;
  delete env.NODE_TEST_CONTEXT;
  const server = spawn(process.execPath, [BIN, 'serve', ...runs, '--port', '0', ...(o.extra ?? [])], {
    env,
    cwd: o.cwd,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  const base = await new Promise<string>((resolve, reject) => {
    server.stdout!.on('data', (d) => {
      out += d;
      const m = /at (http:\/\/127\.0\.0\.1:\d+)\//.exec(out);
      if (m) resolve(m[1]);
    });
    server.stderr!.on('data', (d) => (out += d));
    server.on('exit', (code) => reject(new Error(`deepgen serve exited with ${code}: ${out}`)));
  });
  return { server, base, output: () => out };
}

/** A page on run `id` with its model loaded (or failed to load); page errors are collected. */
export async function openView(
  browser: Browser,
  base: string,
  id: string,
  query = '',
): Promise<{ page: Page; errors: string[] }> {
  const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
  const errors: string[] = [];
  page.on('pageerror', (e) => errors.push(e.message));
  await page.goto(`${base}/${query}#run=${encodeURIComponent(id)}`);
  await page.waitForFunction(
    () => ['ready', 'error'].includes(document.getElementById('view')!.dataset.status ?? ''),
    null,
    { timeout: 120_000 },
  );
  return { page, errors };
}

/** Waits until the current action is done (or failed); returns the view's data-* state (status, firstMs, totalMs). */
export async function settled(page: Page): Promise<Record<string, string>> {
  await page.waitForFunction(
    () => ['done', 'error'].includes(document.getElementById('view')!.dataset.status ?? ''),
    null,
    { timeout: 600_000 },
  );
  return page.evaluate(() => ({ ...document.getElementById('view')!.dataset }) as Record<string, string>);
}

/** Clicks an action button and waits for it. */
export async function act(page: Page, button: string): Promise<Record<string, string>> {
  await page.click(button);
  return settled(page);
}

/** The in-page error message, or '' when none is shown. */
export async function errorText(page: Page): Promise<string> {
  return (await page.locator('#error').isVisible()) ? ((await page.textContent('#error')) ?? '') : '';
}

/** A canvas's pixels as an RGB image. */
export async function canvasImage(page: Page, id: string): Promise<ImageU8> {
  const r = await page.evaluate((cid) => {
    const c = document.getElementById(cid) as HTMLCanvasElement;
    return { w: c.width, h: c.height, d: Array.from(c.getContext('2d')!.getImageData(0, 0, c.width, c.height).data) };
  }, id);
  const data = new Uint8Array(r.w * r.h * 3);
  for (let i = 0; i < r.w * r.h; i++) for (let k = 0; k < 3; k++) data[i * 3 + k] = r.d[i * 4 + k];
  return { data, width: r.w, height: r.h, channels: 3 };
}

/** Draws a diagonal stroke across a drawing pad with the mouse. */
export async function drawStroke(page: Page, pad: string): Promise<void> {
  const box = (await page.locator(pad).boundingBox())!;
  await page.mouse.move(box.x + box.width * 0.2, box.y + box.height * 0.3);
  await page.mouse.down();
  await page.mouse.move(box.x + box.width * 0.8, box.y + box.height * 0.7, { steps: 12 });
  await page.mouse.up();
}
