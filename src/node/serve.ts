// The playground's HTTP server: the run folders it is given, listed as JSON with their family, dataset and evaluation
// figures (the leaderboard's rows), their checkpoint files (config + safetensors) for the browser to load, and the built
// playground (dist/web). Read-only; only the checkpoint's own file names and the build's assets are served.
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { CHECKPOINT_FILES } from '../core/checkpoint/format.ts';
import { buildLeaderboard, readRunFiles, type LeaderboardRow } from './leaderboard.ts';

/** The files of a run a browser may fetch: the checkpoint (config and weights) and the evaluation results. */
export const SERVED_RUN_FILES = [CHECKPOINT_FILES.config, CHECKPOINT_FILES.model, 'ema.safetensors', 'eval.json', 'cond-eval.json'] as const;

export interface ServedRun {
  /** URL-safe id: the folder's base name, made unique. */
  id: string;
  dir: string;
  row: LeaderboardRow;
  /** Which of SERVED_RUN_FILES exist. */
  files: string[];
}

/** The runs to serve, with ids from their folder names (a, a-2, ... when names repeat). */
export function servedRuns(dirs: readonly string[]): ServedRun[] {
  const board = buildLeaderboard(dirs.map(readRunFiles));
  const byRun = new Map(board.rows.map((r) => [r.run, r]));
  const used = new Set<string>();
  return dirs.map((dir) => {
    const base = path.basename(path.resolve(dir)).replace(/[^A-Za-z0-9._-]/g, '-') || 'run';
    let id = base;
    for (let k = 2; used.has(id); k++) id = `${base}-${k}`;
    used.add(id);
    const run = dir.replace(/[\\/]+$/, '') || dir;
    return { id, dir, row: byRun.get(run)!, files: SERVED_RUN_FILES.filter((f) => fs.existsSync(path.join(dir, f))) };
  });
}

const JSON_TYPE = 'application/json';

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
  const index = path.join(dir, 'index.html');
  if (!fs.existsSync(index)) return null;
  return { indexHtml: () => fs.readFileSync(index, 'utf8'), assetsDir: path.join(dir, 'assets') };
}

/**
 * The request handler: GET /api/runs (the list), GET /runs/ID/FILE (a served file of a run), the page at / and
 * /index.html and its assets at /assets/NAME when given. Anything else is 404; methods other than GET and HEAD are 405.
 */
export function playgroundHandler(runs: readonly ServedRun[], page: PlaygroundPage | null): http.RequestListener {
  return (req, res) => {
    const send = (code: number, type: string, body: string | Buffer) => {
      res.writeHead(code, { 'content-type': type, 'cache-control': 'no-store' });
      res.end(req.method === 'HEAD' ? undefined : body);
    };
    if (req.method !== 'GET' && req.method !== 'HEAD') return send(405, 'text/plain', 'only GET\n');
    let url: URL;
    try {
      url = new URL(req.url ?? '/', 'http://localhost');
    } catch {
      return send(400, 'text/plain', 'bad URL\n');
    }
    const p = decodeURIComponent(url.pathname);
    if (p === '/api/runs') {
      const list = runs.map((r) => ({ id: r.id, dir: r.dir, family: r.row.family, dataset: r.row.dataset, conditioning: r.row.conditioning, params: r.row.params, steps: r.row.steps, likelihood: r.row.likelihood, sampleQuality: r.row.sampleQuality, condAccuracy: r.row.condAccuracy, files: r.files.map((f) => `/runs/${r.id}/${f}`) }));
      return send(200, JSON_TYPE, JSON.stringify({ runs: list }));
    }
    const m = /^\/runs\/([^/]+)\/([^/]+)$/.exec(p);
    if (m) {
      const run = runs.find((r) => r.id === m[1]);
      if (!run || !run.files.includes(m[2])) return send(404, 'text/plain', 'no such run file\n');
      return send(200, m[2].endsWith('.json') ? JSON_TYPE : 'application/octet-stream', fs.readFileSync(path.join(run.dir, m[2])));
    }
    if (page && (p === '/' || p === '/index.html')) return send(200, 'text/html; charset=utf-8', page.indexHtml());
    const a = /^\/assets\/([A-Za-z0-9_][A-Za-z0-9._-]*)$/.exec(p);
    if (a && page?.assetsDir) {
      const type = ASSET_TYPES[path.extname(a[1])];
      const file = path.join(page.assetsDir, a[1]);
      if (type && fs.existsSync(file) && fs.statSync(file).isFile()) return send(200, type, fs.readFileSync(file));
    }
    return send(404, 'text/plain', 'not found\n');
  };
}
