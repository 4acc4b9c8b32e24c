// `deepgen serve`: the run list as JSON (family, dataset, eval figures), a run's checkpoint files byte for byte, the
// playground build's page and assets, no other paths (traversal, optimizer state, unknown runs, other files), GET only;
// the plain listing page used without a build; the CLI on a free port, its page and assets, a busy port.
// The playground itself is tested in headless Chromium in test/web/playground.test.ts.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { builtPlayground, playgroundHandler, servedRuns } from '../../src/node/serve.ts';
import { indexPage } from '../../src/cli/serve.ts';
import { readRunFiles } from '../../src/node/leaderboard.ts';
import { BIN, runCli } from '../helpers/cli.ts';
import { FAKE_WEIGHTS as WEIGHTS, makeFakeRun } from '../helpers/fake-run.ts';

const TMP = fs.mkdtempSync(path.join(os.tmpdir(), 'dg-serve-'));
after(() => fs.rmSync(TMP, { recursive: true, force: true }));

/** A fake run (helpers/fake-run.ts) that also holds optimizer state, which must never be served. */
function makeRun(name: string, family: string, evalJson?: Record<string, unknown>): string {
  const dir = makeFakeRun(path.join(TMP, 'runs'), name, family, evalJson);
  fs.writeFileSync(path.join(dir, 'optimizer.safetensors'), WEIGHTS);
  return dir;
}

const pix = makeRun('pix', 'pixelcnn', { n: 100, nll: 1700, bitsPerDim: 3.1 });
const gan = makeRun('gan', 'gan', {
  sampleQuality: { fid: 200.5, kid: 10, kidStd: 1, precision: 0.5, recall: 0.4, n: 2000, sampleSecondsPerImage: 0.001 },
});

async function get(port: number, p: string, method = 'GET'): Promise<{ status: number; type: string; body: Buffer }> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, path: p, method }, (res) => {
      const parts: Buffer[] = [];
      res.on('data', (d) => parts.push(d));
      res.on('end', () =>
        resolve({ status: res.statusCode!, type: String(res.headers['content-type']), body: Buffer.concat(parts) }),
      );
    });
    req.on('error', reject);
    req.end();
  });
}

test('the handler lists the runs with their figures, serves checkpoint files byte for byte, and nothing else', async () => {
  const runs = servedRuns([pix, gan].map(readRunFiles));
  const server = http.createServer(playgroundHandler(runs, null));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as AddressInfo).port;
  try {
    const list = JSON.parse((await get(port, '/api/runs')).body.toString()).runs;
    assert.deepEqual(
      list.map((r: { id: string; family: string }) => [r.id, r.family]),
      [
        ['pix', 'pixelcnn'],
        ['gan', 'gan'],
      ],
    );
    assert.equal(list[0].likelihood.bitsPerDim, 3.1);
    assert.equal(list[0].likelihood.kind, 'exact');
    assert.equal(list[1].sampleQuality.fid, 200.5);
    assert.deepEqual(list[0].files, ['/runs/pix/config.json', '/runs/pix/model.safetensors', '/runs/pix/eval.json']);
    const w = await get(port, '/runs/pix/model.safetensors');
    assert.equal(w.status, 200);
    assert.ok(w.body.equals(Buffer.from(WEIGHTS)), 'weights byte for byte');
    assert.equal(JSON.parse((await get(port, '/runs/gan/config.json')).body.toString()).family, 'gan');
    for (const bad of [
      '/runs/pix/optimizer.safetensors',
      '/runs/pix/state.json',
      '/runs/nope/config.json',
      '/runs/pix/..%2F..%2Fgan%2Fconfig.json',
      '/etc/passwd',
      '/',
    ])
      assert.equal((await get(port, bad)).status, 404, bad);
    assert.equal((await get(port, '/api/runs', 'POST')).status, 405);
  } finally {
    server.close();
  }
});

test('the built playground: its page at / and its assets by type under /assets/, nothing else of its folder', async () => {
  const dir = path.join(TMP, 'web');
  fs.mkdirSync(path.join(dir, 'assets'), { recursive: true });
  fs.writeFileSync(path.join(dir, 'index.html'), '<!doctype html><title>playground</title>');
  fs.writeFileSync(path.join(dir, 'assets', 'main-1.js'), 'console.log(1)');
  fs.writeFileSync(path.join(dir, 'assets', 'k.wasm'), Buffer.from([0, 97, 115, 109]));
  fs.writeFileSync(path.join(dir, 'assets', 'notes.txt'), 'x');
  fs.writeFileSync(path.join(dir, 'secret.js'), 'x');
  assert.equal(builtPlayground(path.join(TMP, 'no-build')), null);
  const server = http.createServer(playgroundHandler(servedRuns([pix].map(readRunFiles)), builtPlayground(dir)));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as AddressInfo).port;
  try {
    const page = await get(port, '/');
    assert.equal(page.body.toString(), '<!doctype html><title>playground</title>');
    assert.match(page.type, /text\/html/);
    const js = await get(port, '/assets/main-1.js');
    assert.equal(js.status, 200);
    assert.match(js.type, /text\/javascript/);
    const wasm = await get(port, '/assets/k.wasm');
    assert.equal(wasm.type, 'application/wasm', 'wasm needs its type for streaming compilation');
    assert.ok(wasm.body.equals(Buffer.from([0, 97, 115, 109])));
    for (const bad of [
      '/assets/notes.txt',
      '/assets/../secret.js',
      '/assets/..%2Fsecret.js',
      '/assets/',
      '/assets/missing.js',
      '/secret.js',
      '/index.html/x',
    ])
      assert.equal((await get(port, bad)).status, 404, bad);
  } finally {
    server.close();
  }
});

test('without a build, the page lists the models with their figures and says how to build the playground', () => {
  const html = indexPage(
    servedRuns([pix, gan].map(readRunFiles)),
    'The interactive playground is not built: run `npm run build:web`',
  );
  assert.match(html, /<td>pix<\/td><td>pixelcnn<\/td><td>fashion-mnist<\/td><td>none<\/td><td>3\.100 \(exact\)<\/td>/);
  assert.match(html, /<td>gan<\/td><td>gan<\/td>.*<td>200\.5<\/td>/);
  assert.match(html, /not built: run `npm run build:web`/);
});

test('two runs with the same folder name get distinct ids', () => {
  const other = path.join(TMP, 'elsewhere', 'pix');
  fs.mkdirSync(path.dirname(other), { recursive: true });
  fs.cpSync(pix, other, { recursive: true });
  assert.deepEqual(
    servedRuns([pix, other].map(readRunFiles)).map((r) => r.id),
    ['pix', 'pix-2'],
  );
});

test('e2e: deepgen serve on a free port serves the playground and its assets; a busy port is a one-line error', async () => {
  const env = { ...process.env };
  delete env.NODE_OPTIONS;
  delete env.NODE_TEST_CONTEXT;
  const child = spawn(process.execPath, [BIN, 'serve', pix, gan, '--port', '0'], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env,
  });
  let timer: NodeJS.Timeout | undefined;
  try {
    const line = await new Promise<string>((resolve, reject) => {
      let out = '';
      child.stdout.on('data', (d) => {
        out += d;
        if (out.includes('\n')) resolve(out);
      });
      child.on('exit', (code) => reject(new Error(`serve exited ${code}`)));
      timer = setTimeout(() => reject(new Error(`no output: ${out}`)), 60000);
    });
    assert.match(line, /Serving 2 models \(pix: pixelcnn, gan: gan\) at http:\/\/127\.0\.0\.1:\d+\//);
    const port = Number(/:(\d+)\//.exec(line)![1]);
    // the playground build (npm ci builds it): the page and every asset it references
    const page = await get(port, '/');
    assert.equal(page.status, 200);
    assert.match(page.type, /text\/html/);
    const html = page.body.toString();
    assert.match(html, /<title>deepgen playground<\/title>/);
    const assets = [...html.matchAll(/(?:src|href)="\.?(\/assets\/[^"]+)"/g)].map((m) => m[1]);
    assert.ok(
      assets.some((a) => a.endsWith('.js')),
      `no script in the page: ${html}`,
    );
    for (const a of assets) assert.equal((await get(port, a)).status, 200, a);
    const busy = await runCli(['serve', pix, '--port', String(port)], { cwd: TMP, env: process.env });
    assert.equal(busy.code, 2);
    assert.match(busy.stderr, /port \d+ is in use; pass another --port/);
  } finally {
    clearTimeout(timer);
    child.kill('SIGINT');
  }
});
