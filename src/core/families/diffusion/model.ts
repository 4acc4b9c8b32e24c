// The denoising UNet eps_theta(x_t, t, y): sinusoidal time embedding (+ the condition embedding) fed to every residual
// block, group norm + SiLU, stride-2 convs down, nearest upsampling + conv up, skip connections, self-attention at the
// lowest resolution. Shapes: x [B,H,W,C] in [-1,1], t [B] integers, embedding [B,E]; output [B,H,W,C].
import * as tf from '@tensorflow/tfjs-core';
import type { DataInfo } from '../../family.ts';
import { UserError } from '../../errors.ts';
import { groupNorm } from '../../nn/group-norm.ts';
import type { ParamStore } from '../../nn/params.ts';
import type { DiffusionModelConfig } from './config.ts';

type V = tf.Variable;
const silu = (x: tf.Tensor) => tf.mul(x, tf.sigmoid(x));

interface Conv { w: V; b: V; stride: number }
interface Dense { w: V; b: V }
interface Norm { g: V; b: V }
interface ResBlock { n1: Norm; c1: Conv; emb: Dense; n2: Norm; c2: Conv; skip?: Conv }
interface Attention { n: Norm; qkv: Dense; proj: Dense }

function conv(ps: ParamStore, name: string, cin: number, cout: number, k: number, stride = 1, zero = false): Conv {
  const bound = 1 / Math.sqrt(k * k * cin);
  return { w: ps.param(`${name}.weight`, [k, k, cin, cout], zero ? 'zeros' : { uniform: bound }), b: ps.param(`${name}.bias`, [cout], zero ? 'zeros' : { uniform: bound }), stride };
}
function dense(ps: ParamStore, name: string, cin: number, cout: number, zero = false): Dense {
  const bound = 1 / Math.sqrt(cin);
  return { w: ps.param(`${name}.weight`, [cin, cout], zero ? 'zeros' : { uniform: bound }), b: ps.param(`${name}.bias`, [cout], zero ? 'zeros' : { uniform: bound }) };
}
function norm(ps: ParamStore, name: string, c: number): Norm {
  return { g: ps.param(`${name}.weight`, [c], 'ones'), b: ps.param(`${name}.bias`, [c], 'zeros') };
}
const applyConv = (c: Conv, x: tf.Tensor4D) => tf.fused.conv2d({ x, filter: c.w as tf.Tensor4D, strides: c.stride, pad: 'same', bias: c.b });
const applyDense = (d: Dense, x: tf.Tensor2D) => tf.fused.matMul({ a: x, b: d.w as tf.Tensor2D, bias: d.b }) as tf.Tensor2D;

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
  private readonly up: { upConv?: Conv; blocks: ResBlock[] }[] = [];
  private readonly outNorm: Norm;
  private readonly outConv: Conv;
  private readonly groups: number;

  constructor(readonly cfg: DiffusionModelConfig, readonly info: DataInfo, ps: ParamStore, condDim: number) {
    const { channels: ch, embedDim: E, groups: G } = cfg;
    const L = ch.length, f = 2 ** (L - 1);
    if (info.height % f !== 0 || info.width % f !== 0) {
      throw new UserError(`A UNet with ${L} levels needs image height and width divisible by ${f}, got ${info.height}x${info.width}; use fewer model.channels or --size ${Math.ceil(info.height / f) * f}`);
    }
    for (const c of ch) if (c % G !== 0) throw new UserError(`model.groups=${G} must divide every UNet channel count, got ${c}; e.g. --set model.groups=8 with channels that are multiples of 8`);
    this.groups = G;
    const res = (name: string, cin: number, cout: number): ResBlock => ({
      n1: norm(ps, `${name}.norm1`, cin), c1: conv(ps, `${name}.conv1`, cin, cout, 3), emb: dense(ps, `${name}.emb`, E, cout),
      // the block's last conv starts at zero, so each residual block starts as the identity (a common diffusion init)
      n2: norm(ps, `${name}.norm2`, cout), c2: conv(ps, `${name}.conv2`, cout, cout, 3, 1, true),
      skip: cin !== cout ? conv(ps, `${name}.skip`, cin, cout, 1) : undefined,
    });
    this.tEmb1 = dense(ps, 'time.fc1', ch[0], E);
    this.tEmb2 = dense(ps, 'time.fc2', E, E);
    this.condProj = condDim > 0 ? dense(ps, 'cond.proj', condDim, E) : null;
    this.inConv = conv(ps, 'in', info.channels, ch[0], 3);
    for (let i = 0; i < L; i++) {
      const blocks: ResBlock[] = [];
      for (let j = 0; j < cfg.resBlocks; j++) blocks.push(res(`down${i}.res${j}`, ch[i], ch[i])); // the downsampling conv already changed the width
      this.down.push({ blocks, downsample: i < L - 1 ? conv(ps, `down${i}.downsample`, ch[i], ch[i + 1], 3, 2) : undefined });
    }
    const C = ch[L - 1];
    this.attention = cfg.attention ? { n: norm(ps, 'mid.attn.norm', C), qkv: dense(ps, 'mid.attn.qkv', C, 3 * C), proj: dense(ps, 'mid.attn.proj', C, C, true) } : null;
    for (let i = L - 2; i >= 0; i--) {
      const blocks: ResBlock[] = [];
      for (let j = 0; j < cfg.resBlocks; j++) blocks.push(res(`up${i}.res${j}`, j === 0 ? 2 * ch[i] : ch[i], ch[i]));
      this.up.push({ upConv: conv(ps, `up${i}.upsample`, ch[i + 1], ch[i], 3), blocks });
    }
    this.outNorm = norm(ps, 'out.norm', ch[0]);
    this.outConv = conv(ps, 'out.conv', ch[0], info.channels, 3, 1, true);
  }

  private resBlock(r: ResBlock, x: tf.Tensor4D, emb: tf.Tensor2D): tf.Tensor4D {
    const cout = r.c1.b.shape[0];
    let h = applyConv(r.c1, groupNorm(x, r.n1.g, r.n1.b, true, this.groups));
    h = tf.add(h, tf.reshape(applyDense(r.emb, emb), [x.shape[0], 1, 1, cout]));
    h = applyConv(r.c2, groupNorm(h, r.n2.g, r.n2.b, true, this.groups));
    return tf.add(h, r.skip ? applyConv(r.skip, x) : x);
  }

  /** Single-head self-attention over the H*W positions: x + proj(softmax(q k^T / sqrt(C)) v). */
  private attend(a: Attention, x: tf.Tensor4D): tf.Tensor4D {
    const [B, H, W, C] = x.shape;
    const h = tf.reshape(groupNorm(x, a.n.g, a.n.b, false, this.groups), [B * H * W, C]);
    const qkv = tf.reshape(applyDense(a.qkv, h as tf.Tensor2D), [B, H * W, 3 * C]);
    const [q, k, v] = tf.split(qkv, 3, 2) as tf.Tensor3D[];
    const w = tf.softmax(tf.mul(tf.matMul(q, k, false, true), 1 / Math.sqrt(C))); // [B, HW, HW]
    const o = tf.reshape(tf.matMul(w, v), [B * H * W, C]);
    return tf.add(x, tf.reshape(applyDense(a.proj, o as tf.Tensor2D), [B, H, W, C]));
  }

  /** eps_theta(x_t, t, y): x [B,H,W,C], t timesteps, cond [B, condDim] or null. */
  forward(x: tf.Tensor4D, t: ArrayLike<number>, cond: tf.Tensor2D | null): tf.Tensor4D {
    return tf.tidy(() => {
      let emb = applyDense(this.tEmb2, silu(applyDense(this.tEmb1, timestepEmbedding(t, this.cfg.channels[0]))) as tf.Tensor2D) as tf.Tensor2D;
      if (this.condProj && cond) emb = tf.add(emb, applyDense(this.condProj, cond)) as tf.Tensor2D;
      emb = silu(emb) as tf.Tensor2D; // every block projects silu(emb)
      let h = applyConv(this.inConv, x);
      const skips: tf.Tensor4D[] = [];
      for (const level of this.down) {
        for (const b of level.blocks) h = this.resBlock(b, h, emb);
        if (level.downsample) {
          skips.push(h);
          h = applyConv(level.downsample, h);
        }
      }
      if (this.attention) h = this.attend(this.attention, h);
      for (const level of this.up) {
        h = applyConv(level.upConv!, tf.image.resizeNearestNeighbor(h, [h.shape[1] * 2, h.shape[2] * 2]));
        h = tf.concat([h, skips.pop()!], 3);
        for (const b of level.blocks) h = this.resBlock(b, h, emb);
      }
      return applyConv(this.outConv, groupNorm(h, this.outNorm.g, this.outNorm.b, true, this.groups));
    });
  }
}
