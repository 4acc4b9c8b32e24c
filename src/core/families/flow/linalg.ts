// Small dense linear algebra in float64 JS for the flow's c x c matrices (c <= a few hundred): LU with partial
// pivoting, log|det|, inverse, a seeded random rotation. TensorFlow.js has no det or matrix-inverse op.
import type { Rng } from '../../tensor/rng.ts';

/** P A = L U of a row-major n x n matrix: perm[i] = the row of A in row i of P A; L unit lower, U upper (packed). */
export interface Lu {
  n: number;
  /** L below the diagonal (unit diagonal implied) and U on and above it, row-major. */
  lu: Float64Array;
  perm: Int32Array;
  /** det P = +-1. */
  permSign: number;
}

export function luDecompose(a: ArrayLike<number>, n: number): Lu {
  const lu = Float64Array.from(a);
  const perm = Int32Array.from({ length: n }, (_, i) => i);
  let permSign = 1;
  for (let k = 0; k < n; k++) {
    let p = k;
    for (let i = k + 1; i < n; i++) if (Math.abs(lu[i * n + k]) > Math.abs(lu[p * n + k])) p = i;
    if (p !== k) {
      for (let j = 0; j < n; j++) {
        const t = lu[k * n + j];
        lu[k * n + j] = lu[p * n + j];
        lu[p * n + j] = t;
      }
      const t = perm[k];
      perm[k] = perm[p];
      perm[p] = t;
      permSign = -permSign;
    }
    const piv = lu[k * n + k];
    if (piv === 0) continue; // singular: log|det| = -Infinity below
    for (let i = k + 1; i < n; i++) {
      const f = (lu[i * n + k] /= piv);
      if (f !== 0) for (let j = k + 1; j < n; j++) lu[i * n + j] -= f * lu[k * n + j];
    }
  }
  return { n, lu, perm, permSign };
}

/** log|det A| = sum_i log|U_ii|. */
export function logAbsDetLu({ n, lu }: Lu): number {
  let s = 0;
  for (let i = 0; i < n; i++) s += Math.log(Math.abs(lu[i * n + i]));
  return s;
}

/** A^-1 from P A = L U: solve L U x = P e_j for every column j. Row-major n x n. */
export function inverseLu({ n, lu, perm }: Lu): Float64Array {
  const inv = new Float64Array(n * n);
  const col = new Float64Array(n);
  for (let j = 0; j < n; j++) {
    for (let i = 0; i < n; i++) col[i] = perm[i] === j ? 1 : 0; // (P e_j)_i
    for (let i = 0; i < n; i++) for (let k = 0; k < i; k++) col[i] -= lu[i * n + k] * col[k]; // L y = P e_j
    for (let i = n - 1; i >= 0; i--) {
      for (let k = i + 1; k < n; k++) col[i] -= lu[i * n + k] * col[k];
      col[i] /= lu[i * n + i]; // U x = y
    }
    for (let i = 0; i < n; i++) inv[i * n + j] = col[i];
  }
  return inv;
}

export function inverse(a: ArrayLike<number>, n: number): Float64Array {
  return inverseLu(luDecompose(a, n));
}

export function logAbsDet(a: ArrayLike<number>, n: number): number {
  return logAbsDetLu(luDecompose(a, n));
}

export function transpose(a: ArrayLike<number>, n: number): Float64Array {
  const t = new Float64Array(n * n);
  for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) t[j * n + i] = a[i * n + j];
  return t;
}

/** A random rotation (Glow's 1x1-conv init): Gram-Schmidt on the rows of an n x n standard-normal matrix. */
export function randomRotation(n: number, rng: Rng): Float64Array {
  const q = new Float64Array(n * n);
  for (let i = 0; i < n; i++) {
    for (;;) {
      for (let j = 0; j < n; j++) q[i * n + j] = rng.normal();
      for (let pass = 0; pass < 2; pass++) {
        // twice, for orthogonality to float64 precision
        for (let k = 0; k < i; k++) {
          let d = 0;
          for (let j = 0; j < n; j++) d += q[i * n + j] * q[k * n + j];
          for (let j = 0; j < n; j++) q[i * n + j] -= d * q[k * n + j];
        }
      }
      let norm = 0;
      for (let j = 0; j < n; j++) norm += q[i * n + j] ** 2;
      norm = Math.sqrt(norm);
      if (norm > 1e-6) {
        for (let j = 0; j < n; j++) q[i * n + j] /= norm;
        break;
      }
    }
  }
  return q;
}

/**
 * The LU parameterisation of W (Kingma & Dhariwal 2018, sec. 3.2): W = P L (U + diag(s)) with P a permutation,
 * L unit lower triangular, U strictly upper triangular. Returned row-major: P, the strictly lower part of L,
 * the strictly upper part of U, and s.
 */
export function pluParts(
  w: ArrayLike<number>,
  n: number,
): { p: Float64Array; lower: Float64Array; upper: Float64Array; s: Float64Array } {
  const { lu, perm } = luDecompose(w, n);
  // P_A W = L U, so W = P_A^T L U: P[perm[i], i] = 1
  const p = new Float64Array(n * n);
  for (let i = 0; i < n; i++) p[perm[i] * n + i] = 1;
  const lower = new Float64Array(n * n),
    upper = new Float64Array(n * n),
    s = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < n; j++) {
      if (j < i) lower[i * n + j] = lu[i * n + j];
      else if (j > i) upper[i * n + j] = lu[i * n + j];
    }
    s[i] = lu[i * n + i];
  }
  return { p, lower, upper, s };
}
