// The gated PixelCNN network (van den Oord et al. 2016, "Conditional Image Generation with PixelCNN Decoders"):
// a vertical stack (rows strictly above) feeding a horizontal stack (pixels to the left, colours before) through 1x1
// convs; gated units tanh(W_f * x + V_f c) * sigmoid(W_g * x + V_g c). x [B,H,W,C] in [-1,1] -> logits [B,H,W,C,K].
import * as tf from '@tensorflow/tfjs-core';
import { UserError } from '../../errors.ts';
import type { ParamStore } from '../../nn/params.ts';
import type { PixelCnnModelConfig } from './config.ts';

type V = tf.Variable;
interface Conv {
  w: V;
  b: V;
  mask: tf.Tensor4D | null;
}

/** One gated layer: vertical conv, the vertical -> horizontal 1x1 link, the horizontal conv, its residual 1x1. */
interface GatedLayer {
  vConv: Conv; // [kh, kw, cin, 2p], no mask: its shape and shift see only rows above
  vToH: Conv; // [1, 1, 2p, 2p]: the vertical pre-activation at (r, c) carries rows < r only, so no mask either
  hConv: Conv; // [1, kw, cin, 2p]: the last tap is the current pixel, masked by colour (A or B)
  hOut: Conv | null; // [1, 1, p, p] mask B, residual; null in the first layer (its input has C channels)
  vCond: V | null; // V_v [dim, 2p]: the condition as a per-image bias
  hCond: V | null; // V_h [dim, 2p]
}

/** The effective (masked) weights of every conv, computed once per forward pass or per sampling run. */
export interface Weights {
  layers: {
    v: tf.Tensor4D;
    vb: tf.Tensor;
    vh: tf.Tensor4D;
    vhb: tf.Tensor;
    h: tf.Tensor4D;
    hb: tf.Tensor;
    o: tf.Tensor4D | null;
    ob: tf.Tensor | null;
    vc: tf.Tensor2D | null;
    hc: tf.Tensor2D | null;
  }[];
  out1: tf.Tensor4D;
  out1b: tf.Tensor;
  out2: tf.Tensor4D;
  out2b: tf.Tensor;
}

/**
 * Channel mask of a current-pixel tap [cin, cout] with colour groups (R, G, B in that order): output o may read
 * input i when colour(i) < colour(o) (mask A, the first layer: a colour never sees itself) or colour(i) <= colour(o)
 * (mask B, later layers: the features of colour c already exclude x_c).
 */
export function colourMask(
  cin: number,
  cout: number,
  inColour: (i: number) => number,
  outColour: (o: number) => number,
  kind: 'A' | 'B',
): Float32Array {
  const m = new Float32Array(cin * cout);
  for (let i = 0; i < cin; i++) {
    for (let o = 0; o < cout; o++) {
      const a = inColour(i),
        b = outColour(o);
      m[i * cout + o] = (kind === 'A' ? a < b : a <= b) ? 1 : 0;
    }
  }
  return m;
}

/** A kernel mask [kh, kw, cin, cout]: 1 on every tap but the last one (the current pixel), which gets `centre`. */
function tapMask(kh: number, kw: number, cin: number, cout: number, centre: Float32Array): tf.Tensor4D {
  const m = new Float32Array(kh * kw * cin * cout).fill(1);
  m.set(centre, (kh * kw - 1) * cin * cout);
  return tf.keep(tf.tensor4d(m, [kh, kw, cin, cout])); // lives with the model, even when it is built inside a tidy
}

const gate = (a: tf.Tensor4D): tf.Tensor4D => {
  // tanh(a_f) * sigmoid(a_g), a = [a_f | a_g] along channels [.., 2p]
  const [f, g] = tf.split(a, 2, 3);
  return tf.mul(tf.tanh(f), tf.sigmoid(g)) as tf.Tensor4D;
};

/** Bias per image from the condition: c [B, dim] V [dim, 2p] -> [B, 1, 1, 2p]. */
const condBias = (c: tf.Tensor2D, v: tf.Tensor2D): tf.Tensor4D => {
  const b = tf.matMul(c, v) as tf.Tensor2D;
  return tf.reshape(b, [b.shape[0], 1, 1, b.shape[1]]);
};

/**
 * A stride-1 'valid' conv of the padded x [B,H+kh-1,W+kw-1,cin] with w [kh,kw,cin,cout] (+ b). On the pure-JS cpu
 * backend, whose conv filter gradient is a per-element loop, the taps go side by side and through one matMul (im2col);
 * elsewhere the backend's own conv is faster (native: direct AVX kernels).
 */
function validConv(xp: tf.Tensor4D, w: tf.Tensor4D, b: tf.Tensor): tf.Tensor4D {
  const [kh, kw, cin, cout] = w.shape;
  if (tf.getBackend() !== 'cpu') return tf.fused.conv2d({ x: xp, filter: w, strides: 1, pad: 'valid', bias: b });
  const [B, Hp, Wp] = xp.shape;
  const H = Hp - kh + 1,
    W = Wp - kw + 1;
  const taps: tf.Tensor4D[] = [];
  for (let i = 0; i < kh; i++) for (let j = 0; j < kw; j++) taps.push(tf.slice(xp, [0, i, j, 0], [B, H, W, cin]));
  const cols = taps.length === 1 ? taps[0] : tf.concat(taps, 3); // [B,H,W,kh kw cin], tap-major like w
  const y = tf.fused.matMul({
    a: tf.reshape(cols, [B * H * W, kh * kw * cin]),
    b: tf.reshape(w, [kh * kw * cin, cout]),
    bias: b,
  });
  return tf.reshape(y, [B, H, W, cout]);
}

/**
 * Down-shifted conv: output row r reads input rows r - kh + 1 - s .. r - s, columns c - kw/2 .. c + kw/2 (zero
 * padding). s = 1 (first layer) gives rows strictly above; s = 0 (later layers) includes row r of the previous
 * vertical features, which themselves only carry rows above.
 */
function downConv(x: tf.Tensor4D, w: tf.Tensor4D, b: tf.Tensor, s: 0 | 1): tf.Tensor4D {
  const [kh, kw] = w.shape;
  const H = x.shape[1];
  const half = (kw - 1) / 2;
  const y = validConv(
    tf.pad(x, [
      [0, 0],
      [kh - 1 + s, 0],
      [half, half],
      [0, 0],
    ]),
    w,
    b,
  ); // [B, H + s, W, cout]
  return s ? tf.slice(y, [0, 0, 0, 0], [-1, H, -1, -1]) : y;
}

/** Right-shifted conv along the row: output column c reads input columns c - kw + 1 .. c of the same row. */
function rowConv(x: tf.Tensor4D, w: tf.Tensor4D, b: tf.Tensor): tf.Tensor4D {
  const kw = w.shape[1];
  return validConv(
    tf.pad(x, [
      [0, 0],
      [0, 0],
      [kw - 1, 0],
      [0, 0],
    ]),
    w,
    b,
  );
}

/** A 1x1 conv as one matMul over the pixels, [B,H,W,cin] x [cin, cout] (its weight gradient is a matMul too, where
 *  the cpu backend's Conv2DBackpropFilter is a slow loop). */
function conv1x1(x: tf.Tensor4D, w: tf.Tensor4D, b: tf.Tensor): tf.Tensor4D {
  const [B, H, W, cin] = x.shape;
  const cout = w.shape[3];
  const y = tf.fused.matMul({ a: tf.reshape(x, [B * H * W, cin]), b: tf.reshape(w, [cin, cout]), bias: b });
  return tf.reshape(y, [B, H, W, cout]);
}

export class GatedPixelCnn {
  readonly p: number;
  /** Logits per channel: 256 (categorical) or 1 (bernoulli). */
  readonly K: number;
  private readonly layers: GatedLayer[] = [];
  private readonly out1: Conv;
  private readonly out2: Conv;

  constructor(
    readonly cfg: PixelCnnModelConfig,
    readonly C: number,
    ps: ParamStore,
    condDim: number,
  ) {
    const p = (this.p = cfg.channels);
    const K = (this.K = cfg.output === 'categorical' ? 256 : 1);
    if (p < C)
      throw new UserError(
        `model.channels=${p} is smaller than the ${C} image channels; the PixelCNN needs at least one feature per colour`,
        { kind: 'setting', key: 'model.channels', value: Math.max(C, 16) },
      );
    // colour group of hidden feature f: floor(f C / p); of the 2p pre-activations [a_f | a_g]: that of f mod p
    const hid = (f: number) => Math.floor(((f % p) * C) / p);
    const pix = (i: number) => i; // the input: channel i is colour i
    const make = (name: string, shape: [number, number, number, number], mask: Float32Array | null): Conv => {
      const [kh, kw, cin, cout] = shape;
      const bound = 1 / Math.sqrt(kh * kw * cin);
      const w = ps.param(`${name}.weight`, shape, { uniform: bound });
      const m = mask ? tapMask(kh, kw, cin, cout, mask) : null;
      if (m) tf.tidy(() => w.assign(tf.mul(w, m))); // masked weights start (and stay, in effect) at zero
      return { w, b: ps.param(`${name}.bias`, [cout], { uniform: bound }), mask: m };
    };
    const k0 = cfg.firstKernel,
      k = cfg.kernel;
    for (let l = 0; l < cfg.layers; l++) {
      const first = l === 0,
        cin = first ? C : p,
        kw = first ? k0 : k;
      const n = `layer${l}`;
      this.layers.push({
        // first layer: k0/2 rows above (shift 1); later: k/2 rows above plus the current row of the vertical features
        vConv: make(`${n}.vertical`, [first ? Math.floor(k0 / 2) : Math.floor(k / 2) + 1, kw, cin, 2 * p], null),
        vToH: make(`${n}.vertical_to_horizontal`, [1, 1, 2 * p, 2 * p], null),
        hConv: make(
          `${n}.horizontal`,
          [1, Math.floor(kw / 2) + 1, cin, 2 * p],
          colourMask(cin, 2 * p, first ? pix : hid, hid, first ? 'A' : 'B'),
        ),
        hOut: first ? null : make(`${n}.horizontal_out`, [1, 1, p, p], colourMask(p, p, hid, hid, 'B')),
        vCond:
          condDim > 0
            ? ps.param(`${n}.vertical_cond.weight`, [condDim, 2 * p], { uniform: 1 / Math.sqrt(condDim) })
            : null,
        hCond:
          condDim > 0
            ? ps.param(`${n}.horizontal_cond.weight`, [condDim, 2 * p], { uniform: 1 / Math.sqrt(condDim) })
            : null,
      });
    }
    // output: ReLU, 1x1 (mask B), ReLU, 1x1 (mask B) to C K logits laid out colour-major (o = colour * K + k)
    this.out1 = make('out1', [1, 1, p, p], colourMask(p, p, hid, hid, 'B'));
    this.out2 = make(
      'out2',
      [1, 1, p, C * K],
      colourMask(p, C * K, hid, (o) => Math.floor(o / K), 'B'),
    );
  }

  /** Masked weights W * M (inside the caller's tidy, or disposed by it). */
  weights(): Weights {
    const eff = (c: Conv) => (c.mask ? tf.mul(c.w, c.mask) : c.w) as tf.Tensor4D;
    return {
      layers: this.layers.map((L) => ({
        v: eff(L.vConv),
        vb: L.vConv.b,
        vh: eff(L.vToH),
        vhb: L.vToH.b,
        h: eff(L.hConv),
        hb: L.hConv.b,
        o: L.hOut ? eff(L.hOut) : null,
        ob: L.hOut?.b ?? null,
        vc: L.vCond as tf.Tensor2D | null,
        hc: L.hCond as tf.Tensor2D | null,
      })),
      out1: eff(this.out1),
      out1b: this.out1.b,
      out2: eff(this.out2),
      out2b: this.out2.b,
    };
  }

  /**
   * The vertical stack over rows of x [B,R,W,C]; per layer l the horizontal stack's input from it,
   *   u_l = W_vh * a_l + V_h c,  a_l = W_v * v_{l-1} + V_v c,  v_l = tanh(a_l,f) * sigmoid(a_l,g),  v_{-1} = x
   * [B,R,W,2p] each. u_l at row r depends on rows < r of x only.
   */
  vertical(W: Weights, x: tf.Tensor4D, c: tf.Tensor2D | null): tf.Tensor4D[] {
    const u: tf.Tensor4D[] = [];
    let v = x;
    W.layers.forEach((L, l) => {
      let a = downConv(v, L.v, L.vb, l === 0 ? 1 : 0); // [B,R,W,2p]
      if (c) a = tf.add(a, condBias(c, L.vc!));
      let ul = conv1x1(a, L.vh, L.vhb);
      if (c) ul = tf.add(ul, condBias(c, L.hc!));
      u.push(ul);
      if (l < W.layers.length - 1) v = gate(a);
    });
    return u;
  }

  /**
   * The horizontal stack over rows of x [B,R,w,C] given the vertical inputs u_l [B,R,w,2p], then the output head:
   *   h_0 = gate(W_h0 *_A x + u_0),  h_l = h_{l-1} + W_o gate(W_hl *_B h_{l-1} + u_l),
   *   logits = W_2 relu(W_1 relu(h_L)) [B,R,w,C K] (colour-major).
   */
  horizontal(W: Weights, x: tf.Tensor4D, u: tf.Tensor4D[]): tf.Tensor4D {
    let h = x;
    W.layers.forEach((L, l) => {
      const g = gate(tf.add(rowConv(h, L.h, L.hb), u[l]) as tf.Tensor4D);
      h = L.o ? (tf.add(h, conv1x1(g, L.o, L.ob!)) as tf.Tensor4D) : g;
    });
    return conv1x1(tf.relu(conv1x1(tf.relu(h), W.out1, W.out1b)), W.out2, W.out2b);
  }

  /** Logits [B,H,W,C,K] of p(x_i | x_<i, c) for the inputs x [B,H,W,C] in [-1, 1]. */
  forward(x: tf.Tensor4D, c: tf.Tensor2D | null): tf.Tensor5D {
    return tf.tidy(() => {
      const W = this.weights();
      const [B, H, Wd] = x.shape;
      return tf.reshape(this.horizontal(W, x, this.vertical(W, x, c)), [B, H, Wd, this.C, this.K]) as tf.Tensor5D;
    });
  }

  dispose(): void {
    for (const c of [...this.layers.flatMap((L) => [L.vConv, L.vToH, L.hConv, L.hOut]), this.out1, this.out2])
      c?.mask?.dispose();
  }
}
