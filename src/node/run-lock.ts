// One trainer per run folder: DIR/.deepgen.lock names its owner (pid, host, start time), created atomically (link of a
// complete temp file, so no reader sees it half written). A lock whose owner is gone is stale and taken over with a warning.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { UserError } from '../core/errors.ts';
import { userFsError, writeDurableTemp } from './fs-atomic.ts';
import { processAlive, processStartTicks } from './pid.ts';

export const LOCK_FILE = '.deepgen.lock';

interface LockOwner {
  pid: number;
  host: string;
  /** When the lock was taken, for the message. */
  since: string;
  /** The owner's start time (processStartTicks), so a new process given a dead owner's pid is not taken for it. */
  startTicks: number | null;
  command: string;
}

export interface RunLock {
  /** Removes the lock (if still ours) and the run folder if this lock created it and it is still empty. Idempotent. */
  release(): void;
}

/** Lock files held by this process: a lock naming our own pid is live only if it is one of these. */
const held = new Set<string>();

/**
 * Locks run folder `dir` (created if absent) for this process until release() or process exit. A live owner is a
 * one-line UserError ("run folder DIR in use by pid N ..."); a dead one's lock is taken over after `warn`.
 */
export function acquireRunLock(dir: string, opts: { warn: (line: string) => void; command?: string }): RunLock {
  const created = !fs.existsSync(dir);
  try {
    fs.mkdirSync(dir, { recursive: true });
  } catch (e) {
    throw new UserError(`Cannot create run folder ${dir}: ${(e as Error).message}; choose another --out`);
  }
  const file = path.join(path.resolve(dir), LOCK_FILE);
  const me: LockOwner = {
    pid: process.pid,
    host: os.hostname(),
    since: new Date().toISOString(),
    startTicks: processStartTicks(process.pid),
    command: opts.command ?? 'deepgen train',
  };
  for (let attempt = 0; !tryCreate(file, me); attempt++) {
    const text = readText(file);
    if (text === null) continue; // released meanwhile: try again
    const owner = parseOwner(text);
    if (owner && ownerAlive(owner, file)) throw inUse(dir, file, owner);
    if (attempt >= 3)
      throw new UserError(
        `Cannot lock run folder ${dir}: ${file} keeps changing (another deepgen starting?); try again`,
      );
    opts.warn(
      owner
        ? `deepgen: warning: run folder ${dir} was locked by pid ${owner.pid} (${owner.command} since ${owner.since}), which is no longer running; taking over the lock`
        : `deepgen: warning: run folder ${dir} has a damaged lock file ${file}; taking over the lock`,
    );
    if (readText(file) === text) fs.rmSync(file, { force: true }); // only the stale lock read above, not a newcomer's
  }
  held.add(file);
  let released = false;
  const release = () => {
    if (released) return;
    released = true;
    process.off('exit', release);
    held.delete(file);
    const owner = parseOwner(readText(file) ?? '');
    if (owner && owner.pid === me.pid && owner.host === me.host && owner.since === me.since)
      fs.rmSync(file, { force: true });
    if (created) {
      try {
        fs.rmdirSync(dir); // a run that failed before writing anything leaves no empty folder
      } catch {
        /* not empty: it holds the run */
      }
    }
  };
  process.on('exit', release); // also process.exit() (a second Ctrl-C), where no finally block runs
  return { release };
}

/** Creates the lock file holding `me` unless it exists; false when it does. */
function tryCreate(file: string, me: LockOwner): boolean {
  let tmp: string | undefined;
  try {
    tmp = writeDurableTemp(file, `${JSON.stringify(me)}\n`);
    fs.linkSync(tmp, file);
    return true;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw userFsError(e, `Cannot lock the run folder (${file})`);
  } finally {
    if (tmp) fs.rmSync(tmp, { force: true });
  }
}

function readText(file: string): string | null {
  try {
    return fs.readFileSync(file, 'utf8');
  } catch {
    return null;
  }
}

function parseOwner(text: string): LockOwner | null {
  try {
    const o = JSON.parse(text) as LockOwner;
    return Number.isSafeInteger(o.pid) && typeof o.host === 'string' ? o : null;
  } catch {
    return null;
  }
}

/** Alive: on another host (which we cannot check), or a process with its pid and start time, or this process's lock. */
function ownerAlive(o: LockOwner, file: string): boolean {
  if (o.host !== os.hostname()) return true;
  if (o.pid === process.pid) return held.has(file);
  if (!processAlive(o.pid)) return false;
  const ticks = processStartTicks(o.pid);
  return o.startTicks == null || ticks === null || ticks === o.startTicks;
}

function inUse(dir: string, file: string, o: LockOwner): UserError {
  const where = o.host === os.hostname() ? '' : ` on host ${o.host}`;
  const fix = where
    ? `; wait for it to finish, or delete ${file} if it is no longer running`
    : '; wait for it to finish or stop it, or choose another --out';
  return new UserError(`run folder ${dir} in use by pid ${o.pid}${where} (${o.command} since ${o.since})${fix}`);
}
