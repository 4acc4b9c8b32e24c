// The `cond` section shared by conditional models: what y is (nothing, a class label or a text prompt) and how
// it is embedded, plus the classifier-free guidance drop probability.
import { z } from 'zod';

export const condSchema = z
  .object({
    /** 'none' (unconditional), 'label' (learned class embedding) or 'text' (tokenizer + small transformer). */
    kind: z.enum(['none', 'label', 'text']).default('none'),
    /** Size of the conditioning embedding c = embed(y), [B, dim]. */
    dim: z.number().int().positive().default(128),
    /** Classifier-free guidance: probability of replacing y by the learned null embedding during training. */
    dropProb: z.number().min(0).max(1).default(0.1),
    /** Transformer blocks in the text encoder; 0 = mean of token embeddings followed by an MLP. */
    textLayers: z.number().int().min(0).default(1),
    /** Attention heads per text block (dim must be divisible by it). */
    textHeads: z.number().int().positive().default(4),
    /** Longest prompt, in words. */
    maxTokens: z.number().int().positive().default(16),
  })
  .strict()
  .refine((c) => c.kind !== 'text' || c.dim % c.textHeads === 0, {
    message: 'cond.dim must be divisible by cond.textHeads',
    path: ['dim'],
  });

export type CondConfig = z.infer<typeof condSchema>;

/** What a model is conditioned on: nothing, a class label or a text prompt. */
export type CondKind = CondConfig['kind'];

/** The conditioning kind of a model config section: its cond.kind, or 'none' for a model with no `cond` section. */
export function condKindOfModel(model: unknown): CondKind {
  const kind = (model as { cond?: { kind?: unknown } } | null | undefined)?.cond?.kind;
  return kind === 'label' || kind === 'text' ? kind : 'none';
}

/** The conditioning kind of a run config ({ family, model, ... }, e.g. a loaded run's cfg): 'none' | 'label' | 'text'. */
export function condKindOf(config: { model: unknown }): CondKind {
  return condKindOfModel(config.model);
}
