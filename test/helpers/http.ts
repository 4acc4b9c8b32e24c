// HTTP clients for server tests: one request with full control of method, path and Host (status, headers, body), and
// raw bytes over a socket (what the server answers, if anything, before it closes) for requests no client would send.
import http from 'node:http';
import net from 'node:net';

export interface Answer {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: Buffer;
}

/** One request to 127.0.0.1:port; `host` replaces the Host header (null: none at all). */
export function request(
  port: number,
  path: string,
  o: { method?: string; host?: string | null; agent?: http.Agent } = {},
): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const headers: Record<string, string> = {};
    if (typeof o.host === 'string') headers.host = o.host;
    const req = http.request(
      { host: '127.0.0.1', port, path, method: o.method ?? 'GET', headers, setHost: o.host !== null, agent: o.agent },
      (res) => {
        const parts: Buffer[] = [];
        res.on('data', (d: Buffer) => parts.push(d));
        res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body: Buffer.concat(parts) }));
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end();
  });
}

/** Sends `bytes` on a new connection and collects what comes back until the server closes it (or `timeoutMs`
 *  passes: then `timedOut`); `status` is the status code of the first answer, or null when there was none. */
export function rawExchange(
  port: number,
  bytes: Buffer | string,
  timeoutMs = 5000,
): Promise<{ status: number | null; text: string; timedOut: boolean }> {
  return new Promise((resolve) => {
    const parts: Buffer[] = [];
    const socket = net.connect(port, '127.0.0.1');
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      socket.destroy();
    }, timeoutMs);
    socket.on('data', (d) => parts.push(d));
    socket.on('error', () => {});
    socket.on('close', () => {
      clearTimeout(timer);
      const text = Buffer.concat(parts).toString('latin1');
      const m = /^HTTP\/1\.[01] (\d{3})/.exec(text);
      resolve({ status: m ? Number(m[1]) : null, text, timedOut });
    });
    socket.on('connect', () => socket.end(bytes));
  });
}
