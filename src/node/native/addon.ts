// Loads the native addon (native/prebuilds/<platform>-<arch>, or native/build from scripts/build-native.js, which
// node-gyp-build prefers) or says why it cannot.
// DEEPGEN_NO_NATIVE=1 makes it unavailable, to exercise the wasm/cpu fallback.
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export interface NativeInfo {
  /** "OpenBLAS", "MKL", "BLIS", "Accelerate", "BLAS" (unidentified) or "builtin" (the addon's own kernel). */
  blas: string;
  blasPath: string;
  blasConfig: string;
  /** Set when a library was rejected, e.g. the slow netlib reference BLAS. */
  warning: string;
  threads: number;
  simd: string;
}

/** conv geometry: [N, H, W, C, KH, KW, OC, OH, OW, strideH, strideW, dilH, dilW, padTop, padLeft] */
export type ConvGeometry = number[];

export interface NativeAddon {
  info(): NativeInfo;
  setThreads(n: number): number;
  /** C[M,N] = alpha * op(A)[M,K] * op(B)[K,N] + beta * C, row-major; builtin forces the addon's own kernel. */
  sgemm(
    transA: boolean,
    transB: boolean,
    M: number,
    N: number,
    K: number,
    alpha: number,
    A: Float32Array,
    lda: number,
    B: Float32Array,
    ldb: number,
    beta: number,
    C: Float32Array,
    ldc: number,
    builtin?: boolean,
  ): void;
  /** C[i] = op(A[aIndex[i]]) * op(B[bIndex[i]]); A is [*, M, K] (or [*, K, M] transposed), B [*, K, N], C [batch, M, N]. */
  batchMatMul(
    A: Float32Array,
    B: Float32Array,
    C: Float32Array,
    aIndex: Int32Array,
    bIndex: Int32Array,
    M: number,
    N: number,
    K: number,
    transA: boolean,
    transB: boolean,
  ): void;
  conv2d(x: Float32Array, filter: Float32Array, y: Float32Array, geometry: ConvGeometry): void;
  conv2dBackpropInput(dy: Float32Array, filter: Float32Array, dx: Float32Array, geometry: ConvGeometry): void;
  conv2dBackpropFilter(x: Float32Array, dy: Float32Array, dw: Float32Array, geometry: ConvGeometry): void;
  /** Sets (0 auto, 1 im2col + sgemm, 2 direct where it applies) and returns the conv algorithm; for tests and benches. */
  convAlgo(algo?: number): number;
  /** Whether the direct conv kernels can run here (AVX2+FMA or AVX-512). */
  directConv: boolean;
  /** y[j] = sum_i x[i * inner + j] (reduction over the leading axes, e.g. a bias gradient). */
  sumOuter(x: Float32Array, y: Float32Array, outer: number, inner: number): void;
  /** The activation codes of biasAct by TensorFlow.js name (linear, relu, relu6, elu, leakyrelu, sigmoid, prelu): the
   *  addon's enum (bias.cc), so the two sides cannot drift apart. */
  activations: Readonly<Record<string, number>>;
  /** In place: y = act(y + bias), act given by its code in `activations`; bias and preluAlpha repeat along y. */
  biasAct(
    y: Float32Array,
    bias: Float32Array | null,
    activation: number,
    leakyAlpha: number,
    preluAlpha: Float32Array | null,
  ): void;
  /** Group norm of x [B, P = H*W, C] (NHWC) in `groups` groups: y = act((x - mean) * rstd * gamma + beta), act SiLU
   *  when silu, else identity; mean and rstd [B, groups]. */
  groupNorm(
    x: Float32Array,
    gamma: Float32Array,
    beta: Float32Array,
    y: Float32Array,
    mean: Float32Array,
    rstd: Float32Array,
    B: number,
    P: number,
    C: number,
    groups: number,
    epsilon: number,
    silu: boolean,
  ): void;
  /** Gradient of groupNorm (dy of its output, sigmoid recomputed when silu): dx [B, P, C], dgamma and dbeta as gamma
   *  ([C], or [B, C] per image). */
  groupNormGrad(
    dy: Float32Array,
    x: Float32Array,
    gamma: Float32Array,
    beta: Float32Array,
    mean: Float32Array,
    rstd: Float32Array,
    dx: Float32Array,
    dgamma: Float32Array,
    dbeta: Float32Array,
    B: number,
    P: number,
    C: number,
    groups: number,
    silu: boolean,
  ): void;
  /** dst[dstOffset + i . dstStrides] = src[srcOffset + i . srcStrides] for every index i of shape (rank <= 8);
   *  4-byte elements (the bits are copied, so float32 and int32 alike), multi-threaded when large. */
  copyStrided(
    src: Float32Array | Int32Array,
    srcOffset: number,
    dst: Float32Array | Int32Array,
    dstOffset: number,
    shape: number[],
    srcStrides: number[],
    dstStrides: number[],
  ): void;
}

export type NativeLoad = { addon: NativeAddon; reason?: undefined } | { addon: null; reason: string };

export const NATIVE_DIR = join(dirname(fileURLToPath(import.meta.url)), '../../../native');

let cached: NativeLoad | undefined;

/** The addon, or null with a one-line reason. Cached; DEEPGEN_NO_NATIVE=1 disables it. */
export function loadNativeAddon(): NativeLoad {
  if (process.env.DEEPGEN_NO_NATIVE === '1') return { addon: null, reason: 'disabled by DEEPGEN_NO_NATIVE=1' };
  if (cached) return cached;
  try {
    const require = createRequire(import.meta.url);
    const load = require('node-gyp-build') as (dir: string) => NativeAddon;
    cached = { addon: load(NATIVE_DIR) };
  } catch (e) {
    cached = { addon: null, reason: nativeLoadReason((e as Error).message) };
  }
  return cached;
}

const REBUILD_HINT =
  '`npm rebuild deepgen` builds it when make, g++ and python3 are installed; inside a checkout, `npm run build:native`';

/** The one-line reason for a failed addon load (node-gyp-build's or require's error message), with what to run. An
 *  install uses the prebuild in native/prebuilds when one matches the platform; the rebuild compiles from source. */
export function nativeLoadReason(message: string): string {
  const msg = message.split('\n')[0];
  return /No native build was found/.test(msg)
    ? `the native addon is not built for this platform; ${REBUILD_HINT}`
    : `the native addon failed to load (${msg}); ${REBUILD_HINT}`;
}
