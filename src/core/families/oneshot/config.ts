// Config of the oneshot baseline: a deterministic decoder x = f(y) (MLP or conv) from the condition alone, its pixel
// loss (MSE or cross-entropy) and the conditioning (a class label unless told otherwise).
import { z } from 'zod';
import { condSchema } from '../../conditioning/config.ts';

/** The shared cond section with kind defaulting to 'label': the point of the model is y -> x ('none' learns one image,
 *  the mean of the training set). */
const oneshotCondSchema = condSchema.safeExtend({ kind: z.enum(['none', 'label', 'text']).default('label') });

export const oneshotModelSchema = z
  .object({
    /** 'mlp' (c -> hidden -> H*W*C) or 'conv' (c -> dense -> dense -> two stride-2 transposed convs; H, W divisible by 4). */
    arch: z.enum(['mlp', 'conv']).default('mlp'),
    /** MLP hidden sizes from the condition embedding to the pixels (the VAE decoder's, [256, 512]). */
    hidden: z.array(z.number().int().positive()).default([256, 512]),
    /** Conv: channels [c1, c2] as the VAE's conv decoder: dense -> [H/4, W/4, c2] -> deconv to c1 -> deconv to C. */
    convChannels: z.array(z.number().int().positive()).length(2).default([32, 64]),
    /** Conv: width of the first dense layer. */
    convHidden: z.number().int().positive().default(256),
    /** Pixel loss: 'mse' = sum_i (x_i - f(y)_i)^2 per image; 'bce' = per-pixel Bernoulli cross-entropy (x in [0,1]).
     *  Both are minimised by f(y) = E[x|y], the conditional mean. */
    loss: z.enum(['mse', 'bce']).default('mse'),
    /**
     * Conditioning on y (class label, text prompt, or none): c = embed(y) [B, cond.dim] is the network's only input.
     * cond.dropProb is applied: that fraction of training rows gets the learned null embedding, whose output is then
     * the unconditional mean E[x] (used for a text model sampled without a prompt).
     */
    cond: oneshotCondSchema.prefault({}),
  })
  .strict();

export type OneshotModelConfig = z.infer<typeof oneshotModelSchema>;
