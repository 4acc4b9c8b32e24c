// Where a model comes from: a run folder on disk, zoo:NAME (the package's models/NAME/), an https://…/folder/ URL or
// hf:OWNER/REPO[/SUBFOLDER][@REVISION] (the Hub's resolve/<revision>/<file> layout), resolved to a local run folder;
// remote folders are downloaded once into <cache>/models/<key>/ (resumed with Range, checked against manifest.json).
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { oneLine, UserError } from '../core/errors.ts';
import { cacheRoot } from './classifier-store.ts';
import { createProgress, type Progress } from './progress.ts';

/** The package root (two levels above this file, as in classifier-store.ts); the zoo is its models/ folder. */
const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');

/** The zoo's folder: <package>/models. */
export const ZOO_DIR = path.join(REPO_ROOT, 'models');

/** The files of a remote run folder, in download order; only config.json and model.safetensors are required
 *  (state.json, when there, lets the checkpoint store check that the files are one save and gives the step). */
const REMOTE_FILES = [
  { name: 'config.json', required: true },
  { name: 'state.json', required: false },
  { name: 'model.safetensors', required: true },
  { name: 'ema.safetensors', required: false },
] as const;

/** What a download records in its cache folder once complete; its presence makes the next call a cache hit. */
const RECORD = 'download.json';
const MANIFEST = 'manifest.json';

/** Options of resolveModelSource. */
export interface ModelSourceOptions {
  /** Cache root (default cacheRoot(): $DEEPGEN_CACHE, a checkout's .cache, or $XDG_CACHE_HOME/deepgen). */
  cacheDir?: string;
  /** The fetch to download with (default globalThis.fetch). */
  fetch?: typeof fetch;
  /** Download progress, per chunk: the file, bytes so far (a resumed file counts its earlier bytes) and its size. */
  onProgress?: (p: { file: string; bytes: number; total?: number }) => void;
  /** One-line notes (download started, resumed, restarted). */
  log?: (line: string) => void;
  /** The zoo's folder (default ZOO_DIR); for tests. */
  zooDir?: string;
  /** Environment read for DEEPGEN_HF_ENDPOINT (default process.env). */
  env?: NodeJS.ProcessEnv;
}

/** A parsed model spec. */
export type ModelSpec =
  | { kind: 'folder'; dir: string }
  | { kind: 'zoo'; name: string }
  | { kind: 'url'; url: string }
  | { kind: 'hf'; owner: string; repo: string; subfolder: string; revision: string };

const SPEC_HELP = 'pass a run folder, zoo:NAME, an https://…/folder/ URL or hf:OWNER/REPO[/SUBFOLDER][@REVISION]';

function isLocalHost(host: string): boolean {
  const h = host.replace(/^\[|\]$/g, '').toLowerCase();
  return h === 'localhost' || h === '::1' || /^127\.\d+\.\d+\.\d+$/.test(h);
}

/** Parses a model spec; a malformed zoo:, hf: or URL spec is a one-line UserError. */
export function parseModelSpec(spec: string): ModelSpec {
  if (/^zoo:/i.test(spec)) {
    const name = spec.slice(4);
    if (!/^[A-Za-z0-9][A-Za-z0-9._-]*$/.test(name))
      throw new UserError(`"${oneLine(spec)}" is not a zoo name; write zoo:NAME (see deepgen models)`);
    return { kind: 'zoo', name };
  }
  if (/^hf:/i.test(spec)) {
    const m = /^hf:([A-Za-z0-9][\w.-]*)\/([\w.-]+)((?:\/[\w.-]+)*)\/?(?:@([\w./-]+))?$/.exec(spec);
    if (!m || m[2] === '.' || m[2] === '..' || /(^|\/)\.\.?(\/|$)/.test(m[3]) || /(^|\/)\.\.(\/|$)/.test(m[4] ?? ''))
      throw new UserError(`"${oneLine(spec)}" is not a hub spec; write hf:OWNER/REPO[/SUBFOLDER][@REVISION]`);
    return { kind: 'hf', owner: m[1], repo: m[2], subfolder: m[3].replace(/^\//, ''), revision: m[4] ?? 'main' };
  }
  if (/^https?:\/\//i.test(spec)) {
    let u: URL;
    try {
      u = new URL(spec);
    } catch {
      throw new UserError(`"${oneLine(spec)}" is not a valid URL; ${SPEC_HELP}`);
    }
    if (u.protocol === 'http:' && !isLocalHost(u.hostname))
      throw new UserError(`${u.href} is plain http; use https (http is accepted only for localhost)`);
    if (u.search || u.hash) throw new UserError(`${u.href} has a query or fragment; pass the folder URL alone`);
    if (!u.pathname.endsWith('/')) u.pathname += '/';
    return { kind: 'url', url: u.href };
  }
  if (/^file:/i.test(spec)) return { kind: 'folder', dir: fileURLToPath(spec) };
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(spec))
    throw new UserError(`"${oneLine(spec)}" uses an unknown scheme; ${SPEC_HELP}`);
  return { kind: 'folder', dir: spec };
}

/** True when the spec is a folder on disk (not zoo:, a URL or hf:): outputs may go beside the model. */
export function isFolderSpec(spec: string): boolean {
  return parseModelSpec(spec).kind === 'folder';
}

/** The names of the zoo's models (folders of models/ that hold a config.json): in the order of models/zoo.json's
 *  "models" list (the first is the one to show first), then any others sorted. */
export function zooNames(zooDir = ZOO_DIR): string[] {
  let entries: fs.Dirent[];
  try {
    entries = fs.readdirSync(zooDir, { withFileTypes: true });
  } catch {
    return [];
  }
  const names = entries
    .filter((e) => e.isDirectory() && fs.existsSync(path.join(zooDir, e.name, 'config.json')))
    .map((e) => e.name)
    .sort();
  let order: string[] = [];
  try {
    const listed = (JSON.parse(fs.readFileSync(path.join(zooDir, 'zoo.json'), 'utf8')) as { models?: unknown }).models;
    if (Array.isArray(listed)) order = listed.filter((n): n is string => typeof n === 'string' && names.includes(n));
  } catch {
    // no zoo.json (or a damaged one): alphabetical order
  }
  return [...order, ...names.filter((n) => !order.includes(n))];
}

function zooFolder(name: string, zooDir: string): string {
  const names = zooNames(zooDir);
  if (!names.length)
    throw new UserError(
      `This deepgen ships no zoo models yet (no models in ${zooDir}); pass a run folder, an https URL or hf:OWNER/REPO`,
    );
  if (!names.includes(name))
    throw new UserError(`No zoo model "${name}"; the zoo has: ${names.join(', ')} (deepgen models lists them)`);
  return path.join(zooDir, name);
}

/** The folder URL of a hub spec: <endpoint>/OWNER/REPO/resolve/REVISION/[SUBFOLDER/]. */
export function hubFolderUrl(s: Extract<ModelSpec, { kind: 'hf' }>, env: NodeJS.ProcessEnv = process.env): string {
  const endpoint = (env.DEEPGEN_HF_ENDPOINT || 'https://huggingface.co').replace(/\/+$/, '');
  const rev = s.revision.split('/').map(encodeURIComponent).join('%2F');
  return `${endpoint}/${s.owner}/${s.repo}/resolve/${rev}/${s.subfolder ? `${s.subfolder}/` : ''}`;
}

/** A readable, filesystem-safe cache key of a spec, with a short hash of its URL so that keys never collide. */
function cacheKey(spec: ModelSpec, url: string): string {
  const readable =
    spec.kind === 'hf'
      ? ['hf', spec.owner, spec.repo, ...(spec.subfolder ? [spec.subfolder] : []), spec.revision].join('--')
      : url.replace(/^https?:\/\//i, '');
  const safe = readable
    .replace(/[^A-Za-z0-9._-]+/g, '-')
    .replace(/^[-.]+|-+$/g, '')
    .slice(0, 80);
  const hash = crypto.createHash('sha256').update(url).digest('hex').slice(0, 10);
  return `${safe || 'model'}-${hash}`;
}

/**
 * A local run folder for `spec`: a folder path as is; zoo:NAME as the package's models/NAME/; an https URL (http for
 * localhost) or hf:OWNER/REPO[/SUBFOLDER][@REVISION] downloaded into <cache>/models/<key>/ (a second call finds it
 * there and makes no request). Every failure (unknown zoo name, offline, HTTP error, checksum mismatch) is a one-line
 * UserError naming the URL and the fix.
 *
 * @example
 * const dir = await resolveModelSource('hf:someone/deepgen-vae@main', { onProgress: (p) => console.log(p.bytes) });
 */
export async function resolveModelSource(spec: string, opts: ModelSourceOptions = {}): Promise<string> {
  const s = parseModelSpec(spec);
  if (s.kind === 'folder') return s.dir;
  if (s.kind === 'zoo') return zooFolder(s.name, opts.zooDir ?? ZOO_DIR);
  const url = s.kind === 'hf' ? hubFolderUrl(s, opts.env) : s.url;
  const dir = path.join(opts.cacheDir ?? cacheRoot(), 'models', cacheKey(s, url));
  if (cacheHit(dir)) return dir;
  await downloadFolder(url, dir, opts);
  return dir;
}

interface DownloadRecord {
  url: string;
  files: Record<string, { size: number; sha256?: string }>;
  verified: boolean;
}

/** A complete download: its record is there and every file it lists is present with its recorded size. */
function cacheHit(dir: string): boolean {
  let rec: DownloadRecord;
  try {
    rec = JSON.parse(fs.readFileSync(path.join(dir, RECORD), 'utf8')) as DownloadRecord;
  } catch {
    return false;
  }
  if (!rec || typeof rec.files !== 'object' || !rec.files['config.json'] || !rec.files['model.safetensors'])
    return false;
  return Object.entries(rec.files).every(([name, f]) => {
    try {
      return fs.statSync(path.join(dir, name)).size === f.size;
    } catch {
      return false;
    }
  });
}

type Manifest = Record<string, { sha256: string; size?: number }>;

function parseManifest(bytes: Buffer, url: string): Manifest {
  let m: unknown;
  try {
    m = JSON.parse(bytes.toString('utf8'));
  } catch {
    throw new UserError(`${url} is not valid JSON; the folder's manifest.json is damaged, ask its publisher`);
  }
  const files = (m as { files?: unknown })?.files;
  if (!files || typeof files !== 'object')
    throw new UserError(`${url} has no "files" object; expected { "files": { "NAME": { "sha256", "size" } } }`);
  for (const [name, f] of Object.entries(files as Record<string, unknown>)) {
    const sha = (f as { sha256?: unknown })?.sha256;
    if (typeof sha !== 'string' || !/^[0-9a-f]{64}$/i.test(sha))
      throw new UserError(`${url} gives ${oneLine(name)} no valid sha256 (64 hex digits); ask the folder's publisher`);
  }
  return files as Manifest;
}

async function downloadFolder(base: string, dir: string, opts: ModelSourceOptions): Promise<void> {
  fs.mkdirSync(dir, { recursive: true });
  const fetchFn = opts.fetch ?? globalThis.fetch;
  opts.log?.(`Downloading ${base} into ${dir}`);
  const manifestBytes = await fetchSmall(fetchFn, base + MANIFEST);
  const manifest = manifestBytes ? parseManifest(manifestBytes, base + MANIFEST) : null;
  const record: DownloadRecord = { url: base, files: {}, verified: manifest !== null };
  for (const { name, required } of REMOTE_FILES) {
    const dest = path.join(dir, name);
    const want = manifest?.[name];
    if (fs.existsSync(dest)) {
      // a file renamed into place was complete; with a manifest it must still match (a publisher may have updated)
      const sha = want ? await sha256File(dest) : undefined;
      if (!want || sha === want.sha256.toLowerCase()) {
        record.files[name] = { size: fs.statSync(dest).size, ...(sha ? { sha256: sha } : {}) };
        continue;
      }
      fs.rmSync(dest, { force: true });
    }
    const got = await downloadFile(fetchFn, base + encodeURIComponent(name), dest, name, want ?? null, opts);
    if (!got) {
      if (required)
        throw new UserError(
          `${base}${name} was not found (HTTP 404); check that ${base} is a deepgen run folder (config.json, model.safetensors)`,
        );
      continue;
    }
    record.files[name] = got;
  }
  fs.writeFileSync(path.join(dir, RECORD), JSON.stringify(record, null, 2) + '\n');
}

/** Why a fetch failed, in words: offline, no such host, refused, timed out. */
function networkReason(e: unknown): string {
  const cause = (e as { cause?: { code?: string; message?: string } })?.cause;
  const code = cause?.code ?? (e as { code?: string })?.code;
  if (code === 'ENOTFOUND' || code === 'EAI_AGAIN') return 'the host name does not resolve (offline, or a typo)';
  if (code === 'ECONNREFUSED') return 'the connection was refused (no server there)';
  if (code === 'ECONNRESET' || code === 'UND_ERR_SOCKET') return 'the connection was reset';
  if (code === 'ETIMEDOUT' || code === 'UND_ERR_CONNECT_TIMEOUT') return 'the connection timed out';
  if (code === 'ENETUNREACH' || code === 'EHOSTUNREACH') return 'the network is unreachable (offline?)';
  return oneLine(String(cause?.message ?? (e as Error)?.message ?? e));
}

/**
 * An onProgress for resolveModelSource that shows each file's download with the CLI's progress display (a bar on a
 * TTY, periodic lines otherwise) on stderr.
 */
export function downloadProgress(): (p: { file: string; bytes: number; total?: number }) => void {
  let current: { file: string; bar: Progress | null } | null = null;
  return (p) => {
    if (current?.file !== p.file) {
      current?.bar?.stop();
      current = { file: p.file, bar: p.total ? createProgress(`download ${p.file}`, p.total) : null };
    }
    current.bar?.update(p.bytes, `${(p.bytes / 1e6).toFixed(1)} MB`);
    if (p.total !== undefined && p.bytes >= p.total) {
      current.bar?.stop();
      current.bar = null;
    }
  };
}

async function request(fetchFn: typeof fetch, url: string, headers: Record<string, string> = {}): Promise<Response> {
  try {
    return await fetchFn(url, { headers, redirect: 'follow' });
  } catch (e) {
    throw new UserError(
      `Cannot download ${url}: ${networkReason(e)}; check your connection and the address, or pass a run folder on disk`,
    );
  }
}

function httpError(url: string, r: Response): UserError {
  return new UserError(
    `Cannot download ${url}: HTTP ${r.status}${r.statusText ? ` ${oneLine(r.statusText)}` : ''}; check the address (and the revision), or try again later`,
  );
}

/** A small optional file (the manifest) in memory; null on 404. */
async function fetchSmall(fetchFn: typeof fetch, url: string): Promise<Buffer | null> {
  const r = await request(fetchFn, url);
  if (r.status === 404) {
    await r.body?.cancel();
    return null;
  }
  if (!r.ok) throw httpError(url, r);
  try {
    return Buffer.from(await r.arrayBuffer());
  } catch (e) {
    throw new UserError(`The download of ${url} was interrupted (${networkReason(e)}); run the command again`);
  }
}

async function sha256File(file: string): Promise<string> {
  const h = crypto.createHash('sha256');
  for await (const chunk of fs.createReadStream(file)) h.update(chunk as Buffer);
  return h.digest('hex');
}

/**
 * Downloads url to dest through dest.part: an existing .part is resumed with a Range request (a server that ignores it
 * answers 200 and the file restarts); the complete file is checked against the manifest's sha256 and size, then renamed
 * into place. Null when the server answers 404.
 */
async function downloadFile(
  fetchFn: typeof fetch,
  url: string,
  dest: string,
  name: string,
  want: { sha256: string; size?: number } | null,
  opts: ModelSourceOptions,
): Promise<{ size: number; sha256?: string } | null> {
  const part = dest + '.part';
  let start = fs.existsSync(part) ? fs.statSync(part).size : 0;
  let r = await request(fetchFn, url, start > 0 ? { range: `bytes=${start}-` } : {});
  if (r.status === 416) {
    // the .part is not a prefix the server can continue (e.g. the file changed): start again
    await r.body?.cancel();
    start = 0;
    r = await request(fetchFn, url);
  }
  if (r.status === 404) {
    await r.body?.cancel();
    fs.rmSync(part, { force: true });
    return null;
  }
  if (!r.ok) throw httpError(url, r);
  const length = Number(r.headers.get('content-length') ?? NaN);
  if (r.status === 206) {
    const m = /^bytes (\d+)-\d+\/(\d+|\*)$/.exec(r.headers.get('content-range') ?? '');
    if (!m || Number(m[1]) !== start) {
      await r.body?.cancel();
      throw new UserError(
        `${url} answered a resume with the wrong range (${oneLine(r.headers.get('content-range') ?? 'none')}); delete ${part} and run again`,
      );
    }
    opts.log?.(`Resuming ${name} at ${start} bytes`);
  } else {
    if (start > 0) opts.log?.(`The server does not resume downloads: restarting ${name}`);
    start = 0;
  }
  const total = Number.isFinite(length) ? start + length : undefined;
  const fh = await fs.promises.open(part, start > 0 ? 'a' : 'w');
  let bytes = start;
  try {
    opts.onProgress?.({ file: name, bytes, total });
    if (r.body) {
      const reader = r.body.getReader();
      for (;;) {
        let chunk: ReadableStreamReadResult<Uint8Array>;
        try {
          chunk = await reader.read();
        } catch (e) {
          throw new UserError(
            `The download of ${url} was interrupted after ${bytes} bytes (${networkReason(e)}); run the command again to resume`,
          );
        }
        if (chunk.done) break;
        await fh.write(chunk.value);
        bytes += chunk.value.length;
        opts.onProgress?.({ file: name, bytes, total });
      }
    }
  } finally {
    await fh.close();
  }
  if (total !== undefined && bytes !== total)
    throw new UserError(
      `The download of ${url} stopped at ${bytes} of ${total} bytes; run the command again to resume`,
    );
  const sha = want ? await sha256File(part) : undefined;
  if (want && (sha !== want.sha256.toLowerCase() || (want.size !== undefined && want.size !== bytes))) {
    fs.rmSync(part, { force: true });
    throw new UserError(
      `${name} from ${url} does not match manifest.json (sha256 ${sha!.slice(0, 12)}…, ${bytes} bytes; expected ${want.sha256.slice(0, 12)}…${want.size !== undefined ? `, ${want.size} bytes` : ''}); deleted it: run again, or tell the folder's publisher`,
    );
  }
  fs.renameSync(part, dest);
  return { size: bytes, ...(sha ? { sha256: sha } : {}) };
}
