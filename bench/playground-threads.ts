// npx tsx bench/playground-threads.ts [RUN] [--repeats 3] [--n 16] [--quiet 0]
// The playground's wasm backend on one thread (?threads=1) against every core, in headless Chromium: the time to draw
// n samples (warm: the second click), interleaved, with the cores this process and all others used meanwhile.
import fs from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { act, canvasImage, errorText, launchChromium, openView, startServe } from '../test/helpers/browser.ts';

const { values: opts, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    repeats: { type: 'string', default: '3' },
    n: { type: 'string', default: '16' },
    // wait up to this many seconds before each measurement for 3 s in which other processes use under 0.2 cores
    quiet: { type: 'string', default: '0' },
  },
});
const run = positionals[0] ?? 'models/diffusion-fmnist-label';
const HZ = 100; // USER_HZ of /proc/*/stat

/** CPU seconds of the whole machine (all but idle and iowait). */
function machineCpu(): number {
  const f = fs.readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).slice(1).map(Number);
  return (f[0] + f[1] + f[2] + f[5] + f[6] + f[7]) / HZ;
}

/** CPU seconds of this process and its descendants (the server, Chromium and its workers). */
function ourCpu(): number {
  const kids = new Map<number, number[]>();
  const cpu = new Map<number, number>();
  for (const d of fs.readdirSync('/proc').filter((d) => /^\d+$/.test(d))) {
    try {
      const s = fs.readFileSync(`/proc/${d}/stat`, 'utf8');
      const f = s.slice(s.lastIndexOf(')') + 2).split(' '); // state ppid ... utime(11) stime(12)
      cpu.set(Number(d), (Number(f[11]) + Number(f[12])) / HZ);
      kids.set(Number(f[1]), [...(kids.get(Number(f[1])) ?? []), Number(d)]);
    } catch {
      // the process ended meanwhile
    }
  }
  let sum = 0;
  for (const stack = [process.pid]; stack.length;) {
    const p = stack.pop()!;
    sum += cpu.get(p) ?? 0;
    stack.push(...(kids.get(p) ?? []));
  }
  return sum;
}

/** Starts a window; its end gives the cores (CPU seconds per second) used by us and by every other process. */
function cpuWindow(): () => { ours: number; others: number } {
  const t0 = performance.now(),
    m0 = machineCpu(),
    o0 = ourCpu();
  return () => {
    const s = (performance.now() - t0) / 1000,
      ours = ourCpu() - o0;
    return { ours: ours / s, others: Math.max(0, machineCpu() - m0 - ours) / s };
  };
}

const id = path.basename(path.resolve(run));
const { server, base } = await startServe([run]);
const browser = await launchChromium();
const warm: Record<string, number[]> = {};
const pixels: Record<string, Buffer> = {};
try {
  for (let k = 0; k < Number(opts.repeats); k++)
    for (const threads of ['1', 'auto']) {
      for (const until = Date.now() + Number(opts.quiet) * 1000; Date.now() < until;) {
        const w = cpuWindow();
        await new Promise((r) => setTimeout(r, 3000));
        if (w().others < 0.2) break;
      }
      const { page, errors } = await openView(browser, base, id, `?backend=wasm${threads === '1' ? '&threads=1' : ''}`);
      const label = ((await page.textContent('#backend')) ?? '').replace('backend: ', '');
      await page.fill('#n', opts.n!);
      const cold = await act(page, '#generate');
      const w = cpuWindow();
      const st = await act(page, '#generate');
      const c = w();
      if (st.status !== 'done' || errors.length) throw new Error(`${label}: ${await errorText(page)} ${errors}`);
      pixels[threads] = Buffer.from((await canvasImage(page, 'samples')).data);
      (warm[label] ??= []).push(Number(st.totalMs));
      console.log(
        `${label}: ${opts.n} samples cold ${Number(cold.totalMs).toFixed(0)} ms, warm ${Number(st.totalMs).toFixed(0)} ms; cores used meanwhile: ours ${c.ours.toFixed(2)}, others ${c.others.toFixed(2)}`,
      );
      await page.close();
    }
} finally {
  await browser.close();
  server.kill();
}
for (const [label, t] of Object.entries(warm)) {
  const s = [...t].sort((a, b) => a - b);
  console.log(`${label}: warm median ${s[s.length >> 1].toFixed(0)} ms, best ${s[0].toFixed(0)} ms of ${s.length}`);
}
console.log(`the same pixels on 1 thread and on every core: ${pixels['1'].equals(pixels.auto)}`);
