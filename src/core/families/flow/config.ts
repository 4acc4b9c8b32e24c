// Config of the normalizing flow family (RealNVP / Glow): the multi-scale layout (scales, steps per scale), the
// coupling networks (conv or MLP), masks, permutations, actnorm, the data transform and dequantization, conditioning.
import { z } from 'zod';
import { condSchema } from '../../conditioning/config.ts';
import { UserError } from '../../errors.ts';
import type { DataInfo } from '../../family.ts';

export const flowModelSchema = z
  .object({
    /** Coupling networks: 'conv' (3x3 -> 1x1 -> 3x3 convs on the image) or 'mlp' (dense layers on the flattened
     *  masked input; no conv op, so it also trains on the wasm backend). The flow's layout is the same for both. */
    arch: z.enum(['conv', 'mlp']).default('conv'),
    /** Scales L: each starts with a squeeze ([h,w,c] -> [h/2,w/2,4c]) and all but the last end with a split that
     *  factors out half of the channels as latents, so H and W must be divisible by 2^L (28 -> 14 -> 7 for L = 2). */
    scales: z.number().int().min(1).max(6).default(2),
    /** Flow steps per scale, each actnorm -> permutation -> affine coupling. */
    steps: z.number().int().min(1).max(64).default(8),
    /** Width of each coupling network: conv channels (arch=conv) or hidden units (arch=mlp). */
    hidden: z.number().int().positive().default(48),
    /** Coupling mask: 'channel' (one half of the channels conditions the other) or 'checkerboard' (spatial parity);
     *  the transformed half alternates from step to step. */
    mask: z.enum(['channel', 'checkerboard']).default('channel'),
    /** Channel mixing before each coupling: 'conv1x1' (a learned c x c matrix W; log|det W| by a JS LU decomposition,
     *  gradient W^-T), 'conv1x1-lu' (W = P L (U + diag(s)), log|det W| = sum log|s|), 'reverse' (RealNVP's fixed
     *  channel reversal) or 'none'. */
    permutation: z.enum(['conv1x1', 'conv1x1-lu', 'reverse', 'none']).default('conv1x1'),
    /** Prior of the latents z_s that leave at each split: 'standard' (RealNVP: N(0, I)) or 'learned' (Glow's
     *  conditional prior p(z_s | h_s) = N(mu(h_s), sigma(h_s)^2) given the half h_s that stays, written as an affine
     *  coupling eps_s = z_s / sigma + (-mu / sigma) on the leaving half followed by N(eps_s; 0, I)). */
    splitPrior: z.enum(['standard', 'learned']).default('learned'),
    /** Actnorm (per-channel affine, initialised from the first training batch to zero mean, unit variance) in every step. */
    actnorm: z.boolean().default(true),
    /** Coupling scale s from the network output h: 'tanh' (log s = a tanh(h), a learned per channel) or 'sigmoid'
     *  (Glow: s = sigmoid(h + 2)). With the last layer zero-initialised, 'tanh' starts as the identity. */
    scaleFn: z.enum(['tanh', 'sigmoid']).default('tanh'),
    /** Data y in [0,1) to flow space: 'logit' (v = logit(alpha + (1 - 2 alpha) y), its log-det counted) or 'center'
     *  (v = y - 1/2, Glow). */
    transform: z.enum(['logit', 'center']).default('logit'),
    /** alpha of the logit transform, keeping v finite at y = 0 and y -> 1. */
    logitAlpha: z.number().gt(0).lt(0.5).default(0.05),
    /** Dequantization of 8-bit data: 'uniform' (the data pipeline's y = (x + u)/256, u ~ U[0,1)) or 'variational'
     *  (u ~ q(u|x), a small conditional flow of `steps` checkerboard couplings `hidden` wide; its -log q(u|x) term
     *  enters the bound). */
    dequant: z
      .object({
        kind: z.enum(['uniform', 'variational']).default('uniform'),
        steps: z.number().int().min(1).max(16).default(4),
        hidden: z.number().int().positive().default(16),
      })
      .strict()
      .prefault({}),
    /** Default sampling temperature T: z ~ N(0, T^2 I) (--temperature overrides it); T < 1 trades diversity for cleaner images. */
    temperature: z.number().min(0).default(1),
    /** Conditioning y: kind none | label | text; c = embed(y) enters every coupling network as a bias of its first layer. */
    cond: condSchema.prefault({}),
  })
  .strict();

export type FlowModelConfig = z.infer<typeof flowModelSchema>;

/** The problem with a config for this data (one line: what is wrong and the fix), or null. */
export function flowConfigProblem(
  cfg: FlowModelConfig,
  info: Pick<DataInfo, 'height' | 'width' | 'channels'>,
): string | null {
  const { height: H, width: W } = info;
  const f = 2 ** cfg.scales;
  if (H % f !== 0 || W % f !== 0) {
    // the largest L whose 2^L divides both sides, at least 1
    let fits = 0;
    while (H % 2 ** (fits + 1) === 0 && W % 2 ** (fits + 1) === 0) fits++;
    const fix =
      fits >= 1
        ? `set model.scales=${fits}`
        : `resize the images to even sides (e.g. data.size=${Math.ceil(H / 2) * 2})`;
    return `model.scales=${cfg.scales} squeezes the image ${cfg.scales} times, so its height and width must be divisible by ${f}, got ${H}x${W}; ${fix}`;
  }
  return null;
}

export function checkFlowConfig(cfg: FlowModelConfig, info: Pick<DataInfo, 'height' | 'width' | 'channels'>): void {
  const problem = flowConfigProblem(cfg, info);
  if (problem) throw new UserError(problem);
}
