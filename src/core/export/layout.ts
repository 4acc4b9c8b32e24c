// Weight layouts between deepgen (TF.js: dense W [in, out], conv W [k, k, in, out], transposed conv W [k, k, out, in])
// and PyTorch (Linear [out, in], Conv2d [out, in, k, k], ConvTranspose2d [in, out, k, k]), decided by name and rank.

/** 'linear': a rank-2 `.weight`, transposed; 'conv': a rank-4 `.weight`, permuted (3, 2, 0, 1); else as it is. */
export type Layout = 'linear' | 'conv' | 'same';

export function layoutOf(name: string, shape: readonly number[]): Layout {
  if (!name.endsWith('.weight')) return 'same';
  if (shape.length === 2) return 'linear';
  if (shape.length === 4) return 'conv';
  return 'same';
}

/** The axis order that takes a deepgen tensor to PyTorch's layout (null: unchanged). */
export function toTorchPerm(layout: Layout): number[] | null {
  return layout === 'linear' ? [1, 0] : layout === 'conv' ? [3, 2, 0, 1] : null;
}

/** The axis order that takes a PyTorch tensor back to deepgen's layout. */
export function fromTorchPerm(layout: Layout): number[] | null {
  return layout === 'linear' ? [1, 0] : layout === 'conv' ? [2, 3, 1, 0] : null;
}

export const permuteShape = (shape: readonly number[], perm: number[] | null): number[] =>
  perm ? perm.map((a) => shape[a]) : shape.slice();

/** Values of a row-major tensor of `shape` with its axes permuted by `perm` (out axis i = in axis perm[i]). */
export function permuteValues<T extends Float32Array | Uint16Array | Int32Array | Uint8Array>(
  values: T,
  shape: readonly number[],
  perm: number[] | null,
): T {
  if (!perm) return values.slice() as T;
  const rank = shape.length;
  const outShape = permuteShape(shape, perm);
  const inStrides = new Array<number>(rank);
  let s = 1;
  for (let a = rank - 1; a >= 0; a--) {
    inStrides[a] = s;
    s *= shape[a];
  }
  const strideOfOut = perm.map((a) => inStrides[a]);
  const out = new (values.constructor as new (n: number) => T)(values.length);
  const idx = new Array<number>(rank).fill(0);
  for (let o = 0; o < out.length; o++) {
    let src = 0;
    for (let a = 0; a < rank; a++) src += idx[a] * strideOfOut[a];
    out[o] = values[src];
    for (let a = rank - 1; a >= 0; a--) {
      if (++idx[a] < outShape[a]) break;
      idx[a] = 0;
    }
  }
  return out;
}
