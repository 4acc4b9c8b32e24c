// The playground's HTTP server: the run folders it is given, listed as JSON with their family, dataset and evaluation
// figures (the leaderboard's rows), their checkpoint files (config + safetensors) for the browser to load, and the built
// playground (dist/web). Read-only; only the checkpoint's own file names and the build's assets are served, through the
// guard of http-guard.ts (error boundary, Host check, security headers) and the checks of http-file.ts (no way out).
import fs from 'node:fs';
import type http from 'node:http';
import path from 'node:path';
import { CHECKPOINT_FILES } from '../core/checkpoint/format.ts';
import { registry } from '../core/registry.ts';
import { fileInside, sendFile } from './http-file.ts';
import { guard, guardedServer, requestPath, sendText, type GuardOptions, type ServerLimits } from './http-guard.ts';
import { leaderboardRow, type LeaderboardRow, type RunFiles } from './leaderboard.ts';

/** The files of a run a browser may fetch: the checkpoint (config and weights) and the evaluation results. */
export const SERVED_RUN_FILES = [
  CHECKPOINT_FILES.config,
  CHECKPOINT_FILES.model,
  'ema.safetensors',
  'eval.json',
  'cond-eval.json',
] as const;

export interface ServedRun {
  /** URL-safe id: the folder's base name, made unique. */
  id: string;
  /** The folder as given, where files are read. */
  dir: string;
  /** The folder relative to the server's working folder, as /api/runs shows it (never an absolute path). */
  shownDir: string;
  row: LeaderboardRow;
  /** Which of SERVED_RUN_FILES are regular files inside the folder (a symlink out of it is not listed). */
  files: string[];
}

/** `dir` relative to `cwd` (with ../ when outside it); only the folder name where no relative path exists (another drive). */
export function shownRunDir(dir: string, cwd = process.cwd()): string {
  const rel = path.relative(cwd, path.resolve(dir));
  return path.isAbsolute(rel) ? path.basename(path.resolve(dir)) : rel || '.';
}

/** The runs to serve, with ids from their folder names (a, a-2, ... when names repeat); `shownAs` may name a folder
 *  for /api/runs (e.g. zoo:NAME for a zoo model) instead of its path relative to cwd. */
export function servedRuns(
  runs: readonly RunFiles[],
  cwd = process.cwd(),
  shownAs: (dir: string) => string | undefined = () => undefined,
): ServedRun[] {
  const used = new Set<string>();
  return runs.map((f) => {
    const base = path.basename(path.resolve(f.run)).replace(/[^A-Za-z0-9._-]/g, '-') || 'run';
    let id = base;
    for (let k = 2; used.has(id); k++) id = `${base}-${k}`;
    used.add(id);
    const shownDir = shownAs(f.run) ?? shownRunDir(f.run, cwd);
    // the row's notes name the run; they name it as shown
    const row = leaderboardRow({ ...f, run: shownDir });
    return {
      id,
      dir: f.run,
      shownDir,
      row,
      files: SERVED_RUN_FILES.filter((name) => fileInside(f.run, name) !== null),
    };
  });
}

const JSON_TYPE = 'application/json';

/** How a family's sample() proceeds (its capability), for the page to pick a backend setting before loading. */
function generationOf(family: string): 'one-pass' | 'steps' | 'pixels' {
  return (
    (registry as Record<string, { generation?: 'one-pass' | 'steps' | 'pixels' }>)[family]?.generation ?? 'one-pass'
  );
}

/** /api/runs: what the page needs of each run (protocol.ts RunListing). */
export function runListing(runs: readonly ServedRun[]): string {
  const list = runs.map((r) => ({
    id: r.id,
    dir: r.shownDir,
    family: r.row.family,
    generation: generationOf(r.row.family),
    dataset: r.row.dataset,
    conditioning: r.row.conditioning,
    params: r.row.params,
    steps: r.row.steps,
    likelihood: r.row.likelihood,
    sampleQuality: r.row.sampleQuality,
    condAccuracy: r.row.condAccuracy,
    files: r.files.map((f) => `/runs/${r.id}/${f}`),
  }));
  return JSON.stringify({ runs: list });
}

/** Content types of the playground build's assets (wasm must be application/wasm for streaming compilation). */
const ASSET_TYPES: Record<string, string> = {
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.wasm': 'application/wasm',
  '.png': 'image/png',
  '.svg': 'image/svg+xml',
  '.json': JSON_TYPE,
};

/** The page to serve at / (read at each request, so a rebuild shows without a restart) and, for the built playground,
 *  the folder of its assets (served under /assets/). */
export interface PlaygroundPage {
  indexHtml: () => string;
  assetsDir: string | null;
}

/** The built playground in `dir` (vite's dist/web), or null when it has not been built. */
export function builtPlayground(dir: string): PlaygroundPage | null {
  const index = fileInside(dir, 'index.html');
  if (!index) return null;
  return { indexHtml: () => fs.readFileSync(index, 'utf8'), assetsDir: path.join(dir, 'assets') };
}

/**
 * The request handler: GET /api/runs (the list), GET /runs/ID/FILE (a served file of a run), the page at / and
 * /index.html and its assets at /assets/NAME when given. Anything else is 404; methods other than GET and HEAD are 405;
 * a Host other than an IP address, localhost or an allowed name is 421; bad %-escapes are 400.
 */
export function playgroundHandler(
  runs: readonly ServedRun[],
  page: PlaygroundPage | null,
  o: GuardOptions = {},
): http.RequestListener {
  const listing = runListing(runs);
  return guard(async (req, res) => {
    const p = requestPath(req);
    if (p === '/api/runs') return sendText(req, res, 200, listing, JSON_TYPE);
    const m = /^\/runs\/([^/]+)\/([^/]+)$/.exec(p);
    if (m) {
      const run = runs.find((r) => r.id === m[1]);
      if (!run || !run.files.includes(m[2])) return sendText(req, res, 404, 'no such run file\n');
      return sendFile(req, res, run.dir, m[2], m[2].endsWith('.json') ? JSON_TYPE : 'application/octet-stream');
    }
    if (page && (p === '/' || p === '/index.html'))
      return sendText(req, res, 200, page.indexHtml(), 'text/html; charset=utf-8');
    const a = /^\/assets\/([A-Za-z0-9_][A-Za-z0-9._-]*)$/.exec(p);
    const type = a && ASSET_TYPES[path.extname(a[1])];
    if (a && type && page?.assetsDir) return sendFile(req, res, page.assetsDir, a[1], type);
    return sendText(req, res, 404, 'not found\n');
  }, o);
}

/** The playground's server: the handler behind the guarded server's limits (slow or unparseable clients). */
export function playgroundServer(
  runs: readonly ServedRun[],
  page: PlaygroundPage | null,
  o: GuardOptions & { limits?: Partial<ServerLimits> } = {},
): http.Server {
  return guardedServer(playgroundHandler(runs, page, o), o.limits);
}
