// Crash-safe file writes (temp file + fsync + rename, folder fsync), cleanup of killed writers' temp files, and file
// reads that fail as one-line UserErrors. A reader sees either the old file or the complete new one, never a partial write.

import fs from 'node:fs';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { UserError } from '../core/errors.ts';
import { processAlive } from './pid.ts';

/** errno codes that the user can fix (path, permissions, disk); anything else is rethrown as is. */
const USER_FS_ERRORS: Record<string, string> = {
  ENOENT: 'no such file or folder',
  ENOTDIR: 'a parent of it is not a folder',
  EISDIR: 'it is a folder',
  EACCES: 'permission denied',
  EPERM: 'operation not permitted',
  EROFS: 'read-only file system',
  ENOSPC: 'no space left on the device',
  EDQUOT: 'disk quota exceeded',
  ENAMETOOLONG: 'the path is too long',
};

function errno(e: unknown): string | undefined {
  return (e as NodeJS.ErrnoException | null)?.code;
}

/**
 * Writes `data` to `file` atomically: a sibling temp file (same folder, so rename stays on one file
 * system) is written and fsynced, renamed over the target, then the folder is fsynced where the OS
 * allows. On failure the temp file is removed and the previous `file`, if any, is left untouched.
 * The parent folder must exist.
 */
export function writeFileAtomic(file: string, data: Uint8Array | string): void {
  let tmp: string | undefined;
  try {
    tmp = writeDurableTemp(file, data);
    fs.renameSync(tmp, file);
  } catch (e) {
    if (tmp) removeQuietly(tmp);
    throw userFsError(e, `Cannot write ${file}`);
  }
  fsyncDir(path.dirname(file));
}

/**
 * Writes `data` to a new temp file beside `file` (`FILE.tmp-PID-HEX`, see removeStaleTemps) and fsyncs it, so a rename
 * onto `file` later installs complete, durable contents. Returns the temp path; on failure (the fs error is thrown as
 * is) nothing is left behind.
 */
export function writeDurableTemp(file: string, data: Uint8Array | string): string {
  const tmp = `${file}.tmp-${process.pid}-${randomBytes(6).toString('hex')}`;
  let fd: number | undefined;
  try {
    fd = fs.openSync(tmp, 'wx', 0o666);
    fs.writeFileSync(fd, data);
    fs.fsyncSync(fd);
    fs.closeSync(fd);
    fd = undefined;
    return tmp;
  } catch (e) {
    if (fd !== undefined) {
      try {
        fs.closeSync(fd);
      } catch {
        /* already failing; the original error matters */
      }
    }
    removeQuietly(tmp);
    throw e;
  }
}

/** A UserError for the errno codes the user can fix ("<what>: <reason> (<code>); <hint>"), else `e` itself. */
export function userFsError(
  e: unknown,
  what: string,
  hint = 'choose another output folder or fix its permissions',
): unknown {
  const code = errno(e);
  return code && USER_FS_ERRORS[code] ? new UserError(`${what}: ${USER_FS_ERRORS[code]} (${code}); ${hint}`) : e;
}

function removeQuietly(file: string): void {
  try {
    fs.unlinkSync(file);
  } catch {
    /* never created, or already renamed */
  }
}

/** Makes renames, links and removals in `dir` durable. Not possible on every OS (Windows refuses to open folders): best effort. */
export function fsyncDir(dir: string): void {
  let fd: number | undefined;
  try {
    fd = fs.openSync(dir, 'r');
    fs.fsyncSync(fd);
  } catch {
    /* best effort */
  } finally {
    if (fd !== undefined) fs.closeSync(fd);
  }
}

/** Appends text to a file; a problem the user can fix is one line: "Cannot write <file>: <reason> (<code>); <hint>". */
export function appendFileOrUserError(file: string, data: string, hint: () => string): void {
  try {
    fs.appendFileSync(file, data);
  } catch (e) {
    throw userFsError(e, `Cannot write ${file}`, hint());
  }
}

/** The temp names of writeDurableTemp: FILE.tmp-PID-HEX. */
const TEMP_NAME = /^(.+)\.tmp-(\d+)-[0-9a-f]+$/;

/**
 * Removes the temp files in `dir` (not below) left by killed writers: those whose writer process is gone, or is this
 * one (whose writes are synchronous, so none is under way). Returns the names removed.
 */
export function removeStaleTemps(dir: string): string[] {
  let entries: string[];
  try {
    entries = fs.readdirSync(dir);
  } catch {
    return [];
  }
  const removed: string[] = [];
  for (const entry of entries) {
    const pid = Number(TEMP_NAME.exec(entry)?.[2] ?? NaN);
    if (Number.isNaN(pid) || (pid !== process.pid && processAlive(pid))) continue;
    const p = path.join(dir, entry);
    if (fs.lstatSync(p).isDirectory()) removeFolder(p);
    else fs.unlinkSync(p);
    removed.push(entry);
  }
  return removed;
}

/**
 * Removes a folder file by file, then the folder (absent: nothing to do). A crash part way leaves a partial folder, which
 * callers must tolerate; the crash tests stop at each of these calls.
 */
export function removeFolder(dir: string): void {
  let entries: fs.Dirent[];
  try {
    entries = fs.readdirSync(dir, { withFileTypes: true });
  } catch (e) {
    if (errno(e) === 'ENOENT') return;
    throw e;
  }
  for (const e of entries) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) removeFolder(p);
    else fs.unlinkSync(p);
  }
  fs.rmdirSync(dir);
}

/**
 * Reads a whole file as a plain Uint8Array (not a Buffer, whose slice() does not copy). Problems the
 * user can fix become one-line UserErrors: "Cannot read <what> at <file>: <reason>; <hint>".
 */
export function readFileOrUserError(file: string, what: string, hint?: string): Uint8Array {
  try {
    const buf = fs.readFileSync(file);
    return new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength);
  } catch (e) {
    const code = errno(e);
    if (code && USER_FS_ERRORS[code]) {
      throw new UserError(`Cannot read ${what} at ${file}: ${USER_FS_ERRORS[code]}; ${hint ?? 'check the path'}`);
    }
    throw e;
  }
}

/** readFileOrUserError decoded as UTF-8 text (invalid bytes become U+FFFD and fail later parsing). */
export function readTextOrUserError(file: string, what: string, hint?: string): string {
  return new TextDecoder().decode(readFileOrUserError(file, what, hint));
}
