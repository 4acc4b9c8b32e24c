// Progress output for long work: a live bar on a TTY, plain periodic lines otherwise (logs, CI).
import cliProgress from 'cli-progress';

export function formatDuration(sec: number): string {
  if (!Number.isFinite(sec) || sec < 0) return '?';
  const s = Math.round(sec);
  if (s < 60) return `${s}s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m}m${String(s % 60).padStart(2, '0')}s`;
  return `${Math.floor(m / 60)}h${String(m % 60).padStart(2, '0')}m`;
}

export interface Progress {
  update(done: number, info: string): void;
  log(line: string): void;
  stop(): void;
}

/** A progress reporter over `total` units; `every` controls how often plain lines are printed. */
export function createProgress(
  label: string,
  total: number,
  opts: { quiet?: boolean; every?: number; stream?: NodeJS.WriteStream; start?: number } = {},
): Progress {
  const stream = opts.stream ?? process.stderr;
  const t0 = performance.now();
  const every = Math.max(1, opts.every ?? Math.ceil(total / 20));
  if (opts.quiet) return { update() {}, log: (l) => stream.write(l + '\n'), stop() {} };
  if (stream.isTTY) {
    const bar = new cliProgress.SingleBar(
      {
        format: `${label} [{bar}] {value}/{total} | {info} | ETA {eta_formatted}`,
        barsize: 24,
        hideCursor: true,
        etaBuffer: 50,
        stream,
        fps: 5,
      },
      cliProgress.Presets.shades_classic,
    );
    bar.start(total, 0, { info: '' });
    return {
      update: (done, info) => bar.update(done, { info }),
      log: (line) => {
        bar.stop();
        stream.write(line + '\n');
      },
      stop: () => bar.stop(),
    };
  }
  // units already done when this reporter started (a resumed run), so the rate counts only the work timed here
  const first = opts.start ?? 0;
  let last = first;
  return {
    update(done, info) {
      // a line each time done passes a multiple of `every` (work may advance several units at a time), and at the end
      if ((done === total && done !== last) || Math.floor(done / every) > Math.floor(last / every)) {
        last = done;
        const el = (performance.now() - t0) / 1000;
        const rate = Math.max(done - first, 1e-9) / Math.max(el, 1e-9);
        const eta = (total - done) / rate;
        stream.write(
          `${label} ${done}/${total} | ${info} | ${formatDuration(el)} elapsed, ETA ${formatDuration(eta)}\n`,
        );
      }
    },
    log: (line) => stream.write(line + '\n'),
    stop() {},
  };
}
