// Config of the diffusion family: the UNet (channels per resolution level, attention), the noise schedule, what the
// network predicts, and the conditioning (none, class label or text prompt, with classifier-free guidance).
import { z } from 'zod';
import { condSchema } from '../../conditioning/config.ts';
import { samplerNames } from '../../diffusion/samplers/index.ts';

export const diffusionModelSchema = z
  .object({
    /** UNet channels per resolution level (28x28 with 3 levels: 28, 14, 7); H and W must divide by 2^(levels-1). */
    channels: z.array(z.number().int().positive()).min(1).max(5).default([32, 64, 128]),
    /** Residual blocks per level on the way down (the way up has the same number). */
    resBlocks: z.number().int().min(1).max(4).default(1),
    /** Self-attention after the residual blocks at the lowest resolution. */
    attention: z.boolean().default(true),
    /** A residual block after the lowest-resolution attention (the UNet's middle). */
    midBlock: z.boolean().default(true),
    /** Condition each residual block by scale and shift of its second group norm, GN(h) (1 + s) + b with (s, b) from
     *  the time + condition embedding (AdaGN, Dhariwal & Nichol 2021); false adds the embedding as a bias only. */
    scaleShift: z.boolean().default(true),
    /** Cross-attention from the image to the condition's tokens (text words or the label) after each residual block
     *  below full resolution; the pooled condition still enters through the embedding. */
    crossAttention: z.boolean().default(true),
    /** Attention heads (self- and cross-attention); must divide the channels of the levels that attend. */
    heads: z.number().int().positive().default(4),
    /** Group-norm groups (must divide every channel count). */
    groups: z.number().int().positive().default(8),
    /** Width of the time (and condition) embedding given to every residual block. */
    embedDim: z.number().int().positive().default(128),
    schedule: z.enum(['linear', 'cosine']).default('linear'),
    /** Diffusion steps T of the forward process. */
    T: z.number().int().min(2).max(4000).default(1000),
    /** What the network predicts: the noise eps, or v = sqrt(alphaBar) eps - sqrt(1 - alphaBar) x0. */
    prediction: z.enum(['eps', 'v']).default('eps'),
    /** Per-timestep loss weight: 'min-snr' = min(SNR_t, gamma) / SNR_t for eps (/ (SNR_t + 1) for v), Hang et al.
     *  2023, which trains faster than 'uniform' (the plain DDPM objective) by not over-weighting the easy low-noise steps. */
    lossWeight: z.enum(['uniform', 'min-snr']).default('min-snr'),
    minSnrGamma: z.number().positive().default(5),
    /** Conditioning y: kind none | label | text, embedding size, drop probability for classifier-free guidance. */
    cond: condSchema.prefault({}),
    /** Default sampler settings (overridable with sample --steps/--sampler/--eta/--guidance). */
    /** A key of the sampler registry (src/core/diffusion/samplers/index.ts). */
    sampler: z.enum(samplerNames()).default('dpm++2m'),
    /** Sampler steps; unset = the sampler's own default (DDIM 50, DPM-Solver++ 20). */
    steps: z.number().int().positive().optional(),
    eta: z.number().min(0).default(0),
    guidance: z.number().min(0).default(3),
  })
  .strict();

export type DiffusionModelConfig = z.infer<typeof diffusionModelSchema>;
