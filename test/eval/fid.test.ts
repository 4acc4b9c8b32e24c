// Tests of the sample-quality metrics: the Frechet distance against closed forms for known Gaussians, FID/KID of a set
// against itself ~0 and growing with added noise (features of the project's classifier), KID by hand, k-NN precision/recall.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs-core';
import { Matrix } from 'ml-matrix';
import '../helpers/backend.ts';
import { frechetDistance, gaussianStats, kernelDistance, precisionRecall } from '../../src/core/eval/fid.ts';
import { Classifier, classifierConfig, datasetTo01, SHAPES_HEADS } from '../../src/core/eval/classifier.ts';
import { generateShapes } from '../../src/core/data/shapes.ts';
import { Rng } from '../../src/core/tensor/rng.ts';

const rel = (a: number, b: number) => Math.abs(a - b) / Math.abs(b);
const stats = (mu: number[], sigma: number[][]) => ({ mu: Float64Array.from(mu), sigma: new Matrix(sigma) });

test('Frechet distance of two known 2-d Gaussians with non-commuting covariances: the closed form Tr sqrt(M) = sqrt(tr M + 2 sqrt(det M))', () => {
  const mu1 = [1, -2],
    mu2 = [0.5, 0.25];
  const s1 = [
      [2, 0.8],
      [0.8, 1],
    ],
    s2 = [
      [0.5, -0.3],
      [-0.3, 1.5],
    ];
  // M = Sigma1 Sigma2 (2x2, non-negative real eigenvalues): (sqrt l1 + sqrt l2)^2 = tr M + 2 sqrt(det M)
  const m = [
    [s1[0][0] * s2[0][0] + s1[0][1] * s2[1][0], s1[0][0] * s2[0][1] + s1[0][1] * s2[1][1]],
    [s1[1][0] * s2[0][0] + s1[1][1] * s2[1][0], s1[1][0] * s2[0][1] + s1[1][1] * s2[1][1]],
  ];
  assert.ok(Math.abs(m[0][1] - m[1][0]) > 0.1, 'the covariances do not commute');
  const trSqrt = Math.sqrt(m[0][0] + m[1][1] + 2 * Math.sqrt(m[0][0] * m[1][1] - m[0][1] * m[1][0]));
  const expected =
    (mu1[0] - mu2[0]) ** 2 + (mu1[1] - mu2[1]) ** 2 + s1[0][0] + s1[1][1] + s2[0][0] + s2[1][1] - 2 * trSqrt;
  const got = frechetDistance(stats(mu1, s1), stats(mu2, s2));
  assert.ok(rel(got, expected) < 1e-3, `${got} vs ${expected}`);
  assert.ok(rel(frechetDistance(stats(mu2, s2), stats(mu1, s1)), expected) < 1e-3, 'symmetric');
  assert.ok(frechetDistance(stats(mu1, s1), stats(mu1, s1)) < 1e-9, 'zero against itself');
});

test('Frechet distance in 16 dims with a shared rotated eigenbasis: |mu1 - mu2|^2 + sum (sqrt d1 - sqrt d2)^2', () => {
  const d = 16,
    rng = new Rng(3);
  // a random orthogonal Q (Gram-Schmidt), Sigma_i = Q diag(d_i) Q^T
  const q = new Matrix(d, d);
  for (let i = 0; i < d; i++) for (let j = 0; j < d; j++) q.set(i, j, rng.normal());
  for (let j = 0; j < d; j++) {
    for (let k = 0; k < j; k++) {
      let dot = 0;
      for (let i = 0; i < d; i++) dot += q.get(i, j) * q.get(i, k);
      for (let i = 0; i < d; i++) q.set(i, j, q.get(i, j) - dot * q.get(i, k));
    }
    let norm = 0;
    for (let i = 0; i < d; i++) norm += q.get(i, j) ** 2;
    for (let i = 0; i < d; i++) q.set(i, j, q.get(i, j) / Math.sqrt(norm));
  }
  const d1 = Array.from({ length: d }, (_, i) => 0.1 + i),
    d2 = Array.from({ length: d }, (_, i) => 3 + 0.5 * Math.sin(i));
  const sig = (ds: number[]) => q.clone().mulRowVector(ds).mmul(q.transpose()); // mulRowVector works in place
  const mu1 = Array.from({ length: d }, () => rng.normal()),
    mu2 = Array.from({ length: d }, () => rng.normal());
  let expected = 0;
  for (let i = 0; i < d; i++) expected += (mu1[i] - mu2[i]) ** 2 + (Math.sqrt(d1[i]) - Math.sqrt(d2[i])) ** 2;
  const got = frechetDistance(
    { mu: Float64Array.from(mu1), sigma: sig(d1) },
    { mu: Float64Array.from(mu2), sigma: sig(d2) },
  );
  assert.ok(rel(got, expected) < 1e-3, `${got} vs ${expected}`);
});

test('gaussianStats: the mean and unbiased covariance of sampled features give the Frechet distance of their Gaussians', () => {
  const N = 20000;
  // x ~ N((1, 0, -1), A A^T) by x = mu + A eps
  const A = [
      [1, 0, 0],
      [0.5, 2, 0],
      [0, -1, 0.5],
    ],
    mu = [1, 0, -1];
  const draw = (seed: number, shift: number) => {
    const rng = new Rng(seed),
      out = new Float32Array(N * 3);
    for (let n = 0; n < N; n++) {
      const e = [rng.normal(), rng.normal(), rng.normal()];
      for (let i = 0; i < 3; i++) out[n * 3 + i] = mu[i] + shift + A[i][0] * e[0] + A[i][1] * e[1] + A[i][2] * e[2];
    }
    return tf.tensor2d(out, [N, 3]);
  };
  const a = draw(1, 0),
    b = draw(2, 0.5);
  const sa = gaussianStats(a);
  const cov = [
    [1, 0.5, 0],
    [0.5, 4.25, -2],
    [0, -2, 1.25],
  ]; // A A^T
  for (let i = 0; i < 3; i++) {
    assert.ok(Math.abs(sa.mu[i] - mu[i]) < 0.05, `mean ${i}`);
    for (let j = 0; j < 3; j++)
      assert.ok(Math.abs(sa.sigma.get(i, j) - cov[i][j]) < 0.1, `cov ${i},${j}: ${sa.sigma.get(i, j)}`);
  }
  // same covariance, means 0.5 apart in each of 3 dims: d^2 = 0.75
  const fd = frechetDistance(sa, gaussianStats(b));
  assert.ok(Math.abs(fd - 0.75) < 0.1, `${fd}`);
  tf.dispose([a, b]);
});

test('KID: the unbiased MMD^2 with the cubic kernel matches a hand computation; precision/recall: identical sets 1/1, far sets 0/0, a collapsed set has precision but no recall', () => {
  const x = [
      [0, 1],
      [1, 0],
      [1, 1],
    ],
    y = [
      [2, 0],
      [0, 0.5],
      [1, 2],
    ];
  const k = (a: number[], b: number[]) => ((a[0] * b[0] + a[1] * b[1]) / 2 + 1) ** 3;
  let sxx = 0,
    syy = 0,
    sxy = 0;
  for (let i = 0; i < 3; i++)
    for (let j = 0; j < 3; j++) {
      if (i !== j) {
        sxx += k(x[i], x[j]);
        syy += k(y[i], y[j]);
      }
      sxy += k(x[i], y[j]);
    }
  const expected = (sxx + syy) / 6 - (2 * sxy) / 9;
  const [tx, ty] = [tf.tensor2d(x), tf.tensor2d(y)];
  const r = kernelDistance(tx, ty, { subsets: 3, subsetSize: 3 });
  assert.ok(Math.abs(r.kid - expected) < 1e-4, `${r.kid} vs ${expected}`); // every subset is the whole set
  assert.ok(r.stderr < 1e-5);
  tf.dispose([tx, ty]);

  const real = tf.randomNormal([400, 8], 0, 1, 'float32', 1) as tf.Tensor2D;
  const far = tf.add(real, 100) as tf.Tensor2D;
  const collapsed = tf.tile(tf.slice(real, 0, 4), [100, 1]) as tf.Tensor2D; // 4 modes, repeated
  const same = precisionRecall(real, real);
  assert.deepEqual([same.precision, same.recall], [1, 1]);
  const none = precisionRecall(real, far);
  assert.deepEqual([none.precision, none.recall], [0, 0]);
  const c = precisionRecall(real, collapsed);
  assert.equal(c.precision, 1, 'every collapsed sample is a real image');
  assert.ok(c.recall < 0.1, `recall ${c.recall}`);
  tf.dispose([real, far, collapsed]);
});

test('FID and KID on classifier features: a set against itself ~0, and both grow monotonically with Gaussian pixel noise', () => {
  const ds = generateShapes({ n: 600, seed: 5, size: 16 });
  const clf = new Classifier(
    classifierConfig({ height: 16, width: 16, channels: 3 }, SHAPES_HEADS, { widths: [8, 16, 16], features: 32 }),
    7,
  );
  const x = datasetTo01(ds);
  const real = clf.featuresBatched(x);
  const fReal = gaussianStats(real);
  assert.ok(frechetDistance(fReal, fReal) < 1e-6, 'FID of a set against itself');
  const fids: number[] = [],
    kids: number[] = [];
  for (const sd of [0.02, 0.05, 0.1, 0.2, 0.4]) {
    const noisy = tf.tidy(() =>
      clf.featuresBatched(
        tf.clipByValue(tf.add(x, tf.randomNormal(x.shape, 0, sd, 'float32', 11)), 0, 1) as tf.Tensor4D,
      ),
    );
    fids.push(frechetDistance(fReal, gaussianStats(noisy)));
    kids.push(kernelDistance(real, noisy, { subsets: 10, subsetSize: 300, seed: 1 }).kid);
    noisy.dispose();
  }
  // KID is unbiased: between two disjoint halves of one set it is 0 within its standard error (subsets of one pool
  // would share images, whose self-similarity inflates the cross term); it is too noisy to rank the smallest noise
  // level, so its monotonicity is checked from sd = 0.05 on
  const [h1, h2] = [tf.slice(real, 0, 300), tf.slice(real, 300, 300)];
  const self = kernelDistance(h1, h2, { subsets: 10, subsetSize: 200, seed: 1 });
  tf.dispose([h1, h2]);
  assert.ok(Math.abs(self.kid) < 2 * self.stderr + 1e-6, `KID between halves ${self.kid} +- ${self.stderr}`);
  assert.ok(kids[4] > 5 * self.stderr, `KID at sd 0.4: ${kids[4]} vs error bar ${self.stderr}`);
  for (let i = 1; i < fids.length; i++) assert.ok(fids[i] > fids[i - 1], `FID ${fids.join(', ')}`);
  for (let i = 2; i < kids.length; i++) assert.ok(kids[i] > kids[i - 1], `KID ${kids.join(', ')}`);
  tf.dispose([x, real]);
  clf.dispose();
});
