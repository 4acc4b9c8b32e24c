// Config of the AE/VAE family: architecture, latent size, beta, decoder likelihood and conditioning.
import { z } from 'zod';
import { condSchema } from '../../conditioning/config.ts';

export const vaeModelSchema = z
  .object({
    /** 'mlp' (flattened pixels) or 'conv' (two stride-2 convolutions; H and W divisible by 4). */
    arch: z.enum(['mlp', 'conv']).default('mlp'),
    /** MLP encoder hidden sizes; the decoder mirrors them. */
    hidden: z.array(z.number().int().positive()).default([512, 256]),
    /** Conv encoder channels (decoder mirrors), and the dense layer after them. */
    convChannels: z.array(z.number().int().positive()).length(2).default([32, 64]),
    convHidden: z.number().int().positive().default(256),
    latent: z.number().int().positive().default(20),
    /** Weight of the KL term: loss = recon + beta * KL (beta-VAE). Ignored by the AE. */
    beta: z.number().min(0).default(1),
    /** Decoder p(x|z): 'bernoulli' (cross-entropy on logits), 'gaussian' (MSE with fixed or learned variance), or
     *  'logistic' (a discretized logistic per pixel with its own location and scale: a probability of the 8-bit
     *  values, so the ELBO and IWAE bounds are bounds on -log P(x) in bits/dim comparable with the other families;
     *  it trains on data.preprocess=scale01, set automatically). */
    likelihood: z.enum(['bernoulli', 'gaussian', 'logistic']).default('bernoulli'),
    /** Fixed decoder standard deviation of the gaussian likelihood (when not learned). */
    sigma: z.number().positive().default(0.1),
    /** Learn one decoder log-variance instead of the fixed sigma. */
    learnSigma: z.boolean().default(false),
    /**
     * Conditioning on y (none, class label or text prompt): the embedding c = embed(y) [B, cond.dim] is concatenated
     * to the encoder's features and to z. cond.dropProb is applied: that fraction of training rows gets the learned
     * null embedding, so the same model also learns p(x|z) without y (used when no label or prompt is given).
     * prefault: zod 4's .default() would skip parsing, leaving the section's own defaults unfilled.
     */
    cond: condSchema.prefault({}),
  })
  .strict();

export type VaeModelConfig = z.infer<typeof vaeModelSchema>;
