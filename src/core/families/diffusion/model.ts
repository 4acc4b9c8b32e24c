// The denoising UNet eps_theta(x_t, t, y): sinusoidal time embedding (+ the pooled condition) scales and shifts every
// residual block (AdaGN), cross-attention to the condition's tokens below full resolution, stride-2 convs down, nearest
// upsampling + conv up, skip connections, self-attention at the lowest resolution. x [B,H,W,C] in [-1,1] -> [B,H,W,C].
import * as tf from '@tensorflow/tfjs-core';
import type { DataInfo } from '../../family.ts';
import { UserError } from '../../errors.ts';
import { groupNorm } from '../../nn/group-norm.ts';
import type { ParamStore } from '../../nn/params.ts';
import type { CondSeq } from '../../conditioning/conditioner.ts';
import type { DiffusionModelConfig } from './config.ts';

type V = tf.Variable;
const silu = (x: tf.Tensor) => tf.mul(x, tf.sigmoid(x));

interface Conv {
  w: V;
  b: V;
  stride: number;
}
interface Dense {
  w: V;
  b: V;
}
interface Norm {
  g: V;
  b: V;
}
interface ResBlock {
  n1: Norm;
  c1: Conv;
  emb: Dense;
  n2: Norm;
  c2: Conv;
  skip?: Conv;
  cross?: CrossAttention;
}
interface Attention {
  n: Norm;
  qkv: Dense;
  proj: Dense;
}
interface CrossAttention {
  n: Norm;
  q: Dense;
  kv: Dense;
  proj: Dense;
}

function conv(ps: ParamStore, name: string, cin: number, cout: number, k: number, stride = 1, zero = false): Conv {
  const bound = 1 / Math.sqrt(k * k * cin);
  return {
    w: ps.param(`${name}.weight`, [k, k, cin, cout], zero ? 'zeros' : { uniform: bound }),
    b: ps.param(`${name}.bias`, [cout], zero ? 'zeros' : { uniform: bound }),
    stride,
  };
}
function dense(ps: ParamStore, name: string, cin: number, cout: number, zero = false): Dense {
  const bound = 1 / Math.sqrt(cin);
  return {
    w: ps.param(`${name}.weight`, [cin, cout], zero ? 'zeros' : { uniform: bound }),
    b: ps.param(`${name}.bias`, [cout], zero ? 'zeros' : { uniform: bound }),
  };
}
function norm(ps: ParamStore, name: string, c: number): Norm {
  return { g: ps.param(`${name}.weight`, [c], 'ones'), b: ps.param(`${name}.bias`, [c], 'zeros') };
}
const applyConv = (c: Conv, x: tf.Tensor4D) =>
  tf.fused.conv2d({ x, filter: c.w as tf.Tensor4D, strides: c.stride, pad: 'same', bias: c.b });
const applyDense = (d: Dense, x: tf.Tensor2D) =>
  tf.fused.matMul({ a: x, b: d.w as tf.Tensor2D, bias: d.b }) as tf.Tensor2D;

/** Sinusoidal embedding of integer timesteps (Vaswani et al.): [sin(t f_i), cos(t f_i)], f_i = 10000^(-i/half). */
export function timestepEmbedding(t: ArrayLike<number>, dim: number): tf.Tensor2D {
  const half = Math.floor(dim / 2);
  const out = new Float32Array(t.length * dim);
  for (let b = 0; b < t.length; b++) {
    for (let i = 0; i < half; i++) {
      const a = t[b] * Math.exp((-Math.log(10000) * i) / half);
      out[b * dim + i] = Math.sin(a);
      out[b * dim + half + i] = Math.cos(a);
    }
  }
  return tf.tensor2d(out, [t.length, dim]);
}

export class UNet {
  private readonly tEmb1: Dense;
  private readonly tEmb2: Dense;
  private readonly condProj: Dense | null;
  private readonly inConv: Conv;
  private readonly down: { blocks: ResBlock[]; downsample?: Conv }[] = [];
  private readonly attention: Attention | null;
  private readonly mid: ResBlock | null;
  private readonly up: { upConv?: Conv; blocks: ResBlock[] }[] = [];
  private readonly outNorm: Norm;
  private readonly outConv: Conv;
  private readonly groups: number;

  constructor(
    readonly cfg: DiffusionModelConfig,
    readonly info: DataInfo,
    ps: ParamStore,
    condDim: number,
  ) {
    const { channels: ch, embedDim: E, groups: G } = cfg;
    const L = ch.length,
      f = 2 ** (L - 1);
    if (info.height % f !== 0 || info.width % f !== 0) {
      throw new UserError(
        `A UNet with ${L} levels needs image height and width divisible by ${f}, got ${info.height}x${info.width}; use fewer model.channels or data.size=${Math.ceil(info.height / f) * f}`,
      );
    }
    for (const c of ch)
      if (c % G !== 0)
        throw new UserError(
          `model.groups=${G} must divide every UNet channel count, got ${c}; e.g. model.groups=8 with channels that are multiples of 8`,
        );
    this.groups = G;
    const cross = cfg.crossAttention && condDim > 0;
    const H = cfg.heads;
    for (let i = 0; i < L; i++) {
      const attends = (cross && i > 0) || (cfg.attention && i === L - 1);
      if (attends && ch[i] % H !== 0)
        throw new UserError(
          `model.heads=${H} must divide the channels of every level that attends, got ${ch[i]}; e.g. model.heads=${ch[i] % 4 === 0 ? 4 : 1}`,
        );
    }
    const res = (name: string, cin: number, cout: number, level: number): ResBlock => ({
      n1: norm(ps, `${name}.norm1`, cin),
      c1: conv(ps, `${name}.conv1`, cin, cout, 3),
      emb: dense(ps, `${name}.emb`, E, cfg.scaleShift ? 2 * cout : cout),
      // the block's last conv starts at zero, so each residual block starts as the identity (a common diffusion init)
      n2: norm(ps, `${name}.norm2`, cout),
      c2: conv(ps, `${name}.conv2`, cout, cout, 3, 1, true),
      skip: cin !== cout ? conv(ps, `${name}.skip`, cin, cout, 1) : undefined,
      // cross-attention below full resolution (its output projection starts at zero, so it starts as the identity)
      cross:
        cross && level > 0
          ? {
              n: norm(ps, `${name}.cross.norm`, cout),
              q: dense(ps, `${name}.cross.q`, cout, cout),
              kv: dense(ps, `${name}.cross.kv`, condDim, 2 * cout),
              proj: dense(ps, `${name}.cross.proj`, cout, cout, true),
            }
          : undefined,
    });
    this.tEmb1 = dense(ps, 'time.fc1', ch[0], E);
    this.tEmb2 = dense(ps, 'time.fc2', E, E);
    this.condProj = condDim > 0 ? dense(ps, 'cond.proj', condDim, E) : null;
    this.inConv = conv(ps, 'in', info.channels, ch[0], 3);
    for (let i = 0; i < L; i++) {
      const blocks: ResBlock[] = [];
      for (let j = 0; j < cfg.resBlocks; j++) blocks.push(res(`down${i}.res${j}`, ch[i], ch[i], i)); // the downsampling conv already changed the width
      this.down.push({
        blocks,
        downsample: i < L - 1 ? conv(ps, `down${i}.downsample`, ch[i], ch[i + 1], 3, 2) : undefined,
      });
    }
    const C = ch[L - 1];
    this.attention = cfg.attention
      ? {
          n: norm(ps, 'mid.attn.norm', C),
          qkv: dense(ps, 'mid.attn.qkv', C, 3 * C),
          proj: dense(ps, 'mid.attn.proj', C, C, true),
        }
      : null;
    this.mid = cfg.midBlock ? res('mid.res', C, C, L - 1) : null;
    for (let i = L - 2; i >= 0; i--) {
      const blocks: ResBlock[] = [];
      for (let j = 0; j < cfg.resBlocks; j++) blocks.push(res(`up${i}.res${j}`, j === 0 ? 2 * ch[i] : ch[i], ch[i], i));
      this.up.push({ upConv: conv(ps, `up${i}.upsample`, ch[i + 1], ch[i], 3), blocks });
    }
    this.outNorm = norm(ps, 'out.norm', ch[0]);
    this.outConv = conv(ps, 'out.conv', ch[0], info.channels, 3, 1, true);
  }

  private resBlock(r: ResBlock, x: tf.Tensor4D, emb: tf.Tensor2D, cond: CondSeq | null): tf.Tensor4D {
    const cout = r.c1.b.shape[0];
    const B = x.shape[0];
    let h = applyConv(r.c1, groupNorm(x, r.n1.g, r.n1.b, true, this.groups));
    if (this.cfg.scaleShift) {
      // AdaGN: h = conv(SiLU(GN(h) (1 + s) + b)), [s, b] = W silu(emb); with GN's own affine (g, beta) that is one
      // group norm with per-image gamma = g (1 + s) and beta' = beta (1 + s) + b, [B, C] (one fused kernel on native)
      const [s, b] = tf.split(applyDense(r.emb, emb), 2, 1);
      const s1 = tf.add(s, 1);
      h = applyConv(r.c2, groupNorm(h, tf.mul(r.n2.g, s1), tf.add(tf.mul(r.n2.b, s1), b), true, this.groups));
    } else {
      h = tf.add(h, tf.reshape(applyDense(r.emb, emb), [B, 1, 1, cout]));
      h = applyConv(r.c2, groupNorm(h, r.n2.g, r.n2.b, true, this.groups));
    }
    h = tf.add(h, r.skip ? applyConv(r.skip, x) : x);
    return r.cross && cond ? this.crossAttend(r.cross, h, cond) : h;
  }

  /** Multi-head attention of queries [B, N, C] over keys/values [B, S, C]: softmax(q k^T / sqrt(d_h) + bias) v. */
  private heads(q: tf.Tensor3D, k: tf.Tensor3D, v: tf.Tensor3D, keyBias: tf.Tensor | null): tf.Tensor2D {
    const [B, N, C] = q.shape;
    const S = k.shape[1],
      nh = this.cfg.heads,
      dh = C / nh;
    const split = (x: tf.Tensor3D, n: number) =>
      nh === 1 ? x : tf.transpose(tf.reshape(x, [B, n, nh, dh]), [0, 2, 1, 3]);
    let w = tf.mul(tf.matMul(split(q, N), split(k, S), false, true), 1 / Math.sqrt(dh)); // [B, nh, N, S]
    if (keyBias) w = tf.add(w, keyBias);
    const o = tf.matMul(tf.softmax(w), split(v, S)); // [B, nh, N, dh]
    return tf.reshape(nh === 1 ? o : tf.transpose(o, [0, 2, 1, 3]), [B * N, C]) as tf.Tensor2D;
  }

  /** Self-attention over the H*W positions: x + proj(softmax(q k^T / sqrt(d_h)) v), q, k, v = W GN(x). */
  private attend(a: Attention, x: tf.Tensor4D): tf.Tensor4D {
    const [B, H, W, C] = x.shape;
    const h = tf.reshape(groupNorm(x, a.n.g, a.n.b, false, this.groups), [B * H * W, C]);
    const qkv = tf.reshape(applyDense(a.qkv, h as tf.Tensor2D), [B, H * W, 3 * C]);
    const [q, k, v] = tf.split(qkv, 3, 2) as tf.Tensor3D[];
    return tf.add(x, tf.reshape(applyDense(a.proj, this.heads(q, k, v, null)), [B, H, W, C]));
  }

  /** Cross-attention to the condition: x + proj(softmax(q k^T / sqrt(d_h) + padBias) v), q = W_q GN(x), [k, v] = W_kv seq. */
  private crossAttend(a: CrossAttention, x: tf.Tensor4D, cond: CondSeq): tf.Tensor4D {
    const [B, H, W, C] = x.shape;
    const [, S, D] = cond.seq.shape;
    const q = tf.reshape(
      applyDense(a.q, tf.reshape(groupNorm(x, a.n.g, a.n.b, false, this.groups), [B * H * W, C]) as tf.Tensor2D),
      [B, H * W, C],
    ) as tf.Tensor3D;
    const kv = tf.reshape(applyDense(a.kv, tf.reshape(cond.seq, [B * S, D]) as tf.Tensor2D), [B, S, 2 * C]);
    const [k, v] = tf.split(kv, 2, 2) as tf.Tensor3D[];
    // padding rows get -1e9 before the softmax, so no position attends to them
    const bias = tf.reshape(tf.mul(tf.sub(cond.mask, 1), 1e9), [B, 1, 1, S]);
    return tf.add(
      x,
      tf.reshape(applyDense(a.proj, this.heads(q, k, v, this.cfg.heads === 1 ? tf.reshape(bias, [B, 1, S]) : bias)), [
        B,
        H,
        W,
        C,
      ]),
    );
  }

  /** eps_theta(x_t, t, y): x [B,H,W,C], t timesteps, cond (vector [B, condDim], sequence, mask) or null. */
  forward(x: tf.Tensor4D, t: ArrayLike<number>, cond: CondSeq | null): tf.Tensor4D {
    return tf.tidy(() => this.forwardEmb(x, timestepEmbedding(t, this.cfg.channels[0]), cond));
  }

  /** forward with the sinusoidal embedding of t already made, temb [B, channels[0]] (what export traces). */
  forwardEmb(x: tf.Tensor4D, temb: tf.Tensor2D, cond: CondSeq | null): tf.Tensor4D {
    return tf.tidy(() => {
      let emb = applyDense(this.tEmb2, silu(applyDense(this.tEmb1, temb)) as tf.Tensor2D) as tf.Tensor2D;
      if (this.condProj && cond) emb = tf.add(emb, applyDense(this.condProj, cond.vec)) as tf.Tensor2D;
      emb = silu(emb) as tf.Tensor2D; // every block projects silu(emb)
      let h = applyConv(this.inConv, x);
      const skips: tf.Tensor4D[] = [];
      for (const level of this.down) {
        for (const b of level.blocks) h = this.resBlock(b, h, emb, cond);
        if (level.downsample) {
          skips.push(h);
          h = applyConv(level.downsample, h);
        }
      }
      if (this.attention) h = this.attend(this.attention, h);
      if (this.mid) h = this.resBlock(this.mid, h, emb, cond);
      for (const level of this.up) {
        h = applyConv(level.upConv!, tf.image.resizeNearestNeighbor(h, [h.shape[1] * 2, h.shape[2] * 2]));
        h = tf.concat([h, skips.pop()!], 3);
        for (const b of level.blocks) h = this.resBlock(b, h, emb, cond);
      }
      return applyConv(this.outConv, groupNorm(h, this.outNorm.g, this.outNorm.b, true, this.groups));
    });
  }
}
