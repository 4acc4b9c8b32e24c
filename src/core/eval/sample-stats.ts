// Per-condition statistics of a set of images that show what a pixel loss does (the one-shot baseline, issue 10):
// the variance across samples per pixel, the edge sharpness (the strongest gradients), and the distance to a mean image.
// Images are flat [n, H, W, C] arrays in [0, 1].

/** The mean image m = 1/n sum_i x_i, [H W C]. */
export function meanImage(x: ArrayLike<number>, n: number): Float32Array {
  const D = x.length / n;
  if (!Number.isInteger(D) || n < 1) throw new Error(`meanImage: ${x.length} values are not ${n} images`);
  const m = new Float64Array(D);
  for (let i = 0; i < n; i++) for (let d = 0; d < D; d++) m[d] += x[i * D + d];
  return Float32Array.from(m, (v) => v / n);
}

/** Mean over pixels of the variance across the n images: 1/D sum_d 1/n sum_i (x_id - m_d)^2 (0 when all are equal). */
export function pixelVariance(x: ArrayLike<number>, n: number): number {
  const D = x.length / n;
  const m = meanImage(x, n);
  let s = 0;
  for (let i = 0; i < n; i++) for (let d = 0; d < D; d++) s += (x[i * D + d] - m[d]) ** 2;
  return s / (n * D);
}

/**
 * Edge sharpness: per image, the mean of the largest `top` fraction (default 5%) of its gradient magnitudes
 * sqrt(dx^2 + dy^2) (forward differences dx = x[y, x+1] - x[y, x], dy = x[y+1, x] - x[y, x], over the (H-1)(W-1)
 * positions and the channels), averaged over the images. The strongest edges decide it: a step from 0 to 1 scores 1,
 * the same step blurred over two pixels 0.5, and faint pixel noise, which a plain mean would count, hardly matters.
 */
export function sharpness(x: ArrayLike<number>, n: number, H: number, W: number, C: number, top = 0.05): number {
  if (x.length !== n * H * W * C)
    throw new Error(`sharpness: ${x.length} values are not ${n} images of ${H}x${W}x${C}`);
  if (H < 2 || W < 2) return 0;
  const P = (H - 1) * (W - 1) * C;
  const k = Math.max(1, Math.ceil(top * P));
  const g = new Float64Array(P);
  let s = 0;
  for (let i = 0; i < n; i++) {
    let j = 0;
    for (let r = 0; r < H - 1; r++)
      for (let c = 0; c < W - 1; c++)
        for (let ch = 0; ch < C; ch++) {
          const at = (rr: number, cc: number) => x[((i * H + rr) * W + cc) * C + ch];
          const v = at(r, c);
          g[j++] = Math.hypot(at(r, c + 1) - v, at(r + 1, c) - v);
        }
    g.sort();
    let e = 0;
    for (let t = P - k; t < P; t++) e += g[t];
    s += e / k;
  }
  return s / n;
}

/** Mean over the n images of the root-mean-square distance to `target` [D]: 1/n sum_i sqrt(1/D sum_d (x_id - t_d)^2). */
export function rmsDistance(x: ArrayLike<number>, n: number, target: ArrayLike<number>): number {
  const D = target.length;
  if (x.length !== n * D) throw new Error(`rmsDistance: ${x.length} values are not ${n} images of ${D}`);
  let s = 0;
  for (let i = 0; i < n; i++) {
    let e = 0;
    for (let d = 0; d < D; d++) e += (x[i * D + d] - target[d]) ** 2;
    s += Math.sqrt(e / D);
  }
  return s / n;
}
