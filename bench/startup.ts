// CLI start-up figures (issue 20): wall time of whole processes of the built CLI (bin/deepgen.js -> dist/), beside
// `node -e 0` in the same run: --version, --help, sampling 64 images from a small VAE run (trained here first), and
// `deepgen demo` (the zoo's pictures, issue 21). Median of --startup-runs runs each (default 7; the demo 3). `npx tsx bench/startup.ts` runs it alone; bench/run.ts includes it.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

const ROOT = path.join(import.meta.dirname, '..');
const BIN = path.join(ROOT, 'bin/deepgen.js');

export interface StartupFigure {
  /** Median wall seconds of a whole process. */
  seconds: number;
  runs: number;
  /** The issue's target in seconds, where it sets one. */
  target?: number;
  command: string;
}

function wall(args: string[], env: NodeJS.ProcessEnv): number {
  const t0 = performance.now();
  const r = spawnSync(process.execPath, args, { env, encoding: 'utf8' });
  const s = (performance.now() - t0) / 1000;
  if (r.status !== 0)
    throw new Error(`bench: \`node ${args.join(' ')}\` failed: ${(r.stderr || '').trim().split('\n').pop()}`);
  return s;
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

/** The start-up figures; trains a 200-step MLP VAE on shapes (16x16) into a temporary folder first. */
export function startupFigures(runs = 7): Record<string, StartupFigure> {
  if (!existsSync(path.join(ROOT, 'dist/cli/main.js')))
    throw new Error('bench: dist/ is not built; run `npm run build` first');
  const env = { ...process.env };
  delete env.NODE_OPTIONS; // plain node, as a user runs it: no tsx loader
  const tmp = mkdtempSync(path.join(os.tmpdir(), 'deepgen-startup-'));
  try {
    const run = path.join(tmp, 'vae');
    wall(
      [
        BIN,
        'train',
        'vae',
        '--dataset',
        'shapes',
        '--size',
        '16',
        '--train-n',
        '2000',
        '--test-n',
        '64',
        '--steps',
        '200',
        '--batch-size',
        '64',
        '--quiet',
        '--out',
        run,
      ],
      env,
    );
    const cases: Array<[string, string[], number | undefined, number?]> = [
      ['node -e 0', ['-e', '0'], undefined],
      ['deepgen --version', [BIN, '--version'], 0.3],
      ['deepgen --help', [BIN, '--help'], 0.3],
      [
        'deepgen sample (64 images, small VAE)',
        [BIN, 'sample', run, '--n', '64', '--out', path.join(tmp, 's.png')],
        1.5,
      ],
      // sampling speed of the class-conditional zoo diffusion model, 16 images with guidance 3, per sampler (issue 22)
      ...(existsSync(path.join(ROOT, 'models', 'diffusion-fmnist-label'))
        ? (
            [
              ['ddim', '50'],
              ['dpm++2m', '20'],
            ] as const
          ).map(
            ([sampler, steps]) =>
              [
                `deepgen sample (16 images, zoo:diffusion-fmnist-label, ${sampler} ${steps} steps)`,
                [
                  BIN,
                  'sample',
                  'zoo:diffusion-fmnist-label',
                  '--n',
                  '16',
                  '--sampler',
                  sampler,
                  '--steps',
                  steps,
                  '--out',
                  path.join(tmp, `d-${steps}.png`),
                ],
                undefined,
                3,
              ] as [string, string[], undefined, number],
          )
        : []),
      ...(existsSync(path.join(ROOT, 'models', 'zoo.json'))
        ? [
            ["deepgen demo (the zoo's pictures)", [BIN, 'demo', '--out', path.join(tmp, 'demo')], 30, 3] as [
              string,
              string[],
              number,
              number,
            ],
          ]
        : []),
    ];
    const out: Record<string, StartupFigure> = {};
    for (const [name, args, target, caseRuns] of cases) {
      wall(args, env); // warm the file cache
      const k = Math.min(runs, caseRuns ?? runs);
      const times = Array.from({ length: k }, () => wall(args, env));
      out[name] = {
        seconds: Number(median(times).toFixed(3)),
        runs: k,
        ...(target ? { target } : {}),
        command: `node ${args.map((a) => a.replace(tmp, '$TMP').replace(ROOT + path.sep, '')).join(' ')}`,
      };
    }
    return out;
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}

/** The figures as table lines, with each target and whether it is met. */
export function startupTable(f: Record<string, StartupFigure>): string {
  const w = Math.max(...Object.keys(f).map((k) => k.length));
  return Object.entries(f)
    .map(
      ([k, v]) =>
        `${k.padEnd(w)}  ${v.seconds.toFixed(3)} s${v.target ? `  (target <= ${v.target} s: ${v.seconds <= v.target ? 'met' : 'NOT met'})` : ''}`,
    )
    .join('\n');
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const f = startupFigures();
  console.log(JSON.stringify(f, null, 2));
  console.log(startupTable(f));
}
