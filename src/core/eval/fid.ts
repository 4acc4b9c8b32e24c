// Sample-quality metrics on feature vectors: the Frechet distance (FID), the kernel inception distance (KID) with its
// standard error, and k-NN precision/recall. Features come from the project's own classifier, not Inception.
import * as tf from '@tensorflow/tfjs-core';
import { EigenvalueDecomposition, Matrix } from 'ml-matrix';
import { Rng } from '../tensor/rng.ts';

/** Mean mu [d] and unbiased covariance Sigma [d, d] of N feature rows, in float64. */
export interface GaussianStats {
  n: number;
  mu: Float64Array;
  sigma: Matrix;
}

/** mu and Sigma = (1 / (N - 1)) sum_i (f_i - mu)(f_i - mu)^T of features [N, d]. */
export function gaussianStats(features: tf.Tensor2D): GaussianStats {
  const [N, d] = features.shape;
  if (N < 2) throw new Error(`FID statistics need at least 2 feature rows, got ${N}`);
  const f = features.dataSync();
  const mu = new Float64Array(d);
  for (let i = 0; i < N; i++) for (let j = 0; j < d; j++) mu[j] += f[i * d + j];
  for (let j = 0; j < d; j++) mu[j] /= N;
  const sigma = new Matrix(d, d);
  const c = new Float64Array(d);
  const acc = new Float64Array(d * d);
  for (let i = 0; i < N; i++) {
    for (let j = 0; j < d; j++) c[j] = f[i * d + j] - mu[j];
    for (let a = 0; a < d; a++) {
      const ca = c[a];
      if (ca === 0) continue;
      for (let b = a; b < d; b++) acc[a * d + b] += ca * c[b];
    }
  }
  for (let a = 0; a < d; a++)
    for (let b = a; b < d; b++) {
      const v = acc[a * d + b] / (N - 1);
      sigma.set(a, b, v);
      sigma.set(b, a, v);
    }
  return { n: N, mu, sigma };
}

/** Symmetric PSD square root A^(1/2) = V diag(sqrt(max(lambda, 0))) V^T. */
function sqrtPsd(a: Matrix): Matrix {
  const e = new EigenvalueDecomposition(a, { assumeSymmetric: true });
  const v = e.eigenvectorMatrix;
  const s = e.realEigenvalues.map((l) => Math.sqrt(Math.max(l, 0)));
  return v.clone().mulRowVector(s).mmul(v.transpose()); // ml-matrix's mulRowVector works in place
}

/**
 * The Frechet distance between N(mu1, Sigma1) and N(mu2, Sigma2) (Dowson & Landau 1982; Heusel et al. 2017, FID):
 *   d^2 = |mu1 - mu2|^2 + Tr(Sigma1 + Sigma2 - 2 (Sigma1 Sigma2)^(1/2))
 * Tr (Sigma1 Sigma2)^(1/2) = Tr (S Sigma2 S)^(1/2) with S = Sigma1^(1/2): the eigenvalues of Sigma1 Sigma2 equal those of
 * the symmetric PSD S Sigma2 S, so two symmetric eigendecompositions suffice (no complex square root).
 */
export function frechetDistance(
  a: Pick<GaussianStats, 'mu' | 'sigma'>,
  b: Pick<GaussianStats, 'mu' | 'sigma'>,
): number {
  const d = a.mu.length;
  if (b.mu.length !== d) throw new Error(`FID of features of different sizes: ${d} and ${b.mu.length}`);
  let meanTerm = 0;
  for (let j = 0; j < d; j++) meanTerm += (a.mu[j] - b.mu[j]) ** 2;
  const s = sqrtPsd(a.sigma);
  const m = s.mmul(b.sigma).mmul(s);
  const sym = Matrix.add(m, m.transpose()).div(2); // symmetric up to rounding (add/div work in place)
  const eig = new EigenvalueDecomposition(sym, { assumeSymmetric: true }).realEigenvalues;
  const trSqrt = eig.reduce((t, l) => t + Math.sqrt(Math.max(l, 0)), 0);
  return Math.max(0, meanTerm + a.sigma.trace() + b.sigma.trace() - 2 * trSqrt);
}

export interface KidResult {
  kid: number;
  /** The error bar KID is reported with: the standard deviation of the subset estimates (Binkowski et al.;
   *  torch-fidelity's kid_std). The subsets overlap, so std / sqrt(subsets) would understate the error. */
  stderr: number;
  subsets: number;
  subsetSize: number;
}

/**
 * The kernel inception distance (Binkowski et al. 2018): the unbiased MMD^2 between feature sets X and Y with the
 * cubic polynomial kernel k(x, y) = (x.y / d + 1)^3, averaged over `subsets` random subsets of m rows of each:
 *   MMD^2_u = 1/(m(m-1)) sum_{i != j} [k(x_i, x_j) + k(y_i, y_j)] - 2/m^2 sum_{i,j} k(x_i, y_j)
 * Unbiased, so it can be slightly negative when the sets match. Subsets are drawn by the seed; by default m = 1000,
 * or half the smaller set below 2000 images, so that the subsets differ and their spread is an error bar.
 */
export function kernelDistance(
  x: tf.Tensor2D,
  y: tf.Tensor2D,
  opts: { subsets?: number; subsetSize?: number; seed?: number } = {},
): KidResult {
  const d = x.shape[1];
  if (y.shape[1] !== d) throw new Error(`KID of features of different sizes: ${d} and ${y.shape[1]}`);
  // default subsets: 1000 rows, or half the smaller set when it has fewer than 2000 (subsets of the whole set would
  // all be the same set, and the error bar would read 0)
  const m = Math.min(
    opts.subsetSize ?? Math.min(1000, Math.max(2, Math.floor(Math.min(x.shape[0], y.shape[0]) / 2))),
    x.shape[0],
    y.shape[0],
  );
  if (m < 2) throw new Error(`KID needs at least 2 images in each set, got ${x.shape[0]} and ${y.shape[0]}`);
  const subsets = opts.subsets ?? 100;
  const est: number[] = [];
  const rng = new Rng(opts.seed ?? 0);
  const pick = (n: number) => {
    // m distinct rows: a partial Fisher-Yates shuffle
    const idx = Int32Array.from({ length: n }, (_, i) => i);
    for (let i = 0; i < m; i++) {
      const j = i + rng.int(n - i);
      [idx[i], idx[j]] = [idx[j], idx[i]];
    }
    return idx.slice(0, m);
  };
  for (let s = 0; s < subsets; s++) {
    const ix = pick(x.shape[0]),
      iy = pick(y.shape[0]);
    est.push(
      tf.tidy(() => {
        const xs = tf.gather(x, ix),
          ys = tf.gather(y, iy);
        const k = (a: tf.Tensor2D, b: tf.Tensor2D) => tf.pow(tf.add(tf.div(tf.matMul(a, b, false, true), d), 1), 3);
        const kxx = k(xs, xs),
          kyy = k(ys, ys),
          kxy = k(xs, ys);
        const offDiag = (t: tf.Tensor) => tf.sub(tf.sum(t), tf.sum(tf.mul(t, tf.eye(m))));
        const [sxx, syy, sxy] = tf.stack([offDiag(kxx), offDiag(kyy), tf.sum(kxy)]).dataSync();
        return (sxx + syy) / (m * (m - 1)) - (2 * sxy) / (m * m);
      }),
    );
  }
  const mean = est.reduce((a, b) => a + b, 0) / subsets;
  const sd = subsets > 1 ? Math.sqrt(est.reduce((a, b) => a + (b - mean) ** 2, 0) / (subsets - 1)) : 0;
  return { kid: mean, stderr: sd, subsets, subsetSize: m };
}

/**
 * k-NN precision and recall (Kynkaanniemi et al. 2019): each real feature r_i gets a ball of radius = its distance to
 * its k-th nearest real neighbour; precision = the share of generated features inside some real ball, recall = the
 * share of real features inside some ball of the generated set (radii from the generated set's own k-th neighbours).
 */
export function precisionRecall(
  real: tf.Tensor2D,
  fake: tf.Tensor2D,
  k = 3,
  chunk = 1000,
): { precision: number; recall: number; k: number } {
  if (real.shape[0] <= k || fake.shape[0] <= k)
    throw new Error(`precision/recall with k=${k} needs more than ${k} images in each set`);
  const kthRadius = (a: tf.Tensor2D): Float32Array => {
    const out = new Float32Array(a.shape[0]);
    for (let i = 0; i < a.shape[0]; i += chunk) {
      const r = tf.tidy(() => {
        const d = sqDist(tf.slice(a, i, Math.min(chunk, a.shape[0] - i)), a);
        // the k+1 smallest (the first is the point itself, distance 0)
        const { values } = tf.topk(tf.neg(d), k + 1);
        return tf.neg(tf.slice(values, [0, k], [-1, 1])).dataSync();
      });
      out.set(r as Float32Array, i);
    }
    return out;
  };
  const share = (queries: tf.Tensor2D, centres: tf.Tensor2D, radii: Float32Array): number => {
    const r = tf.tensor1d(radii);
    let inside = 0;
    for (let i = 0; i < queries.shape[0]; i += chunk) {
      inside += tf.tidy(() => {
        const d = sqDist(tf.slice(queries, i, Math.min(chunk, queries.shape[0] - i)), centres); // [q, n]
        return tf.sum(tf.cast(tf.any(tf.lessEqual(d, r), 1), 'float32')).dataSync()[0];
      });
    }
    r.dispose();
    return inside / queries.shape[0];
  };
  const rReal = kthRadius(real),
    rFake = kthRadius(fake);
  return { precision: share(fake, real, rReal), recall: share(real, fake, rFake), k };
}

/** Squared Euclidean distances [a, b] between the rows of a and b. */
function sqDist(a: tf.Tensor2D, b: tf.Tensor2D): tf.Tensor2D {
  return tf.tidy(() => {
    const aa = tf.sum(tf.square(a), 1, true),
      bb = tf.reshape(tf.sum(tf.square(b), 1), [1, -1]);
    return tf.relu(tf.sub(tf.add(aa, bb), tf.mul(tf.matMul(a, b, false, true), 2))) as tf.Tensor2D;
  });
}
