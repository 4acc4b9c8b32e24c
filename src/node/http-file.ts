// Serving a file of a folder without trusting the folder: the name must resolve (symlinks followed) to a regular file
// inside the folder's real path, checked at every request; the bytes stream from the descriptor that was checked.
import fs from 'node:fs';
import type http from 'node:http';
import path from 'node:path';
import { pipeline } from 'node:stream';
import { HttpError, SECURITY_HEADERS } from './http-guard.ts';

/** The real path of `name` in `dir` when it is a regular file inside dir's real path (a symlink may point within the
 *  folder, never out of it); null when absent, not a regular file (folder, FIFO, device) or outside. */
export function fileInside(dir: string, name: string): string | null {
  try {
    const root = fs.realpathSync(dir);
    const real = fs.realpathSync(path.join(dir, name));
    const rel = path.relative(root, real);
    if (!rel || rel.startsWith('..') || path.isAbsolute(rel)) return null;
    return fs.statSync(real).isFile() ? real : null;
  } catch {
    return null;
  }
}

// O_NOFOLLOW: the checked path cannot become a symlink between the check and the open; O_NONBLOCK: a FIFO swapped in
// cannot block the open (fstat then refuses it). Both are 0 where the OS lacks them.
const OPEN_FLAGS = fs.constants.O_RDONLY | (fs.constants.O_NOFOLLOW ?? 0) | (fs.constants.O_NONBLOCK ?? 0);

/**
 * Sends `name` of `dir` as `type`: Content-Length from fstat of the opened file, the body streamed with backpressure
 * (memory per download stays at the stream's buffer, whatever the file size); HEAD sends the headers and reads
 * nothing. Refusals throw HttpError 404; a read that fails or comes up short after the headers closes the socket.
 */
export async function sendFile(
  req: http.IncomingMessage,
  res: http.ServerResponse,
  dir: string,
  name: string,
  type: string,
): Promise<void> {
  const real = fileInside(dir, name);
  if (!real) throw new HttpError(404, 'not found');
  const fh = await fs.promises.open(real, OPEN_FLAGS);
  let streaming = false;
  try {
    const st = await fh.stat();
    if (!st.isFile()) throw new HttpError(404, 'not found');
    res.writeHead(200, { ...SECURITY_HEADERS, 'content-type': type, 'content-length': String(st.size) });
    if (req.method === 'HEAD' || st.size === 0) return void res.end();
    const body = fh.createReadStream({ start: 0, end: st.size - 1 }); // closes fh when done or destroyed
    streaming = true;
    await new Promise<void>((resolve) =>
      pipeline(body, res, (err) => {
        // a client gone, a read error, or a file truncated under us: the promised length cannot be kept
        if (err || body.bytesRead < st.size) res.destroy();
        resolve();
      }),
    );
  } finally {
    if (!streaming) await fh.close();
  }
}
