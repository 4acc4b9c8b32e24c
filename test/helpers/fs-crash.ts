// Fault injection for crash tests: wraps the fs calls that change files (sync, promise) and reports each one under a
// folder to a hook. As a preload (`node --import <this file, bundled>`) with DEEPGEN_CRASH_DIR set, it SIGKILLs the
// process at the DEEPGEN_CRASH_AT-th such call, so no finally block or exit handler runs: a faithful crash.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { syncBuiltinESMExports } from 'node:module';

/** One file-changing call, before it runs: its name and the paths it touches ("renameSync a -> b"). */
export type FsCallHook = (n: number, call: string) => void;

// Only calls that change what a later process sees count: a crash before a read or an fsync leaves the same files as a
// crash before the next change (fsync matters for power loss, which SIGKILL cannot show; see the fsync-order test).
const SYNC_PATH = [
  'writeFileSync',
  'appendFileSync',
  'unlinkSync',
  'rmSync',
  'rmdirSync',
  'mkdirSync',
  'truncateSync',
  'mkdtempSync',
] as const;
const SYNC_TWO_PATHS = ['renameSync', 'linkSync', 'symlinkSync', 'copyFileSync', 'cpSync'] as const;
const SYNC_FD = ['writeSync', 'ftruncateSync', 'writevSync'] as const;
const PROMISE_PATH = ['writeFile', 'appendFile', 'unlink', 'rm', 'rmdir', 'mkdir', 'truncate', 'mkdtemp'] as const;
const PROMISE_TWO_PATHS = ['rename', 'link', 'symlink', 'copyFile', 'cp'] as const;

let hooked: { dir: string; hook: FsCallHook; n: number } | null = null;
let inHook = false;
const fds = new Set<number>();
const originals = new Map<string, unknown>();

function asPath(p: unknown): string | null {
  if (typeof p === 'string') return path.resolve(p);
  if (p instanceof URL) return p.protocol === 'file:' ? path.resolve(decodeURIComponent(p.pathname)) : null;
  if (Buffer.isBuffer(p)) return path.resolve(p.toString());
  return null;
}

function under(p: string | null): boolean {
  return !!hooked && !!p && (p === hooked.dir || p.startsWith(hooked.dir + path.sep));
}

function report(name: string, paths: (string | null)[], fd?: number): void {
  if (!hooked || inHook) return;
  if (!paths.some(under) && !(fd !== undefined && fds.has(fd))) return;
  inHook = true;
  try {
    hooked.hook(++hooked.n, `${name} ${fd !== undefined ? `fd ${fd}` : paths.filter(Boolean).join(' -> ')}`);
  } finally {
    inHook = false;
  }
}

function wrap(
  obj: Record<string, unknown>,
  key: string,
  before: (args: unknown[]) => void,
  after?: (ret: unknown, args: unknown[]) => void,
): void {
  const orig = obj[key] as ((...a: unknown[]) => unknown) | undefined;
  if (typeof orig !== 'function') return;
  originals.set(`${obj === (fs as unknown) ? 'fs' : 'promises'}.${key}`, orig);
  obj[key] = function (this: unknown, ...args: unknown[]) {
    before(args);
    const ret = orig.apply(this, args);
    after?.(ret, args);
    return ret;
  };
}

let installed = false;

/** Wraps fs once per process (idempotent); calls are reported only while a hook is set. */
function install(): void {
  if (installed) return;
  installed = true;
  const f = fs as unknown as Record<string, unknown>;
  const p = fs.promises as unknown as Record<string, unknown>;
  // openSync creates or truncates unless the flags are read-only; the fd is tracked so later writes to it count
  wrap(
    f,
    'openSync',
    (a) => {
      const flags = a[1] ?? 'r';
      if (flags !== 'r' && flags !== fs.constants.O_RDONLY && flags !== 'rs') report('openSync', [asPath(a[0])]);
    },
    (fd, a) => {
      if (under(asPath(a[0])) && typeof fd === 'number') fds.add(fd);
    },
  );
  wrap(
    f,
    'closeSync',
    () => {},
    (_r, a) => fds.delete(a[0] as number),
  );
  for (const k of SYNC_PATH)
    wrap(f, k, (a) => (typeof a[0] === 'number' ? report(k, [], a[0]) : report(k, [asPath(a[0])])));
  for (const k of SYNC_TWO_PATHS) wrap(f, k, (a) => report(k, [asPath(a[0]), asPath(a[1])]));
  for (const k of SYNC_FD) wrap(f, k, (a) => report(k, [], a[0] as number));
  for (const k of PROMISE_PATH) wrap(p, k, (a) => report(`promises.${k}`, [asPath(a[0])]));
  for (const k of PROMISE_TWO_PATHS) wrap(p, k, (a) => report(`promises.${k}`, [asPath(a[0]), asPath(a[1])]));
  syncBuiltinESMExports(); // named imports (import { renameSync } from 'node:fs') see the wrappers too
}

/** Reports every file-changing fs call under `dir` to `hook` (before the call runs) until the returned stop(). */
export function watchFsCalls(dir: string, hook: FsCallHook): () => void {
  install();
  hooked = { dir: path.resolve(dir), hook, n: 0 };
  return () => {
    hooked = null;
    fds.clear();
  };
}

/**
 * Runs `fn` and copies `dir` into `into`/<k> just before each of its file-changing calls k = 1, 2, ...: the folder as a
 * process killed at call k would leave it (page cache intact). Returns the calls, in order.
 */
export function snapshotBeforeEachCall(dir: string, into: string, fn: () => void): string[] {
  const calls: string[] = [];
  const stop = watchFsCalls(dir, (n, call) => {
    calls.push(call);
    copyTree(dir, path.join(into, String(n)));
  });
  try {
    fn();
  } finally {
    stop();
  }
  return calls;
}

/**
 * A new temp folder in RAM (/dev/shm) where there is one, else in the OS temp folder: crash tests create, rename and
 * remove thousands of small files, which a disk's metadata journal makes ~20x slower. What a SIGKILL leaves is the same.
 */
export function ramTmpDir(prefix: string): string {
  let root = os.tmpdir();
  try {
    fs.accessSync('/dev/shm', fs.constants.W_OK);
    if (fs.statSync('/dev/shm').isDirectory()) root = '/dev/shm';
  } catch {
    /* no RAM folder: the OS temp folder */
  }
  return fs.mkdtempSync(path.join(root, prefix));
}

/** A plain recursive copy (files and folders; hard links become copies, which no reader can tell apart). */
export function copyTree(from: string, to: string): void {
  fs.mkdirSync(to, { recursive: true });
  if (!fs.existsSync(from)) return;
  for (const e of fs.readdirSync(from, { withFileTypes: true })) {
    const src = path.join(from, e.name),
      dst = path.join(to, e.name);
    if (e.isDirectory()) copyTree(src, dst);
    else fs.copyFileSync(src, dst);
  }
}

// Preload mode: kill at call N under DEEPGEN_CRASH_DIR, counting only calls whose description matches
// DEEPGEN_CRASH_MATCH (a regular expression; all calls when unset).
const env = process.env;
if (env.DEEPGEN_CRASH_DIR && env.DEEPGEN_CRASH_AT) {
  const at = Number(env.DEEPGEN_CRASH_AT);
  const match = env.DEEPGEN_CRASH_MATCH ? new RegExp(env.DEEPGEN_CRASH_MATCH) : null;
  let n = 0;
  watchFsCalls(env.DEEPGEN_CRASH_DIR, (_k, call) => {
    if (match && !match.test(call)) return;
    if (++n !== at) return;
    const write = originals.get('fs.writeSync') as typeof fs.writeSync;
    write(2, `fs-crash: SIGKILL at call ${n}: ${call}\n`);
    process.kill(process.pid, 'SIGKILL');
    Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0); // never returns: the signal is on its way
  });
}
