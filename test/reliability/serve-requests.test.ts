// `deepgen serve` against hostile or unlucky requests (issue 19, items 1 and 9), on the real CLI process: malformed
// %-escapes are 400 and a file deleted after start-up is 404, the process living on; symlinks out of a run folder are
// neither listed nor served (checked per request); only IP addresses and localhost are answered (DNS rebinding);
// security headers on every answer; /api/runs without absolute paths; HEAD reads nothing and big files stream.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { readRunFiles } from '../../src/node/leaderboard.ts';
import { playgroundServer, servedRuns } from '../../src/node/serve.ts';
import { startServe } from '../helpers/browser.ts';
import { FAKE_WEIGHTS, makeFakeRun } from '../helpers/fake-run.ts';
import { rawExchange, request } from '../helpers/http.ts';

const TMP = fs.mkdtempSync(path.join(os.tmpdir(), 'dg-serve-req-'));
const RUNS = path.join(TMP, 'runs');
const SECRET = path.join(TMP, 'secret.json');
const BIG = 3 * 2 ** 30; // past readFileSync's 2 GiB limit; sparse, so it takes no disk

let server: ChildProcess;
let port = 0;
let output = () => '';

before(async () => {
  fs.writeFileSync(SECRET, '{"secret": "outside the run folders"}');
  makeFakeRun(RUNS, 'pix', 'pixelcnn', { n: 100, bitsPerDim: 3.1 });
  makeFakeRun(RUNS, 'gone', 'gan', { n: 100 });
  makeFakeRun(RUNS, 'swap', 'gan', { n: 100 });
  const out = makeFakeRun(RUNS, 'linkout', 'gan');
  fs.symlinkSync(SECRET, path.join(out, 'eval.json'));
  fs.symlinkSync('/etc/passwd', path.join(out, 'cond-eval.json'));
  const inside = makeFakeRun(RUNS, 'linkin', 'flow');
  fs.symlinkSync('model.safetensors', path.join(inside, 'ema.safetensors'));
  const big = makeFakeRun(RUNS, 'big', 'flow');
  fs.writeFileSync(path.join(big, 'ema.safetensors'), '');
  fs.truncateSync(path.join(big, 'ema.safetensors'), BIG);
  // one run by absolute path: /api/runs must still show it relative to the server's folder
  const runs = ['runs/pix', 'runs/gone', 'runs/swap', 'runs/linkout', 'runs/linkin', path.join(RUNS, 'big')];
  ({ server, port, output } = await startServe(runs, { cwd: TMP }).then((s) => ({
    ...s,
    port: Number(new URL(s.base).port),
  })));
});

after(() => {
  server?.kill();
  fs.rmSync(TMP, { recursive: true, force: true });
});

/** The server process has not exited and still lists the runs. */
async function assertAlive(what: string): Promise<void> {
  assert.equal(server.exitCode, null, `deepgen serve exited after ${what}: ${output()}`);
  const r = await request(port, '/api/runs');
  assert.equal(r.status, 200, `/api/runs after ${what}`);
  assert.doesNotMatch(output(), /internal error|\n\s+at /, 'no crash report or stack trace');
}

test('malformed %-escapes are 400 and never end the process', async () => {
  for (const p of [
    '/%',
    '/runs/pix/%E0%A4%A',
    '/%ZZ',
    '/api/runs%',
    '/runs/pix/config.json%',
    '/assets/%C0%AF',
    '/runs/%FF/config.json',
  ]) {
    const r = await request(port, p).catch((e: Error) => ({ status: `no answer (${e.message})` }));
    assert.equal(r.status, 400, p);
    await assertAlive(p);
  }
  // the same on a raw socket, and a request target that is not a path
  assert.equal((await rawExchange(port, `GET /% HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\n\r\n`)).status, 400);
  assert.equal(
    (await rawExchange(port, `GET http://127.0.0.1:${port}/api/runs HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\n\r\n`))
      .status,
    400,
  );
  await assertAlive('raw malformed requests');
});

test('a served file deleted after start-up is 404 (GET and HEAD), not a crash', async () => {
  const list = JSON.parse((await request(port, '/api/runs')).body.toString()).runs as { id: string; files: string[] }[];
  assert.ok(list.find((r) => r.id === 'gone')!.files.includes('/runs/gone/eval.json'), 'listed at start-up');
  fs.rmSync(path.join(RUNS, 'gone', 'eval.json'));
  fs.rmSync(path.join(RUNS, 'gone', 'model.safetensors'));
  for (const method of ['HEAD', 'GET']) {
    const r = await request(port, '/runs/gone/eval.json', { method }).catch((e: Error) => ({
      status: `no answer (${e.message})`,
    }));
    assert.equal(r.status, 404, method);
    await assertAlive(`${method} of a deleted file`);
    assert.equal((await request(port, '/runs/gone/model.safetensors', { method })).status, 404);
  }
  await assertAlive('deleted files');
});

test('symlinks out of a run folder are neither listed nor served, also when swapped in after start-up; links inside it are', async () => {
  const list = JSON.parse((await request(port, '/api/runs')).body.toString()).runs as { id: string; files: string[] }[];
  assert.deepEqual(list.find((r) => r.id === 'linkout')!.files, [
    '/runs/linkout/config.json',
    '/runs/linkout/model.safetensors',
  ]);
  for (const f of ['eval.json', 'cond-eval.json']) {
    const r = await request(port, `/runs/linkout/${f}`);
    assert.equal(r.status, 404, f);
    assert.doesNotMatch(r.body.toString(), /secret|root:/);
  }
  // a link to a file of the same folder is fine
  assert.deepEqual(list.find((r) => r.id === 'linkin')!.files, [
    '/runs/linkin/config.json',
    '/runs/linkin/model.safetensors',
    '/runs/linkin/ema.safetensors',
  ]);
  const ema = await request(port, '/runs/linkin/ema.safetensors');
  assert.equal(ema.status, 200);
  assert.ok(ema.body.equals(Buffer.from(FAKE_WEIGHTS)));
  // checked at each request: eval.json served, then replaced by a link out, then refused
  assert.equal((await request(port, '/runs/swap/eval.json')).status, 200);
  fs.rmSync(path.join(RUNS, 'swap', 'eval.json'));
  fs.symlinkSync(SECRET, path.join(RUNS, 'swap', 'eval.json'));
  const swapped = await request(port, '/runs/swap/eval.json');
  assert.equal(swapped.status, 404);
  assert.doesNotMatch(swapped.body.toString(), /secret/);
  await assertAlive('symlinks');
});

test('only a Host naming the server by IP address or localhost with its port is answered (DNS rebinding): others are 421', async () => {
  for (const host of [`127.0.0.1:${port}`, `localhost:${port}`, `LOCALHOST:${port}`, `[::1]:${port}`])
    assert.equal((await request(port, '/api/runs', { host })).status, 200, host);
  for (const host of [
    `evil.example:${port}`,
    'evil.example',
    `127.0.0.1.nip.io:${port}`,
    `127.0.0.1:${port + 1}`,
    `localhost:${port}0`,
    'localhost',
    `[evil]:${port}`,
    ' ',
    `a@127.0.0.1:${port}`,
  ]) {
    const r = await request(port, '/api/runs', { host });
    assert.equal(r.status, 421, host);
    assert.doesNotMatch(r.body.toString(), /runs/, `${host}: no listing`);
  }
  assert.equal((await request(port, '/runs/pix/model.safetensors', { host: `rebound.example:${port}` })).status, 421);
  assert.equal((await rawExchange(port, 'GET /api/runs HTTP/1.0\r\n\r\n')).status, 421, 'no Host at all');
  await assertAlive('foreign hosts');
});

test('every answer carries nosniff, the CSP (frame-ancestors none, wasm allowed), no framing and cross-origin isolation', async () => {
  const list = JSON.parse((await request(port, '/api/runs')).body.toString()).runs as { files: string[] }[];
  for (const p of ['/', '/api/runs', '/runs/pix/config.json', '/runs/pix/model.safetensors', '/nope', '/%']) {
    const r = await request(port, p);
    assert.equal(r.headers['x-content-type-options'], 'nosniff', p);
    const csp = String(r.headers['content-security-policy']);
    assert.match(csp, /frame-ancestors 'none'/, p);
    assert.match(csp, /script-src 'self' 'wasm-unsafe-eval'/, p);
    assert.doesNotMatch(csp, /'unsafe-eval'|script-src[^;]*'unsafe-inline'/, p);
    assert.equal(r.headers['x-frame-options'], 'DENY', p);
    // the threaded wasm backend needs SharedArrayBuffer, which only a cross-origin isolated page (and worker) has
    assert.equal(r.headers['cross-origin-opener-policy'], 'same-origin', p);
    assert.equal(r.headers['cross-origin-embedder-policy'], 'require-corp', p);
  }
  assert.ok(list.length > 0);
});

test("/api/runs names run folders relative to the server's folder, never by absolute path", async () => {
  const r = await request(port, '/api/runs');
  const text = r.body.toString();
  assert.ok(!text.includes(TMP) && !text.includes(fs.realpathSync(TMP)), `absolute path in ${text}`);
  const list = JSON.parse(text).runs as { id: string; dir: string }[];
  assert.deepEqual(
    list.map((x) => x.dir),
    ['pix', 'gone', 'swap', 'linkout', 'linkin', 'big'].map((n) => path.join('runs', n)),
  );
  assert.match(text, /not evaluated \(run deepgen eval runs\/big\)/, 'the notes name the run as listed');
});

test('HEAD reads nothing and a file past 2 GiB streams: its length at once, its first bytes before the rest', async () => {
  const t0 = Date.now();
  const head = await request(port, '/runs/big/ema.safetensors', { method: 'HEAD' }).catch((e: Error) => ({
    status: `no answer (${e.message})`,
    headers: {} as http.IncomingHttpHeaders,
    body: Buffer.alloc(0),
  }));
  assert.equal(head.status, 200);
  assert.equal(head.headers['content-length'], String(BIG));
  assert.equal(head.body.length, 0);
  assert.ok(Date.now() - t0 < 2000, 'HEAD answers at once');
  await assertAlive('HEAD of a big file');
  // GET: the first 1 MB arrives, then the client goes away mid-stream
  const first = await new Promise<{ status: number; length: string | undefined; got: number }>((resolve, reject) => {
    const req = http.get({ host: '127.0.0.1', port, path: '/runs/big/ema.safetensors' }, (res) => {
      let got = 0;
      res.on('data', (d: Buffer) => {
        got += d.length;
        if (got >= 1 << 20) {
          req.destroy();
          resolve({ status: res.statusCode!, length: res.headers['content-length'], got });
        }
      });
      res.on('error', () => {});
    });
    req.on('error', reject);
  });
  assert.equal(first.status, 200);
  assert.equal(first.length, String(BIG));
  await assertAlive('a client leaving mid-download');
});

test('a client that never finishes its headers is cut off after the headers timeout (slow-loris)', async () => {
  const srv = playgroundServer(servedRuns([readRunFiles(path.join(RUNS, 'pix'))]), null, {
    limits: { headersTimeoutMs: 500, requestTimeoutMs: 1000 },
  });
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  const p = (srv.address() as net.AddressInfo).port;
  try {
    const t0 = Date.now();
    const { closedAfter, answer } = await new Promise<{ closedAfter: number; answer: string }>((resolve) => {
      let answer = '';
      let drip: NodeJS.Timeout | undefined;
      const s = net.connect(p, '127.0.0.1', () => {
        s.write(`GET /api/runs HTTP/1.1\r\nHost: 127.0.0.1:${p}\r\n`);
        drip = setInterval(() => s.writable && s.write('X-a: b\r\n'), 100);
      });
      s.on('data', (d) => (answer += d));
      s.on('error', () => {});
      s.on('close', () => {
        clearInterval(drip);
        resolve({ closedAfter: Date.now() - t0, answer });
      });
      setTimeout(() => s.destroy(), 5000);
    });
    assert.ok(closedAfter < 3000, `the trickling client kept its socket for ${closedAfter} ms`);
    assert.match(answer, /^HTTP\/1\.1 408 /);
    assert.equal((await request(p, '/api/runs')).status, 200);
  } finally {
    srv.close();
  }
});
