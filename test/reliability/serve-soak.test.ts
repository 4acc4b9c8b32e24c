// The server soak (issue 19): one `deepgen serve` process takes, at the same time, a seeded, bounded mix of malformed
// request targets, random bytes and random headers on raw sockets, concurrent downloads checked byte for byte,
// downloads dropped mid-stream, clients trickling their headers and clients that never read; afterwards it must still
// list its runs and serve a file whole, have answered nothing with a 5xx, and have printed no crash.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { Rng } from '../../src/core/tensor/rng.ts';
import { startServe } from '../helpers/browser.ts';
import { makeFakeRun } from '../helpers/fake-run.ts';
import { rawExchange, request } from '../helpers/http.ts';

const TMP = fs.mkdtempSync(path.join(os.tmpdir(), 'dg-serve-soak-'));
after(() => fs.rmSync(TMP, { recursive: true, force: true }));

const rng = new Rng(19);
const bytes = (n: number) => Buffer.from(Array.from({ length: n }, () => rng.int(256)));
const pick = <T>(xs: readonly T[]): T => xs[rng.int(xs.length)];

/** Runs `jobs` with at most `width` at a time. */
async function pool<T>(jobs: (() => Promise<T>)[], width: number): Promise<T[]> {
  const out: T[] = new Array(jobs.length);
  let next = 0;
  await Promise.all(
    Array.from({ length: width }, async () => {
      while (next < jobs.length) {
        const i = next++;
        out[i] = await jobs[i]();
      }
    }),
  );
  return out;
}

/** Pieces of request targets: escapes good and bad, traversal, the server's own names, bytes no URL may hold. */
const PIECES = [
  '%',
  '%E0',
  '%A4%A',
  '%FF',
  '%00',
  '%2F',
  '%2e%2e',
  '%25',
  '%C0%AF',
  '..',
  '/',
  '//',
  'a',
  'runs',
  'pix',
  'api',
  'runs/pix/',
  'assets',
  'config.json',
  'ema.safetensors',
  '?',
  '#',
  '\\',
  '\x7f',
  '\x01',
  '\xe9',
  ';',
  '*',
  '~',
];

test(
  'soak: malformed, random, concurrent, aborted and slow requests together; the server lives and still answers /api/runs',
  { timeout: 60_000 },
  async (t) => {
    const run = makeFakeRun(path.join(TMP, 'runs'), 'pix');
    const FILE = bytes(2 << 20);
    fs.writeFileSync(path.join(run, 'ema.safetensors'), FILE);
    const { server, base, output } = await startServe(['runs/pix'], { cwd: TMP });
    const port = Number(new URL(base).port);
    const host = `127.0.0.1:${port}`;
    const statuses: Record<string, number> = {};
    const seen = (s: number | null) => void (statuses[String(s)] = (statuses[String(s)] ?? 0) + 1);
    const slow: net.Socket[] = [];
    try {
      // clients that stay slow for the whole soak: headers a byte at a time, and downloads never read
      const drips: NodeJS.Timeout[] = [];
      for (let i = 0; i < 8; i++) {
        const s = net.connect(port, '127.0.0.1', () => {
          s.write(`GET /api/runs HTTP/1.1\r\nHost: ${host}\r\n`);
          drips.push(setInterval(() => s.writable && s.write('x'), 200));
        });
        s.on('error', () => {});
        slow.push(s);
      }
      for (let i = 0; i < 4; i++) {
        const s = net.connect(port, '127.0.0.1', () =>
          s.write(`GET /runs/pix/ema.safetensors HTTP/1.1\r\nHost: ${host}\r\n\r\n`),
        );
        s.on('error', () => {});
        s.pause();
        slow.push(s);
      }

      const malformed = Array.from({ length: 200 }, () => {
        const target = '/' + Array.from({ length: 1 + rng.int(12) }, () => pick(PIECES)).join('');
        return () => rawExchange(port, Buffer.from(`GET ${target} HTTP/1.1\r\nHost: ${host}\r\n\r\n`, 'latin1'));
      });
      const random = Array.from({ length: 100 }, () => {
        const junk = bytes(1 + rng.int(4096));
        const msg = rng.int(2)
          ? Buffer.concat([
              Buffer.from(`${pick(['GET', 'HEAD', 'POST', 'G\x00T', 'BREW'])} /${pick(PIECES)} HTTP/1.1\r\n`, 'latin1'),
              junk,
            ])
          : junk;
        return () => rawExchange(port, msg);
      });
      const headers = Array.from({ length: 50 }, () => {
        const lines = Array.from(
          { length: 1 + rng.int(6) },
          () =>
            `${pick(['Host', 'X-A', 'Range', 'Content-Length', 'Transfer-Encoding', bytes(6).toString('latin1')])}: ${bytes(rng.int(3) ? 20 : 20_000).toString('latin1')}`,
        );
        return () =>
          rawExchange(
            port,
            Buffer.from(`GET /api/runs HTTP/1.1\r\nHost: ${host}\r\n${lines.join('\r\n')}\r\n\r\n`, 'latin1'),
          );
      });
      const agent = new http.Agent({ keepAlive: true, maxSockets: 15 });
      const downloads = Array.from({ length: 60 }, () => async () => {
        const r = await request(port, '/runs/pix/ema.safetensors', { agent });
        assert.equal(r.status, 200);
        assert.ok(r.body.equals(FILE), 'a download came out whole');
        return { status: r.status as number | null, timedOut: false };
      });
      const aborted = Array.from(
        { length: 20 },
        () => () =>
          new Promise<{ status: number | null; timedOut: boolean }>((resolve) => {
            const req = http.get({ host: '127.0.0.1', port, path: '/runs/pix/ema.safetensors' }, (res) => {
              res.once('data', () => {
                req.destroy();
                resolve({ status: res.statusCode!, timedOut: false });
              });
              res.on('error', () => {});
            });
            req.on('error', () => resolve({ status: null, timedOut: false }));
          }),
      );
      const jobs = [...malformed, ...random, ...headers, ...downloads, ...aborted];
      // one seeded order, so that every kind overlaps every other
      for (let i = jobs.length - 1; i > 0; i--) {
        const j = rng.int(i + 1);
        [jobs[i], jobs[j]] = [jobs[j], jobs[i]];
      }
      const results = await pool<{ status: number | null; timedOut: boolean }>(jobs, 40);
      for (const r of results) seen(r.status);
      drips.forEach(clearInterval);
      agent.destroy();
      t.diagnostic(`answers by status (null: closed without one): ${JSON.stringify(statuses)}`);

      assert.equal(server.exitCode, null, `deepgen serve exited: ${output()}`);
      assert.deepEqual(results.filter((r) => r.timedOut).length, 0, 'no raw request left hanging');
      assert.deepEqual(
        Object.keys(statuses).filter((s) => Number(s) >= 500),
        [],
        'no 5xx',
      );
      assert.ok(
        (statuses['400'] ?? 0) > 50 && (statuses['404'] ?? 0) > 10,
        `malformed targets were refused, others not found: ${JSON.stringify(statuses)}`,
      );
      // the slow clients are still connected and did not hold the others up; now they go
      assert.ok(
        slow.every((s) => !s.destroyed),
        'slow clients were still being waited for',
      );
      slow.forEach((s) => s.destroy());
      const list = await request(port, '/api/runs');
      assert.equal(list.status, 200);
      assert.deepEqual(
        JSON.parse(list.body.toString()).runs.map((r: { id: string }) => r.id),
        ['pix'],
      );
      assert.ok((await request(port, '/runs/pix/ema.safetensors')).body.equals(FILE));
      assert.doesNotMatch(output(), /internal error|Error:|\n\s+at /, 'no crash report or stack trace');
    } finally {
      slow.forEach((s) => s.destroy());
      server.kill();
    }
  },
);
