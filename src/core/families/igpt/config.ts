// Config of the image GPT family: the causal transformer (width, depth, heads), the palette pixels are quantised to,
// and the conditioning (none, class label or text prompt as a prefix token, with classifier-free guidance).
import { z } from 'zod';
import { condSchema } from '../../conditioning/config.ts';

export const igptModelSchema = z
  .object({
    /** Transformer width d (token, position and start embeddings, every block). */
    dim: z.number().int().positive().default(64),
    /** Transformer blocks: masked multi-head self-attention + GELU MLP, pre-LN (GPT-2). */
    layers: z.number().int().min(1).max(24).default(4),
    /** Attention heads; must divide dim. */
    heads: z.number().int().positive().default(2),
    /** Hidden width of each block's MLP, as a multiple of dim. */
    mlpRatio: z.number().int().min(1).max(8).default(4),
    /** Grey images: uniform grey levels per pixel (the vocabulary); 256 = raw 8-bit pixels. */
    levels: z.number().int().min(2).max(256).default(16),
    /** RGB images: uniform levels per channel; the vocabulary is colorLevels^3 colours (4 -> 64). */
    colorLevels: z.number().int().min(2).max(16).default(4),
    /** Conditioning y as the prefix token: kind none | label | text, embedding size, drop probability for guidance. */
    cond: condSchema.prefault({}),
    /** Default classifier-free guidance weight w: logits = l_uncond + w (l_cond - l_uncond); 1 = plain conditional. */
    guidance: z.number().min(0).default(1),
  })
  .strict()
  .refine((m) => m.dim % m.heads === 0, { message: 'model.dim must be divisible by model.heads', path: ['heads'] });

export type IgptModelConfig = z.infer<typeof igptModelSchema>;
