// `deepgen serve [RUN ...] --port 8080`: the playground (src/web, built into dist/web) on localhost with the given run
// folders: GET /api/runs (each model's family, dataset and evaluation figures), GET /runs/ID/FILE (its config and
// safetensors weights). Without a build it serves a plain page listing the models and says how to build.
import http from 'node:http';
import path from 'node:path';
import type { Command } from 'commander';
import { UserError } from '../core/errors.ts';
import { collectRunDirs } from '../node/leaderboard.ts';
import { builtPlayground, playgroundHandler, servedRuns, type ServedRun } from '../node/serve.ts';
import { action, intOpt } from './common.ts';

const esc = (s: string) => s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

/** The index page: one row per loaded model (family, dataset, conditioning, bits/dim, FID, class accuracy). */
export function indexPage(runs: readonly ServedRun[], note = ''): string {
  const fmt = (v: number | null | undefined, d: number) => (v === null || v === undefined ? 'n/a' : v.toFixed(d));
  const rows = runs
    .map((r) => {
      const L = r.row.likelihood;
      const q = r.row.sampleQuality;
      const c = r.row.condAccuracy;
      return `<tr><td>${esc(r.id)}</td><td>${esc(r.row.family)}</td><td>${esc(r.row.dataset ?? '')}</td><td>${esc(r.row.conditioning ?? 'none')}</td><td>${L.bitsPerDim === null ? 'n/a' : `${fmt(L.bitsPerDim, 3)} (${esc(L.kind)})`}</td><td>${fmt(q?.fid, 1)}</td><td>${c ? `${(c.overall * 100).toFixed(1)}%` : 'n/a'}</td><td>${r.files.map((f) => `<a href="/runs/${encodeURIComponent(r.id)}/${f}">${f}</a>`).join(' ')}</td></tr>`;
    })
    .join('\n');
  return `<!doctype html><html><head><meta charset="utf-8"><title>deepgen</title><style>body{font-family:sans-serif;margin:2em}td,th{padding:2px 10px;text-align:left}</style></head><body>
<h1>deepgen: loaded models</h1>${note ? `\n<p><b>${esc(note)}</b></p>` : ''}
<table><thead><tr><th>model</th><th>family</th><th>dataset</th><th>condition</th><th>bits/dim</th><th>FID (deepgen features)</th><th>class accuracy</th><th>files</th></tr></thead><tbody>
${rows}
</tbody></table>
<p>JSON: <a href="/api/runs">/api/runs</a>. FID is on deepgen's own classifier features, not Inception.</p>
</body></html>
`;
}

/** Where `npm run build:web` writes the playground. */
export const PLAYGROUND_DIR = path.join(import.meta.dirname, '..', '..', 'dist', 'web');

export function registerServe(program: Command): void {
  program
    .command('serve')
    .argument('[runs...]', 'run folders written by `deepgen train` (default runs/*)')
    .description('open the playground in the browser: watch the models in the given run folders generate (pixel by pixel, step by step, latent sliders), on localhost; also /api/runs (family, dataset, eval figures) and /runs/ID/FILE (config and safetensors weights)')
    .option('--port <n>', 'TCP port (0 = any free port)', intOpt('--port', 0), 8080)
    .option('--host <addr>', 'address to listen on (127.0.0.1 = this machine only)', '127.0.0.1')
    .action(
      action(async (args: string[], f: { port: number; host: string }) => {
        if (f.port > 65535) throw new UserError(`--port must be 0-65535, got ${f.port}`);
        const runs = servedRuns(collectRunDirs(args, (l) => process.stderr.write(l + '\n')));
        const built = builtPlayground(PLAYGROUND_DIR);
        const unbuilt = 'The interactive playground is not built: run `npm run build:web` in the deepgen folder, then restart `deepgen serve`.';
        if (!built) process.stderr.write(`deepgen: warning: ${unbuilt}\n`);
        const server = http.createServer(playgroundHandler(runs, built ?? { indexHtml: () => indexPage(runs, unbuilt), assetsDir: null }));
        await new Promise<void>((resolve, reject) => {
          server.once('error', (e: NodeJS.ErrnoException) =>
            reject(e.code === 'EADDRINUSE' ? new UserError(`port ${f.port} is in use; pass another --port (or --port 0 for any free one)`) : e.code === 'EACCES' ? new UserError(`no permission to listen on port ${f.port}; use a port above 1023`) : e),
          );
          server.listen(f.port, f.host, () => resolve());
        });
        const addr = server.address();
        const port = typeof addr === 'object' && addr ? addr.port : f.port;
        process.stdout.write(`Serving ${runs.length} model${runs.length === 1 ? '' : 's'} (${runs.map((r) => `${r.id}: ${r.row.family}`).join(', ')}) at http://${f.host}:${port}/ (Ctrl-C to stop)\n`);
        await new Promise<void>((resolve) => process.once('SIGINT', () => server.close(() => resolve())));
      }),
    );
}
