// Memory of `deepgen serve` under load (issue 19, item 9): many concurrent downloads of a file of a few MB stream it,
// so the server's peak resident memory grows by a bounded amount, not by a copy of the file per request in flight.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { fork } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { makeFakeRun } from '../helpers/fake-run.ts';

const TMP = fs.mkdtempSync(path.join(os.tmpdir(), 'dg-serve-mem-'));
after(() => fs.rmSync(TMP, { recursive: true, force: true }));

const FILE_BYTES = 6 * 2 ** 20;
const REQUESTS = 300;
const CONCURRENCY = 50;
/** The stated bound on the growth of the server's peak RSS. A copy of the file per request in flight is 50 x 6 MB. */
const BOUND_BYTES = 64 * 2 ** 20;

/** One download of `p`, counting its bytes without keeping them. */
function download(port: number, p: string, agent: http.Agent): Promise<number> {
  return new Promise((resolve, reject) => {
    http
      .get({ host: '127.0.0.1', port, path: p, agent }, (res) => {
        let n = 0;
        res.on('data', (d: Buffer) => (n += d.length));
        res.on('end', () => resolve(n));
        res.on('error', reject);
      })
      .on('error', reject);
  });
}

test(
  `${REQUESTS} downloads of a ${FILE_BYTES >> 20} MB file, ${CONCURRENCY} at a time, grow the server's peak RSS by less than ${BOUND_BYTES >> 20} MB`,
  { timeout: 120_000 },
  async (t) => {
    const run = makeFakeRun(TMP, 'pix');
    fs.writeFileSync(path.join(run, 'ema.safetensors'), Buffer.alloc(FILE_BYTES, 7));
    const child = fork(path.join(import.meta.dirname, '..', 'helpers', 'serve-child.ts'), [run], {
      execArgv: ['--import', 'tsx'],
      stdio: 'inherit',
    });
    try {
      const ask = () =>
        new Promise<{ rss: number; maxRss: number }>(
          (resolve) => child.once('message', (m) => resolve(m as { rss: number; maxRss: number })) && child.send('mem'),
        );
      const { port } = await new Promise<{ port: number }>((resolve) =>
        child.once('message', (m) => resolve(m as { port: number })),
      );
      const agent = new http.Agent({ keepAlive: true, maxSockets: CONCURRENCY });
      const p = '/runs/pix/ema.safetensors';
      for (let i = 0; i < 5; i++) assert.equal(await download(port, p, agent), FILE_BYTES); // warm-up
      const before = await ask();
      let next = 0;
      await Promise.all(
        Array.from({ length: CONCURRENCY }, async () => {
          while (next++ < REQUESTS) assert.equal(await download(port, p, agent), FILE_BYTES);
        }),
      );
      agent.destroy();
      const afterLoad = await ask();
      const growth = afterLoad.maxRss - before.rss;
      t.diagnostic(
        `server rss before ${(before.rss / 2 ** 20).toFixed(1)} MB, peak after ${(afterLoad.maxRss / 2 ** 20).toFixed(1)} MB: growth ${(growth / 2 ** 20).toFixed(1)} MB`,
      );
      assert.ok(
        growth < BOUND_BYTES,
        `peak RSS grew by ${(growth / 2 ** 20).toFixed(1)} MB under load (bound ${BOUND_BYTES >> 20} MB)`,
      );
    } finally {
      child.kill();
    }
  },
);
