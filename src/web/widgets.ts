// The playground's small DOM pieces: elements, 8-bit images on canvases (enlarged, pixelated), a download button, a
// drawing pad for input images, and the bar chart of an autoregressive model's next-pixel distribution.
import { makeGrid, type ImageU8 } from '../core/viz/grid.ts';
import type { Images } from './protocol.ts';

export function el<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  attrs: Record<string, string> = {},
  ...children: (Node | string)[]
): HTMLElementTagNameMap[K] {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
  e.append(...children);
  return e;
}

/** A grid of 8-bit images as `deepgen sample` writes it (2-pixel white border, `cols` per row). */
export function gridOf(x: Images, cols: number): ImageU8 {
  const [n, h, w, c] = x.shape;
  return makeGrid(x.images, n, h, w, c, { cols });
}

/** Draws an 8-bit image (1 or 3 channels) at its own size; CSS enlarges it by a whole factor (at most 8) to about
 *  `display` pixels on its longer side, keeping pixels square and sharp. */
export function paint(canvas: HTMLCanvasElement, im: ImageU8, display = 560): void {
  canvas.width = im.width;
  canvas.height = im.height;
  const rgba = new ImageData(im.width, im.height);
  for (let i = 0; i < im.width * im.height; i++) {
    for (let k = 0; k < 3; k++) rgba.data[i * 4 + k] = im.data[i * im.channels + (im.channels === 1 ? 0 : k)];
    rgba.data[i * 4 + 3] = 255;
  }
  canvas.getContext('2d')!.putImageData(rgba, 0, 0);
  const k = Math.max(1, Math.min(8, Math.floor(display / Math.max(im.width, im.height))));
  canvas.style.width = `${im.width * k}px`;
  canvas.style.height = `${im.height * k}px`;
  canvas.closest('figure')?.removeAttribute('hidden');
}

/** A titled canvas with a download button that saves it as PNG under `file`. */
export function figure(
  title: string,
  file: () => string,
  id: string,
): { root: HTMLElement; canvas: HTMLCanvasElement; caption: HTMLElement } {
  const canvas = el('canvas', { id, class: 'pixels' });
  const caption = el('figcaption', {}, title);
  const button = el(
    'button',
    { class: 'download', id: `${id}-download`, title: 'save this image as PNG' },
    'download PNG',
  );
  button.addEventListener('click', () => {
    canvas.toBlob((blob) => {
      if (!blob) return;
      const a = el('a', { href: URL.createObjectURL(blob), download: file() });
      a.click();
      setTimeout(() => URL.revokeObjectURL(a.href), 10_000);
    }, 'image/png');
  });
  return { root: el('figure', {}, canvas, caption, button), canvas, caption };
}

/** A pad of the model's size to draw on with the mouse (white on black) or to fill from a file or a sample. */
export class DrawingPad {
  readonly root: HTMLElement;
  readonly canvas: HTMLCanvasElement;
  private drawing = false;

  constructor(
    readonly h: number,
    readonly w: number,
    readonly c: number,
    id: string,
    label: string,
  ) {
    this.canvas = el('canvas', {
      id,
      class: 'pad pixels',
      width: String(w),
      height: String(h),
      title: 'draw here with the mouse',
    });
    const k = Math.max(4, Math.floor(160 / Math.max(h, w)));
    this.canvas.style.width = `${w * k}px`;
    this.canvas.style.height = `${h * k}px`;
    this.clear();
    const at = (e: PointerEvent) => {
      const r = this.canvas.getBoundingClientRect();
      return [((e.clientX - r.left) / r.width) * w, ((e.clientY - r.top) / r.height) * h];
    };
    const ctx = this.canvas.getContext('2d')!;
    const dot = (e: PointerEvent) => {
      const [x, y] = at(e);
      ctx.fillStyle = '#fff';
      ctx.beginPath();
      ctx.arc(x, y, Math.max(1, w / 14), 0, 2 * Math.PI);
      ctx.fill();
    };
    this.canvas.addEventListener('pointerdown', (e) => {
      this.drawing = true;
      dot(e);
    });
    this.canvas.addEventListener('pointermove', (e) => {
      if (this.drawing) dot(e);
    });
    window.addEventListener('pointerup', () => {
      this.drawing = false;
    });
    const file = el('input', {
      type: 'file',
      accept: 'image/*',
      id: `${id}-file`,
      title: 'load an image (resized to the model size)',
    });
    file.addEventListener('change', async () => {
      const f = file.files?.[0];
      if (f) ctx.drawImage(await createImageBitmap(f), 0, 0, w, h);
    });
    const clear = el('button', { id: `${id}-clear` }, 'clear');
    clear.addEventListener('click', () => this.clear());
    this.root = el(
      'div',
      { class: 'pad-box' },
      el('div', { class: 'label' }, label),
      this.canvas,
      el('div', {}, clear, ' ', file),
    );
  }

  clear(): void {
    const ctx = this.canvas.getContext('2d')!;
    ctx.fillStyle = '#000';
    ctx.fillRect(0, 0, this.w, this.h);
  }

  /** Put an 8-bit image [h, w, c] on the pad. */
  set(pixels: Uint8Array): void {
    paint(this.canvas, { data: pixels, height: this.h, width: this.w, channels: this.c }, 0);
    const k = Math.max(4, Math.floor(160 / Math.max(this.h, this.w)));
    this.canvas.style.width = `${this.w * k}px`;
    this.canvas.style.height = `${this.h * k}px`;
  }

  /** The pad's pixels as an 8-bit image [h, w, c] (grey = the mean of R, G, B). */
  pixels(): Uint8Array {
    const d = this.canvas.getContext('2d')!.getImageData(0, 0, this.w, this.h).data;
    const out = new Uint8Array(this.h * this.w * this.c);
    for (let i = 0; i < this.h * this.w; i++) {
      if (this.c === 1) out[i] = Math.round((d[i * 4] + d[i * 4 + 1] + d[i * 4 + 2]) / 3);
      else for (let k = 0; k < this.c; k++) out[i * this.c + k] = d[i * 4 + k];
    }
    return out;
  }
}

/** Bars of p(x_i = k | x_<i) over the K values above a key of each value's colour; the drawn value outlined in red. */
export function drawDistribution(
  canvas: HTMLCanvasElement,
  probs: Float32Array,
  colors: Float32Array,
  drawn: number,
): void {
  const K = probs.length,
    c = colors.length / K;
  const W = 512,
    H = 140,
    KEY = 12,
    TOP = 14;
  const barH = H - KEY - TOP - 2;
  canvas.width = W;
  canvas.height = H;
  const ctx = canvas.getContext('2d')!;
  ctx.fillStyle = '#fafafa';
  ctx.fillRect(0, 0, W, H);
  let max = 0;
  for (const p of probs) max = Math.max(max, p);
  const bw = W / K;
  const height = (k: number) => (max > 0 ? (probs[k] / max) * barH : 0);
  for (let k = 0; k < K; k++) {
    const v = (j: number) => Math.round(255 * colors[k * c + (c === 1 ? 0 : j)]);
    ctx.fillStyle = '#3465a4';
    ctx.fillRect(k * bw, TOP + barH - height(k), Math.max(1, bw - (K <= 64 ? 1 : 0)), height(k));
    ctx.fillStyle = `rgb(${v(0)},${v(1)},${v(2)})`;
    ctx.fillRect(k * bw, H - KEY, Math.ceil(bw), KEY);
  }
  ctx.fillStyle = '#555';
  ctx.font = '11px sans-serif';
  ctx.fillText('0', 2, 11);
  ctx.fillText(`max p = ${max.toFixed(3)}`, W / 2 - 30, 11);
  ctx.fillText(String(K - 1), W - 8 * String(K - 1).length, 11);
  ctx.strokeStyle = '#e00';
  ctx.lineWidth = 2;
  ctx.strokeRect(drawn * bw - 1, TOP + barH - height(drawn) - 1, Math.max(2, bw) + 2, height(drawn) + KEY + 3);
}
