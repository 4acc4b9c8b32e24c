// `deepgen serve [RUN ...] --port 8080`: the playground (src/web, built into dist/web) on localhost with the given run
// folders: GET /api/runs (each model's family, dataset and evaluation figures), GET /runs/ID/FILE (its config and
// safetensors weights). Without a build it serves a plain page listing the models and says how to build.
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { InvalidArgumentError, type Command } from 'commander';
import { UserError } from '../core/errors.ts';
import { readRuns } from '../node/leaderboard.ts';
import { downloadProgress, isFolderSpec, resolveModelSource, ZOO_DIR, zooNames } from '../node/model-source.ts';
import { builtPlayground, playgroundServer, servedRuns, type ServedRun } from '../node/serve.ts';
import { action, collect, intOpt, RUNS_ARG_HELP } from './common.ts';

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

/** A host name for --allow-host: letters, digits, dots and dashes (no port, no scheme). */
function hostName(v: string, prev: string[] = []): string[] {
  const name = v.trim().toLowerCase();
  if (!/^[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*\.?$/.test(name))
    throw new InvalidArgumentError(
      `--allow-host takes a host name such as mybox.local (no port or scheme), got "${v}".`,
    );
  return collect(name.replace(/\.$/, ''), prev);
}

export function registerServe(program: Command): void {
  program
    .command('serve')
    .argument('[runs...]', `${RUNS_ARG_HELP} (default: the zoo's trained models, and runs/* when there is one)`)
    .description(
      'open the playground in the browser: watch the models in the given run folders generate (pixel by pixel, step by step, latent sliders), on localhost; also /api/runs (family, dataset, eval figures) and /runs/ID/FILE (config and safetensors weights)',
    )
    .option('--port <n>', 'TCP port (0 = any free port)', intOpt('--port', 0), 8080)
    .option(
      '--host <addr>',
      'address to listen on (127.0.0.1 = this machine only; 0.0.0.0 = every network of this machine)',
      '127.0.0.1',
    )
    .option(
      '--allow-host <name>',
      'also answer requests that name the server by this host name (repeatable); IP addresses and localhost are always answered',
      hostName,
      [],
    )
    .addHelpText(
      'after',
      `
Security: the server is read-only and serves only each run's config.json, model.safetensors, ema.safetensors,
eval.json and cond-eval.json (regular files inside the run folder: a symlink out of it is refused) and the
playground's own files. It answers only requests that name it by an IP address or localhost with its port
(the Host header), so a web page on another site cannot reach it through DNS rebinding; /api/runs lists run
folders relative to the folder deepgen serve was started in, never absolute paths.
By default it listens on 127.0.0.1, this machine only. --host 0.0.0.0 (or one address of this machine) makes it
reachable from the network: anyone there can download the served checkpoints. Open it as
http://<this machine's IP address>:PORT/; to open it under a host name (mybox.local), add --allow-host mybox.local.
Among several run folders (runs/*), a damaged one is skipped with a warning.

Examples:
  deepgen serve                                        the zoo (and runs/*); then open http://127.0.0.1:8080/
  deepgen serve runs/* zoo:diffusion-shapes-text       your runs beside a zoo model
  deepgen serve runs/* --host 0.0.0.0 --allow-host mybox.local --port 8000`,
    )
    .action(
      action(async (args: string[], f: { port: number; host: string; allowHost: string[] }) => {
        if (f.port > 65535) throw new UserError(`--port must be 0-65535, got ${f.port}`);
        const warn = (l: string) => process.stderr.write(l + '\n');
        // zoo:, URL and hf: specs become local folders (downloads into the cache); folders and globs stay as given
        const dirs: string[] = [];
        const zooSpec = new Map<string, string>();
        for (const a of args) {
          const dir = isFolderSpec(a) ? a : await resolveModelSource(a, { onProgress: downloadProgress() });
          if (/^zoo:/i.test(a)) zooSpec.set(dir, a);
          dirs.push(dir);
        }
        if (!args.length) {
          // no arguments: the zoo (its first model is the one the playground opens on), then the user's own runs
          for (const name of zooNames()) {
            const dir = path.join(ZOO_DIR, name);
            zooSpec.set(dir, `zoo:${name}`);
            dirs.push(dir);
          }
          const ownRuns = () => {
            try {
              return fs.readdirSync('runs').some((e) => fs.existsSync(path.join('runs', e, 'config.json')));
            } catch {
              return false;
            }
          };
          if (!dirs.length || ownRuns()) dirs.push('runs/*');
        }
        const runs = servedRuns(readRuns(dirs, warn), process.cwd(), (dir) => zooSpec.get(dir));
        const built = builtPlayground(PLAYGROUND_DIR);
        const unbuilt =
          'The interactive playground is not built: run `npm run build:web` in the deepgen folder, then restart `deepgen serve`.';
        if (!built) warn(`deepgen: warning: ${unbuilt}`);
        // a host name given to --host names the server too
        const allowedHosts = new Set([...f.allowHost, ...(net.isIP(f.host) ? [] : [f.host.toLowerCase()])]);
        const server = playgroundServer(runs, built ?? { indexHtml: () => indexPage(runs, unbuilt), assetsDir: null }, {
          allowedHosts,
          log: warn,
        });
        await new Promise<void>((resolve, reject) => {
          server.once('error', (e: NodeJS.ErrnoException) =>
            reject(
              e.code === 'EADDRINUSE'
                ? new UserError(`port ${f.port} is in use; pass another --port (or --port 0 for any free one)`)
                : e.code === 'EACCES'
                  ? new UserError(`no permission to listen on port ${f.port}; use a port above 1023`)
                  : e.code === 'EADDRNOTAVAIL' || e.code === 'ENOTFOUND'
                    ? new UserError(
                        `cannot listen on ${f.host}: not an address of this machine; pass --host 127.0.0.1 or one of its addresses`,
                      )
                    : e,
            ),
          );
          server.listen(f.port, f.host, () => resolve());
        });
        const addr = server.address();
        const port = typeof addr === 'object' && addr ? addr.port : f.port;
        const host = net.isIPv6(f.host) ? `[${f.host}]` : f.host;
        process.stdout.write(
          `Serving ${runs.length} model${runs.length === 1 ? '' : 's'} (${runs.map((r) => `${r.id}: ${r.row.family}`).join(', ')}) at http://${host}:${port}/ (Ctrl-C to stop)\n`,
        );
        await new Promise<void>((resolve) => process.once('SIGINT', () => server.close(() => resolve())));
      }),
    );
}
