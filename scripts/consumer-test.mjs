#!/usr/bin/env node
// npm run test:consumer: deepgen as a user gets it. Packs the tarball (with the linux-x64 native prebuild), installs it in
// a fresh temporary project with no loader and no compiler step, and checks there:
//   1. the install's size (node_modules, deepgen and its dependencies only; target <= 120 MB) and that the native
//      backend loads from the prebuild (no install script ran); the zoo ships in it (`deepgen models`, `deepgen demo`);
//   2. the Node examples (examples/node/*.mjs) and README.md's library example under plain `node`;
//   3. `tsc --noEmit` over the examples, NodeNext + strict, then + noUncheckedIndexedAccess, exactOptionalPropertyTypes
//      and skipLibCheck false: 0 errors each;
//   4. the browser example (examples/browser) bundled by the project's own Vite and run in headless Chromium: the same
//      pixels as `deepgen sample` for the same run and seed (both on the cpu backend).
// Packages come from npm's cache where they are (`npm ci` filled it). DEEPGEN_CONSUMER_KEEP=1 keeps the folder.
import { spawnSync } from 'node:child_process';
import {
  cpSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  readdirSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { PNG } from 'pngjs';
import { chromium } from 'playwright-core';

const ROOT = path.join(path.dirname(fileURLToPath(import.meta.url)), '..');
const MAX_INSTALL_MB = 120;
const pkg = JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8'));
const devVersion = (name) => pkg.devDependencies[name];
const t0 = Date.now();
const step = (msg) => console.log(`consumer: [${((Date.now() - t0) / 1000).toFixed(0)} s] ${msg}`);
const fail = (msg) => {
  console.error(`consumer: FAILED: ${msg}`);
  process.exit(1);
};

/** Runs a command in the consumer project; fails the test with its output when it exits non-zero. */
function sh(cmd, args, opts = {}) {
  const env = { ...process.env, ...opts.env };
  delete env.NODE_OPTIONS; // no tsx or other loader in the consumer
  const r = spawnSync(cmd, args, { cwd: opts.cwd ?? app, env, encoding: 'utf8', maxBuffer: 64 << 20 });
  if (r.status !== 0) fail(`\`${cmd} ${args.join(' ')}\` exited ${r.status}\n${r.stdout}\n${r.stderr}`);
  return r.stdout;
}

function duBytes(dir) {
  let n = 0;
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) n += duBytes(p);
    else if (e.isFile()) n += statSync(p).size;
  }
  return n;
}

const tmp = mkdtempSync(path.join(os.tmpdir(), 'deepgen-consumer-'));
const app = path.join(tmp, 'app');
mkdirSync(app);
try {
  // 1. pack and install
  step('npm pack (builds the native prebuild)');
  const packed = (() => {
    const text = sh('npm', ['pack', '--json', '--pack-destination', tmp], { cwd: ROOT });
    return JSON.parse(text.slice(text.search(/^\[/m))); // lifecycle scripts may print before the JSON
  })();
  const tarball = path.join(tmp, packed[0].filename);
  step(`packed ${packed[0].filename}: ${(packed[0].size / 1e6).toFixed(1)} MB, ${packed[0].entryCount} files`);
  for (const must of [
    'dist/index.js',
    'dist/index.d.ts',
    'dist/node/index.js',
    'dist/cli/main.js',
    'dist/web/index.html',
    'vendor/tfjs-gradients.js',
    'native/prebuilds/linux-x64/',
  ]) {
    if (!packed[0].files.some((f) => f.path.startsWith(must))) fail(`the tarball has no ${must}`);
  }
  if (packed[0].files.some((f) => f.path.startsWith('src/') || (f.path.endsWith('.ts') && !f.path.endsWith('.d.ts'))))
    fail('the tarball ships TypeScript sources');
  writeFileSync(
    path.join(app, 'package.json'),
    JSON.stringify({ name: 'deepgen-consumer', private: true, type: 'module' }, null, 2),
  );
  step('npm install the tarball');
  sh('npm', ['install', '--prefer-offline', '--no-audit', '--no-fund', tarball]);
  const mb = duBytes(path.join(app, 'node_modules')) / 1e6;
  console.log(
    `consumer: node_modules after \`npm install deepgen\`: ${mb.toFixed(1)} MB (target <= ${MAX_INSTALL_MB} MB)`,
  );
  if (mb > MAX_INSTALL_MB) fail(`node_modules is ${mb.toFixed(1)} MB, over ${MAX_INSTALL_MB} MB`);
  if (existsSync(path.join(app, 'node_modules/tsx')) || existsSync(path.join(app, 'node_modules/esbuild')))
    fail('tsx or esbuild was installed: they must be dev dependencies');
  if (existsSync(path.join(app, 'node_modules/deepgen/native/build')))
    fail('the native addon was compiled at install: the prebuild should have been used');
  const info = sh('npx', ['--no-install', 'deepgen', 'info']);
  if (!/backend\W+native/i.test(info))
    fail(`deepgen info does not report the native backend (from the prebuild):\n${info}`);
  step('the native backend loads from the prebuild');

  // the zoo ships in the package: deepgen models lists it, deepgen demo draws from it
  const models = sh('npx', ['--no-install', 'deepgen', 'models']);
  if (!/zoo:diffusion-shapes-text/.test(models)) fail(`deepgen models does not list the zoo:\n${models}`);
  const t0 = performance.now();
  const demo = sh('npx', ['--no-install', 'deepgen', 'demo']);
  step(`npx deepgen demo from the installed package: ${((performance.now() - t0) / 1000).toFixed(1)} s`);
  console.log(demo.trim().split('\n').slice(-12).join('\n'));
  for (const f of ['demo/index.html', 'demo/diffusion-shapes-text.png', 'demo/one-shot-vs-sampling.png'])
    if (!existsSync(path.join(app, f))) fail(`deepgen demo did not write ${f}`);

  step('npm install the dev tools for the checks (typescript, vite, @types/node)');
  sh('npm', [
    'install',
    '--prefer-offline',
    '--no-audit',
    '--no-fund',
    '-D',
    `typescript@${devVersion('typescript')}`,
    `vite@${devVersion('vite')}`,
    `@types/node@${devVersion('@types/node')}`,
  ]);
  cpSync(path.join(ROOT, 'examples'), path.join(app, 'examples'), { recursive: true });

  // 2. the Node examples, plain node
  step('examples/node/train-and-sample.mjs');
  console.log(sh('node', ['examples/node/train-and-sample.mjs', 'runs/vae']).trim().split('\n').slice(-3).join('\n'));
  for (const f of ['runs/vae/config.json', 'runs/vae/model.safetensors', 'runs/vae/samples.png'])
    if (!existsSync(path.join(app, f))) fail(`the example did not write ${f}`);
  step('examples/node/load-and-sample.mjs');
  console.log(
    sh('node', ['examples/node/load-and-sample.mjs', 'runs/vae', 'out/loaded.png'])
      .trim()
      .split('\n')
      .slice(-2)
      .join('\n'),
  );
  if (!existsSync(path.join(app, 'out/loaded.png'))) fail('load-and-sample.mjs wrote no out/loaded.png');

  // the README's library examples, as written: the Node one runs, both are type-checked below
  const readme = readFileSync(path.join(ROOT, 'README.md'), 'utf8');
  const section = readme.slice(readme.indexOf('## Use it as a library'));
  const blocks = [...section.matchAll(/```ts\n([\s\S]*?)```/g)].map((m) => m[1]);
  const nodeBlock = blocks.find((b) => b.includes("from 'deepgen/node'"));
  const browserBlock = blocks.find((b) => b.includes("from 'deepgen'"));
  if (!nodeBlock || !browserBlock)
    fail("README.md's library section has no deepgen/node or deepgen example in a ```ts block");
  mkdirSync(path.join(app, 'examples/readme'), { recursive: true });
  writeFileSync(path.join(app, 'examples/readme/node.mts'), nodeBlock);
  writeFileSync(path.join(app, 'examples/readme/node.mjs'), '// @ts-check\n' + nodeBlock);
  writeFileSync(path.join(app, 'examples/readme/browser.mts'), 'export {};\n' + browserBlock);
  step("README.md's Node example");
  console.log(sh('node', ['examples/readme/node.mjs']).trim().split('\n').slice(-2).join('\n'));

  // 3. tsc over the examples, two settings
  const base = {
    module: 'NodeNext',
    moduleResolution: 'NodeNext',
    target: 'ES2022',
    lib: ['ES2022', 'DOM', 'DOM.Iterable'],
    strict: true,
    allowJs: true,
    checkJs: true,
    noEmit: true,
  };
  const settings = {
    'NodeNext strict': base,
    'strict + noUncheckedIndexedAccess + exactOptionalPropertyTypes + skipLibCheck false': {
      ...base,
      noUncheckedIndexedAccess: true,
      exactOptionalPropertyTypes: true,
      skipLibCheck: false,
    },
  };
  let i = 0;
  for (const [name, compilerOptions] of Object.entries(settings)) {
    const file = `tsconfig.check${i++}.json`;
    writeFileSync(
      path.join(app, file),
      JSON.stringify(
        {
          compilerOptions,
          include: ['examples/**/*.mjs', 'examples/**/*.js', 'examples/**/*.mts'],
          exclude: ['examples/readme/node.mjs'],
        },
        null,
        2,
      ),
    );
    const r = spawnSync(path.join(app, 'node_modules/.bin/tsc'), ['-p', file], { cwd: app, encoding: 'utf8' });
    const errors = (r.stdout.match(/error TS\d+/g) ?? []).length;
    console.log(`consumer: tsc --noEmit (${name}): ${errors} errors`);
    if (r.status !== 0) fail(`tsc (${name}) failed:\n${r.stdout}${r.stderr}`);
  }

  // 4. the browser example: the project's own Vite bundle, in headless Chromium, against the CLI's pixels
  step('vite build examples/browser');
  sh(path.join(app, 'node_modules/.bin/vite'), [
    'build',
    'examples/browser',
    '--outDir',
    path.join(app, 'web'),
    '--emptyOutDir',
    '--logLevel',
    'warn',
  ]);
  const N = 16,
    SEED = 3;
  sh('npx', [
    '--no-install',
    'deepgen',
    'sample',
    'runs/vae',
    '--n',
    String(N),
    '--seed',
    String(SEED),
    '--backend',
    'cpu',
    '--files',
    'out/cli',
  ]);
  const server = http.createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://x');
    const rel = url.pathname.startsWith('/runs/')
      ? url.pathname.slice(1)
      : path.join('web', url.pathname === '/' ? 'index.html' : url.pathname.slice(1));
    const file = path.join(app, path.normalize(rel));
    if (!file.startsWith(app) || !existsSync(file) || !statSync(file).isFile()) {
      res.writeHead(404).end();
      return;
    }
    const type =
      { '.html': 'text/html', '.js': 'text/javascript', '.json': 'application/json', '.wasm': 'application/wasm' }[
        path.extname(file)
      ] ?? 'application/octet-stream';
    res.writeHead(200, { 'content-type': type }).end(readFileSync(file));
  });
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  const port = server.address().port;
  const browser = await chromium.launch({
    executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium',
    args: ['--headless', '--no-sandbox', '--disable-gpu'],
  });
  try {
    const page = await browser.newPage();
    const errors = [];
    page.on('pageerror', (e) => errors.push(String(e)));
    await page.goto(`http://127.0.0.1:${port}/?model=/runs/vae/&n=${N}&seed=${SEED}`);
    await page.waitForFunction(
      () => document.body.dataset.state === 'done' || document.body.dataset.state === 'error',
      null,
      { timeout: 120_000 },
    );
    const out = await page.evaluate(() => ({
      state: document.body.dataset.state,
      error: document.body.dataset.error,
      images: window.deepgenResult,
    }));
    if (out.state !== 'done' || errors.length)
      fail(`the browser example failed: ${out.error ?? ''} ${errors.join('; ')}`);
    const { n, height, width, channels, data } = out.images;
    if (n !== N) fail(`the page drew ${n} images, not ${N}`);
    const size = height * width * channels;
    let differ = 0;
    for (let k = 0; k < N; k++) {
      const png = PNG.sync.read(readFileSync(path.join(app, 'out/cli', `${String(k).padStart(4, '0')}.png`)));
      if (png.width !== width || png.height !== height)
        fail(`sample ${k}: the CLI wrote ${png.width}x${png.height}, the page ${width}x${height}`);
      for (let p = 0; p < height * width; p++)
        for (let c = 0; c < channels; c++) if (png.data[p * 4 + c] !== data[k * size + p * channels + c]) differ++;
    }
    console.log(
      `consumer: browser example vs \`deepgen sample --backend cpu\`: ${N} images ${width}x${height}x${channels}, ${differ} of ${N * size} values differ`,
    );
    if (differ) fail("the browser example does not give the CLI's pixels for the same seed");
    await page.screenshot({ path: path.join(tmp, 'browser-example.png') });
  } finally {
    await browser.close();
    server.close();
  }
  step('all consumer checks passed');
} finally {
  if (process.env.DEEPGEN_CONSUMER_KEEP === '1') console.log(`consumer: kept ${tmp}`);
  else rmSync(tmp, { recursive: true, force: true });
}
