// The page's side of the Web Worker: numbered requests, a promise per request for its final reply, and a callback
// for the live replies on the way (diffusion frames, autoregressive pixels). Stopping restarts the worker.
import type { Envelope, Reply, Request } from './protocol.ts';

type Final = Extract<Reply, { type: 'loaded' | 'images' | 'codes' | 'outputs' }>;
type Live = Extract<Reply, { type: 'frame' | 'pixel' }>;

/** A one-line message for the page: an error the worker reported, or a problem with what the user typed. */
export class PlaygroundError extends Error {}

interface Pending {
  resolve: (r: Final) => void;
  reject: (e: Error) => void;
  onLive?: (r: Live) => void;
}

export class ModelWorker {
  private worker!: Worker;
  private next = 1;
  private pending = new Map<number, Pending>();

  constructor() {
    this.start();
  }

  private start(): void {
    this.worker = new Worker(new URL('./worker.ts', import.meta.url), { type: 'module' });
    this.worker.onmessage = (e: MessageEvent<Reply>) => {
      const r = e.data;
      const p = this.pending.get(r.id);
      if (!p) return;
      if (r.type === 'frame' || r.type === 'pixel') return p.onLive?.(r);
      this.pending.delete(r.id);
      if (r.type === 'error') p.reject(new PlaygroundError(r.message));
      else p.resolve(r);
    };
    this.worker.onerror = (e) =>
      this.failAll(`the model worker crashed (${e.message || 'no message'}); reload the page`);
  }

  private failAll(message: string): void {
    for (const p of this.pending.values()) p.reject(new PlaygroundError(message));
    this.pending.clear();
  }

  request<T extends Final['type']>(
    req: Request,
    expect: T,
    onLive?: (r: Live) => void,
  ): Promise<Extract<Final, { type: T }>> {
    const id = this.next++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, {
        resolve: (r) =>
          r.type === expect
            ? resolve(r as Extract<Final, { type: T }>)
            : reject(new Error(`expected ${expect}, got ${r.type}`)),
        reject,
        onLive,
      });
      this.worker.postMessage({ ...req, id } satisfies Envelope);
    });
  }

  /** Stop whatever runs (the worker is replaced; the caller reloads the model). */
  restart(): void {
    this.worker.terminate();
    this.failAll('stopped');
    this.start();
  }
}
