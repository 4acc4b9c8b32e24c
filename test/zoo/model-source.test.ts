// Loading by name, path, URL or hub against a local HTTP server (nothing comes from the internet): download and sample,
// a cache hit makes no request, a lying manifest is a one-line error that leaves no file, an interrupted download
// resumes with Range, a closed port is a one-line error, zoo:NAME lists the zoo, and the CLI samples from a URL.
import '../helpers/backend.ts';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import * as tf from '@tensorflow/tfjs-core';
import { UserError } from '../../src/core/errors.ts';
import { loadModel } from '../../src/node/load-model.ts';
import { hubFolderUrl, parseModelSpec, resolveModelSource } from '../../src/node/model-source.ts';
import { runCli, startServe } from '../helpers/cli.ts';
import { zooListing } from '../../src/cli/models.ts';
import { headlineFigure } from '../../src/node/zoo.ts';
import type { LeaderboardRow } from '../../src/node/leaderboard.ts';
import { trainTinyRun } from '../helpers/tiny-run.ts';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'deepgen-zoo-'));
const RUN = path.join(tmp, 'run');
const FILES = ['config.json', 'state.json', 'model.safetensors', 'ema.safetensors'];

interface Hit {
  url: string;
  range?: string;
}

/** The server's behaviour, changed per test. */
const srv = {
  hits: [] as Hit[],
  /** manifest.json served (null: 404). */
  manifest: null as object | null,
  /** Close the connection after this many body bytes of model.safetensors, once. */
  cutModelAfter: 0,
  /** Answer Range requests with 206 (else ignore the header and send 200). */
  honorRange: true,
  /** Serve state.json (a whole run folder); else only config and weights (a model-only folder). */
  serveState: false,
};

let server: http.Server;
let port = 0;

/** The run folder's file for /run/FILE or /OWNER/REPO/resolve/REV/[SUB/]FILE; null when none. */
function fileOf(p: string): string | null {
  const m = /^\/run\/([^/]+)$/.exec(p) ?? /^\/[^/]+\/[^/]+\/resolve\/[^/]+\/(?:sub\/)?([^/]+)$/.exec(p);
  if (!m) return null;
  if (m[1] === 'manifest.json') return m[1];
  if (m[1] === 'state.json' && !srv.serveState) return null;
  return FILES.includes(m[1]) && fs.existsSync(path.join(RUN, m[1])) ? path.join(RUN, m[1]) : null;
}

function handle(req: http.IncomingMessage, res: http.ServerResponse): void {
  srv.hits.push({ url: req.url!, range: req.headers.range });
  const f = fileOf(decodeURIComponent(req.url!.split('?')[0]));
  if (f === 'manifest.json') {
    if (!srv.manifest) return void res.writeHead(404).end();
    return void res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(srv.manifest));
  }
  if (!f) return void res.writeHead(404).end('not found');
  const bytes = fs.readFileSync(f);
  const range = /^bytes=(\d+)-$/.exec(req.headers.range ?? '');
  if (range && srv.honorRange) {
    const start = Number(range[1]);
    if (start >= bytes.length) return void res.writeHead(416).end();
    res.writeHead(206, {
      'content-length': String(bytes.length - start),
      'content-range': `bytes ${start}-${bytes.length - 1}/${bytes.length}`,
    });
    return void res.end(bytes.subarray(start));
  }
  res.writeHead(200, { 'content-length': String(bytes.length) });
  if (f.endsWith('model.safetensors') && srv.cutModelAfter > 0) {
    const cut = srv.cutModelAfter;
    srv.cutModelAfter = 0;
    res.write(bytes.subarray(0, cut), () => setTimeout(() => res.socket?.destroy(), 20));
    return;
  }
  res.end(bytes);
}

function sha256(file: string): string {
  return crypto.createHash('sha256').update(fs.readFileSync(file)).digest('hex');
}

function realManifest(): { files: Record<string, { sha256: string; size: number }> } {
  const files: Record<string, { sha256: string; size: number }> = {};
  for (const n of FILES) {
    const p = path.join(RUN, n);
    if (fs.existsSync(p)) files[n] = { sha256: sha256(p), size: fs.statSync(p).size };
  }
  return { files };
}

function reset(): void {
  srv.hits = [];
  srv.manifest = null;
  srv.cutModelAfter = 0;
  srv.honorRange = true;
  srv.serveState = false;
}

function cacheDir(name: string): string {
  return path.join(tmp, 'cache-' + name);
}

function isOneLineUserError(e: unknown, pattern: RegExp): boolean {
  assert.ok(e instanceof UserError, `expected a UserError, got ${String(e)}`);
  assert.match(e.message, pattern);
  assert.ok(!e.message.includes('\n'), `one line: ${e.message}`);
  return true;
}

/** Every file under dir (relative names). */
function listFiles(dir: string): string[] {
  return fs.existsSync(dir) ? (fs.readdirSync(dir, { recursive: true }) as string[]).sort() : [];
}

before(async () => {
  await trainTinyRun('vae', RUN, { steps: 2 });
  server = http.createServer(handle);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  port = (server.address() as AddressInfo).port;
});

after(() => {
  server.closeAllConnections();
  server.close();
  fs.rmSync(tmp, { recursive: true, force: true });
});

test('specs parse: zoo, hf with subfolder and revision, URLs (http only for localhost), folders', () => {
  assert.deepEqual(parseModelSpec('zoo:vae'), { kind: 'zoo', name: 'vae' });
  const hf = parseModelSpec('hf:me/models/sub@v1');
  assert.deepEqual(hf, { kind: 'hf', owner: 'me', repo: 'models', subfolder: 'sub', revision: 'v1' });
  assert.equal(
    hubFolderUrl(hf as Extract<typeof hf, { kind: 'hf' }>, {}),
    'https://huggingface.co/me/models/resolve/v1/sub/',
  );
  assert.deepEqual(parseModelSpec('hf:me/models'), {
    kind: 'hf',
    owner: 'me',
    repo: 'models',
    subfolder: '',
    revision: 'main',
  });
  assert.deepEqual(parseModelSpec('http://127.0.0.1:9/run'), { kind: 'url', url: 'http://127.0.0.1:9/run/' });
  assert.deepEqual(parseModelSpec('runs/vae'), { kind: 'folder', dir: 'runs/vae' });
  assert.throws(
    () => parseModelSpec('http://example.org/run/'),
    (e) => isOneLineUserError(e, /use https/),
  );
  assert.throws(
    () => parseModelSpec('hf:me'),
    (e) => isOneLineUserError(e, /hf:OWNER\/REPO/),
  );
  assert.throws(
    () => parseModelSpec('hf:me/repo/../x'),
    (e) => isOneLineUserError(e, /hf:OWNER\/REPO/),
  );
});

test('a URL folder: the first load downloads and samples, the second is a cache hit with no request', async () => {
  reset();
  const cache = cacheDir('url');
  const before0 = tf.memory().numTensors;
  const progress: number[] = [];
  const m = await loadModel(`http://127.0.0.1:${port}/run/`, {
    cacheDir: cache,
    onProgress: (p) => progress.push(p.bytes),
  });
  const { images } = await m.sample({ n: 2, seed: 1 });
  assert.equal(images.n, 2);
  m.dispose();
  assert.equal(tf.memory().numTensors, before0, 'no tensors left');
  assert.ok(progress.length > 0, 'progress reported');
  assert.ok(srv.hits.some((h) => h.url === '/run/model.safetensors'));
  reset();
  const dir = await resolveModelSource(`http://127.0.0.1:${port}/run/`, { cacheDir: cache });
  assert.equal(srv.hits.length, 0, `cache hit made requests: ${JSON.stringify(srv.hits)}`);
  assert.equal(sha256(path.join(dir, 'model.safetensors')), sha256(path.join(RUN, 'model.safetensors')));
  assert.ok(dir.startsWith(path.join(cache, 'models') + path.sep));
  assert.match(path.basename(dir), /^127\.0\.0\.1-\d+-run-[0-9a-f]{10}$/);
});

test('the hub layout (DEEPGEN_HF_ENDPOINT), a whole run folder with a manifest: verified, then a cache hit', async () => {
  reset();
  srv.serveState = true;
  srv.manifest = realManifest();
  const cache = cacheDir('hf');
  const env = { DEEPGEN_HF_ENDPOINT: `http://127.0.0.1:${port}` };
  const dir = await resolveModelSource('hf:me/models/sub@v1', { cacheDir: cache, env });
  assert.ok(srv.hits.some((h) => h.url === '/me/models/resolve/v1/sub/model.safetensors'));
  assert.ok(srv.hits.some((h) => h.url === '/me/models/resolve/v1/sub/manifest.json'));
  const rec = JSON.parse(fs.readFileSync(path.join(dir, 'download.json'), 'utf8'));
  assert.equal(rec.verified, true);
  assert.equal(rec.files['model.safetensors'].sha256, srv.manifest && realManifest().files['model.safetensors'].sha256);
  reset();
  assert.equal(await resolveModelSource('hf:me/models/sub@v1', { cacheDir: cache, env }), dir);
  assert.equal(srv.hits.length, 0);
  assert.ok(fs.existsSync(path.join(dir, 'state.json')), 'state.json downloaded: the store checks the save');
  const m = await loadModel(dir);
  m.dispose();
});

test('a manifest that lies: one-line error naming the file, and no file left in place', async () => {
  reset();
  const man = realManifest();
  man.files['model.safetensors'].sha256 = '0'.repeat(64);
  srv.manifest = man;
  const cache = cacheDir('lie');
  await assert.rejects(resolveModelSource(`http://127.0.0.1:${port}/run/`, { cacheDir: cache }), (e) =>
    isOneLineUserError(e, /model\.safetensors .*does not match manifest\.json/),
  );
  const left = listFiles(path.join(cache, 'models'));
  assert.ok(!left.some((f) => /model\.safetensors/.test(f)), `left: ${left.join(', ')}`);
  assert.ok(!left.some((f) => f.endsWith('download.json')), 'no record of a failed download');
});

test('an interrupted download leaves a .part that the next call resumes with Range, verified', async () => {
  reset();
  srv.manifest = realManifest();
  const size = fs.statSync(path.join(RUN, 'model.safetensors')).size;
  srv.cutModelAfter = Math.floor(size / 2);
  const cache = cacheDir('resume');
  const spec = `http://127.0.0.1:${port}/run/`;
  await assert.rejects(resolveModelSource(spec, { cacheDir: cache }), (e) =>
    isOneLineUserError(e, /interrupted|stopped at/),
  );
  const part = listFiles(path.join(cache, 'models')).find((f) => f.endsWith('model.safetensors.part'));
  assert.ok(part, 'a .part was left');
  assert.ok(fs.statSync(path.join(cache, 'models', part)).size > 0);
  srv.hits = [];
  const dir = await resolveModelSource(spec, { cacheDir: cache });
  const hit = srv.hits.find((h) => h.url === '/run/model.safetensors');
  assert.match(hit?.range ?? '', /^bytes=\d+-$/, 'the resume sent a Range header');
  assert.equal(sha256(path.join(dir, 'model.safetensors')), sha256(path.join(RUN, 'model.safetensors')));
  assert.ok(!fs.existsSync(path.join(dir, 'model.safetensors.part')));
});

test('a server that ignores Range: the download restarts and completes', async () => {
  reset();
  const size = fs.statSync(path.join(RUN, 'model.safetensors')).size;
  srv.cutModelAfter = Math.floor(size / 3);
  const cache = cacheDir('norange');
  const spec = `http://127.0.0.1:${port}/run/`;
  await assert.rejects(resolveModelSource(spec, { cacheDir: cache }), UserError);
  srv.honorRange = false;
  const dir = await resolveModelSource(spec, { cacheDir: cache });
  assert.equal(sha256(path.join(dir, 'model.safetensors')), sha256(path.join(RUN, 'model.safetensors')));
});

test('offline (connection refused on a closed port): one line naming the URL', async () => {
  const closed = http.createServer();
  await new Promise<void>((r) => closed.listen(0, '127.0.0.1', () => r()));
  const p = (closed.address() as AddressInfo).port;
  await new Promise<void>((r) => closed.close(() => r()));
  await assert.rejects(resolveModelSource(`http://127.0.0.1:${p}/run/`, { cacheDir: cacheDir('off') }), (e) =>
    isOneLineUserError(e, new RegExp(`127\\.0\\.0\\.1:${p}/run/.*refused`)),
  );
});

test('HTTP errors: a folder without config.json is a one-line error', async () => {
  reset();
  await assert.rejects(resolveModelSource(`http://127.0.0.1:${port}/nothing/`, { cacheDir: cacheDir('404') }), (e) =>
    isOneLineUserError(e, /nothing\/config\.json was not found/),
  );
});

test('zoo:NAME: the zoo folder, an unknown name lists the names, an empty zoo says it ships none', async () => {
  const zoo = path.join(tmp, 'zoo');
  for (const n of ['vae', 'gan']) {
    fs.mkdirSync(path.join(zoo, n), { recursive: true });
    fs.writeFileSync(path.join(zoo, n, 'config.json'), '{}');
  }
  assert.equal(await resolveModelSource('zoo:vae', { zooDir: zoo }), path.join(zoo, 'vae'));
  await assert.rejects(resolveModelSource('zoo:nope', { zooDir: zoo }), (e) =>
    isOneLineUserError(e, /No zoo model "nope"; the zoo has: gan, vae/),
  );
  await assert.rejects(resolveModelSource('zoo:nope', { zooDir: path.join(tmp, 'no-zoo') }), (e) =>
    isOneLineUserError(e, /ships no zoo models yet/),
  );
});

test('CLI: deepgen sample http://127.0.0.1:PORT/run/ --n 4 downloads, samples and writes into the current folder', async () => {
  reset();
  const cwd = path.join(tmp, 'cli');
  fs.mkdirSync(cwd);
  const r = await runCli(['sample', `http://127.0.0.1:${port}/run/`, '--n', '4'], {
    cwd,
    env: { ...process.env, DEEPGEN_CACHE: cacheDir('cli') },
  });
  assert.equal(r.code, 0, r.stderr);
  assert.ok(fs.existsSync(path.join(cwd, 'samples-seed0.png')), `${r.stdout}\n${r.stderr}`);
  assert.ok(srv.hits.some((h) => h.url === '/run/model.safetensors'));
});

test('CLI: eval of a URL model writes eval.json into the current folder, not beside the cached download', async () => {
  reset();
  const cwd = path.join(tmp, 'cli-eval');
  fs.mkdirSync(cwd);
  const env = { ...process.env, DEEPGEN_CACHE: cacheDir('cli') };
  const r = await runCli(['eval', `http://127.0.0.1:${port}/run/`], { cwd, env });
  assert.equal(r.code, 0, r.stderr);
  const ev = JSON.parse(fs.readFileSync(path.join(cwd, 'eval.json'), 'utf8'));
  assert.equal(ev.run, `http://127.0.0.1:${port}/run/`);
  assert.ok(!srv.hits.some((h) => h.url.endsWith('.safetensors')), 'the earlier download was reused');
});

test('CLI: serve takes a URL and an hf: spec beside a run folder', async () => {
  reset();
  srv.serveState = true;
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    DEEPGEN_CACHE: cacheDir('serve'),
    DEEPGEN_HF_ENDPOINT: `http://127.0.0.1:${port}`,
  };
  const {
    url: served,
    out,
    child,
  } = await startServe([RUN, `http://127.0.0.1:${port}/run/`, 'hf:me/models'], {
    cwd: tmp,
    env,
  });
  try {
    assert.match(out, /Serving 3 models/);
    const list = (await (await fetch(served + 'api/runs')).json()) as { runs: { id: string }[] };
    assert.equal(list.runs.length, 3);
    assert.ok(srv.hits.some((h) => h.url === '/me/models/resolve/main/model.safetensors'));
  } finally {
    child.kill();
  }
});

test("deepgen models: the zoo with each model's headline figure; an empty zoo says so", () => {
  const zoo = path.join(tmp, 'zoo-listed');
  fs.cpSync(RUN, path.join(zoo, 'tiny-vae'), { recursive: true });
  fs.writeFileSync(
    path.join(zoo, 'tiny-vae', 'eval.json'),
    JSON.stringify({
      run: 'tiny-vae',
      step: 2,
      weights: 'raw',
      likelihood: { name: '-ELBO', nats: 500, bitsPerDim: 0.94, kind: 'bound' },
    }),
  );
  const lines = zooListing(zoo);
  assert.match(lines[0], /^model\s+family\s+data/);
  assert.match(lines[1], /^zoo:tiny-vae\s+vae\s+shapes/);
  assert.match(lines.join('\n'), /zoo:tiny-vae/);
  assert.match(zooListing(path.join(tmp, 'none'))[0], /ships no zoo models yet/);
});

test('the headline figure: conditional accuracy, else bits/dim, else FID', () => {
  const row = (o: Partial<LeaderboardRow>) =>
    ({
      likelihood: { bitsPerDim: null, kind: 'n/a', name: null, n: null, reason: '' },
      sampleQuality: null,
      condAccuracy: null,
      ...o,
    }) as LeaderboardRow;
  assert.equal(
    headlineFigure(row({ likelihood: { bitsPerDim: 1.2345, kind: 'exact', name: 'exact', n: 100, reason: '' } })),
    '1.234 bits/dim (exact, n=100)',
  );
  const sq = {
    fid: 12.34,
    kid: null,
    kidStd: null,
    precision: null,
    recall: null,
    n: 1000,
    sampleSecondsPerImage: null,
  };
  assert.equal(headlineFigure(row({ sampleQuality: sq })), 'FID 12.3 (deepgen features, n=1000)');
  const cond = { kind: 'label' as const, overall: 0.875, heldOut: null, n: 100, guidance: 3 };
  assert.equal(headlineFigure(row({ condAccuracy: cond })), '87.5% recognised (n=100)');
  assert.equal(headlineFigure(row({ condAccuracy: cond, sampleQuality: sq })), '87.5% recognised (n=100)');
  const bits = { bitsPerDim: 3.5, kind: 'bound' as const, name: 'VLB', n: 10, reason: '' };
  assert.equal(headlineFigure(row({ condAccuracy: cond, likelihood: bits })), '87.5% recognised (n=100)');
  assert.equal(headlineFigure(row({ likelihood: bits, sampleQuality: sq })), '3.500 bits/dim (bound, n=10)');
  const text = { kind: 'text' as const, overall: 0.9, heldOut: 0.8, n: 200, guidance: 3 };
  assert.equal(headlineFigure(row({ condAccuracy: text })), '90.0% right (held-out pairs 80.0%, n=200)');
  assert.equal(headlineFigure(row({})), 'not evaluated');
});
