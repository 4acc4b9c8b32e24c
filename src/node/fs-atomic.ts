// Crash-safe file writes (temp file + fsync + rename) and file reads that fail as one-line UserErrors.
// A reader sees either the old file or the complete new one, never a partial write.

import fs from 'node:fs';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { UserError } from '../core/errors.ts';

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
  const tmp = `${file}.tmp-${process.pid}-${randomBytes(6).toString('hex')}`;
  let fd: number | undefined;
  try {
    fd = fs.openSync(tmp, 'wx', 0o666);
    fs.writeFileSync(fd, data);
    fs.fsyncSync(fd);
    fs.closeSync(fd);
    fd = undefined;
    fs.renameSync(tmp, file);
  } catch (e) {
    if (fd !== undefined) {
      try {
        fs.closeSync(fd);
      } catch {
        /* already failing; the original error matters */
      }
    }
    try {
      fs.unlinkSync(tmp);
    } catch {
      /* never created, or already renamed */
    }
    const code = errno(e);
    if (code && USER_FS_ERRORS[code]) {
      throw new UserError(`Cannot write ${file}: ${USER_FS_ERRORS[code]} (${code}); choose another output folder or fix its permissions`);
    }
    throw e;
  }
  fsyncDir(path.dirname(file));
}

/** Makes the rename durable. Not possible on every OS (Windows refuses to open folders): best effort. */
function fsyncDir(dir: string): void {
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
    const code = errno(e);
    if (code && USER_FS_ERRORS[code]) throw new UserError(`Cannot write ${file}: ${USER_FS_ERRORS[code]} (${code}); ${hint()}`);
    throw e;
  }
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
