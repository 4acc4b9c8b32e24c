// The safety net of deepgen's HTTP server: one error boundary (a throw, sync or async, becomes a 4xx/5xx or a closed
// socket, never a crash), a Host check against DNS rebinding, security headers on every response, and server limits
// (unparseable requests, slow headers, idle sockets). Route handlers stay plain; this file knows no route.
import http from 'node:http';
import net from 'node:net';

/** A refusal with its status; the message is the one-line body. */
export class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
    this.name = 'HttpError';
  }
}

/** A Content-Security-Policy the built playground runs under: its own module scripts and Web Worker, WebAssembly
 *  (the tfjs wasm backend compiles with 'wasm-unsafe-eval'), fetches to this server, canvases and blob: downloads;
 *  no inline script, no framing. Inline style stays allowed for the plain listing page. */
export const CONTENT_SECURITY_POLICY = [
  "default-src 'none'",
  "script-src 'self' 'wasm-unsafe-eval'",
  "worker-src 'self' blob:",
  "connect-src 'self'",
  "img-src 'self' data: blob:",
  "style-src 'self' 'unsafe-inline'",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join('; ');

/** Sent with every response, the refusals included (the worker script gets the page's policy too). The two
 *  cross-origin headers isolate the page (self.crossOriginIsolated): SharedArrayBuffer, which the threaded wasm
 *  backend's memory needs, exists only then; the page loads nothing from other origins, so nothing is lost. */
export const SECURITY_HEADERS: Readonly<Record<string, string>> = {
  'content-security-policy': CONTENT_SECURITY_POLICY,
  'cross-origin-opener-policy': 'same-origin',
  'cross-origin-embedder-policy': 'require-corp',
  'x-content-type-options': 'nosniff',
  'x-frame-options': 'DENY',
  'referrer-policy': 'no-referrer',
  'cross-origin-resource-policy': 'same-origin',
  'cache-control': 'no-store',
};

/**
 * Whether a Host header names this server in a way a DNS-rebinding page cannot: an IP address (a page can only reach
 * it under that address, so it is cross-origin), `localhost`, or a name in `names`, with the port the request came in
 * on (80 when absent). A missing Host (HTTP/1.0) is refused too: every browser sends one.
 */
export function hostAllowed(
  host: string | undefined,
  localPort: number | undefined,
  names: ReadonlySet<string> = new Set(),
): boolean {
  const m = /^(?:\[([0-9A-Fa-f:.]+)\]|([^:[\]]+))(?::(\d{1,5}))?$/.exec(host ?? '');
  if (!m) return false;
  const port = m[3] === undefined ? 80 : Number(m[3]);
  if (port !== localPort) return false;
  if (m[1] !== undefined) return net.isIPv6(m[1]);
  const name = m[2].toLowerCase();
  return net.isIPv4(name) || name === 'localhost' || names.has(name);
}

/** The decoded path of the request target (no query); a target that is not a path, or bad %-escapes, is a 400. */
export function requestPath(req: http.IncomingMessage): string {
  const target = req.url ?? '';
  if (!target.startsWith('/')) throw new HttpError(400, 'bad request target: expected a path starting with /');
  const end = target.search(/[?#]/);
  try {
    return decodeURIComponent(end < 0 ? target : target.slice(0, end));
  } catch {
    throw new HttpError(400, 'malformed %-escape in the URL');
  }
}

/** Writes a short text answer (headers only for HEAD), unless a response is already under way. */
export function sendText(
  req: http.IncomingMessage,
  res: http.ServerResponse,
  status: number,
  body: string | Buffer,
  type = 'text/plain; charset=utf-8',
  extra: Record<string, string> = {},
): void {
  if (res.headersSent) return void res.destroy();
  const bytes = typeof body === 'string' ? Buffer.from(body) : body;
  res.writeHead(status, {
    ...SECURITY_HEADERS,
    'content-type': type,
    'content-length': String(bytes.length),
    ...extra,
  });
  res.end(req.method === 'HEAD' ? undefined : bytes);
}

/** File-system errors that mean "no such file here" to a client. */
const NOT_FOUND = new Set(['ENOENT', 'ENOTDIR', 'EISDIR', 'ELOOP', 'ENAMETOOLONG', 'EACCES', 'EPERM']);

/** The answer to a thrown error: its own status, 404 for a file that vanished or is out of reach, 400 for a bad
 *  escape, else 500 (logged as one line, never with a stack). After the headers went out, the socket is closed. */
function answerError(
  req: http.IncomingMessage,
  res: http.ServerResponse,
  e: unknown,
  log: (line: string) => void,
): void {
  const code = (e as NodeJS.ErrnoException | null)?.code;
  if (e instanceof HttpError) return sendText(req, res, e.status, `${e.message}\n`);
  if (e instanceof URIError) return sendText(req, res, 400, 'malformed URL\n');
  if (code && NOT_FOUND.has(code)) return sendText(req, res, 404, 'not found\n');
  log(
    `deepgen: warning: serve: ${req.method} ${JSON.stringify(req.url)} failed: ${(e as Error)?.message ?? String(e)}`,
  );
  sendText(req, res, 500, 'internal error\n');
}

export interface GuardOptions {
  /** Host names allowed besides IP addresses and localhost (lower case). */
  allowedHosts?: ReadonlySet<string>;
  /** Where unexpected failures are logged (one line each). */
  log?: (line: string) => void;
}

/** Wraps a route handler: Host check, GET/HEAD only, and the error boundary around everything it does. */
export function guard(
  route: (req: http.IncomingMessage, res: http.ServerResponse) => void | Promise<void>,
  o: GuardOptions = {},
): http.RequestListener {
  const log = o.log ?? ((l) => process.stderr.write(l + '\n'));
  return (req, res) => {
    // a client that goes away mid-request or mid-response must not become an unhandled 'error' event
    req.on('error', () => {});
    res.on('error', () => {});
    const fail = (e: unknown) => {
      try {
        answerError(req, res, e, log);
      } catch {
        res.destroy();
      }
    };
    try {
      if (!hostAllowed(req.headers.host, req.socket.localPort, o.allowedHosts)) {
        throw new HttpError(
          421,
          'this server answers only to its IP address or localhost (the Host header names another host; deepgen serve --allow-host NAME admits a name)',
        );
      }
      if (req.method !== 'GET' && req.method !== 'HEAD')
        return sendText(req, res, 405, 'only GET and HEAD\n', undefined, { allow: 'GET, HEAD' });
      Promise.resolve(route(req, res)).catch(fail);
    } catch (e) {
      fail(e);
    }
  };
}

/** Limits for a server facing any client: how long headers may take, how long a whole request, idle sockets. */
export interface ServerLimits {
  headersTimeoutMs: number;
  requestTimeoutMs: number;
  idleTimeoutMs: number;
  maxConnections: number;
}

export const DEFAULT_LIMITS: ServerLimits = {
  headersTimeoutMs: 20_000,
  requestTimeoutMs: 60_000,
  idleTimeoutMs: 120_000,
  maxConnections: 512,
};

/** An HTTP server for `listener` with the limits, answering unparseable requests with 400 and closing the socket. */
export function guardedServer(listener: http.RequestListener, limits: Partial<ServerLimits> = {}): http.Server {
  const l = { ...DEFAULT_LIMITS, ...limits };
  const server = http.createServer(
    {
      headersTimeout: l.headersTimeoutMs,
      requestTimeout: l.requestTimeoutMs,
      // how often the two timeouts above are checked (Node's default, 30 s, would let a slow client outlive them)
      connectionsCheckingInterval: Math.max(100, Math.min(l.headersTimeoutMs, l.requestTimeoutMs) / 4),
    },
    listener,
  );
  server.setTimeout(l.idleTimeoutMs);
  server.maxConnections = l.maxConnections;
  server.on('clientError', (err: NodeJS.ErrnoException, socket: net.Socket) => {
    // a response already under way cannot take a status line: only closing the socket is left
    if (
      err.code === 'ECONNRESET' ||
      !socket.writable ||
      (socket as net.Socket & { _httpMessage?: unknown })._httpMessage
    )
      return void socket.destroy();
    const status =
      err.code === 'HPE_HEADER_OVERFLOW'
        ? '431 Request Header Fields Too Large'
        : err.code === 'ERR_HTTP_REQUEST_TIMEOUT'
          ? '408 Request Timeout'
          : '400 Bad Request';
    socket.end(
      `HTTP/1.1 ${status}\r\nconnection: close\r\ncontent-length: 0\r\nx-content-type-options: nosniff\r\n\r\n`,
    );
  });
  return server;
}
